# syntax=docker/dockerfile:1
#
# roster's container image: built with the Rust image, run on Debian slim as the
# non-root user `roster` (uid/gid 10001), data in the volume /var/lib/roster.
#
#   docker build -t roster .
#   docker run --rm -p 8080:8080 -v roster-data:/var/lib/roster \
#       -e ROSTER_ADMIN_TOKEN=change-me roster
#   curl -s localhost:8080/readyz
#
# Without ROSTER_ADMIN_TOKEN an admin token is generated on the first start, kept in
# the volume (/var/lib/roster/admin-token) and printed once (`docker logs`).
# A bind mount instead of a volume must be writable by uid 10001:
# `install -d -m 0700 -o 10001 -g 10001 ./data`. packaging/check lints this file.

# --- build -------------------------------------------------------------------------
FROM rust:1-bookworm AS build
WORKDIR /src
# .git is not in the build context: `docker build --build-arg ROSTER_BUILD_COMMIT=$(git
# rev-parse --short=12 HEAD) .` names the commit in `roster --version` and /version.
ARG ROSTER_BUILD_COMMIT=unknown
ENV ROSTER_BUILD_COMMIT=${ROSTER_BUILD_COMMIT}
# The workspace needs every member's manifest; SQLite is compiled in (bundled), with the
# C compiler the Rust image has.
COPY Cargo.toml Cargo.lock ./
COPY crates ./crates
# The registry and target caches survive between builds (BuildKit); the binary is copied
# out of the cached target directory in the same step.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/usr/local/cargo/git \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p roster-server \
    && install -D -m 0755 target/release/roster /out/roster

# --- run ---------------------------------------------------------------------------
FROM debian:bookworm-slim

LABEL org.opencontainers.image.title="roster" \
      org.opencontainers.image.description="Self-hosted user and audience registry for push and customer-engagement platforms" \
      org.opencontainers.image.licenses="Apache-2.0 OR MIT"

# ca-certificates for TLS peers; curl only for the HEALTHCHECK. Debian's bookworm
# versions are taken as they are (the base image is pinned to bookworm), hence DL3008.
# The user's home is /nonexistent: roster leaves a data directory that is $HOME as it
# finds it, and /var/lib/roster must be made private (0700) instead.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates curl \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 roster \
    && useradd --system --uid 10001 --gid roster --no-create-home \
               --home-dir /nonexistent --shell /usr/sbin/nologin roster \
    && install -d -m 0700 -o roster -g roster /var/lib/roster

COPY --from=build /out/roster /usr/local/bin/roster
COPY LICENSE-APACHE LICENSE-MIT /usr/share/doc/roster/

ENV ROSTER_DATA_DIR=/var/lib/roster \
    ROSTER_LISTEN=0.0.0.0:8080

VOLUME ["/var/lib/roster"]
WORKDIR /var/lib/roster
EXPOSE 8080
# Numeric, so that a runtime can tell it is not root (runAsNonRoot).
USER 10001:10001

# /readyz is 200 once the store is reachable, migrated and the audience index is built,
# 503 before. The port is taken from ROSTER_LISTEN, so that changing it keeps the
# check working (an address other than 0.0.0.0 or 127.0.0.1 needs its own check).
# A large embedded store takes a while to index at start: raise --start-period for it.
HEALTHCHECK --interval=15s --timeout=3s --start-period=60s --retries=3 \
    CMD ["sh", "-c", "curl -fsS -o /dev/null \"http://127.0.0.1:${ROSTER_LISTEN##*:}/readyz\" || exit 1"]

# roster stops gracefully on SIGTERM (in-flight requests get up to 30 s): give
# `docker stop` more than that, e.g. `docker stop -t 40`, or stop_grace_period in compose.
STOPSIGNAL SIGTERM
ENTRYPOINT ["roster"]
CMD ["serve"]
