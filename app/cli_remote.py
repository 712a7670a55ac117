"""``backprop-viz runs …`` and ``backprop-viz report``: a server's runs from a terminal or a script, on the
Python client (backprop_viz).

    backprop-viz runs start --dataset spiral --layers 8,8 --epochs 500 [--watch]
    backprop-viz runs list [--limit 20]
    backprop-viz runs show|watch|pause|resume|stop|export|delete RUN
    backprop-viz report RUN -o report.html

Each takes ``--server URL`` (default $BPV_SERVER, else http://127.0.0.1:8000), ``--token`` (default
$BPV_API_TOKEN) and ``--json`` (machine-readable: one JSON object per line on stdout). Errors are one line on
stderr. Exit codes: 0 ok; 1 the server refused (its message says why), or the watched run diverged, failed or
was interrupted; 2 bad options or no server at that address; 130 after Ctrl-C.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from backprop_viz import APIError, BackpropVizError, Client, ConnectError, EpochPoint, Run, StreamError

from .cli import PROG, Progress, _finite, _int_at_least, _layers, _non_negative_int, _positive_int

DEFAULT_SERVER = "http://127.0.0.1:8000"
FAILED_ENDINGS = ("diverged", "failed", "interrupted")
RUN_ACTIONS = ("show", "watch", "pause", "resume", "stop", "export", "delete")


def add_commands(sub: Any, formatter: type[argparse.HelpFormatter]) -> None:
    """The ``runs`` and ``report`` sub-commands, on the parser of app/cli.py."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--server", default=os.environ.get("BPV_SERVER") or DEFAULT_SERVER, metavar="URL",
                        help=f"the server (default: $BPV_SERVER or {DEFAULT_SERVER})")
    common.add_argument("--token", default=os.environ.get("BPV_API_TOKEN") or None,
                        help="the server's API token (default: $BPV_API_TOKEN)")
    common.add_argument("--json", action="store_true", help="print one JSON object per line")

    runs = sub.add_parser("runs", help="start, list, follow and steer runs on a server",
                          description="Runs on a backprop-viz server, over its REST API and stream.")
    actions = runs.add_subparsers(dest="action", required=True, metavar="{start,list," + ",".join(RUN_ACTIONS) + "}")
    start = actions.add_parser("start", parents=[common], formatter_class=formatter, help="start a run",
                               description="Start a run. Options not given take the server's defaults "
                                           "(TensorFlow Playground's); --set gives any other field of "
                                           "POST /api/runs.")
    start.add_argument("--name", default="", help="a name for the run")
    start.add_argument("--dataset", default=None, help="a built-in dataset (see /api/datasets) or csv:<id>")
    start.add_argument("--layers", type=_layers, default=None, metavar="W1,W2,…", help="hidden layer widths")
    start.add_argument("--activation", default=None, help="hidden activation (tanh, relu, sigmoid, …)")
    start.add_argument("--lr", "--learning-rate", dest="lr", type=_finite, default=None, metavar="η",
                       help="learning rate η")
    start.add_argument("--batch-size", type=_positive_int, default=None, metavar="N")
    start.add_argument("--epochs", type=_positive_int, default=None, metavar="N", help="stop after N epochs")
    start.add_argument("--seed", type=_non_negative_int, default=None, metavar="N")
    start.add_argument("--speed", type=_finite, default=None, metavar="EPOCHS/S", help="pace the run")
    start.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE", type=_field,
                       help="any other field; VALUE is read as JSON when it can be (--set noise=0.1 "
                            "--set output_activation=sigmoid)")
    start.add_argument("--paused", action="store_true", help="create it paused")
    start.add_argument("--watch", action="store_true", help="then follow it as `runs watch` does")
    start.add_argument("--no-progress", action="store_true", help="with --watch: no progress bar")

    listing = actions.add_parser("list", parents=[common], formatter_class=formatter, help="list runs, newest first")
    listing.add_argument("--limit", type=_int_at_least(1), default=20, metavar="N", help="at most N runs (≤ 200)")
    listing.add_argument("--offset", type=_non_negative_int, default=0, metavar="N")

    helps = {"show": "a run's state, config and last epoch", "pause": "pause a run", "resume": "resume a run",
             "stop": "stop a run for good", "delete": "delete a run and everything stored of it",
             "export": "the config and the newest weights as JSON",
             "watch": "follow a run with a progress bar until it ends; exit 1 if it diverged or failed"}
    for name in RUN_ACTIONS:
        p = actions.add_parser(name, parents=[common], formatter_class=formatter, help=helps[name],
                               description=helps[name][0].upper() + helps[name][1:] + ".")
        p.add_argument("run", metavar="RUN", help="the run's id")
        if name == "watch":
            p.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
        if name == "export":
            p.add_argument("-o", "--output", default=None, metavar="FILE", help="write it here, not to stdout")

    report = sub.add_parser("report", parents=[common], formatter_class=formatter,
                            help="save a run's report: one self-contained HTML file",
                            description="Save a run's report (cost and accuracy curves, per-layer norms, "
                                        "weight and gradient heatmaps, decision map or confusion matrix, config, "
                                        "equations) as one HTML file that needs nothing else to open.")
    report.add_argument("run", metavar="RUN", help="the run's id")
    report.add_argument("-o", "--output", default=None, metavar="FILE", help="default: report-RUN.html")


def _field(text: str) -> tuple[str, Any]:
    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise argparse.ArgumentTypeError(f"expected FIELD=VALUE, got {text!r}")
    try:
        value: Any = json.loads(raw)
    except ValueError:
        value = raw
    return key.strip(), value


# -- running them ------------------------------------------------------------------------------------------

def main(args: argparse.Namespace) -> int:
    """Carry out a ``runs`` or ``report`` command; returns the exit code."""
    try:
        client = Client(args.server, token=args.token)
    except ValueError as e:
        return _fail(str(e), 2)
    try:
        with client:
            if args.command == "report":
                return _report(client, args)
            return _runs(client, args)
    except ConnectError as e:
        return _fail(str(e), 2)
    except (APIError, StreamError) as e:
        return _fail(str(e), 1)
    except BackpropVizError as e:
        return _fail(str(e), 1)
    except OSError as e:  # a file that cannot be written
        return _fail(f"{e.filename or ''}: {e.strerror or e}".lstrip(": "), 1)
    except KeyboardInterrupt:
        return 130


def _fail(message: str, code: int) -> int:
    print(f"{PROG}: error: {message}", file=sys.stderr)
    return code


def _emit(obj: Any) -> None:
    print(json.dumps(obj, separators=(",", ":"), allow_nan=False), flush=True)


def _runs(client: Client, args: argparse.Namespace) -> int:
    if args.action == "start":
        return _start(client, args)
    if args.action == "list":
        runs = client.runs(limit=args.limit, offset=args.offset)
        if args.json:
            for r in runs:
                _emit(r.info)
        else:
            _table(runs)
        return 0
    run = client.run(args.run)
    if args.action == "show":
        return _show(run, args.json)
    if args.action == "watch":
        return _watch(run, args.json, not args.no_progress)
    if args.action in ("pause", "resume", "stop"):
        getattr(run, args.action)()
        _emit(run.info) if args.json else print(f"run {run.id}: {run.state} at epoch {run.epoch}")
        return 0
    if args.action == "export":
        body = run.export()
        text = json.dumps(body, separators=(",", ":")) if args.json or args.output else json.dumps(body, indent=2)
        if args.output:
            Path(args.output).write_text(text + "\n", encoding="utf-8")
            _emit({"path": args.output, "bytes": len(text) + 1}) if args.json else print(f"wrote {args.output}")
        else:
            print(text)
        return 0
    run.delete()
    _emit({"deleted": run.id}) if args.json else print(f"deleted run {run.id}")
    return 0


def _start(client: Client, args: argparse.Namespace) -> int:
    given = {"dataset": args.dataset, "hidden_layers": args.layers, "activation": args.activation,
             "learning_rate": args.lr, "batch_size": args.batch_size, "epochs": args.epochs, "seed": args.seed,
             "speed": args.speed}
    config = {k: v for k, v in given.items() if v is not None} | dict(args.set)
    run = client.start(name=args.name, start=not args.paused, **config)
    if args.json:
        _emit(run.info)
    else:
        print(f"run {run.id} {run.state}: {_network(run)} on {run.config['dataset']}, "
              f"{run.config['epochs']} epochs — {run.page_url}")
    return _watch(run, args.json, not args.no_progress) if args.watch else 0


def _network(run: Run) -> str:
    acts = run.info["activations"]
    return "-".join(map(str, run.info["layer_sizes"])) + (f" {acts[0]}" if acts else "")


def _table(runs: list[Run]) -> None:
    rows = [("ID", "STATE", "EPOCH", "DATASET", "NETWORK", "NAME")]
    rows += [(r.id, r.state, str(r.epoch), str(r.config["dataset"]), _network(r), r.name) for r in runs]
    widths = [max(len(row[i]) for row in rows) for i in range(5)]
    for row in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=False)) + "  " + row[5])


def _show(run: Run, as_json: bool) -> int:
    if as_json:
        _emit(run.info)
        return 0
    cfg = run.config
    history = run.history()
    last = history[-1] if history else None
    state = run.state + (f": {run.reason}" if run.reason else "")
    rows = [("id", run.id), ("name", run.name or "—"), ("state", state),
            ("epoch", f"{run.epoch}/{cfg['epochs']}"), ("dataset", f"{cfg['dataset']} ({run.info['task']})"),
            ("network", f"{'-'.join(map(str, run.info['layer_sizes']))} ({', '.join(run.info['activations'])}), "
                        f"{cfg.get('cost')} cost"),
            ("training", f"{cfg['optimizer']} η={cfg['learning_rate']:g}, batch {cfg['batch_size']}, "
                         f"seed {cfg['seed']}")]
    if last is not None:
        rows.append(("train cost", _num(last["train_cost"])))
        rows.append(("test cost", _num(last["test_cost"])))
        if last["accuracy"] is not None or last["train_accuracy"] is not None:
            rows.append(("accuracy", f"train {_num(last['train_accuracy'], '.3f')}, "
                                     f"test {_num(last['accuracy'], '.3f')}"))
    rows += [("created", run.info["created_at"]), ("page", run.page_url)]
    print("\n".join(f"{k:<11} {v}" for k, v in rows))
    return 0


def _num(value: float | None, spec: str = ".4f") -> str:
    return "n/a" if value is None else format(value, ".4g" if abs(value) >= 1e6 else spec)


@dataclass(frozen=True)
class _Point:
    """A server's epoch point as the progress bar reads it (app/cli.py ``Epoch``)."""

    epoch: int
    train_cost: float | None
    accuracy: float | None
    train_accuracy: float | None

    @classmethod
    def of(cls, p: EpochPoint) -> _Point:
        return cls(p["epoch"], p["train_cost"], p["accuracy"], p["train_accuracy"])


def _watch(run: Run, as_json: bool, progress: bool) -> int:
    """Follow the stream to the end: a progress bar on stderr (or JSON lines), a summary line; exit 1 when
    the run diverged, failed or was interrupted."""
    bar = Progress(int(run.config["epochs"]), sys.stderr, enabled=progress and not as_json)
    last: EpochPoint | None = None
    try:
        for point in run.watch():
            last = point
            if as_json:
                _emit({"type": "point", **point})
            else:
                bar.update(_Point.of(point))
    finally:
        bar.close(_Point.of(last) if last is not None else None)
    if as_json:
        _emit({"type": "state", "id": run.id, "state": run.state, "reason": run.reason, "epoch": run.epoch})
    else:
        cost = f", train cost {_num(last['train_cost'])}, test cost {_num(last['test_cost'])}" if last else ""
        acc = last["accuracy"] if last else None
        print(f"run {run.id} {run.state} at epoch {run.epoch}{cost}"
              + (f", accuracy {acc:.3f}" if acc is not None else "") + (f" ({run.reason})" if run.reason else ""))
    return 1 if run.state in FAILED_ENDINGS else 0


def _report(client: Client, args: argparse.Namespace) -> int:
    run = client.run(args.run)
    html = run.report()
    path = Path(args.output or f"report-{run.id}.html")
    path.write_text(html, encoding="utf-8")
    size = path.stat().st_size
    _emit({"path": str(path), "bytes": size}) if args.json else print(f"wrote {path} ({size / 1e6:.1f} MB)")
    return 0
