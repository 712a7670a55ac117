"""``python -m <package>.worker --fd N``: a training worker on an inherited socket (started by the web process;
the package is ``app`` in a checkout, ``backprop_viz_server`` installed)."""

from __future__ import annotations

import argparse

from .host import main

if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog=f"python -m {__package__}")
    parser.add_argument("--fd", type=int, required=True, help="the inherited socket's file descriptor")
    parser.add_argument("--parent", type=int, default=0, help="the server's pid: leave when it dies")
    args = parser.parse_args()
    raise SystemExit(main(args.fd, args.parent))
