FROM busybox
EXPOSE 80 443/tcp 53/udp
EXPOSE ${PORT:-8080}
VOLUME /data /var/log
VOLUME ["/json/volume"]
STOPSIGNAL SIGQUIT
USER 1000:1000
WORKDIR /app/$SUB
MAINTAINER Jane Doe <jane@example.com>
