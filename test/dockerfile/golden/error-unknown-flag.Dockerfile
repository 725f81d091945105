FROM busybox AS src
FROM busybox
COPY --form=src /a /b
