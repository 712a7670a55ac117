# backprop-viz: the server and its page in one image.
#
#   docker build -t backprop-viz .
#   docker run -p 8000:8000 -v backprop-data:/data backprop-viz      # then open http://localhost:8000/
#
# Environment: BPV_HOST (0.0.0.0), BPV_PORT (8000), BPV_DATA_DIR (/data, the SQLite data directory).
# See docs/docker.md. Only `python` / `python -m pip` are used, never an absolute interpreter path.
FROM python:3.12-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore

# 1. Dependencies only: this layer is rebuilt when pyproject.toml changes, not when the source does.
#    The list is [project].dependencies, read with the standard library's tomllib.
COPY pyproject.toml /tmp/deps/pyproject.toml
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('/tmp/deps/pyproject.toml', 'rb'))['project']['dependencies']))" \
        > /tmp/deps/requirements.txt \
    && python -m pip install -r /tmp/deps/requirements.txt \
    && rm -rf /tmp/deps

# 2. The package itself, installed from a real build (not an editable checkout); its dependencies are
#    already in place, so --no-deps. The source tree is removed once the package is installed.
COPY . /tmp/src
RUN python -m pip install --no-deps /tmp/src \
    && rm -rf /tmp/src \
    && backprop-viz serve --help > /dev/null

# 3. An unprivileged user that owns the data directory. /data is created (and chowned) before VOLUME so
#    that a fresh named volume starts out writable by that user.
RUN useradd --system --uid 10001 --user-group --create-home --home-dir /home/bpv bpv \
    && mkdir -p /data \
    && chown bpv:bpv /data

ENV BPV_HOST=0.0.0.0 \
    BPV_PORT=8000 \
    BPV_DATA_DIR=/data

VOLUME /data
WORKDIR /home/bpv
USER bpv
EXPOSE 8000

# Standard library only (no curl in the image); no proxy for loopback even if HTTP_PROXY is passed in.
HEALTHCHECK --interval=10s --timeout=5s --start-period=20s --retries=3 \
    CMD python -c "import urllib.request as u; u.build_opener(u.ProxyHandler({})).open('http://127.0.0.1:${BPV_PORT:-8000}/healthz', timeout=4)" || exit 1

# `exec` so that the server is PID 1 and receives SIGTERM from `docker stop` itself.
# `backprop-viz serve` runs uvicorn with the stream's settings (permessage-deflate off).
CMD ["sh", "-c", "exec backprop-viz serve --host \"$BPV_HOST\" --port \"$BPV_PORT\" --data-dir \"$BPV_DATA_DIR\""]
