# syntax=docker/dockerfile:1.7-labs
# Runner image for callgen in Kubernetes (deploy/k8s): Debian 12, pjsua built from
# source exactly as `make setup` does (scripts/setup.sh), callgen with the k8s extra.
#   docker build -t callgen:latest .
# The scenario library is baked in at /scenarios; deploy/k8s mounts a ConfigMap
# over it. Reports go to /results (a volume); /tmp must be writable (emptyDir),
# so the container can run with readOnlyRootFilesystem.
FROM debian:12-slim

ENV DEBIAN_FRONTEND=noninteractive \
    LANG=C.UTF-8 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1

# What setup.sh needs before it can run: a Python with venv, and apt's keyring for the sid source list.
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 python3-venv ca-certificates debian-archive-keyring \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /opt/callgen
# The host's .venv and .build must not leak in: both hold absolute paths of the build machine.
COPY --exclude=.git --exclude=.venv --exclude=.build --exclude=callgen-runs --exclude=**/__pycache__ \
     --exclude=*.egg-info --exclude=.pytest_cache . /opt/callgen

# Same route as `make setup`: Debian packages, pjsua from the pjproject source, the virtualenv.
# Then drop what only the build needed (source tree, private apt lists) to keep the image smaller.
RUN scripts/setup.sh \
 && .venv/bin/pip install -e '.[k8s]' \
 && rm -rf .build/pjproject .build/apt-sid /var/lib/apt/lists/* /root/.cache \
 && ln -s /opt/callgen/.venv/bin/callgen /usr/local/bin/callgen \
 && mkdir -p /scenarios /results \
 && cp -r scenarios/. /scenarios/ \
 && callgen --version

ENV PJSUA=/opt/callgen/.build/bin/pjsua \
    PATH=/opt/callgen/.venv/bin:$PATH \
    HOME=/tmp

WORKDIR /results
# uid 0 on purpose: the Pod adds only NET_RAW and drops everything else, and an
# added capability is only effective for uid 0 (see deploy/k8s/namespace.yaml).
CMD ["callgen", "--help"]
