# The Bursar operator image. Build it with `make image` (tools/build-image.sh), which picks
# docker, podman or buildah and sends only the repository's source files as the context.
#
# Stages:
#   build     Debian bookworm with exactly the packages of tools/install-deps.sh (the ones the
#             project's CI builds and tests with); builds the `bursar` target, Release.
#   prebuilt  Takes a binary built outside instead (--build-arg BURSAR_BINARY=prebuilt and a file
#             `bursar` at the context's root; tools/build-image.sh --prebuilt build/bursar): the
#             very binary CI tested, when it was built on Debian bookworm.
#   (last)    debian:bookworm-slim with only the shared libraries the binary links, CA
#             certificates and tzdata; runs as the non-root user 65532. BuildKit and buildah
#             build only the binary stage BURSAR_BINARY names.
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
    && install -D -s -m 0755 /build/bursar /out/bursar \
    && /out/bursar version

FROM scratch AS prebuilt
COPY bursar /out/bursar

FROM ${BURSAR_BINARY} AS binary

FROM debian:${DEBIAN_RELEASE}-slim AS runtime
# The shared libraries of the bursar binary (`ldd build/bursar`, mapped to bookworm packages),
# CA certificates for an https Prometheus, and the IANA zone files ComputeBudget periods use.
RUN apt-get update \
    && apt-get install -y --no-install-recommends \
       ca-certificates tzdata \
       libabsl20220623 libbrotli1 libc-ares2 libcpprest2.10 libgrpc++1.51 libgrpc29 \
       libprotobuf32 libre2-9 libsimdjson14 libssl3 libyaml-cpp0.7 zlib1g \
    && rm -rf /var/lib/apt/lists/*
COPY --from=binary /out/bursar /usr/local/bin/bursar
# Fails the build when a library is missing from the list above.
RUN ["/usr/local/bin/bursar", "version"]
LABEL org.opencontainers.image.title="bursar" \
      org.opencontainers.image.description="Keeps the compute spend of ML workloads within declared budgets (Kubernetes operator)"
# The chart runs it with runAsUser 65532 as well.
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/bursar"]
CMD ["run"]
