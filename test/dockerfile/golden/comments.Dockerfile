# leading comment
FROM busybox
RUN echo 'we are running some # of cool things' # this is not a comment either
#RUN echo this line is a comment
LABEL note="# not a comment"
