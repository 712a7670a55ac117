"""The network actually learns: Playground's defaults on the circle (raw, and standardised as the server
serves it), spiral with Playground's seven inputs, one hidden layer on the real digits."""

from __future__ import annotations

import numpy as np
import pytest

from backprop_core import MLP, Trainer, TrainerState, datasets, prepare


@pytest.mark.parametrize("standardize", [False, True])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_playground_defaults_learn_the_circle_within_500_epochs(seed: int, standardize: bool) -> None:
    """circle, hidden [4, 2], tanh everywhere, quadratic cost, Playground's uniform init, η = 0.03,
    batch 10, half the points for training: the test accuracy passes 90 % — on the raw points as in
    Playground, and standardised (the server's default)."""
    ds = prepare(datasets.load("circle", seed=0), standardize=standardize)
    assert ds.n_train == ds.n_test == 250 and ds.standardized is standardize
    net = MLP([2, 4, 2, 1], "tanh", "tanh", "quadratic", init="uniform", seed=seed)
    trainer = Trainer(net, ds, learning_rate=0.03, batch_size=10, seed=seed, max_epochs=500, snapshots=False)
    first = next((s for s in trainer.run() if s.accuracy is not None and s.accuracy > 0.90), None)
    assert first is not None, f"test accuracy stayed ≤ 90 % for 500 epochs ({trainer.reason})"
    assert first.epoch <= 500
    assert first.train_accuracy is not None and first.train_accuracy > 0.85


@pytest.mark.parametrize("seed", [0, 1])
def test_spiral_with_all_seven_inputs_learns_the_classic_lesson(seed: int) -> None:
    """Playground's lesson: with x₁, x₂ alone the defaults ([4, 2] tanh, η = 0.03) cannot draw the spiral;
    with x₁², x₂², x₁x₂, sin x₁, sin x₂ as well they pass 90 % within 500 epochs."""
    raw = datasets.load("spiral", seed=0)
    reached = {}
    for features in (("x1", "x2"), ("x1", "x2", "x1^2", "x2^2", "x1*x2", "sin(x1)", "sin(x2)")):
        ds = prepare(raw, features)
        net = MLP([len(features), 4, 2, 1], "tanh", "tanh", "quadratic", init="uniform", seed=seed)
        trainer = Trainer(net, ds, learning_rate=0.03, batch_size=10, seed=seed, max_epochs=500, snapshots=False)
        reached[len(features)] = max(s.accuracy or 0.0 for s in trainer.run())
    assert reached[7] > 0.90
    assert reached[2] < 0.75


def test_one_hidden_layer_learns_the_digits() -> None:
    """8×8 digits, [64, 32, 10] sigmoid / softmax with cross-entropy: above 90 % on the held-out half."""
    ds = datasets.load("digits", seed=0)
    net = MLP([64, 32, 10], "sigmoid", "softmax", "cross_entropy", seed=0)
    trainer = Trainer(net, ds, learning_rate=0.3, batch_size=16, seed=0, max_epochs=40, snapshots=False)
    snaps = list(trainer.run())
    assert trainer.state is TrainerState.DONE
    assert snaps[0].accuracy is not None and snaps[-1].accuracy is not None
    assert snaps[-1].accuracy > 0.90
    assert snaps[-1].train_cost < snaps[0].train_cost / 3


def test_training_lowers_the_cost_with_snapshots_on() -> None:
    """The same learning with snapshots on (the page's mode): the probe and gradients follow along."""
    ds = datasets.load("xor", seed=0)
    net = MLP([2, 8, 1], "tanh", "tanh", seed=0)
    trainer = Trainer(net, ds, learning_rate=0.03, batch_size=10, max_epochs=60)
    snaps = list(trainer.run())
    assert snaps[-1].train_cost < 0.5 * snaps[0].train_cost
    assert snaps[-1].accuracy is not None and snaps[-1].accuracy > 0.9
    assert np.linalg.norm(snaps[-1].grad_weights[0]) == pytest.approx(snaps[-1].grad_norms[0], rel=1e-5)
