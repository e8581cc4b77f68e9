# Offline stand-in for the official nats:2.10-alpine image (same entrypoint contract).
FROM debian:bookworm-slim
RUN apt-get update -qq && apt-get install -y -qq --no-install-recommends wget \
    && rm -rf /var/lib/apt/lists/*
COPY nats-server /usr/local/bin/nats-server
COPY docker-entrypoint.sh /usr/local/bin/docker-entrypoint.sh
EXPOSE 4222 8222 6222
ENTRYPOINT ["docker-entrypoint.sh"]
CMD ["nats-server", "--jetstream"]
