#
# One image with both daemons, the sample configuration and the migrations. The
# command picks the daemon; the default runs magnum-api:
#
#   docker build -t magnum-rs .
#   docker run --network host -v /etc/magnum:/etc/magnum:ro magnum-rs
#   docker run --network host -v /etc/magnum:/etc/magnum:ro magnum-rs \
#       magnum-conductor --config-file /etc/magnum/magnum.conf
#   docker run --network host -v /etc/magnum:/etc/magnum:ro magnum-rs \
#       magnum-conductor --config-file /etc/magnum/magnum.conf db upgrade
#
# The bundled /etc/magnum/magnum.conf is the commented sample; mount or layer a
# real one (with [api] host = 0.0.0.0 to be reachable through a published
# port). Migrations are compiled into magnum-conductor; the SQL files are also
# shipped in /usr/share/magnum/migrations for reference.
#
# Plain Dockerfile syntax on purpose (no `# syntax=` line, no BuildKit-only
# RUN --mount): it builds with BuildKit and with the classic builder alike, and
# needs no frontend image. The base images are build arguments, so that a
# machine without a registry can substitute local ones (scripts/image-test
# does that; see doc/operator-guide.md).

ARG BUILDER_IMAGE=rust:1.95-bookworm
ARG RUNTIME_IMAGE=debian:bookworm-slim

FROM ${BUILDER_IMAGE} AS builder
LABEL org.openstack.magnum-rs.stage=builder
WORKDIR /src
ENV SQLX_OFFLINE=true \
    CARGO_TERM_COLOR=never \
    CARGO_NET_RETRY=5
# The toolchain pinned in rust-toolchain.toml, with its components, in its own
# layer (a no-op when the builder image already has it).
COPY rust-toolchain.toml ./
RUN rustup toolchain install && cargo --version
COPY . .
# Build, install the two binaries and drop the target directory and the crate
# cache in the same step, so the builder layer stays small.
RUN cargo build --release --locked --bin magnum-api --bin magnum-conductor \
    && install -m 0755 target/release/magnum-api target/release/magnum-conductor /usr/local/bin/ \
    && rm -rf target "${CARGO_HOME:-$HOME/.cargo}/registry" "${CARGO_HOME:-$HOME/.cargo}/git"

FROM ${RUNTIME_IMAGE}
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 42511 magnum \
    && useradd --system --uid 42511 --gid magnum --no-create-home \
        --home-dir /var/lib/magnum --shell /usr/sbin/nologin magnum
COPY --from=builder /usr/local/bin/magnum-api /usr/local/bin/magnum-conductor /usr/local/bin/
COPY etc/magnum/magnum.conf /etc/magnum/magnum.conf
COPY migrations/ /usr/share/magnum/migrations/
USER magnum:magnum
EXPOSE 9511
STOPSIGNAL SIGTERM
ENTRYPOINT []
CMD ["magnum-api", "--config-file", "/etc/magnum/magnum.conf"]
