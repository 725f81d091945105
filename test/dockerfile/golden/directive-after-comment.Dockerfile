# About this image
# escape=`
FROM busybox
RUN echo one \
    two
