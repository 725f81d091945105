FROM busybox AS Builder
FROM busybox AS scratch
FROM busybox AS with.dots-and_under
FROM scratch
COPY --from=builder / /
