# syntax=docker/dockerfile:1.7
#  CHECK = skip=JSONArgsRecommended, StageNameCasing ;error=true

# escape=`
FROM alpine:3.20 AS Build
CMD echo the escape directive above is only a comment
RUN echo a \
    b
