# syntax=docker/dockerfile:1

# Container images of the gateway. The default target is the gateway itself:
# one static binary that runs every mode (all in one, `gateway ingress`,
# `gateway worker`). The `mockupstream` target is the mock provider used by
# the demos and benchmarks; it ships as its own image so that the gateway
# image carries nothing it does not run.
#
#   docker build -t ghcr.io/aigateway/gateway:dev --build-arg VERSION=$(git describe --tags --always) .
#
# Releases are built and pushed for linux/amd64 and linux/arm64 by
# .github/workflows/release.yml when a v* tag is pushed.
#   docker build -t ghcr.io/aigateway/mockupstream:latest --target mockupstream .

ARG VERSION=dev

# Base images are pinned by digest: a tag moves under a rebuild, a digest
# does not. The tag stays in front for the reader and for tools that bump
# pins (Dependabot, Renovate). To refresh a pin:
#   docker buildx imagetools inspect golang:1.26 --format '{{json .Manifest.Digest}}'
#   crane digest gcr.io/distroless/static-debian12:nonroot
# Both digests name the multi-arch index, so buildx picks each platform's image.

# --- sources -----------------------------------------------------------------
# The build runs on the builder's own platform and cross-compiles, so a
# multi-arch build (docker buildx --platform linux/amd64,linux/arm64) does not
# emulate the compiler.
FROM --platform=$BUILDPLATFORM golang:1.26@sha256:3aff6657219a4d9c14e27fb1d8976c49c29fddb70ba835014f477e1c70636647 AS source
WORKDIR /src
# Modules first, in their own layer: editing the source does not refetch them.
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .

# --- binaries ----------------------------------------------------------------
# CGO_ENABLED=0 gives static binaries: the runtime image has no libc.
FROM source AS build-gateway
ARG VERSION
# `gateway version` prints the commit and build date stamped here; the build
# context has no .git (.dockerignore), so the toolchain cannot record them:
#   --build-arg COMMIT=$(git rev-parse HEAD) --build-arg BUILD_DATE=$(date -u +%Y-%m-%dT%H:%M:%SZ)
ARG COMMIT=unknown
ARG BUILD_DATE=unknown
ARG TARGETOS
ARG TARGETARCH
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    GOOS=${TARGETOS} GOARCH=${TARGETARCH} CGO_ENABLED=0 go build -trimpath \
      -ldflags="-s -w -X main.version=${VERSION} -X main.commit=${COMMIT} -X main.date=${BUILD_DATE}" \
      -o /out/gateway ./cmd/gateway

FROM source AS build-mockupstream
ARG VERSION
ARG TARGETOS
ARG TARGETARCH
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    GOOS=${TARGETOS} GOARCH=${TARGETARCH} CGO_ENABLED=0 go build -trimpath -ldflags="-s -w -X main.version=${VERSION}" -o /out/mockupstream ./cmd/mockupstream

# The runtime image has neither a shell nor useradd: write the account files
# and the writable data directory here and copy them over.
FROM --platform=$BUILDPLATFORM golang:1.26@sha256:3aff6657219a4d9c14e27fb1d8976c49c29fddb70ba835014f477e1c70636647 AS rootfs
RUN mkdir -p /out/rootfs/etc /out/rootfs/home/appuser/data/nats && \
    printf '%s\n' \
      'root:x:0:0:root:/root:/sbin/nologin' \
      'nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin' \
      'nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin' \
      'appuser:x:10001:10001:appuser:/home/appuser:/sbin/nologin' > /out/rootfs/etc/passwd && \
    printf '%s\n' 'root:x:0:' 'nobody:x:65534:' 'nonroot:x:65532:' 'appuser:x:10001:' > /out/rootfs/etc/group

# --- runtime base ------------------------------------------------------------
# distroless/static: CA certificates and tzdata, no shell, no package manager.
FROM gcr.io/distroless/static-debian12:nonroot@sha256:afa5c872c891853ca7fcf1f12c3edb23f7eeef36189728842dd51042ff57f7ab AS runtime
COPY --from=rootfs /out/rootfs/etc/passwd /etc/passwd
COPY --from=rootfs /out/rootfs/etc/group /etc/group
# Only the data directory belongs to the user; binaries and config stay root-owned.
COPY --from=rootfs --chown=10001:10001 /out/rootfs/home/appuser /home/appuser
# Numeric user so that Kubernetes runAsNonRoot can verify it without /etc/passwd.
USER 10001:10001
WORKDIR /home/appuser

# --- mock upstream image -------------------------------------------------------
FROM runtime AS mockupstream
LABEL org.opencontainers.image.title="mockupstream" \
      org.opencontainers.image.description="Mock OpenAI and Anthropic upstream for gateway demos and benchmarks" \
      org.opencontainers.image.source="https://github.com/aigateway/gateway" \
      org.opencontainers.image.licenses="Apache-2.0"
COPY --from=build-mockupstream /out/mockupstream /usr/local/bin/
EXPOSE 9090
# No health check: the image has no HTTP client and the mock no probe command.
HEALTHCHECK NONE
ENTRYPOINT ["/usr/local/bin/mockupstream", "-addr", "0.0.0.0:9090"]

# --- gateway image (default target) --------------------------------------------
FROM runtime AS gateway
LABEL org.opencontainers.image.title="gateway" \
      org.opencontainers.image.description="AI gateway: OpenAI and Anthropic APIs over NATS worker pools" \
      org.opencontainers.image.source="https://github.com/aigateway/gateway" \
      org.opencontainers.image.licenses="Apache-2.0"

COPY --from=build-gateway /out/gateway /usr/local/bin/
# Shipped configuration; deployments mount their own read-only over this directory.
COPY config/*.toml /home/appuser/config/

ENV GATEWAY_CONFIG_DIR=/home/appuser/config \
    GATEWAY_BUS_STORE_DIR=/home/appuser/data/nats

# 8080 HTTP API, /health and /metrics; 8081 a worker's /health and /metrics
# (`gateway worker`, [worker] port); 4222 NATS clients (when bus.listen is
# set); 8222 NATS monitoring (set GATEWAY_BUS_MONITOR=0.0.0.0:8222 to reach it).
EXPOSE 8080 8081 4222 8222

# distroless has no curl: the binary probes its own /health.
HEALTHCHECK --interval=10s --timeout=3s --start-period=15s --retries=3 \
    CMD ["/usr/local/bin/gateway", "healthcheck"]

ENTRYPOINT ["/usr/local/bin/gateway"]
