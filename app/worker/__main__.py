"""``python -m app.worker --fd N``: a training worker on an inherited socket (started by the web process)."""

from __future__ import annotations

import argparse

from .host import main

if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m app.worker")
    parser.add_argument("--fd", type=int, required=True, help="the inherited socket's file descriptor")
    parser.add_argument("--parent", type=int, default=0, help="the server's pid: leave when it dies")
    args = parser.parse_args()
    raise SystemExit(main(args.fd, args.parent))
