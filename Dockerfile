# soar-key-auditor: a small, non-root image that runs the nightly audit scheduler by default.
#
#   docker build -t soar-key-auditor .
#   docker run --rm -v "$PWD/auditor.yaml:/etc/soar-auditor/auditor.yaml:ro" \
#     -e SOAR_ACME_KEY -v soar-auditor-data:/var/lib/soar-auditor soar-key-auditor
#
# Stage 1 installs the pinned, hashed dependencies of requirements.lock into /opt/venv, then a
# wheel of the project, using Debian's Python. Stage 2 is Debian's Python alone plus that venv:
# no compiler, no pip, no package caches.

FROM debian:bookworm-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONDONTWRITEBYTECODE=1
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends python3 python3-venv \
 && rm -rf /var/lib/apt/lists/*
# The dependencies come from the hashed lock alone (exact versions, every file checked against
# its sha256; --no-deps: nothing the lock does not name), then the project itself, also --no-deps.
# `pip check` fails the build when the lock misses a requirement of the project.
COPY requirements.lock /src/requirements.lock
RUN python3 -m venv /opt/venv \
 && /opt/venv/bin/pip install --require-hashes --no-deps --only-binary=:all: \
      -r /src/requirements.lock
COPY . /src
RUN /opt/venv/bin/pip wheel --no-deps --wheel-dir /tmp/dist /src \
 && /opt/venv/bin/pip install --no-deps /tmp/dist/*.whl \
 && /opt/venv/bin/pip check \
 && /opt/venv/bin/pip uninstall -y pip setuptools \
 && /opt/venv/bin/soar-auditor --version

FROM debian:bookworm-slim
LABEL org.opencontainers.image.title="soar-key-auditor" \
      org.opencontainers.image.description="Compliance auditor for the API keys of Google SecOps SOAR"
# python3: the interpreter the venv was built with (same path, same version).
# tzdata: IANA zones for schedule.timezone. ca-certificates: the system trust store.
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      python3 tzdata ca-certificates \
 && apt-get clean \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/* /var/log/apt /var/log/dpkg.log \
 && groupadd --system --gid 10001 auditor \
 && useradd --system --uid 10001 --gid 10001 --home-dir /var/lib/soar-auditor \
      --no-create-home --shell /usr/sbin/nologin auditor \
 && install -d -o 10001 -g 10001 -m 0750 /var/lib/soar-auditor \
 && install -d -m 0755 /etc/soar-auditor
COPY --from=build /opt/venv /opt/venv

ENV PATH=/opt/venv/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    SOAR_AUDITOR_HEARTBEAT_FILE=/tmp/soar-auditor-heartbeat.json

# State (SQLite) and reports live here; mount a volume (or use PostgreSQL for the state).
VOLUME ["/var/lib/soar-auditor"]
WORKDIR /var/lib/soar-auditor
USER 10001:10001

# Unhealthy when the scheduler is stuck, its heartbeat is stale, or the last audit is overdue.
HEALTHCHECK --interval=60s --timeout=15s --start-period=120s --retries=3 \
  CMD ["soar-auditor", "healthcheck"]

ENTRYPOINT ["soar-auditor"]
CMD ["schedule", "--config", "/etc/soar-auditor/auditor.yaml"]
