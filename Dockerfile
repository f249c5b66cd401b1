# syntax=docker/dockerfile:1
# One image for every VoiceLens command: `docker run IMAGE deliver|produce|sink|report|...`.
# Every option is an environment variable (VOICELENS_*), so docker-compose.yml and the
# Kubernetes manifests in deploy/k8s/ configure it without flags.
#
#   docker build -t voicelens:0.1.0 .
#   docker build --build-arg EXTRAS=report -t voicelens-report:0.1.0 .   # + `voicelens report`
#
# PYTHON_IMAGE: any Debian-based image with Python 3.11 (`make image` builds one locally where
# no registry can be reached). EXTRAS: the package's optional extras; `report` adds scipy and
# matplotlib, which only `voicelens report` loads, so the image the consumers scale out with
# leaves them out (both sizes: README, "Run with containers").
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS builder
ARG EXTRAS=""
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src
# The dependencies first, in a layer that only pyproject.toml and the lock invalidate: a change
# to the code rebuilds the last, small step. The lock as constraints pins every runtime
# dependency without installing the dev tools it also lists. confluent-kafka, numpy and scipy
# come as manylinux wheels: no compiler needed.
COPY pyproject.toml requirements.lock ./
RUN python -c "import os, tomllib; p = tomllib.load(open('pyproject.toml', 'rb'))['project']; \
extras = [e for e in os.environ.get('EXTRAS', '').split(',') if e]; \
print('\n'.join(p['dependencies'] + [d for e in extras for d in p['optional-dependencies'][e]]))" \
      > /tmp/dependencies.txt \
 && pip install -c requirements.lock -r /tmp/dependencies.txt
# A C compiler for the native extensions (setup.py), and Python's headers where the base lacks
# them (Debian's python3.11 keeps them in python3.11-dev; the python:3.11 images ship them). Only
# this stage has them: the runtime stage gets the built modules. Placed after the dependencies'
# layer, it is cached with it and rebuilt only when that is.
RUN pkgs="gcc libc6-dev"; \
    python3 -c "import os, sys, sysconfig; sys.exit(not os.path.exists(os.path.join(sysconfig.get_paths()['include'], 'Python.h')))" \
      || pkgs="$pkgs python3.11-dev"; \
    apt-get update -qq \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $pkgs >/dev/null \
 && rm -rf /var/lib/apt/lists/*
COPY README.md setup.py ./
COPY voicelens/ voicelens/
COPY producer/ producer/
COPY consumer/ consumer/
COPY schemas/ schemas/
COPY report/ report/
# The native Avro reader and writer (schemas/_reader.c, _writer.c) and the transcript's per-turn
# loops (producer/_turns.c) are optional in setup.py, which would install the slower Python
# twins where one fails to compile (~4x the CPU a record for each codec, bench/README.md): here
# the build fails instead (-I: the installed package, not the sources in this directory). pip
# itself stays behind in this stage: the runtime installs nothing.
RUN pip install -c requirements.lock --no-deps ".${EXTRAS:+[$EXTRAS]}" && voicelens --version \
 && python -I -c "import voicelens.schemas._reader, voicelens.schemas._writer, voicelens.producer._turns" \
 && pip uninstall -y -q pip setuptools

FROM ${PYTHON_IMAGE} AS runtime
LABEL org.opencontainers.image.title="voicelens" \
      org.opencontainers.image.description="VCP 0.3 call data through Apache Kafka to webhooks" \
      org.opencontainers.image.licenses="Apache-2.0"
# A fixed numeric uid, so Kubernetes' runAsNonRoot can verify it without a passwd lookup.
RUN groupadd --system --gid 10001 voicelens \
 && useradd --system --uid 10001 --gid voicelens --home-dir /home/voicelens --create-home \
      --shell /usr/sbin/nologin voicelens \
 && install -d -o voicelens -g voicelens /data /data/reports
COPY --from=builder /opt/venv /opt/venv
# MPLCONFIGDIR: the report's charts need a writable cache even under a read-only root.
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    MPLCONFIGDIR=/tmp/matplotlib
WORKDIR /data
USER 10001:10001
# 9100: /metrics, /healthz, /readyz of `deliver --metrics-port`; 8787: `voicelens sink`.
EXPOSE 9100 8787
# The slim image has no curl; the venv's Python asks the metrics server of this process.
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
  CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('VOICELENS_METRICS_PORT', '9100'), timeout=4)"]
ENTRYPOINT ["voicelens"]
CMD ["--help"]
