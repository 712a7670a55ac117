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

# An unprivileged user (uid and gid 10001) that owns the data directory. /data is created (and chowned)
# before VOLUME so that a fresh named volume starts out writable by that user.
RUN groupadd --system --gid 10001 bpv \
    && useradd --system --uid 10001 --gid bpv --create-home --home-dir /home/bpv bpv \
    && mkdir -p /data \
    && chown bpv:bpv /data

# Dependencies only: this layer is rebuilt when pyproject.toml changes, not when the source does. The list
# is [project].dependencies plus the build backend ([build-system].requires), read with tomllib, so that
# the package below builds without fetching anything.
COPY pyproject.toml /tmp/deps/pyproject.toml
RUN python -c "import tomllib; p = tomllib.load(open('/tmp/deps/pyproject.toml', 'rb')); \
print('\n'.join(p['project']['dependencies'] + p['build-system']['requires']))" > /tmp/deps/requirements.txt \
    && python -m pip install -r /tmp/deps/requirements.txt \
    && rm -rf /tmp/deps

# The package itself, installed from a real build (not an editable checkout); its dependencies are
# already in place, so --no-deps. The source tree is removed once installed; the last two lines check
# that the console script works and that static/ and templates/ came along as package data.
COPY . /tmp/src
RUN python -m pip install --no-deps --no-build-isolation /tmp/src \
    && rm -rf /tmp/src \
    && backprop-viz serve --help > /dev/null \
    && python -c "import backprop_viz_server.paths"

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

# Exec form: the server is PID 1 and gets `docker stop`'s SIGTERM itself. `backprop-viz serve` runs uvicorn
# with the stream's settings (permessage-deflate off) and reads BPV_HOST, BPV_PORT and BPV_DATA_DIR.
CMD ["backprop-viz", "serve"]
