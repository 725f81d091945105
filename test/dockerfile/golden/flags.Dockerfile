FROM busybox AS src
FROM busybox
COPY --from=src --chown=app:app --chmod=0755 --link /bin/sh /sh
COPY --parents --exclude=*.md --exclude="docs/**" ./a/b ./c/ /out/
COPY --link=false --chown="1000" a /b
ADD --link=true --keep-git-dir https://github.com/moby/buildkit.git#v0.13.0 /src
RUN --network=none -- --version
RUN --mount=type=bind,source=.,target=/src --mount=type=cache,target=/root/.cache,sharing=locked echo hi
COPY --chmod=u=rwx,go=rx script /usr/local/bin/
