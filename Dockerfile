# One image for every recstream role: `recstream worker` by default, or any other subcommand
# (`replay`, `inspect`, `bench`) given as the container's arguments. docker-compose.yml and
# deploy/k8s/ both run this image.
#
#   docker build -t recstream:local .
#   docker run --rm --network recstream_default -e RECSTREAM_KAFKA_BOOTSTRAP=kafka:9092 \
#       recstream:local replay --limit 1000
#
# No torch here: training is the optional `train` extra, and the serving path imports onnxruntime
# only (DESIGN decision 5).

ARG PYTHON_IMAGE=python:3.11-slim

# --- build: resolve the dependencies into a virtualenv ------------------------------------------
FROM ${PYTHON_IMAGE} AS build

# pip byte-compiles what it installs, so the runtime (read-only on Kubernetes) starts faster.
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src

# Dependencies first, read from pyproject.toml alone, so that editing the code reuses this (large)
# layer. Every dependency ships manylinux wheels, so the image needs no compiler.
# EXTRAS=train builds the trainer's image (`recstream ranker retrain`, deploy/k8s/ranker-cronjob.yaml):
# the same code with PyTorch, which the workers' image never holds.
ARG EXTRAS=""
COPY pyproject.toml ./
RUN python -c "import tomllib; p = tomllib.load(open('pyproject.toml', 'rb'))['project']; print('\n'.join(p['dependencies'] + [d for e in '${EXTRAS}'.split(',') if e for d in p['optional-dependencies'][e]]))" \
        > /tmp/requirements.txt \
    && pip install -r /tmp/requirements.txt

# Then the project itself (.dockerignore keeps the virtualenv, caches and test data out).
COPY . .
RUN pip install --no-deps . \
    && recstream --help > /dev/null

# --- runtime: the virtualenv and nothing of the build --------------------------------------------
FROM ${PYTHON_IMAGE} AS runtime

LABEL org.opencontainers.image.title="recstream" \
      org.opencontainers.image.description="Streaming, online-learning recommender" \
      org.opencontainers.image.licenses="Apache-2.0"

# A fixed numeric uid lets Kubernetes check runAsNonRoot without a name lookup.
ARG UID=10001
RUN groupadd --system --gid ${UID} recstream \
    && useradd --system --uid ${UID} --gid recstream --create-home --home-dir /home/recstream \
        --shell /usr/sbin/nologin recstream \
    && install -d -o recstream -g recstream /var/lib/recstream

COPY --from=build /opt/venv /opt/venv

# RECSTREAM_STATE_DIR: the worker's scratch folder (Faust's data dir) must be writable and must not
# depend on the working directory; mount a volume there (emptyDir on Kubernetes) if the root
# filesystem is read-only. PYTHONUNBUFFERED: logs reach `docker logs` / `kubectl logs` at once.
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    RECSTREAM_STATE_DIR=/var/lib/recstream

USER ${UID}:${UID}
WORKDIR /home/recstream

# Faust's web views (metrics, health) when the worker runs with --web-port 6066.
EXPOSE 6066

# Exec form: recstream is PID 1 and receives SIGTERM itself, so Faust stops cleanly (commits its
# offsets and leaves the consumer group) instead of being killed when the grace period ends.
ENTRYPOINT ["recstream"]
CMD ["worker"]
