"""A test-only app factory: the real app, whose core raises mid-run on a poisoned data row.

No valid input makes the core raise during training (bad CSV rows are refused at upload, bad configs at
creation), so the reliability tests simulate "a corrupt row that slipped past validation": a dataset
holding the value ``POISON`` in its raw training features makes ``Trainer.step_epoch`` raise at epoch
``FAIL_AT_EPOCH``. Everything else is the real server.

    python -m uvicorn faulty_app:create_app --factory …   (with tests/reliability on PYTHONPATH)
"""

from __future__ import annotations

from typing import Any

import numpy as np

from app.main import create_app as _create_app
from backprop_core import training

POISON = 4242.4242
FAIL_AT_EPOCH = 3
MESSAGE = "line 7, column 'x1': a corrupt value slipped past validation"


def create_app() -> Any:
    original = training.Trainer.step_epoch

    def step_epoch(self: training.Trainer) -> Any:
        if self.epoch + 1 >= FAIL_AT_EPOCH and bool(np.any(self.dataset.raw.X_train == POISON)):
            raise ValueError(MESSAGE)
        return original(self)

    training.Trainer.step_epoch = step_epoch  # type: ignore[method-assign]
    return _create_app()
