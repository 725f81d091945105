from busybox as builder
Run echo mixed case
copy --from=builder /bin/true /true
eNv key=value
healthcheck cmd true
onbuild run echo lower
