"""``backprop-viz`` (app/cli.py): train headless with a progress bar and a summary; serve."""

from __future__ import annotations

import io
import re
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pytest

from app import cli
from backprop_core import EpochSnapshot

ROOT = Path(__file__).resolve().parents[2]
QUICK = ["train", "--samples", "100", "--epochs", "20"]


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def summary_fields(out: str) -> dict[str, str]:
    return {line[:11].strip(): line[12:] for line in out.strip().splitlines()}


def test_train_prints_a_summary_and_progress_lines(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, *QUICK)
    assert code == 0
    fields = summary_fields(out)
    assert fields["epochs"] == "20"
    assert fields["dataset"].startswith("circle: 50 train / 50 test, 2 features, 2 classes")
    assert fields["network"].startswith("2-4-2-1 (hidden tanh, tanh; output tanh), quadratic cost, float32")
    assert re.fullmatch(r"\d\.\d{4}", fields["train cost"]) and re.fullmatch(r"\d\.\d{4}", fields["test cost"])
    assert re.fullmatch(r"train \d\.\d{3}, test \d\.\d{3}", fields["accuracy"])
    assert re.fullmatch(r"\d+\.\d\d s \(\d+\.\d epochs/s\)", fields["time"])
    assert fields["state"] == "done: reached the epoch limit 20"
    # stderr is not a terminal here: one line per 10 % of the epochs, nothing on stdout
    lines = err.strip().splitlines()
    assert [int(re.match(r"epoch (\d+)/20 ", line).group(1)) for line in lines] == list(range(2, 21, 2))  # type: ignore[union-attr]
    assert re.fullmatch(r"epoch 20/20 \[=+\] cost \d\.\d{4} acc \d\.\d{3}", lines[-1])
    assert "\r" not in err and "epoch 2/20" not in out


def test_summary_matches_the_core(capsys: pytest.CaptureFixture[str]) -> None:
    """The CLI trains exactly what the core trains with the same options."""
    from backprop_core import MLP, Trainer, datasets
    from backprop_core.inputs import prepare
    code, out, _ = run(capsys, "train", "--samples", "200", "--epochs", "7", "--layers", "3", "--lr", "0.1",
                       "--batch-size", "5", "--seed", "4", "--noise", "0.1", "--dtype", "float64", "--no-progress")
    assert code == 0
    ds = prepare(datasets.load("circle", n_samples=200, noise=0.1, seed=4))  # standardised, as the server does
    net = MLP([2, 3, 1], "tanh", "tanh", "quadratic", seed=4, dtype=np.float64)
    last = list(Trainer(net, ds, learning_rate=0.1, batch_size=5, seed=4, max_epochs=7, snapshots=False).run())[-1]
    fields = summary_fields(out)
    assert fields["train cost"] == f"{last.train_cost:.4f}" and fields["test cost"] == f"{last.test_cost:.4f}"
    assert fields["accuracy"] == f"train {last.train_accuracy:.3f}, test {last.accuracy:.3f}"


@pytest.mark.parametrize(
    ("argv", "network"),
    [
        (["--dataset", "digits", "--samples", "200", "--layers", "8"], "64-8-10 (hidden tanh; output softmax), "
                                                                      "cross_entropy cost"),
        (["--dataset", "plane", "--samples", "100"], "2-4-2-1 (hidden tanh, tanh; output linear), quadratic cost"),
        (["--output-activation", "sigmoid"], "2-4-2-1 (hidden tanh, tanh; output sigmoid), binary_cross_entropy"),
        (["--output-activation", "softmax", "--layers", "none"], "2-2 (output softmax), cross_entropy cost"),
        (["--output-activation", "sigmoid", "--cost", "quadratic"], "(hidden tanh, tanh; output sigmoid), "
                                                                    "quadratic cost"),
        (["--activation", "relu,sigmoid", "--regularization", "l2", "--regularization-rate", "0.01",
          "--optimizer", "momentum", "--init", "he"], "(hidden relu, sigmoid; output tanh), quadratic cost, "
                                                      "l2 λ=0.01"),
    ],
)
def test_automatic_output_layer_and_cost(capsys: pytest.CaptureFixture[str], argv: list[str], network: str) -> None:
    """As the server: tanh for two classes, softmax for more, linear for regression; cross_entropy with
    softmax, binary_cross_entropy with sigmoid, else quadratic."""
    code, out, err = run(capsys, "train", "--epochs", "2", "--samples", "100", *argv)
    assert code == 0, err
    assert network in summary_fields(out)["network"]
    if "plane" in argv:
        assert "accuracy" not in summary_fields(out)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--dataset", "mnist"], "invalid choice: 'mnist'"),
        (["--layers", "4,x"], "argument --layers: expected comma-separated widths"),
        (["--layers", "4,0"], "every width must be ≥ 1"),
        (["--epochs", "0"], "argument --epochs: must be ≥ 1"),
        (["--lr", "abc"], "argument --lr/--learning-rate: expected a number"),
        (["--lr", "nan"], "must be a finite number"),
        (["--cost", "hinge"], "invalid choice: 'hinge'"),
        (["--dtype", "float16"], "invalid choice: 'float16'"),
        (["--frobnicate"], "unrecognized arguments: --frobnicate"),
    ],
)
def test_bad_options_exit_2_with_argparse_message(capsys: pytest.CaptureFixture[str], argv: list[str],
                                                  message: str) -> None:
    code, out, err = run(capsys, "train", *argv)
    assert code == 2
    assert message in err and "usage: backprop-viz" in err and out == ""


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--output-activation", "softmax", "--cost", "quadratic"],
         "valid output activations for 'quadratic': sigmoid, tanh, relu, leaky_relu, linear"),
        (["--output-activation", "tanh", "--cost", "cross_entropy"], "valid output activations for "
                                                                     "'cross_entropy': softmax"),
        (["--activation", "swish"], "unknown activation 'swish'; valid: sigmoid, tanh, relu, leaky_relu, linear"),
        (["--activation", "tanh,relu,relu"], "activation lists 3 names for 2 hidden layers"),
        (["--optimizer", "momentum", "--momentum", "1.5"], "momentum must be in [0, 1)"),
        (["--lr", "-1"], "learning_rate must be a finite number > 0"),
        (["--noise", "0.9"], "noise must be a number in [0, 0.5]"),
        (["--train-fraction", "1"], "train_fraction"),
        (["--batch-size", "1000"], "batch_size must be between 1 and the 50 training examples"),
        (["--regularization", "l2", "--regularization-rate", "-1"], "regularization_rate"),
        (["--label-column", "y"], "--label-column needs --csv"),
        (["--csv", "data.csv"], "--csv needs --label-column"),
        (["--csv", "/nonexistent/data.csv", "--label-column", "y"], "cannot read /nonexistent/data.csv"),
    ],
)
def test_invalid_combinations_exit_2_without_traceback(capsys: pytest.CaptureFixture[str], argv: list[str],
                                                       message: str) -> None:
    code, out, err = run(capsys, "train", "--samples", "100", *argv)
    assert code == 2, err
    assert err.startswith("backprop-viz train: error: ")
    assert message in err and "Traceback" not in err and out == ""


def test_csv_training(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(120, 3))
    labels = np.where(X[:, 0] + X[:, 1] > 0, "yes", "no")
    path = tmp_path / "points.csv"
    path.write_text("a,b,c,label\n" + "".join(f"{x[0]},{x[1]},{x[2]},{y}\n" for x, y in zip(X, labels, strict=True)))
    code, out, err = run(capsys, "train", "--csv", str(path), "--label-column", "label", "--layers", "4",
                         "--epochs", "30", "--lr", "0.1", "--no-progress")
    assert code == 0, err
    fields = summary_fields(out)
    assert fields["dataset"].startswith("points.csv: 60 train / 60 test, 3 features, 2 classes")
    assert fields["network"].startswith("3-4-1 (hidden tanh; output tanh)")
    assert float(fields["accuracy"].split("test ")[1]) > 0.8
    assert err == ""
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b,label\n1,2,x\n3,oops,y\n5,6,x\n7,8,y\n9,10,x\n")
    code, out, err = run(capsys, "train", "--csv", str(bad), "--label-column", "label")
    assert code == 2 and "line 3" in err and "Traceback" not in err
    code, out, err = run(capsys, "train", "--csv", str(path), "--label-column", "nope")
    assert code == 2 and "nope" in err


def test_divergence_exits_1_and_says_why(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "train", "--samples", "100", "--layers", "8,8", "--activation", "relu",
                         "--output-activation", "linear", "--lr", "100", "--epochs", "50", "--no-standardize")
    assert code == 1
    state = summary_fields(out)["state"]
    assert state.startswith("diverged: ") and "learning rate 100 is too high for this network" in state
    assert "nan" not in err.lower() and "inf" not in err.lower()
    # in float64 it takes a few epochs: the summary shows the last finite epoch, and says so
    code, out, _ = run(capsys, "train", "--samples", "100", "--layers", "8,8", "--activation", "relu",
                       "--output-activation", "linear", "--lr", "100", "--epochs", "50", "--no-standardize",
                       "--dtype", "float64")
    fields = summary_fields(out)
    assert code == 1 and re.fullmatch(r"(\d+) \(the numbers below are from epoch \d+\)", fields["epochs"])
    assert re.fullmatch(r"\d\.\d{3}e\+\d+", fields["train cost"])


def test_target_cost_stops_early_and_shows_the_last_epoch(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "train", "--samples", "200", "--epochs", "300", "--target-cost", "0.2")
    assert code == 0
    fields = summary_fields(out)
    assert fields["state"] == "done: reached the target cost 0.2"
    epochs = int(fields["epochs"])
    assert epochs < 300 and float(fields["train cost"]) <= 0.2
    assert err.strip().splitlines()[-1].startswith(f"epoch {epochs}/300 ")


def test_ctrl_c_stops_and_still_prints_the_summary(capsys: pytest.CaptureFixture[str],
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    real = cli.Progress.update

    def update(self: cli.Progress, snap: EpochSnapshot) -> None:
        real(self, snap)
        if snap.epoch == 3:
            raise KeyboardInterrupt

    monkeypatch.setattr(cli.Progress, "update", update)
    code, out, _ = run(capsys, *QUICK)
    assert code == 130
    fields = summary_fields(out)
    assert fields["state"] == "stopped: interrupted (Ctrl-C)" and fields["epochs"] == "3"


class FakeTTY(io.StringIO):
    def isatty(self) -> bool:
        return True


def snap(epoch: int, cost: float = 0.5, acc: float | None = 0.75) -> EpochSnapshot:
    return EpochSnapshot(epoch=epoch, batch=0, train_cost=cost, test_cost=cost, accuracy=acc,
                         train_accuracy=acc, learning_rate=0.03)


def test_progress_on_a_terminal_redraws_in_place_at_most_ten_times_a_second(
        monkeypatch: pytest.MonkeyPatch) -> None:
    clock = [100.0]
    monkeypatch.setattr(cli.time, "monotonic", lambda: clock[0])
    stream = FakeTTY()
    bar = cli.Progress(300, stream)
    for epoch in range(1, 301):  # 300 epochs in 1.5 simulated seconds
        bar.update(snap(epoch, cost=1 / epoch))
        clock[0] += 0.005
    bar.close(snap(300, cost=1 / 300))
    text = stream.getvalue()
    draws = text.split("\r")[1:]
    assert 14 <= len(draws) <= 17  # one every 0.1 s, plus the final state
    assert text.endswith("\n") and text.count("\n") == 1
    assert draws[0].startswith("epoch 1/300 [>")
    assert draws[-1].rstrip() == f"epoch 300/300 [{'=' * cli.BAR_WIDTH}] cost 0.0033 acc 0.750"
    epochs = [int(d.split()[1].split("/")[0]) for d in draws]
    assert epochs == sorted(epochs) and all(b - a <= 21 for a, b in zip(epochs, epochs[1:], strict=False))


def test_progress_line_format() -> None:
    bar = cli.Progress(300, io.StringIO())
    assert bar.line(snap(120, 0.0412, 0.968)) == "epoch 120/300 [=========>              ] cost 0.0412 acc 0.968"
    assert bar.line(snap(0, 0.5, None)) == "epoch 0/300 [>                       ] cost 0.5000"


def test_progress_off_the_terminal_writes_a_line_every_ten_percent() -> None:
    stream = io.StringIO()
    bar = cli.Progress(45, stream)
    for epoch in range(1, 46):
        bar.update(snap(epoch))
    bar.close(snap(45))
    lines = stream.getvalue().splitlines()
    assert [line.split()[1] for line in lines] == [f"{e}/45" for e in (5, 9, 14, 18, 23, 27, 32, 36, 41, 45)]
    quiet = io.StringIO()
    off = cli.Progress(10, quiet, enabled=False)
    off.update(snap(10))
    off.close(snap(10))
    assert quiet.getvalue() == ""


def test_help_explains_every_option(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "train", "--help")
    assert code == 0
    for option in ["--dataset", "--samples", "--layers", "--epochs", "--activation", "--output-activation",
                   "--cost", "--lr", "--batch-size", "--optimizer", "--momentum", "--regularization",
                   "--regularization-rate", "--seed", "--noise", "--train-fraction", "--init", "--target-cost",
                   "--csv", "--label-column", "--dtype", "--no-progress"]:
        assert option in out
    train = cli.build_parser().parse_args(["train"]).subparser
    for action in train._actions:
        assert action.help and len(action.help) > 10, action.option_strings
    code, out, _ = run(capsys, "--help")
    assert code == 0 and "train" in out and "serve" in out
    code, _, err = run(capsys)
    assert code == 2 and "required" in err


def test_serve_calls_run_server_lazily(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[dict[str, object]] = []
    fake = types.ModuleType("app.server")
    fake.run_server = lambda **kw: calls.append(kw) or 7  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "app.server", fake)
    assert cli.main(["serve", "--host", "0.0.0.0", "--port", "9000", "--data-dir", "/tmp/d"]) == 7
    assert cli.main(["serve", "--broker", "redis://r:6379/0", "--database", "postgresql://p/db"]) == 7
    assert calls == [{"host": "0.0.0.0", "port": 9000, "data_dir": "/tmp/d", "broker": None, "database": None},
                     {"host": None, "port": None, "data_dir": None, "broker": "redis://r:6379/0",
                      "database": "postgresql://p/db"}]
    code, _, err = run(capsys, "serve", "--port", "70000")
    assert code == 2 and "at most 65535" in err
    # `train` does not need the server at all
    monkeypatch.setitem(sys.modules, "app.server", None)
    code, _, _ = run(capsys, *QUICK)
    assert code == 0


def python_m(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "app.cli", *argv], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)


def test_subprocess_train() -> None:
    proc = python_m(*QUICK)
    assert proc.returncode == 0, proc.stderr
    assert "state       done: reached the epoch limit 20" in proc.stdout
    assert proc.stderr.count("\n") == 10 and "epoch 20/20" in proc.stderr


def test_subprocess_errors_have_no_traceback() -> None:
    for argv in (["train", "--layers", "x"], ["train", "--output-activation", "softmax", "--cost", "quadratic"]):
        proc = python_m(*argv)
        assert proc.returncode == 2
        assert "error:" in proc.stderr and "Traceback" not in proc.stderr and proc.stdout == ""
    proc = python_m("train", "--help")
    assert proc.returncode == 0 and "--label-column" in proc.stdout


def test_features_and_standardisation_as_the_server(capsys: pytest.CaptureFixture[str]) -> None:
    """--features picks Playground's inputs (the network's first layer follows); --no-standardize feeds the raw
    data; an unknown feature is a one-line error, exit 2."""
    code, out, _ = run(capsys, "train", "--dataset", "spiral", "--features", "x1,x2,x1^2,sin(x1)", "--epochs", "2",
                       "--no-progress")
    assert code == 0 and "4-4-2-1" in out
    raw = run(capsys, "train", "--epochs", "3", "--seed", "1", "--no-progress", "--no-standardize")[1]
    std = run(capsys, "train", "--epochs", "3", "--seed", "1", "--no-progress")[1]
    assert summary_fields(raw)["train cost"] != summary_fields(std)["train cost"]
    code, _, err = run(capsys, "train", "--features", "x1,cos(x1)", "--no-progress")
    assert code == 2 and "cos(x1)" in err and "Traceback" not in err
