# syntax=docker/dockerfile:1
# One image per Certamen workload on Knative, each with only what it runs: the package
# and the extra of pyproject.toml named after the workload, which is also its Knative
# Service, its image and its entrypoint (`certamen <workload>`):
#   docker build --build-arg WORKLOAD=producer-grpc -t dev.local/certamen-producer-grpc:0.1.0 .
#   (WORKLOAD: producer-grpc | producer-wasm | consumer | streamlit)
# The base is pinned by digest (python:3.11-slim-bookworm, the digest recorded
# on 2026-08-24). To move to a newer patch release, look the digest up with
#   docker buildx imagetools inspect python:3.11-slim-bookworm
# and pass it with --build-arg PYTHON_IMAGE=python:3.11-slim-bookworm@sha256:...
ARG PYTHON_IMAGE=python:3.11-slim-bookworm@sha256:2e32f7d302adc1c37428355c1e646897c0c53f4fd60b6a551245fb90ee129f91

# ---- build: gRPC stubs from proto/, the package and the workload's dependencies in a venv
FROM ${PYTHON_IMAGE} AS build
ARG WORKLOAD
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
# grpcio-tools only generates the stubs, from its own venv: the same pin as
# pyproject.toml's dev extra (tests/deploy checks that they agree).
RUN python -m venv /opt/protoc \
 && /opt/protoc/bin/pip install grpcio-tools==1.85.1 \
 && python -m venv /opt/venv
WORKDIR /src
COPY pyproject.toml ./
COPY proto ./proto
COPY functions ./functions
COPY streamlit_app ./streamlit_app
# 1. the stubs into functions/certamen/_generated (never committed);
# 2. the package (with the stubs and the committed WebAssembly kernel) and the
#    pinned dependencies of the workload's extra; 3. for streamlit, the app beside
#    the package, where `certamen streamlit` looks for it; 4. bytecode now, since
#    at run time the root filesystem is read-only.
RUN test -n "${WORKLOAD}" || { echo "--build-arg WORKLOAD=<producer-grpc|producer-wasm|consumer|streamlit> is required" >&2; exit 1; } \
 && /opt/protoc/bin/python functions/certamen/producers/grpc/build.py \
 && /opt/venv/bin/pip install ".[${WORKLOAD}]" \
 && site="$(/opt/venv/bin/python -c 'import sysconfig; print(sysconfig.get_path("purelib"))')" \
 && if [ "${WORKLOAD}" = streamlit ]; then cp -r streamlit_app "$site/streamlit_app"; fi \
 && /opt/venv/bin/python -m compileall -q "$site"

# ---- run: the venv, the example contest catalog and an unprivileged user
FROM ${PYTHON_IMAGE}
ARG WORKLOAD
LABEL org.opencontainers.image.title="certamen-${WORKLOAD}" \
      org.opencontainers.image.description="Certamen's ${WORKLOAD} workload (producer-grpc, producer-wasm, consumer or streamlit)" \
      org.opencontainers.image.licenses="MIT"
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    HOME=/tmp
RUN groupadd --system --gid 10001 certamen \
 && useradd --system --uid 10001 --gid certamen --home-dir /tmp --no-create-home \
    --shell /usr/sbin/nologin certamen
COPY --from=build /opt/venv /opt/venv
# The contest catalog (CERTAMEN_CATALOG in knative/base/config.env). To use
# another, rebuild, or mount a ConfigMap over this file.
COPY load/data/catalog.yaml /srv/certamen/catalog.yaml
WORKDIR /srv/certamen
USER 10001:10001
EXPOSE 8080
ENTRYPOINT ["certamen"]
