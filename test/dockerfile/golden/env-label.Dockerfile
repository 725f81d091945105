FROM busybox
ENV A=1
ENV B="two words" C=three\ words D='single $A'
ENV LEGACY this is the whole value
ENV E=$A F=${A:-x}
LABEL org.opencontainers.image.title="gantry test" \
      org.opencontainers.image.version=1.0 \
      "quoted key"="quoted value"
LABEL multi.line="first \
second"
LABEL empty=""
