# syntax=docker/dockerfile:1
#
# One image with both daemons. The default command runs magnum-api; pick the
# conductor by naming it:
#
#   docker build -t magnum-rs .
#   docker run -p 9511:9511 -v /etc/magnum:/etc/magnum:ro magnum-rs
#   docker run -v /etc/magnum:/etc/magnum:ro magnum-rs \
#       magnum-conductor --config-file /etc/magnum/magnum.conf
#   docker run -v /etc/magnum:/etc/magnum:ro magnum-rs \
#       magnum-conductor --config-file /etc/magnum/magnum.conf db upgrade
#
# The bundled /etc/magnum/magnum.conf is the commented sample; mount or layer
# a real one (with [api] host = 0.0.0.0 to be reachable from outside).

FROM rust:1.95-bookworm AS builder
WORKDIR /src
ENV SQLX_OFFLINE=true \
    CARGO_TERM_COLOR=never
# Install the toolchain pinned in rust-toolchain.toml in its own layer.
COPY rust-toolchain.toml ./
RUN rustup toolchain install
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bins \
    && install -m 0755 target/release/magnum-api target/release/magnum-conductor /usr/local/bin/

FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 42511 magnum \
    && useradd --system --uid 42511 --gid magnum --no-create-home \
        --home-dir /var/lib/magnum --shell /usr/sbin/nologin magnum
COPY --from=builder /usr/local/bin/magnum-api /usr/local/bin/magnum-conductor /usr/local/bin/
COPY etc/magnum/magnum.conf /etc/magnum/magnum.conf
COPY migrations/ /usr/share/magnum/migrations/
USER magnum
EXPOSE 9511
ENTRYPOINT []
CMD ["magnum-api", "--config-file", "/etc/magnum/magnum.conf"]
