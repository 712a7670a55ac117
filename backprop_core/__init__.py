"""backprop_core: a fully connected network trained by the seed's backpropagation, in NumPy.

Public API::

    from backprop_core import MLP, Trainer, EpochSnapshot, gradcheck, datasets, prepare, vocabulary
    from backprop_core import walk, check_gradient, what_if      # one step taken apart (walkthrough.py)
"""

from . import datasets, lessons, vocabulary
from .gradcheck import gradcheck
from .inputs import prepare
from .network import MLP, Gradients, Trace
from .snapshot import EpochSnapshot
from .training import InvalidTransition, Trainer, TrainerState, encode_targets, output_layer_size
from .walkthrough import Walked, check_gradient, walk, what_if

__all__ = [
    "MLP",
    "EpochSnapshot",
    "Gradients",
    "InvalidTransition",
    "Trace",
    "Trainer",
    "TrainerState",
    "datasets",
    "encode_targets",
    "gradcheck",
    "output_layer_size",
    "prepare",
    "Walked",
    "check_gradient",
    "lessons",
    "vocabulary",
    "walk",
    "what_if",
]
