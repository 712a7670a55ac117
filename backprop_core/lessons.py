"""The words for one training step taken apart: what each step of the walkthrough computes and why.

One or two sentences per step, in the page's own words, each with its equation in the code's convention
(``network.py``: one row per example, Wˡ of shape (n_{l−1}, n_l)) and, where the seed has one, the seed's
equation. The seed displays five equations; they are cited by their order in its text:

    (1) ∂C/∂w = (1/n) Σₖ ∂Cₖ/∂w           (2) δⱼᴸ = ∂C/∂aⱼᴸ σ′(zⱼᴸ)       (3) δᴸ = ∇ₐC ⊙ σ′(zᴸ)
    (4) δᴸ = (aᴸ − y) ⊙ σ′(zᴸ)            (5) δˡ = ((wˡ⁺¹)ᵀ δˡ⁺¹) ⊙ σ′(zᴸ)   [σ′(zˡ): a typo]

``STEPS`` is the table (published by the catalog); ``steps_for(net, optimizer)`` is the same list with each
step's equation and a note made specific to one network — its cost's δᴸ, its regularisation, its optimiser
(the walkthrough's answer carries it). ``GRADCHECK`` and ``WHATIF`` explain the two other questions a paused
run answers.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any

from . import optimizers as _optimizers
from .network import MLP, REGULARIZATIONS

SEED_EQUATIONS = {
    "1": "∂C/∂w = (1/n) Σₖ ∂Cₖ/∂w",
    "2": "δⱼᴸ = ∂C/∂aⱼᴸ σ′(zⱼᴸ)",
    "3": "δᴸ = ∇ₐC ⊙ σ′(zᴸ)",
    "4": "δᴸ = (aᴸ − y) ⊙ σ′(zᴸ)",
    "5": "δˡ = ((wˡ⁺¹)ᵀ δˡ⁺¹) ⊙ σ′(zˡ)",
}


@dataclass(frozen=True)
class Step:
    """``name``: the step's key; ``label``: its title; ``text``: what is computed and why; ``equation``: in
    the code's convention; ``seed``: where the seed says it (and where its text slips); ``note``: what is
    particular to one network (empty in the table)."""

    name: str
    label: str
    text: str
    equation: str
    seed: str
    note: str = ""


STEPS: dict[str, Step] = {s.name: s for s in (
    Step("forward", "Forward pass",
         "Layer by layer, each neuron adds up the activations of the layer before, each times the weight of "
         "its edge, plus its bias — its weighted input z — and passes the sum through σ. The input a⁰ is the "
         "example's features; the last layer's aᴸ is the network's answer.",
         "zˡ = aˡ⁻¹ Wˡ + bˡ,  aˡ = σ(zˡ)",
         "The seed writes it for one column vector, zˡ = wˡ aˡ⁻¹ + bˡ, with wˡ = (Wˡ)ᵀ."),
    Step("cost", "Cost",
         "The cost says how far the answer is from the target: Cₓ for the probe example alone, C the average "
         "over the n examples of the mini-batch. Lowering C on this batch is what the whole step is for.",
         "C = (1/n) Σₓ Cₓ",
         "The seed's C₀ = (aᴸ − y)²; the quadratic cost here carries the ½ the seed mentions, so that its "
         "slope is aᴸ − y."),
    Step("output_delta", "Output error δᴸ",
         "δᴸ is how much the cost changes per unit change of each output neuron's weighted input z: the "
         "cost's slope in aᴸ times σ′(zᴸ), the slope of σ there. It is where the backward pass starts.",
         "δᴸ = ∇ₐC ⊙ σ′(zᴸ)",
         "Seed eqs. (2)–(4): δⱼᴸ = ∂C/∂aⱼᴸ σ′(zⱼᴸ), for the whole layer δᴸ = ∇ₐC ⊙ σ′(zᴸ) = (aᴸ − y) ⊙ "
         "σ′(zᴸ)."),
    Step("hidden_delta", "The error flows backward",
         "Each neuron of layer l gathers the errors δˡ⁺¹ of the layer after it along its outgoing edges, each "
         "times that edge's weight, and scales the sum by its own slope σ′(zˡ). A neuron where σ is flat "
         "(σ′ ≈ 0) passes almost nothing back.",
         "δˡ = (δˡ⁺¹ (Wˡ⁺¹)ᵀ) ⊙ σ′(zˡ)",
         "Seed eq. (5), in column form δˡ = ((wˡ⁺¹)ᵀ δˡ⁺¹) ⊙ σ′(zˡ): the same numbers. The seed prints "
         "σ′(zᴸ); it is the layer's own σ′(zˡ)."),
    Step("gradient", "Gradients",
         "An edge's gradient for one example is the activation at its start times the error at its end, "
         "aⱼˡ⁻¹ δₖˡ; a bias's is δₖˡ. The mini-batch's gradient is their average over its n examples: the "
         "direction in which C rises fastest.",
         "∂Cₓ/∂Wˡⱼₖ = aⱼˡ⁻¹ δₖˡ,  ∂C/∂Wˡ = (1/n) Σₓ aˡ⁻¹(x)ᵀ δˡ(x),  ∂C/∂bˡ = (1/n) Σₓ δˡ(x)",
         "Seed eq. (1): ∂C/∂w = (1/n) Σₖ ∂Cₖ/∂w, the batch's gradient is the average of the examples'."),
    Step("update", "Update",
         "Every weight and bias takes a step against its gradient, of size η: downhill. The batch cost, "
         "computed again on the same examples with the new weights, should now be lower; a step too large "
         "overshoots and it rises.",
         "W ← W − η ∂C/∂W,  b ← b − η ∂C/∂b",
         "The seed says to add η ∂C/∂w; that would climb the cost. Gradient descent subtracts it."),
)}

GRADCHECK = ("Backprop's ∂C/∂w comes from the chain rule; the central difference (C(w + ε) − C(w − ε)) / 2ε "
             "measures the same slope directly, by nudging the one parameter both ways and running the forward "
             "pass on the same batch again. Its own error shrinks like ε², and rounding C adds about 10⁻¹⁶ C / ε, so "
             "in float64 the two agree to six digits or more — unless a nudge crosses a kink (ReLU at z = 0, L1 "
             "at w = 0) or the gradient is so near 0 that the rounding is most of it.")
WHATIF = ("Nudging one parameter by Δ changes the batch cost by about Δ · ∂C/∂w, the first term of its Taylor "
          "series; what is left grows like Δ², so the prediction is close for a small Δ and drifts for a large "
          "one. The gradient is exactly the slope that makes this first-order prediction right as Δ → 0.")


def _output_delta(net: MLP) -> Step:
    cost, out = net.cost_fn, net.output_activation
    note = ""
    if cost.name != "quadratic":
        note = (f"With the {cost.label.lower()} cost and a {out.label.lower()} output, the cost's slope and "
                f"σ′(zᴸ) cancel: {cost.delta_text}, so a confidently wrong answer still gets a large δᴸ.")
        if out.prime is None:
            note += " (A softmax neuron has no σ′ of its own: each output depends on every zᴸ.)"
    return replace(STEPS["output_delta"], equation=cost.delta_text, note=note)


def _gradient(net: MLP) -> Step:
    step = STEPS["gradient"]
    if net.regularization is None or net.regularization_rate <= 0:
        return step
    reg = REGULARIZATIONS[net.regularization]
    return replace(step, equation=f"{step.equation};  with {reg.label}: ∂C/∂Wˡ {reg.gradient}",
                   note=f"{reg.label} adds the penalty {reg.formula.removeprefix('C + ')} to the cost, λ = "
                        f"{net.regularization_rate:g}, so every ∂C/∂Wˡ gets {reg.gradient.removeprefix('+ ')} "
                        "(the biases are not penalised): it pulls each weight toward 0.")


def _update(optimizer: str) -> Step:
    step = STEPS["update"]
    if optimizer == "sgd":
        return step
    return replace(step, equation=_optimizers.OPTIMIZERS[optimizer].formula,
                   note="With momentum the weights move by the velocity v, this batch's −η ∂C/∂W plus μ times "
                        "the previous step: more than η ∂C/∂W while successive gradients agree.")


def steps_for(net: MLP, optimizer: str) -> list[dict[str, Any]]:
    """``STEPS`` as JSON-safe dicts, each equation and note made specific to ``net`` and ``optimizer``."""
    cost = net.cost_fn
    specific = {
        "cost": replace(STEPS["cost"], equation=cost.formula),
        "output_delta": _output_delta(net),
        "gradient": _gradient(net),
        "update": _update(optimizer),
    }
    return [asdict(specific.get(name, step)) for name, step in STEPS.items()]


def catalog() -> dict[str, Any]:
    """The table and the texts, for the catalog."""
    return {"steps": [asdict(s) for s in STEPS.values()], "seed_equations": dict(SEED_EQUATIONS),
            "gradcheck": GRADCHECK, "whatif": WHATIF}
