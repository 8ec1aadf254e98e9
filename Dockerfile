# The Crucible manager: a static binary on distroless, running as non-root.
#
#   docker buildx build --platform linux/amd64,linux/arm64 -t <image> .
#
# The builder runs on the build host's platform and cross-compiles for the
# target one, so a multi-platform build needs no emulation.
#
# Without Docker: `make image` builds the same manager into a reproducible
# OCI image layout (bin/image) from scratch, with no base image and no
# engine; see hack/image.mk (and there, how to push it).
FROM --platform=$BUILDPLATFORM golang:1.26 AS builder
ARG TARGETOS
ARG TARGETARCH

WORKDIR /workspace
# Modules first: this layer is rebuilt only when go.mod or go.sum change.
COPY go.mod go.sum ./
RUN go mod download

# The sources the manager is built from, and nothing else.
COPY api/ api/
COPY cmd/ cmd/
COPY internal/ internal/

# TARGETOS/TARGETARCH are set by buildx; a plain `docker build` builds for
# the host's platform.
RUN CGO_ENABLED=0 GOOS=${TARGETOS:-linux} GOARCH=${TARGETARCH} \
    go build -trimpath -ldflags "-s -w" -o manager ./cmd

# distroless/static: no shell, no package manager; CA certificates and
# /etc/passwd with the nonroot user (65532).
FROM gcr.io/distroless/static:nonroot
WORKDIR /
COPY --from=builder /workspace/manager /manager
USER 65532:65532

ENTRYPOINT ["/manager"]
