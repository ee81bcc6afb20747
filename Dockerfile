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
# so no stage needs OpenSSL, pkg-config or ca-certificates. The image itself is FROM scratch: the
# two binaries, and from debian:<release>-slim only the loader and the libraries they link.

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

# 3. What the binaries need at run time, from Debian's own packages: the dynamic loader and the
#    shared libraries `ldd` lists (glibc, libgcc_s for unwinding: the worker catches panics), the
#    copyright files of their packages and of those packages' dependencies, nsswitch.conf (hosts: files, then DNS), and the user and group 10001. No CA
#    bundle: reqwest and sqlx use rustls with the webpki roots compiled in.
FROM debian:${DEBIAN_RELEASE}-slim AS runtime-files
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
WORKDIR /rootfs
COPY --from=builder /out/uitpas-checkout /out/uitpas-sandbox usr/local/bin/
# The copyright files of the dependencies too: libgcc-s1's is gcc-12-base's.
RUN set -eux; \
    libs=$(ldd usr/local/bin/uitpas-checkout usr/local/bin/uitpas-sandbox \
        | awk '$2 == "=>" && $3 ~ /^\// { print $3 } NF == 2 && $1 ~ /^\// { print $1 }' | sort -u); \
    test -n "$libs"; \
    for lib in $libs; do \
        cp --parents -L "$lib" .; \
        pkg=$(dpkg -S "$lib" | cut -d: -f1); \
        for doc in "$pkg" $(dpkg-query -W -f '${Depends}' "$pkg" | tr ',' '\n' | awk '{ print $1 }'); do \
            if [ -e "/usr/share/doc/$doc/copyright" ]; then cp --parents "/usr/share/doc/$doc/copyright" .; fi; \
        done; \
    done; \
    mkdir -p etc; \
    cp /etc/nsswitch.conf etc/; \
    printf '%s\n' 'root:x:0:0:root:/root:/sbin/nologin' 'uitpas:x:10001:10001::/nonexistent:/sbin/nologin' >etc/passwd; \
    printf '%s\n' 'root:x:0:' 'uitpas:x:10001:' >etc/group; \
    find . -type f | sort

# 4. The image: those files only, no shell and no package manager.
FROM scratch AS runtime
COPY --from=runtime-files /rootfs/ /
ENV PATH=/usr/local/bin \
    LISTEN_ADDR=0.0.0.0:8080 \
    LOG_FORMAT=json
EXPOSE 8080
# A fixed numeric user, so that Kubernetes' runAsNonRoot can verify it.
USER 10001:10001
STOPSIGNAL SIGTERM
# GET /healthz on the port of LISTEN_ADDR: the binary's own `healthcheck` subcommand, as the image
# has no shell, curl or wget. (Kubernetes ignores HEALTHCHECK and uses its own probes.)
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 \
    CMD ["uitpas-checkout", "healthcheck"]
ENTRYPOINT ["uitpas-checkout"]
