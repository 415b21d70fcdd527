# syntax=docker/dockerfile:1
# The Chatbox server as a static binary (musl) on distroless, running as a non-root user with a
# read-only root filesystem: the only writable place it needs is CHATBOX_DATA_DIR (/data, a
# volume). `cargo xtask container-check` builds the same binary the same way and runs it so.
#
# Build: docker build -t chatbox-server:0.1.0 .

# Must equal the channel of rust-toolchain.toml (`cargo xtask deploy` checks it).
ARG RUST_VERSION=1.95.0

FROM rust:${RUST_VERSION}-slim-bookworm AS build
ARG RUST_VERSION
# The toolchain file asks for rustfmt, clippy and llvm-tools, which a release build needs not.
ENV RUSTUP_TOOLCHAIN=${RUST_VERSION}
# musl-gcc for the C parts (aws-lc, SQLite).
RUN apt-get update \
    && apt-get install -y --no-install-recommends musl-tools=1.2.3-1 \
    && rm -rf /var/lib/apt/lists/* \
    && rustup target add x86_64-unknown-linux-musl
WORKDIR /src
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --config profile.release.strip=true --target x86_64-unknown-linux-musl -p chatbox-server \
    && cp target/x86_64-unknown-linux-musl/release/chatbox-server /chatbox-server \
    && mkdir /data

# distroless static, nonroot (uid 65532), pinned by digest. To update:
#   crane digest gcr.io/distroless/static-debian12:nonroot
FROM gcr.io/distroless/static-debian12:nonroot@sha256:afa5c872c891853ca7fcf1f12c3edb23f7eeef36189728842dd51042ff57f7ab
COPY --from=build /chatbox-server /chatbox-server
# A fresh named volume takes this directory's owner, so the server can write to it.
COPY --from=build --chown=65532:65532 /data /data
ENV SERVER_HOST=0.0.0.0 \
    SERVER_PORT=8080 \
    CHATBOX_PATH_PREFIX=/chatbox \
    CHATBOX_DATA_DIR=/data
USER 65532:65532
VOLUME ["/data"]
EXPOSE 8080
# The binary asks its own P/healthz on the loopback (there is no shell or wget in the image).
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
    CMD ["/chatbox-server", "healthcheck"]
ENTRYPOINT ["/chatbox-server"]
