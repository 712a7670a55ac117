"""Trainer: the state machine, single steps, reproducibility, divergence, snapshot contents."""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterator

import numpy as np
import pytest

from backprop_core import (
    MLP,
    EpochSnapshot,
    InvalidTransition,
    Trainer,
    TrainerState,
    datasets,
    encode_targets,
    output_layer_size,
)
from backprop_core.datasets import Dataset
from backprop_core.snapshot import SNAPSHOT_FIELDS
from backprop_core.training import MAX_GRAD_SUBSET, MAX_GRID_NEURONS, MAX_TEST_OUTPUTS


@pytest.fixture(scope="module")
def circle() -> Dataset:
    return datasets.load("circle", n_samples=200, seed=0)


@pytest.fixture(scope="module")
def digits() -> Dataset:
    return datasets.load("digits", n_samples=300, seed=0)


@pytest.fixture(autouse=True)
def no_floating_point_warnings() -> Iterator[None]:
    """The trainer silences overflow itself (it is reported as divergence): no RuntimeWarning escapes."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        yield


def trainer(ds: Dataset, *, sizes: list[int] | None = None, net_seed: int = 0, dtype: type = np.float64,
            activation: str = "tanh", output: str = "tanh", cost: str = "quadratic", **kw: object) -> Trainer:
    sizes = sizes or [ds.input_dim, 4, 2, output_layer_size(ds, output)]
    net = MLP(sizes, activation, output, cost, seed=net_seed, dtype=dtype)
    return Trainer(net, ds, **kw)  # type: ignore[arg-type]


def assert_same(a: EpochSnapshot, b: EpochSnapshot) -> None:
    """Equal field by field, every array bit for bit (and of the same dtype)."""
    for name in SNAPSHOT_FIELDS:
        x, y = getattr(a, name), getattr(b, name)
        if isinstance(x, tuple) and x and isinstance(x[0], np.ndarray):
            assert len(x) == len(y), name
            for p, q in zip(x, y, strict=True):
                assert p.dtype == q.dtype and np.array_equal(p, q), name
        elif isinstance(x, np.ndarray):
            assert x.dtype == y.dtype and np.array_equal(x, y), name
        else:
            assert x == y, name


def all_finite(snap: EpochSnapshot) -> bool:
    scalars = [snap.train_cost, snap.test_cost, snap.accuracy, snap.train_accuracy, *snap.grad_norms,
               *snap.delta_norms]
    return (all(np.isfinite(v) for v in scalars if v is not None)
            and all(np.isfinite(t).all() for t in snap.tensors().values()))


# -- reproducibility -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_same_config_and_seed_give_the_same_snapshots_bit_for_bit(circle: Dataset, dtype: type) -> None:
    runs = [list(trainer(circle, dtype=dtype, seed=3, max_epochs=4).run()) for _ in range(2)]
    assert [s.epoch for s in runs[0]] == [1, 2, 3, 4]
    for a, b in zip(*runs, strict=True):
        assert a.has_tensors
        assert_same(a, b)


def test_same_seed_reproducible_with_momentum_and_regularisation(digits: Dataset) -> None:
    def make() -> Trainer:
        net = MLP([64, 16, 10], "relu", "softmax", "cross_entropy", seed=1, regularization="l1",
                  regularization_rate=1e-3)
        return Trainer(net, digits, learning_rate=0.1, batch_size=32, optimizer="momentum", seed=5,
                       max_epochs=3)
    for a, b in zip(make().run(), make().run(), strict=True):
        assert_same(a, b)


def test_different_seeds_give_different_runs(circle: Dataset) -> None:
    base = list(trainer(circle, seed=0, max_epochs=2).run())[-1]
    shuffle = list(trainer(circle, seed=1, max_epochs=2).run())[-1]  # same initial net, other order
    init = list(trainer(circle, net_seed=1, seed=0, max_epochs=2).run())[-1]
    for other in (shuffle, init):
        assert not np.array_equal(base.weights[0], other.weights[0])
        assert base.train_cost != other.train_cost


# -- state machine ---------------------------------------------------------------------------------------------

def test_pause_resume_stop_and_the_messages(circle: Dataset) -> None:
    t = trainer(circle)
    assert t.state is TrainerState.RUNNING and not t.state.terminal
    with pytest.raises(InvalidTransition, match=re.escape("cannot resume a run that is running")):
        t.resume()
    t.pause()
    assert t.state is TrainerState.PAUSED
    assert list(t.run()) == []  # run() yields nothing while paused
    with pytest.raises(InvalidTransition, match=re.escape("cannot pause a run that is paused")):
        t.pause()
    snap = t.step_epoch()  # stepping is allowed while paused and keeps it paused
    assert snap is not None and snap.epoch == 1 and t.state is TrainerState.PAUSED
    t.resume()
    assert t.state is TrainerState.RUNNING
    t.stop()
    assert t.state is TrainerState.STOPPED and t.state.terminal
    for action, verb in [(t.pause, "pause"), (t.resume, "resume"), (t.stop, "stop"), (t.step_epoch, "step"),
                         (t.step_batch, "step")]:
        with pytest.raises(InvalidTransition, match=re.escape(f"cannot {verb} a run that is stopped")):
            action()
    assert list(t.run()) == []
    assert issubclass(InvalidTransition, RuntimeError)


def test_stop_from_paused(circle: Dataset) -> None:
    t = trainer(circle)
    t.pause()
    t.stop()
    assert t.state is TrainerState.STOPPED


def test_pausing_inside_the_run_loop_ends_the_iteration(circle: Dataset) -> None:
    t = trainer(circle, snapshots=False)
    got = []
    for snap in t.run():
        got.append(snap.epoch)
        if snap.epoch == 3:
            t.pause()
    assert got == [1, 2, 3] and t.state is TrainerState.PAUSED
    t.resume()
    it = t.run()
    assert next(it).epoch == 4


def test_max_epochs_ends_in_done(circle: Dataset) -> None:
    t = trainer(circle, max_epochs=5, snapshots=False)
    snaps = list(t.run())
    assert [s.epoch for s in snaps] == [1, 2, 3, 4, 5]
    assert t.state is TrainerState.DONE and "epoch limit 5" in t.reason
    with pytest.raises(InvalidTransition, match="cannot step a run that is done"):
        t.step_epoch()
    with pytest.raises(ValueError, match="max_epochs"):
        trainer(circle, max_epochs=0)


def test_target_cost_ends_in_done(circle: Dataset) -> None:
    free = [s.train_cost for s in trainer(circle, max_epochs=30, snapshots=False, learning_rate=0.1).run()]
    target = free[9]  # reached at epoch 10 of the same run
    t = trainer(circle, target_cost=target, max_epochs=30, snapshots=False, learning_rate=0.1)
    snaps = list(t.run())
    first = next(i for i, c in enumerate(free) if c <= target) + 1
    assert snaps[-1].epoch == first <= 10
    assert snaps[-1].train_cost <= target
    assert t.state is TrainerState.DONE and "target cost" in t.reason


# -- single steps ------------------------------------------------------------------------------------------------

def test_step_batch_then_step_epoch(circle: Dataset) -> None:
    """Single mini-batches, then the rest of the epoch: the same updates as one step_epoch."""
    stepped, whole = trainer(circle, batch_size=10), trainer(circle, batch_size=10)
    first = stepped.step_batch()
    assert first is not None and (first.epoch, first.batch) == (0, 1)
    second = stepped.step_batch()
    assert second is not None and (second.epoch, second.batch) == (0, 2)
    assert not np.array_equal(first.weights[0], second.weights[0])
    rest = stepped.step_epoch()
    assert rest is not None and (rest.epoch, rest.batch) == (1, 0)
    full = whole.step_epoch()
    assert full is not None
    assert_same(rest, full)
    # stepping batch by batch through an epoch: the last one returns the epoch's snapshot
    n_batches = -(-circle.n_train // 10)
    snaps = [stepped.step_batch() for _ in range(n_batches)]
    assert [(s.epoch, s.batch) for s in snaps if s] == [(1, b) for b in range(1, n_batches)] + [(2, 0)]
    assert_same(snaps[-1], whole.step_epoch())  # type: ignore[arg-type]


def test_last_batch_may_be_smaller(circle: Dataset) -> None:
    t = trainer(circle, batch_size=64)  # 100 training examples: batches of 64 and 36
    assert t.step_batch().batch == 1  # type: ignore[union-attr]
    snap = t.step_batch()
    assert snap is not None and (snap.epoch, snap.batch) == (1, 0)


def test_set_learning_rate_mid_run_keeps_the_weights(circle: Dataset) -> None:
    t = trainer(circle, learning_rate=0.03)
    t.step_epoch()
    t.step_batch()
    before = [w.copy() for w in t.net.weights + t.net.biases]
    t.set_learning_rate(0.3)
    for p, q in zip(before, t.net.weights + t.net.biases, strict=True):
        assert np.array_equal(p, q)
    assert t.learning_rate == 0.3
    snap = t.step_epoch()
    assert snap is not None and snap.learning_rate == 0.3 and snap.epoch == 2
    # the new rate is used: the run now differs from one that kept 0.03
    same = trainer(circle, learning_rate=0.03)
    same.step_epoch()
    same.step_batch()
    assert not np.array_equal(same.step_epoch().weights[0], snap.weights[0])  # type: ignore[union-attr]
    for bad in (0.0, -1.0, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="learning_rate"):
            t.set_learning_rate(bad)


def test_set_parameter_and_probe(circle: Dataset) -> None:
    t = trainer(circle)
    t.set_parameter("weight", 1, 0, 2, 0.75)
    t.set_parameter("bias", 2, 1, None, -0.25)
    assert t.net.weights[0][0, 2] == 0.75 and t.net.biases[1][1] == -0.25
    snap = t.snapshot()
    assert snap.weights[0][0, 2] == 0.75
    for args, match in [(("weight", 0, 0, 0, 1.0), "layer"), (("weight", 1, 5, 0, 1.0), "outside"),
                        (("bias", 1, 9, None, 1.0), "outside"), (("weight", 1, 0, None, 1.0), "row and col"),
                        (("gain", 1, 0, 0, 1.0), "kind"), (("weight", 1, 0, 0, float("nan")), "finite")]:
        with pytest.raises(ValueError, match=match):
            t.set_parameter(*args)  # type: ignore[arg-type]
    t.set_probe(7)
    snap = t.snapshot()
    assert snap.probe_index == 7
    np.testing.assert_array_equal(snap.probe_activations[0], circle.X_train[7])
    with pytest.raises(ValueError, match="probe index"):
        t.set_probe(circle.n_train)


def test_constructor_validation(circle: Dataset, digits: Dataset) -> None:
    with pytest.raises(ValueError, match="batch_size"):
        trainer(circle, batch_size=0)
    with pytest.raises(ValueError, match="batch_size"):
        trainer(circle, batch_size=circle.n_train + 1)
    with pytest.raises(ValueError, match="2 inputs, the network 3"):
        Trainer(MLP([3, 1]), circle)
    with pytest.raises(ValueError, match="valid: sgd, momentum"):
        trainer(circle, optimizer="adam")
    with pytest.raises(ValueError, match="momentum"):
        trainer(circle, optimizer="momentum", momentum=1.0)
    with pytest.raises(ValueError, match="learning_rate"):
        trainer(circle, learning_rate=0)
    with pytest.raises(ValueError, match="10 classes need 10 output neurons"):
        Trainer(MLP([64, 3]), digits)
    with pytest.raises(ValueError, match="probe index"):
        trainer(circle, probe_index=-1)


# -- divergence ---------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("activation", "output", "snapshots"),
                         [("relu", "linear", True), ("relu", "linear", False), ("linear", "linear", True),
                          ("tanh", "relu", True)])
def test_divergence_is_a_terminal_state_never_nan(circle: Dataset, activation: str, output: str,
                                                  snapshots: bool) -> None:
    t = trainer(circle, sizes=[2, 8, 8, 1], activation=activation, output=output, learning_rate=100.0,
                snapshots=snapshots, max_epochs=200)
    snaps = list(t.run())
    assert t.state is TrainerState.DIVERGED
    assert "learning rate 100" in t.reason and "too high" in t.reason
    assert len(snaps) < 200
    assert all(all_finite(s) for s in snaps)
    with pytest.raises(InvalidTransition, match="diverged"):
        t.step_epoch()


@pytest.mark.parametrize("lr", [100.0, 1000.0])
def test_divergence_in_single_batch_steps(circle: Dataset, lr: float) -> None:
    """In float32 this net overflows at the second mini-batch, in the middle of an epoch: step_batch
    returns None there too (never a snapshot holding inf)."""
    t = trainer(circle, sizes=[2, 8, 8, 1], activation="relu", output="linear", learning_rate=lr,
                dtype=np.float32)
    results = []
    while not t.state.terminal and len(results) < 1000:
        results.append(t.step_batch())
    assert t.state is TrainerState.DIVERGED
    assert "at epoch 0, batch 2" in t.reason and f"learning rate {lr:g} is too high" in t.reason
    assert results[-1] is None and all(r is not None for r in results[:-1])
    assert all(all_finite(s) for s in results if s is not None)
    # the step that diverged is not one that ends an epoch
    assert len(results) < -(-circle.n_train // 10)


def test_a_sensible_rate_does_not_diverge(circle: Dataset) -> None:
    t = trainer(circle, sizes=[2, 8, 8, 1], activation="relu", output="linear", learning_rate=0.01,
                max_epochs=20, snapshots=False)
    list(t.run())
    assert t.state is TrainerState.DONE


# -- snapshot contents ---------------------------------------------------------------------------------------------

def expected_shapes(sizes: list[int], grid_layers: tuple[int, ...], G: int, n_test: int) -> dict[str, tuple[int, ...]]:
    L = len(sizes) - 1
    shapes: dict[str, tuple[int, ...]] = {"y": (sizes[-1],), "a0": (sizes[0],)}
    for l in range(1, L + 1):
        shapes |= {f"W{l}": (sizes[l - 1], sizes[l]), f"b{l}": (sizes[l],), f"dW{l}": (sizes[l - 1], sizes[l]),
                   f"db{l}": (sizes[l],), f"mean_abs_delta{l}": (sizes[l],), f"z{l}": (sizes[l],),
                   f"a{l}": (sizes[l],), f"delta{l}": (sizes[l],)}
    for l in grid_layers:
        shapes[f"grid{l}"] = (sizes[l], G, G)
    shapes["test_outputs"] = (min(n_test, MAX_TEST_OUTPUTS), sizes[-1])
    return shapes


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_snapshot_tensor_shapes_on_2d_data(dtype: type) -> None:
    ds = datasets.load("circle", n_samples=300, seed=1)
    sizes = [2, 5, 40, 3, 1]  # the 40-wide layer is too wide for per-neuron grids
    t = Trainer(MLP(sizes, "tanh", "tanh", seed=0, dtype=dtype), ds, grid_size=12)
    snap = t.step_epoch()
    assert snap is not None and snap.has_tensors
    assert snap.grid_layers == (1, 3, 4)
    assert 40 > MAX_GRID_NEURONS
    tensors = snap.tensors()
    assert {k: v.shape for k, v in tensors.items()} == expected_shapes(sizes, (1, 3, 4), 12, ds.n_test)
    for name, arr in tensors.items():
        # grids are pictures: always float32; every other tensor keeps the network's dtype
        assert arr.dtype == (np.float32 if name.startswith("grid") else dtype), name
        assert not arr.flags.writeable, name
    assert len(snap.grad_norms) == len(snap.delta_norms) == 4
    assert t.grid_size == 12 and t.grid_extent == (-6.0, 6.0, -6.0, 6.0)


def test_grid_is_the_network_over_the_plane() -> None:
    """grid[l][j, r, c] = aˡⱼ at the cell centre of row r (x₂ descending) and column c (x₁ ascending)."""
    ds = datasets.load("circle", n_samples=100, seed=1)
    net = MLP([2, 3, 1], "tanh", "tanh", seed=0, dtype=np.float64)
    snap = Trainer(net, ds, grid_size=4).snapshot()
    centres = -6 + (np.arange(4) + 0.5) * 3  # [-4.5, -1.5, 1.5, 4.5]
    for r, x2 in enumerate(centres[::-1]):
        for c, x1 in enumerate(centres):
            trace = net.forward(np.array([[x1, x2]]))  # grids are float32
            np.testing.assert_allclose(snap.grids[0][:, r, c], trace.activations[1][0], rtol=1e-5, atol=1e-6)
            np.testing.assert_allclose(snap.grids[1][:, r, c], trace.output[0], rtol=1e-5, atol=1e-6)


def test_no_grids_for_data_that_is_not_2d(digits: Dataset) -> None:
    sizes = [64, 8, 10]
    t = Trainer(MLP(sizes, "sigmoid", "softmax", "cross_entropy", seed=0), digits)
    snap = t.step_epoch()
    assert snap is not None
    assert snap.grid_layers == () and snap.grids == () and t.grid_size == 0 and t.grid_extent is None
    assert {k: v.shape for k, v in snap.tensors().items()} == expected_shapes(sizes, (), 0, digits.n_test)


def test_snapshots_off_has_scalars_only(circle: Dataset) -> None:
    snap = trainer(circle, snapshots=False).step_epoch()
    assert snap is not None and not snap.has_tensors and snap.tensors() == {}
    assert snap.grad_norms == () and snap.epoch == 1
    assert set(snap.scalars()) == {"epoch", "batch", "train_cost", "test_cost", "accuracy", "train_accuracy",
                                   "learning_rate", "grad_norms", "delta_norms"}


def test_the_snapshot_gradient_is_backward_over_the_training_set(circle: Dataset) -> None:
    t = trainer(circle)
    snap = t.step_epoch()
    assert snap is not None
    net = t.net
    X, Y = t.X, t.Y
    trace = net.forward(X)
    grads = net.backward(trace, Y)
    for l in range(3):
        np.testing.assert_array_equal(snap.weights[l], net.weights[l])
        np.testing.assert_array_equal(snap.grad_weights[l], grads.weights[l])
        np.testing.assert_array_equal(snap.grad_biases[l], grads.biases[l])
        np.testing.assert_array_equal(snap.mean_abs_delta[l], np.abs(grads.deltas[l]).mean(axis=0))
        assert snap.grad_norms[l] == pytest.approx(np.linalg.norm(grads.weights[l]), rel=1e-12)
        assert snap.delta_norms[l] == pytest.approx(np.sqrt((grads.deltas[l] ** 2).sum(axis=1).mean()), rel=1e-12)
    assert snap.train_cost == net.cost(trace, Y)
    assert snap.test_cost == net.cost(net.forward(t.X_test), t.Y_test)
    np.testing.assert_array_equal(snap.test_outputs, net.forward(t.X_test).output)
    # the probe (default the first training example): its own zˡ, aˡ, δˡ
    probe = net.backward(net.forward(X[:1]), Y[:1])
    alone = net.forward(X[:1])
    assert snap.probe_index == 0
    np.testing.assert_array_equal(snap.probe_target, Y[0])
    for l in range(3):
        np.testing.assert_allclose(snap.probe_zs[l], alone.zs[l][0], rtol=1e-12)
        np.testing.assert_allclose(snap.probe_activations[l + 1], alone.activations[l + 1][0], rtol=1e-12)
        np.testing.assert_allclose(snap.probe_deltas[l], probe.deltas[l][0], rtol=1e-12)
        np.testing.assert_allclose(snap.probe_deltas[l], grads.deltas[l][0], rtol=1e-12, atol=1e-15)


def test_big_training_sets_use_a_fixed_subset_for_the_gradient() -> None:
    ds = datasets.load("circle", n_samples=3000, seed=0)  # 1500 training examples > 1024
    assert ds.n_train > MAX_GRAD_SUBSET
    t = Trainer(MLP([2, 4, 1], "tanh", "tanh", seed=0, dtype=np.float64), ds, seed=4)
    a, b = t.step_epoch(), t.step_epoch()
    assert a is not None and b is not None
    net = t.net
    # the subset: MAX_GRAD_SUBSET distinct training examples, the same every epoch
    sub = t._sub
    assert sub is not None and len(np.unique(sub)) == MAX_GRAD_SUBSET
    grads = net.backward(net.forward(t.X[sub]), t.Y[sub])
    for l in range(2):
        np.testing.assert_allclose(b.grad_weights[l], grads.weights[l], rtol=1e-10, atol=1e-14)
        np.testing.assert_allclose(b.grad_biases[l], grads.biases[l], rtol=1e-10, atol=1e-14)
    full = net.backward(net.forward(t.X), t.Y)
    assert not np.allclose(b.grad_weights[0], full.weights[0], rtol=1e-10)  # it is a subset
    # the test outputs are capped
    assert b.test_outputs.shape == (MAX_TEST_OUTPUTS, 1)


def test_the_initial_snapshot_and_epoch_counting(circle: Dataset) -> None:
    t = trainer(circle)
    s0 = t.snapshot()
    assert (s0.epoch, s0.batch) == (0, 0) and all_finite(s0)
    assert [t.step_epoch().epoch for _ in range(3)] == [1, 2, 3]  # type: ignore[union-attr]
    assert t.epoch == 3


# -- targets and accuracy ---------------------------------------------------------------------------------------

def test_encode_targets_and_output_layer_size(circle: Dataset, digits: Dataset) -> None:
    plane = datasets.load("plane", n_samples=50, seed=0)
    assert output_layer_size(circle, "tanh") == 1
    assert output_layer_size(circle, "softmax") == 2
    assert output_layer_size(digits, "softmax") == 10 and output_layer_size(digits, "sigmoid") == 10
    assert output_layer_size(plane, "linear") == 1
    y = circle.y_train
    tanh = encode_targets(circle, y, MLP([2, 1], output_activation="tanh"))
    assert set(np.unique(tanh)) == {-1.0, 1.0} and np.array_equal(tanh[:, 0] > 0, y == 1)
    sig = encode_targets(circle, y, MLP([2, 1], output_activation="sigmoid"))
    assert set(np.unique(sig)) == {0.0, 1.0} and np.array_equal(sig[:, 0] == 1, y == 1)
    soft = encode_targets(circle, y, MLP([2, 2], output_activation="softmax", cost="cross_entropy"))
    assert np.array_equal(soft.argmax(axis=1), y) and np.all(soft.sum(axis=1) == 1)
    one_hot = encode_targets(digits, digits.y_train, MLP([64, 10], output_activation="tanh"))
    assert np.array_equal(one_hot.argmax(axis=1), digits.y_train) and one_hot.min() == -1.0
    reg = encode_targets(plane, plane.y_train, MLP([2, 1], output_activation="linear", dtype=np.float64))
    np.testing.assert_array_equal(reg[:, 0], plane.y_train)
    with pytest.raises(ValueError, match="regression needs 1 output neuron"):
        encode_targets(plane, plane.y_train, MLP([2, 2], output_activation="linear"))


@pytest.mark.parametrize(("output", "predicts_positive"), [("tanh", True), ("linear", True), ("sigmoid", False),
                                                           ("relu", False)])
def test_accuracy_threshold_is_halfway_between_the_targets(circle: Dataset, output: str,
                                                           predicts_positive: bool) -> None:
    """A constant output of 0.3 is class 1 for ±1 targets (threshold 0) and class 0 for 0/1 targets
    (threshold ½: sigmoid, ReLU)."""
    net = MLP([2, 1], "tanh", output, seed=0, dtype=np.float64)
    net.weights[0][...] = 0.0
    net.biases[0][...] = 0.3 if output != "sigmoid" else np.log(0.3 / 0.7)  # σ(z) = 0.3
    snap = Trainer(net, circle).snapshot()
    share_positive = float(np.mean(circle.y_test == 1))
    assert snap.accuracy == pytest.approx(share_positive if predicts_positive else 1 - share_positive)


def test_regression_has_no_accuracy() -> None:
    plane = datasets.load("plane", n_samples=100, seed=0)
    t = Trainer(MLP([2, 3, 1], "tanh", "linear", seed=0), plane, max_epochs=2)
    snaps = list(t.run())
    assert all(s.accuracy is None and s.train_accuracy is None for s in snaps)
    assert snaps[-1].grids and snaps[-1].grids[-1].shape == (1, 40, 40)


def test_snapshots_do_not_change_when_training_goes_on() -> None:
    """The trainer reuses its evaluation arrays from epoch to epoch: a snapshot handed out must not share
    them (every tensor is a read-only copy)."""
    ds = datasets.load("circle", n_samples=2400, seed=0)  # 1200 training examples: the gradient subset path
    t = Trainer(MLP([2, 6, 1], "relu", "tanh", seed=0), ds, grid_size=10)
    first = t.step_epoch()
    assert first is not None
    kept = {k: v.copy() for k, v in first.tensors().items()}
    scalars = first.scalars()
    for _ in range(3):
        t.step_epoch()
    assert first.scalars() == scalars
    for k, v in first.tensors().items():
        assert np.array_equal(v, kept[k]), k
        assert not v.flags.writeable and not np.shares_memory(v, t.net.weights[0]), k


@pytest.mark.parametrize("limit", [0, 200_000])
def test_workspace_budget_does_not_change_results(monkeypatch: pytest.MonkeyPatch, limit: int) -> None:
    """With no room (or room for only some passes) to keep arrays between epochs the snapshots are the
    same, bit for bit."""
    ds = datasets.load("moons", n_samples=2400, seed=0)

    def run() -> list[EpochSnapshot]:
        net = MLP([2, 8, 8, 2], "leaky_relu", "softmax", "cross_entropy", seed=0)
        t = Trainer(net, ds, batch_size=50, grid_size=16, max_epochs=3)
        return [t.snapshot(), *t.run()]

    reference = run()
    monkeypatch.setattr("backprop_core.training.MAX_WORKSPACE_BYTES", limit)
    for a, b in zip(reference, run(), strict=True):
        assert_same(a, b)


# -- metrics every epoch, tensors on demand --------------------------------------------------------------------

@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_metrics_now_and_tensors_later_equal_one_full_snapshot(circle: Dataset, dtype: type) -> None:
    """A step that skips the tensors still has every scalar and norm; snapshot() of that state afterwards
    equals what a step with tensors would have given, bit for bit."""
    lazy, eager = trainer(circle, dtype=dtype, seed=3), trainer(circle, dtype=dtype, seed=3)
    for _ in range(3):
        light = lazy.step_epoch(tensors=False)
        full = eager.step_epoch()
        assert light is not None and full is not None
        assert not light.has_tensors and light.grad_norms and light.delta_norms
        assert (light.train_cost, light.grad_norms, light.delta_norms) == (full.train_cost, full.grad_norms,
                                                                            full.delta_norms)
        assert_same(lazy.snapshot(), full)
    batch = lazy.step_batch(tensors=False)
    assert batch is not None and batch.batch == 1 and not batch.has_tensors
    assert_same(lazy.snapshot(), eager.step_batch())  # type: ignore[arg-type]


def test_a_parameter_edit_is_seen_by_the_next_snapshot_of_the_same_epoch(circle: Dataset) -> None:
    t = trainer(circle, seed=1)
    t.step_epoch(tensors=False)
    before = t.snapshot()
    position = t.position
    t.set_parameter("weight", 1, 0, 0, 3.0)
    assert t.position != position and t.position[:2] == position[:2]
    after = t.snapshot()
    assert after.weights[0][0, 0] == 3.0 and after.train_cost != before.train_cost


# -- checkpoints: carry on elsewhere, bit for bit -----------------------------------------------------------------

@pytest.mark.parametrize("optimizer", ["sgd", "momentum"])
@pytest.mark.parametrize("batches", [0, 3])
def test_a_checkpoint_restored_into_a_fresh_trainer_trains_on_bit_for_bit(circle: Dataset, optimizer: str,
                                                                         batches: int) -> None:
    from backprop_core import checkpoint

    a = trainer(circle, seed=5, optimizer=optimizer, max_epochs=50)
    for _ in range(4):
        a.step_epoch()
    for _ in range(batches):  # mid-epoch: single mini-batch steps
        a.step_batch()
    a.set_learning_rate(0.07)
    blob = checkpoint.save(a)
    b = trainer(circle, seed=5, optimizer=optimizer, max_epochs=50)
    checkpoint.restore(b, blob)
    assert b.position[:2] == a.position[:2] and b.learning_rate == 0.07
    for _ in range(3):
        assert_same(b.step_epoch(), a.step_epoch())  # type: ignore[arg-type]


def test_a_checkpoint_of_another_network_is_refused(circle: Dataset) -> None:
    from backprop_core import checkpoint

    blob = checkpoint.save(trainer(circle))
    with pytest.raises(ValueError, match="another network|W1"):
        checkpoint.restore(trainer(circle, sizes=[2, 5, 1]), blob)
