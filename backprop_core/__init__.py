"""backprop_core: a fully connected network trained by the seed's backpropagation, in NumPy.

Public API::

    from backprop_core import MLP, Trainer, EpochSnapshot, gradcheck, datasets, prepare, vocabulary
"""

from . import datasets, vocabulary
from .gradcheck import gradcheck
from .inputs import prepare
from .network import MLP, Gradients, Trace
from .snapshot import EpochSnapshot
from .training import InvalidTransition, Trainer, TrainerState, encode_targets, output_layer_size

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
    "vocabulary",
]
