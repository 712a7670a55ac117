"""The ``backprop-viz`` command: ``train`` (headless training with a progress bar) and ``serve``.

    backprop-viz train --dataset circle --layers 4,2 --epochs 300
    backprop-viz train --csv data.csv --label-column species --layers 16 --epochs 100
    backprop-viz serve --host 127.0.0.1 --port 8000 --data-dir data
    backprop-viz runs list --server http://127.0.0.1:8000     (runs start|show|watch|…, report: app/cli_remote.py)

``train`` writes its progress bar to stderr and a summary to stdout. Exit codes: 0 when training ended
(epoch limit or target cost), 1 when it diverged, 2 for bad options or combinations the core refuses (the
message names the valid ones; never a traceback), 130 after Ctrl-C (the summary is still printed).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, TextIO

import numpy as np

from backprop_core import MLP, EpochSnapshot, Trainer, TrainerState, output_layer_size
from backprop_core.activations import HIDDEN_NAMES, OUTPUT_NAMES
from backprop_core.costs import COSTS, default_for
from backprop_core.datasets import DATASETS, Dataset, load, load_csv
from backprop_core.inputs import DEFAULT_FEATURES, FEATURES, prepare
from backprop_core.network import INITS
from backprop_core.optimizers import OPTIMIZERS
from backprop_core.vocabulary import auto_output_activation

from . import __version__

PROG = "backprop-viz"
BAR_WIDTH = 24
REFRESH_SECONDS = 0.1  # at most ~10 redraws per second on a terminal


# -- option types --------------------------------------------------------------------------------------------

def _layers(text: str) -> list[int]:
    """'4,2' → [4, 2]; '' or 'none' → no hidden layer."""
    if text.strip().lower() in ("", "none"):
        return []
    try:
        widths = [int(part) for part in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated widths like 4,2, got {text!r}") from None
    if any(w < 1 for w in widths):
        raise argparse.ArgumentTypeError(f"every width must be ≥ 1, got {text!r}")
    return widths


def _int_at_least(low: int) -> Callable[[str], int]:
    """An argparse type: a whole number ≥ ``low``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"must be ≥ {low}, got {value}")
        return value

    return parse


_positive_int = _int_at_least(1)
_non_negative_int = _int_at_least(0)


def _finite(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not np.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be a finite number, got {text!r}")
    return value


def _port(text: str) -> int:
    value = _positive_int(text)
    if value > 65535:
        raise argparse.ArgumentTypeError(f"a port is at most 65535, got {value}")
    return value


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows "(default: …)" unless there is none (None, a flag) or the help text already says it."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if action.default is None or action.default is False or "default" in text:
            return text
        return super()._get_help_string(action) or text


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Watch a neural network learn by backpropagation: train headless, or serve the page.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="{train,serve,worker,runs,report}")

    train = sub.add_parser(
        "train",
        help="train a network headless, with a progress bar and a summary",
        description="Train a multilayer perceptron by mini-batch gradient descent (the seed's "
                    "backpropagation) and print a summary: epochs, final train/test cost, accuracy, time. "
                    "The progress bar goes to stderr, the summary to stdout. Exit code 0 when training "
                    "ended, 1 if it diverged, 2 for bad options, 130 after Ctrl-C.",
        formatter_class=_HelpFormatter,
    )
    data = train.add_argument_group("data")
    data.add_argument("--dataset", default="circle", choices=sorted(DATASETS),
                      help="built-in dataset (ignored with --csv)")
    data.add_argument("--samples", type=_positive_int, default=None, metavar="N",
                      help="number of examples to generate (default: the dataset's own, e.g. 500 for circle)")
    data.add_argument("--noise", type=_finite, default=0.0, metavar="FRACTION",
                      help="label/point noise of the built-in sets, a fraction in [0, 0.5]")
    data.add_argument("--train-fraction", type=_finite, default=0.5, metavar="FRACTION",
                      help="share of the examples used for training, in [0.1, 0.9]; the rest is the test set")
    data.add_argument("--csv", metavar="FILE", default=None,
                      help="train on a CSV file instead: a header row, numeric feature columns and one label "
                           "column (needs --label-column)")
    data.add_argument("--label-column", metavar="NAME", default=None,
                      help="the CSV column holding the label (class or regression target)")

    data.add_argument("--features", default=",".join(DEFAULT_FEATURES), metavar="F1,F2,…",
                      help=f"the network's inputs for 2-D data, from {', '.join(FEATURES)}")
    data.add_argument("--no-standardize", dest="standardize", action="store_false",
                      help="feed the raw features (default: standardised with the training split's mean and "
                           "standard deviation)")
    net = train.add_argument_group("network")
    net.add_argument("--layers", type=_layers, default="4,2", metavar="W1,W2,…",
                     help="hidden layer widths, comma-separated ('none' for no hidden layer); the input and "
                          "output sizes come from the data")
    net.add_argument("--activation", default="tanh", metavar="NAME[,NAME…]",
                     help=f"hidden activation, or one per hidden layer; one of {', '.join(HIDDEN_NAMES)}")
    net.add_argument("--output-activation", default="auto", choices=["auto", *OUTPUT_NAMES],
                     help="output activation; auto: tanh for two classes, softmax for more, linear for "
                          "regression")
    net.add_argument("--cost", default="auto", choices=["auto", *COSTS],
                     help="cost; auto: cross_entropy with softmax, binary_cross_entropy with sigmoid, else "
                          "quadratic")
    net.add_argument("--init", default="auto", choices=list(INITS),
                     help="initial weights; auto: Xavier/Glorot for tanh/sigmoid/linear, He for ReLU; "
                          "uniform: Playground's U(−0.5, 0.5) with biases 0.1")
    net.add_argument("--dtype", default="float32", choices=["float32", "float64"],
                     help="floating-point precision (float32 is faster)")

    opt = train.add_argument_group("training")
    opt.add_argument("--epochs", type=_positive_int, default=300, metavar="N", help="stop after this many epochs")
    opt.add_argument("--target-cost", type=_finite, default=None, metavar="C",
                     help="stop earlier once the training cost is at most this")
    opt.add_argument("--lr", "--learning-rate", dest="lr", type=_finite, default=0.03, metavar="η",
                     help="learning rate η (> 0): w ← w − η ∂C/∂w")
    opt.add_argument("--batch-size", type=_positive_int, default=10, metavar="N", help="examples per mini-batch")
    opt.add_argument("--optimizer", default="sgd", choices=list(OPTIMIZERS),
                     help="sgd: plain gradient descent; momentum: v ← μv − η∂C/∂w, w ← w + v")
    opt.add_argument("--momentum", type=_finite, default=0.9, metavar="μ", help="μ for --optimizer momentum, in [0, 1)")
    opt.add_argument("--regularization", default="none", choices=["none", "l1", "l2"],
                     help="penalty on the weights: l1 adds λΣ|w|, l2 adds λ½Σw² to the cost")
    opt.add_argument("--regularization-rate", type=_finite, default=0.0, metavar="λ",
                     help="λ ≥ 0, the regularisation strength")
    opt.add_argument("--seed", type=_non_negative_int, default=0, metavar="N",
                     help="seed of the data, the initial weights and the shuffling (same seed, same run)")
    opt.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    train.set_defaults(subparser=train)

    serve = sub.add_parser(
        "serve",
        help="start the web app",
        description="Start the web app (FastAPI + uvicorn). Options not given come from the settings: the "
                    "environment variables BPV_HOST, BPV_PORT and BPV_DATA_DIR, else 127.0.0.1:8000 and ./data.",
    )
    serve.add_argument("--host", default=None, help="interface to listen on (default: BPV_HOST or 127.0.0.1)")
    serve.add_argument("--port", type=_port, default=None, help="TCP port (default: BPV_PORT or 8000)")
    serve.add_argument("--data-dir", default=None,
                       help="directory for the SQLite database and uploads (default: BPV_DATA_DIR or ./data)")
    worker = sub.add_parser(
        "worker", help="train the runs of a cluster (docs/deploy.md)",
        description="A training worker of a cluster: it takes runs from the broker, trains them, writes them to "
                    "the database, and carries on the runs of a worker that stopped.")
    for command in (serve, worker):
        command.add_argument("--broker", default=None, metavar="URL",
                             help="redis://host:6379/0 — with --database: a cluster (default: BPV_BROKER_URL)")
        command.add_argument("--database", default=None, metavar="URL",
                             help="postgresql://user:password@host/db (default: BPV_DATABASE_URL)")
    from . import cli_remote  # the remote commands build on this module's option types and progress bar

    cli_remote.add_commands(sub, _HelpFormatter)
    return parser


# -- train ---------------------------------------------------------------------------------------------------

def load_data(args: argparse.Namespace) -> Dataset:
    """The network's inputs: the raw data, its features, standardised unless asked not to (as the server)."""
    return prepare(_raw_data(args), [f.strip() for f in args.features.split(",")], standardize=args.standardize)


def _raw_data(args: argparse.Namespace) -> Dataset:
    if args.csv is None:
        if args.label_column is not None:
            raise ValueError("--label-column needs --csv FILE")
        return load(args.dataset, n_samples=args.samples, noise=args.noise, train_fraction=args.train_fraction,
                    seed=args.seed)
    if args.label_column is None:
        raise ValueError("--csv needs --label-column NAME (the column holding the label)")
    try:
        with open(args.csv, "rb") as f:
            raw = f.read()
    except OSError as e:
        raise ValueError(f"cannot read {args.csv}: {e.strerror or e}") from None
    return load_csv(raw, args.label_column, train_fraction=args.train_fraction, seed=args.seed,
                    name=os.path.basename(args.csv))


@dataclass
class Setup:
    dataset: Dataset
    net: MLP
    trainer: Trainer


def build(args: argparse.Namespace) -> Setup:
    """Data, network and trainer from the options; ValueError (naming the valid choices) when refused."""
    dataset = load_data(args)
    out = (auto_output_activation(dataset.task, dataset.n_classes) if args.output_activation == "auto"
           else args.output_activation)
    cost = default_for(out) if args.cost == "auto" else args.cost
    names = [a.strip() for a in args.activation.split(",")]
    activation: str | list[str] = names[0] if len(names) == 1 else names
    sizes = [dataset.input_dim, *args.layers, output_layer_size(dataset, out)]
    net = MLP(sizes, activation, out, cost, init=args.init, seed=args.seed, dtype=np.dtype(args.dtype),
              regularization=None if args.regularization == "none" else args.regularization,
              regularization_rate=args.regularization_rate)
    trainer = Trainer(net, dataset, learning_rate=args.lr, batch_size=args.batch_size, optimizer=args.optimizer,
                      momentum=args.momentum, seed=args.seed, max_epochs=args.epochs,
                      target_cost=args.target_cost, snapshots=False)
    return Setup(dataset, net, trainer)


class Epoch(Protocol):
    """What the progress bar shows of an epoch: a core ``EpochSnapshot`` or a point from a server."""

    @property
    def epoch(self) -> int: ...
    @property
    def train_cost(self) -> float | None: ...
    @property
    def accuracy(self) -> float | None: ...
    @property
    def train_accuracy(self) -> float | None: ...


class Progress:
    """`epoch 120/300 [=========>      ] cost 0.0412 acc 0.968` on a stream.

    On a terminal the line is redrawn in place (\\r) at most every REFRESH_SECONDS; otherwise (a file, a
    pipe, CI logs) one line is written each time another 10 % of the epochs is done.
    """

    def __init__(self, total: int, stream: TextIO, enabled: bool = True) -> None:
        self.total, self.stream, self.enabled = total, stream, enabled
        self.tty = enabled and stream.isatty()
        self._last_draw = float("-inf")
        self._last_tenth = 0
        self._last_line_epoch = -1
        self._width = 0
        self._pending: Epoch | None = None

    def line(self, snap: Epoch) -> str:
        done = min(snap.epoch / self.total, 1.0) if self.total else 1.0
        filled = int(done * BAR_WIDTH)
        bar = "=" * filled + (">" if filled < BAR_WIDTH else "") + " " * (BAR_WIDTH - filled - 1)
        text = f"epoch {snap.epoch}/{self.total} [{bar}] cost {_fmt(snap.train_cost)}"
        acc = snap.accuracy if snap.accuracy is not None else snap.train_accuracy
        return text + (f" acc {acc:.3f}" if acc is not None else "")

    def update(self, snap: Epoch) -> None:
        if not self.enabled:
            return
        if self.tty:
            now = time.monotonic()
            if now - self._last_draw >= REFRESH_SECONDS:
                self._draw(snap)
                self._last_draw = now
            else:
                self._pending = snap
            return
        tenth = snap.epoch * 10 // self.total if self.total else 10
        if tenth > self._last_tenth:
            self._last_tenth = tenth
            self._write_line(snap)

    def _write_line(self, snap: Epoch) -> None:
        self.stream.write(self.line(snap) + "\n")
        self.stream.flush()
        self._last_line_epoch = snap.epoch

    def _draw(self, snap: Epoch) -> None:
        text = self.line(snap)
        self.stream.write("\r" + text.ljust(self._width))
        self.stream.flush()
        self._width = len(text)
        self._pending = None

    def close(self, last: Epoch | None) -> None:
        """Show the last epoch (if not shown yet) and end the line."""
        if not self.enabled:
            return
        if self.tty:
            if self._pending is not None:
                self._draw(self._pending)
            if self._width:
                self.stream.write("\n")
                self.stream.flush()
        elif last is not None and last.epoch != self._last_line_epoch:
            self._write_line(last)  # stopped between two 10 % marks (target cost, Ctrl-C, divergence)


def _fmt(value: float | None, spec: str = ".4f") -> str:
    """``value`` with ``spec``, in 4 significant digits when it is huge (a cost just before divergence)."""
    if value is None:
        return "n/a"
    return format(value, ".4g" if abs(value) >= 1e6 else spec)


def summary(setup: Setup, last: EpochSnapshot | None, seconds: float) -> str:
    ds, net, t = setup.dataset, setup.net, setup.trainer
    epochs = t.epoch
    layers = "-".join(map(str, net.sizes))
    hidden = ", ".join(a.name for a in net.hidden_activations)
    acts = (f"(hidden {hidden}; " if hidden else "(") + f"output {net.output_activation.name})"
    reg = f", {net.regularization} λ={net.regularization_rate:g}" if net.regularization else ""
    kind = ds.task if ds.task == "regression" else f"{ds.n_classes} classes"
    opt = t.optimizer.__class__.__name__.lower()
    mu = getattr(t.optimizer, "momentum", None)
    stale = last is not None and last.epoch != epochs  # diverged: the numbers are the last finite ones
    rows = [
        ("dataset", f"{ds.name}: {ds.n_train} train / {ds.n_test} test, {ds.input_dim} features, {kind}"),
        ("network", f"{layers} {acts}, {net.cost_fn.name} cost{reg}, {net.dtype.name}"),
        ("training", f"{opt} η={t.learning_rate:g}" + (f" μ={mu:g}" if mu is not None else "")
                     + f", batch {t.batch_size}"),
        ("epochs", str(epochs) + (f" (the numbers below are from epoch {last.epoch})" if last and stale else "")),
        ("train cost", _fmt(last.train_cost if last else None)),
        ("test cost", _fmt(last.test_cost if last else None)),
    ]
    if ds.task == "classification":
        rows.append(("accuracy", f"train {_fmt(last.train_accuracy if last else None, '.3f')}, "
                                 f"test {_fmt(last.accuracy if last else None, '.3f')}"))
    rate = epochs / seconds if seconds > 0 else float("inf")
    rows.append(("time", f"{seconds:.2f} s ({rate:.1f} epochs/s)"))
    rows.append(("state", t.state.value + (f": {t.reason}" if t.reason else "")))
    return "\n".join(f"{name:<11} {value}" for name, value in rows)


def train(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    try:
        setup = build(args)
    except ValueError as e:  # the core's refusals (invalid combinations, bad data) name the valid choices
        print(f"{parser.prog}: error: {e}\n(see {parser.prog} --help)", file=sys.stderr)
        return 2
    trainer = setup.trainer
    progress = Progress(args.epochs, sys.stderr, enabled=not args.no_progress)
    last: EpochSnapshot | None = None
    started = time.perf_counter()
    try:
        for snap in trainer.run():
            last = snap
            progress.update(snap)
    except KeyboardInterrupt:
        interrupted = True
        if not trainer.state.terminal:
            trainer.stop()
            trainer.reason = "interrupted (Ctrl-C)"
    else:
        interrupted = False
    seconds = time.perf_counter() - started
    progress.close(last)
    print(summary(setup, last, seconds))
    if interrupted:
        return 130
    return 1 if trainer.state is TrainerState.DIVERGED else 0


# -- serve ---------------------------------------------------------------------------------------------------

def serve(args: argparse.Namespace) -> int:
    from .server import run_server  # lazily: `train` works without the server's dependencies

    return run_server(host=args.host, port=args.port, data_dir=args.data_dir, broker=args.broker,
                      database=args.database)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``backprop-viz`` console script; returns the exit code."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:  # --help (0) or a bad option (2, message already on stderr)
        return e.code if isinstance(e.code, int) else 0 if e.code is None else 2
    if args.command == "serve":
        return serve(args)
    if args.command == "worker":
        from .server import run_worker

        return run_worker(broker=args.broker, database=args.database)
    if args.command in ("runs", "report"):
        from . import cli_remote

        return cli_remote.main(args)
    return train(args, args.subparser)


if __name__ == "__main__":
    raise SystemExit(main())
