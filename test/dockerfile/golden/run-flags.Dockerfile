FROM alpine
RUN --mount=type=cache,target=/var/cache/apk,id=apk,sharing=locked apk add git
RUN --mount=type=secret,id=token,required,env=TOKEN --mount=type=ssh git clone git@example.com:x.git
RUN --mount="type=bind,source=a b,target=/c" --mount=type=tmpfs,target=/tmp,size=64m true
RUN --mount=type=bind,"source=x,y",target=/xy ls /xy
RUN --network=host --security=insecure --device=/dev/fuse echo privileged
RUN --network=default echo default
