FROM busybox AS a
HEALTHCHECK NONE
FROM busybox AS b
HEALTHCHECK --interval=30s --timeout=3s --start-period=1m --start-interval=500ms --retries=3 \
  CMD curl -f http://localhost/ || exit 1
FROM busybox AS c
HEALTHCHECK CMD ["wget", "-q", "-O-", "http://localhost:8080/health"]
FROM busybox AS d
HEALTHCHECK --interval=1h2m3.5s --retries=0 cmd true
FROM busybox AS e
HEALTHCHECK --interval=0s CMD true
