"""A run's lifecycle as an explicit state machine.

    queued → running ⇄ paused → done | stopped | diverged | failed | interrupted
                                 done | stopped → paused  (continue, with a new epoch limit)

``queued`` waits for a training slot (at most ``max_running`` runs train at once). A run that is done or was
stopped can go on from its checkpoint with a new epoch limit (PATCH ``epochs``): it is paused again, with its
history. Illegal moves raise ``IllegalTransition`` naming the current state; the API answers 409 with that
message.
"""

from __future__ import annotations

import enum


class RunState(enum.StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    PAUSED = "paused"
    DONE = "done"
    STOPPED = "stopped"
    DIVERGED = "diverged"
    FAILED = "failed"
    INTERRUPTED = "interrupted"

    @property
    def terminal(self) -> bool:
        return self not in (RunState.QUEUED, RunState.RUNNING, RunState.PAUSED)


ENDINGS = {RunState.DONE, RunState.STOPPED, RunState.DIVERGED, RunState.FAILED, RunState.INTERRUPTED}
TRANSITIONS: dict[RunState, set[RunState]] = {
    RunState.QUEUED: {RunState.RUNNING, RunState.PAUSED, RunState.STOPPED, RunState.INTERRUPTED},
    RunState.RUNNING: {RunState.PAUSED, RunState.QUEUED, *ENDINGS},
    RunState.PAUSED: {RunState.RUNNING, RunState.QUEUED, *ENDINGS},
    RunState.DONE: {RunState.PAUSED},
    RunState.STOPPED: {RunState.PAUSED},
}
# what each user action needs
ACTIONS: dict[str, tuple[RunState, ...]] = {
    "pause": (RunState.RUNNING, RunState.QUEUED),
    "resume": (RunState.PAUSED,),
    "step": (RunState.PAUSED,),
    "stop": (RunState.QUEUED, RunState.RUNNING, RunState.PAUSED),
    "edit": (RunState.PAUSED,),
    "walk": (RunState.PAUSED,),
    "gradcheck": (RunState.PAUSED,),
    "whatif": (RunState.PAUSED,),
    "continue": (RunState.DONE, RunState.STOPPED),
}
VERBS = {"edit": "edit a parameter of", "walk": "walk through a step of", "gradcheck": "check the gradient of",
         "whatif": "nudge a weight of"}  # where "<action> a run" does not read


class IllegalTransition(RuntimeError):
    """An action the run's current state does not allow."""


def check_action(action: str, state: RunState) -> None:
    """Raise IllegalTransition unless ``action`` is allowed in ``state``."""
    allowed = ACTIONS[action]
    if state not in allowed:
        need = " or ".join(s.value for s in allowed)
        verb = VERBS.get(action, action)
        raise IllegalTransition(f"cannot {verb} a run that is {state.value} (it must be {need})")


def check_transition(current: RunState, new: RunState) -> None:
    if new not in TRANSITIONS.get(current, set()):
        raise IllegalTransition(f"a run that is {current.value} cannot become {new.value}")
