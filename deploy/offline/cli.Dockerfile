# Offline stand-in for deploy/Dockerfile's cli target: the `flywheel` tool from this checkout's
# release build (it makes the deployment's secrets and mints tokens).
FROM debian:bookworm-slim
COPY flywheel /usr/local/bin/flywheel
ENTRYPOINT ["flywheel"]
