# syntax=docker/dockerfile:1
#
# uitpas-checkout and uitpas-sandbox in one image (see deploy/README.md).
#
#   docker build -t uitpas-checkout .
#   docker run --rm uitpas-checkout --help                      # every setting
#   docker run --rm -p 9090:9090 --entrypoint uitpas-sandbox uitpas-checkout --listen 0.0.0.0:9090
#
# The build needs no database: the sqlx query macros read the committed .sqlx/ (SQLX_OFFLINE=true),
# and migrations and the demo page are compiled into the binary. TLS is rustls with webpki roots,
# so neither stage needs OpenSSL, pkg-config or ca-certificates.

ARG RUST_VERSION=1.95
ARG DEBIAN_RELEASE=bookworm

FROM rust:${RUST_VERSION}-slim-${DEBIAN_RELEASE} AS builder
WORKDIR /build
# .cargo/config.toml points target-dir at /var/tmp/...; keep the build inside /build instead.
ENV CARGO_TARGET_DIR=/build/target \
    SQLX_OFFLINE=true \
    CARGO_TERM_COLOR=never

# 1. Dependencies only. Every source file a [[bin]], [[example]] or [lib] of Cargo.toml names, and
#    src/main.rs and src/lib.rs, is a stub here, so this layer is rebuilt only when Cargo.toml,
#    Cargo.lock or .cargo/ change, not on every edit of the code.
COPY Cargo.toml Cargo.lock ./
COPY .cargo ./.cargo
RUN set -eux; \
    for f in src/main.rs $(sed -n 's/^path *= *"\([^"]*\.rs\)".*/\1/p' Cargo.toml); do \
        mkdir -p "$(dirname "$f")"; \
        echo 'fn main() {}' > "$f"; \
    done; \
    : > src/lib.rs; \
    cargo build --release --locked --bins

# 2. The service. The stubs' build is newer than the real files' modification times from the build
#    context: touch the crate roots so that cargo rebuilds this package, not only its dependencies.
COPY . .
# The stubs' paths are words: splitting them is the point.
# hadolint ignore=SC2046
RUN set -eux; \
    touch -c src/main.rs src/lib.rs $(sed -n 's/^path *= *"\([^"]*\.rs\)".*/\1/p' Cargo.toml); \
    cargo build --release --locked --bins; \
    mkdir -p /out; \
    cp target/release/uitpas-checkout target/release/uitpas-sandbox /out/; \
    /out/uitpas-checkout --version; \
    /out/uitpas-sandbox --version

FROM debian:${DEBIAN_RELEASE}-slim AS runtime
# A fixed numeric user, so that Kubernetes' runAsNonRoot can verify it.
RUN groupadd --system --gid 10001 uitpas \
    && useradd --system --uid 10001 --gid uitpas --no-create-home --home-dir /nonexistent \
        --shell /usr/sbin/nologin uitpas
COPY --from=builder /out/uitpas-checkout /out/uitpas-sandbox /usr/local/bin/
ENV LISTEN_ADDR=0.0.0.0:8080 \
    LOG_FORMAT=json
EXPOSE 8080
USER 10001:10001
STOPSIGNAL SIGTERM
# GET /healthz with bash builtins only (/dev/tcp, printf, read): the image installs no curl or wget.
# The port is the one of LISTEN_ADDR. (Kubernetes ignores HEALTHCHECK and uses its own probes.)
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 \
    CMD ["bash", "-c", "exec 3<>\"/dev/tcp/127.0.0.1/${LISTEN_ADDR##*:}\" && printf 'GET /healthz HTTP/1.1\\r\\nHost: localhost\\r\\nConnection: close\\r\\n\\r\\n' >&3 && IFS=' ' read -r -t 4 _ status _ <&3 && [ \"$status\" = 200 ]"]
ENTRYPOINT ["uitpas-checkout"]
