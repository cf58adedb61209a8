# syntax=docker/dockerfile:1
#
# The StreamSpace control-plane image: every command of cmd/ built the way
# `make build` builds them, statically, on a distroless base that runs as
# an unprivileged user (uid 65532). artifacts/deploy runs
# /usr/local/bin/streamspace-apiserver from it.
#
#   docker build -t ghcr.io/streamspace/controlplane:TAG .

FROM golang:1.26 AS build
WORKDIR /src
# Modules first, so that a source change does not download them again.
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod \
    go mod download
COPY . .
# streamspace-dev starts a local control plane for development; it has no
# place in the image.
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/ ./cmd/... \
    && rm -f /out/streamspace-dev

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/ /usr/local/bin/
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/streamspace-apiserver"]
