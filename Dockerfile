# The flow image the Kubernetes work pool runs: coinfill installed from this checkout, run as
# uid 1001, working with a read-only root filesystem (it writes only to /tmp, an emptyDir in
# the job template).
#
#   docker build -t coinfill:0.1.0 .
#   docker run --rm --read-only --tmpfs /tmp coinfill:0.1.0 coinfill --help
FROM python:3.11-slim-bookworm

ARG EXTRAS=""
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    HOME=/tmp \
    PREFECT_HOME=/tmp/.prefect \
    XDG_CACHE_HOME=/tmp/.cache \
    HF_HOME=/tmp/.cache/huggingface \
    PREFECT_SERVER_ANALYTICS_ENABLED=false

# The deployments' working directory (Prefect variable coinfill_code_dir): flows/ is read from
# here by the worker's entrypoints; the package itself is installed into site-packages.
WORKDIR /opt/coinfill
COPY pyproject.toml README.md ./
COPY src ./src
COPY flows ./flows
COPY expectations ./expectations
COPY blocks ./blocks
COPY prefect.yaml ./
RUN pip install ".${EXTRAS:+[$EXTRAS]}" \
    && groupadd --gid 1001 coinfill \
    && useradd --uid 1001 --gid 1001 --home-dir /tmp --no-create-home --shell /usr/sbin/nologin coinfill \
    && python -m compileall -q /opt/coinfill/flows /opt/coinfill/expectations /opt/coinfill/blocks

USER 1001:1001
CMD ["coinfill", "--help"]
