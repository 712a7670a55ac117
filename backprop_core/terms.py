"""A named choice as the project shows it: its name (the API's word), a label for people, its equation."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Term:
    """``name``: the word in configs and URLs; ``label``: for people; ``formula``: what it does, as text
    (Unicode, in the convention of ``network.py``); ``gradient``: what it adds to ∂C/∂W, if anything."""

    name: str
    label: str
    formula: str
    gradient: str = ""


def table(*terms: Term) -> dict[str, Term]:
    """Terms by name, in the given order."""
    return {t.name: t for t in terms}
