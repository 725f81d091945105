FROM golang:1.22 AS build
WORKDIR /src
COPY . .
RUN go build -o /out/app ./cmd/app

FROM build AS test
RUN go test ./...

FROM debian:bookworm-slim AS unused
RUN echo this stage is not needed by the final one

FROM gcr.io/distroless/static-debian12
COPY --from=build /out/app /app
COPY --from=0 /etc/passwd /etc/passwd
COPY --from=alpine:3.20 /etc/os-release /alpine-release
USER nonroot:nonroot
ENTRYPOINT ["/app"]
