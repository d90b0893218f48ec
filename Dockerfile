# syntax=docker/dockerfile:1
# Weft: one image, one binary. Every service runs as `weft serve <name>` (see compose.yaml).
# bubblewrap: the sandbox of `uses: code` runners.
# Build: docker build -t weft:dev .

FROM rust:1.95-bookworm AS build
WORKDIR /src
# sqlx checks queries against the committed .sqlx cache, not a live database.
ENV SQLX_OFFLINE=true CARGO_TARGET_DIR=/target
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/target \
    cargo build --release --locked -p weft \
    && install -m 0755 /target/release/weft /usr/local/bin/weft

FROM debian:bookworm-slim AS runtime
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ca-certificates bubblewrap \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home-dir /nonexistent --shell /usr/sbin/nologin weft
COPY --from=build /usr/local/bin/weft /usr/local/bin/weft
USER 10001
ENV WEFT_HTTP_ADDR=0.0.0.0:8080
EXPOSE 8080
CMD ["weft", "dev"]
