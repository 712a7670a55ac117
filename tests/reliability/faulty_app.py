"""A test-only fault: the real server, whose core raises mid-run on a poisoned data row.

No valid input makes the core raise during training (bad CSV rows are refused at upload, bad configs at
creation), so the reliability tests simulate "a corrupt row that slipped past validation": a dataset
holding the value ``POISON`` in its raw training features makes ``Trainer.step_epoch`` raise at epoch
``FAIL_AT_EPOCH``. Training happens in worker processes, so the fault must be there: a server started
with ``tests/reliability/faulty`` and this directory on PYTHONPATH runs ``install()`` in every process it
starts (``faulty/sitecustomize.py``). Everything else is the real server.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from backprop_core import training

POISON = 4242.4242
FAIL_AT_EPOCH = 3
MESSAGE = "line 7, column 'x1': a corrupt value slipped past validation"


def install() -> None:
    original = training.Trainer.step_epoch

    def step_epoch(self: training.Trainer, tensors: bool | None = None) -> Any:
        if self.epoch + 1 >= FAIL_AT_EPOCH and bool(np.any(self.dataset.raw.X_train == POISON)):
            raise ValueError(MESSAGE)
        return original(self, tensors)

    training.Trainer.step_epoch = step_epoch  # type: ignore[method-assign]
