"""An activation the core does not have, for the test that adds one to the core's table alone.

The web process gets it by ``install()`` (monkeypatched in the test); the training workers, separate
processes, by a ``sitecustomize`` on their PYTHONPATH that calls ``install()`` when they start."""

from __future__ import annotations

import numpy as np

from backprop_core import activations
from backprop_core.activations import Activation

SOFTSIGN = Activation("softsign", lambda z: z / (1 + np.abs(z)), lambda z, a: (1 - np.abs(a)) ** 2, None,
                      "Softsign", (-1.0, 1.0), "σ(z) = z / (1 + |z|)", "σ′(z) = 1 / (1 + |z|)²")


def install() -> None:
    activations.ACTIVATIONS["softsign"] = SOFTSIGN
