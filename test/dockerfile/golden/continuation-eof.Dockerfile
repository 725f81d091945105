FROM busybox
RUN echo unterminated continuation at end of file \