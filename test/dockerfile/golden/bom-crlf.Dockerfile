# syntax=docker/dockerfile:1
FROM busybox
RUN echo crlf \
    continued
COPY <<EOF /x
body line
EOF
