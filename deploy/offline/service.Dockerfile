# Offline stand-in for deploy/Dockerfile's service targets: the same runtime image around a
# binary from this checkout's release build.
FROM debian:bookworm-slim
ARG SERVICE
RUN useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin flywheel \
    && mkdir -p /var/lib/flywheel && chown flywheel /var/lib/flywheel
COPY flywheel-${SERVICE} /usr/local/bin/flywheel-${SERVICE}
RUN ln -s /usr/local/bin/flywheel-${SERVICE} /usr/local/bin/flywheel-service
WORKDIR /var/lib/flywheel
USER 10001
ENV RUST_LOG=info LOG_FORMAT=json
ENTRYPOINT ["flywheel-service"]
