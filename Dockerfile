# The Bursar operator image, for builders with a daemon (docker, podman, buildah). Without one,
# `make image` builds the same image with umoci (tools/build-image.sh); both fill the root
# filesystem with tools/image-rootfs.sh, so they hold the same files, user and entrypoint
# (tests/image/image-test.sh compares this file with the OCI image).
#
#   tools/build-image.sh --builder docker       # packages build/bursar, the binary make test ran
#   docker build -t bursar:0.1.0 .              # compiles in the build stage (needs the network)
#
# Stages:
#   build     Debian bookworm with exactly the packages of tools/install-deps.sh; builds the
#             `bursar` target, Release.
#   prebuilt  Takes a binary built outside instead (--build-arg BURSAR_BINARY=prebuilt and a file
#             `bursar` at the context's root): the very binary CI tested, built on bookworm.
#   rootfs    Debian bookworm with the runtime packages of the binary; tools/image-rootfs.sh
#             copies the binary, the shared libraries it loads (ldd), CA certificates, tzdata and
#             /etc/passwd into /rootfs.
#   (last)    scratch plus /rootfs: no shell, no package manager; runs as 65532.
ARG DEBIAN_RELEASE=bookworm
ARG BURSAR_BINARY=build

FROM debian:${DEBIAN_RELEASE} AS build
ENV DEBIAN_FRONTEND=noninteractive
COPY tools/install-deps.sh /tmp/install-deps.sh
RUN /tmp/install-deps.sh && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cmake -S . -B /build -G Ninja -DCMAKE_BUILD_TYPE=Release -DBURSAR_BENCHMARKS=OFF \
    && cmake --build /build --target bursar \
    && install -D -m 0755 /build/bursar /out/bursar \
    && /out/bursar version

FROM scratch AS prebuilt
COPY bursar /out/bursar

FROM ${BURSAR_BINARY} AS binary

FROM debian:${DEBIAN_RELEASE} AS rootfs
# The runtime packages of the binary's shared libraries (tools/image-rootfs.sh fails naming a
# library that is missing here), CA certificates, tzdata, and binutils for objcopy.
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
       ca-certificates tzdata binutils \
       libabsl20220623 libbrotli1 libc-ares2 libcpprest2.10 libgrpc++1.51 libgrpc29 \
       libprotobuf32 libre2-9 libsimdjson14 libssl3 libyaml-cpp0.7 zlib1g \
    && rm -rf /var/lib/apt/lists/*
COPY tools/image-rootfs.sh /usr/local/bin/image-rootfs.sh
COPY --from=binary /out/bursar /tmp/bursar
RUN /usr/local/bin/image-rootfs.sh /tmp/bursar /rootfs

FROM scratch
COPY --from=rootfs /rootfs/ /
LABEL org.opencontainers.image.title="bursar" \
      org.opencontainers.image.description="Keeps the compute spend of ML workloads within declared budgets (Kubernetes operator)"
USER 65532:65532
WORKDIR /
ENTRYPOINT ["/bursar"]
CMD ["run"]
