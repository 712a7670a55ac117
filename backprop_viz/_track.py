"""Your own model on the page: ``Client.track`` streams a training loop written elsewhere into a run of kind
``external`` (POST /api/runs/external, then one POST …/epochs per epoch).

Two kinds of model:

- a PyTorch ``nn.Sequential`` of ``Linear`` layers and elementwise activations (Tanh, ReLU, Sigmoid,
  LeakyReLU, Identity; Softmax last). Each ``log_epoch`` reads every ``Linear``'s ``.weight`` and
  ``.weight.grad`` (PyTorch's (out, in) transposed to the page's (in, out)) and ``.bias``. With ``probe=(x, y,
  loss_fn)`` it also runs that one example forward and backward — with ``torch.autograd.grad`` on the layers'
  outputs zˡ, leaving the parameters' ``.grad`` as they were — and sends its zˡ, aˡ and δˡ = ∂Cₓ/∂zˡ.
- plain NumPy: ``track(layers=[2, 8, 1], activations=["tanh", "tanh"])``, then ``log_epoch(epoch, ...,
  weights=[W1, W2], biases=[...], grad_weights=[...], grad_biases=[...])`` with Wˡ of shape (n_{l−1}, n_l).

PyTorch is needed only for PyTorch models (``pip install backprop-viz[torch]``); this module never imports it
unless given one.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from ._errors import BackpropVizError

if TYPE_CHECKING:
    from ._client import Client, Run

ACTIVATION_MODULES = {"Tanh": "tanh", "ReLU": "relu", "Sigmoid": "sigmoid", "LeakyReLU": "leaky_relu",
                      "Identity": "linear", "Softmax": "softmax"}


class Tracker:
    """One external run: ``log_epoch`` for every epoch (0, 1, 2 … in order), then ``finish`` (done by leaving
    the ``with`` block; an exception leaving it marks the run failed, with its message)."""

    def __init__(self, client: Client, model: Any = None, *, name: str = "", layers: Sequence[int] | None = None,
                 activations: Sequence[str] | None = None, task: str = "classification", n_classes: int = 2,
                 epochs: int | None = None, probe: tuple[Any, Any, Any] | None = None) -> None:
        self.client, self.model, self.probe = client, model, probe
        self.linears: list[Any] = []
        if model is not None:
            layers, activations = self._torch_layers(model)
        if layers is None or activations is None:
            raise BackpropVizError("track() needs a PyTorch nn.Sequential, or layers= and activations= for arrays")
        body: dict[str, Any] = {"name": name, "layer_sizes": list(layers), "activations": list(activations),
                                "task": task, "n_classes": n_classes}
        if epochs is not None:
            body["epochs"] = epochs
        self.run: Run = client._make_run(client._json("POST", "/api/runs/external", json=body))
        self.sizes = list(layers)

    # -- PyTorch --------------------------------------------------------------------------------------------
    def _torch_layers(self, model: Any) -> tuple[list[int], list[str]]:
        sizes: list[int] = []
        acts: list[str] = []
        for module in model.children():
            kind = type(module).__name__
            if kind == "Linear":
                if not sizes:
                    sizes.append(int(module.in_features))
                elif len(acts) < len(self.linears):
                    acts.append("linear")  # two Linear layers in a row: the first one's σ is the identity
                sizes.append(int(module.out_features))
                self.linears.append(module)
            elif kind in ACTIVATION_MODULES and len(acts) < len(self.linears):
                acts.append(ACTIVATION_MODULES[kind])
            else:
                raise BackpropVizError(f"track() follows nn.Sequential of Linear layers and elementwise activations "
                                       f"({', '.join(ACTIVATION_MODULES)}); not {kind}")
        if not self.linears:
            raise BackpropVizError("the model has no Linear layer")
        while len(acts) < len(self.linears):
            acts.append("linear")
        return sizes, acts

    def _torch_tensors(self) -> dict[str, Any]:
        out: dict[str, Any] = {"weights": [], "biases": [], "grad_weights": [], "grad_biases": []}
        for lin in self.linears:
            w = lin.weight.detach().cpu().numpy()
            b = lin.bias.detach().cpu().numpy() if lin.bias is not None else np.zeros(w.shape[0], np.float32)
            gw = lin.weight.grad.detach().cpu().numpy() if lin.weight.grad is not None else np.zeros_like(w)
            gb = (lin.bias.grad.detach().cpu().numpy() if lin.bias is not None and lin.bias.grad is not None
                  else np.zeros_like(b))
            out["weights"].append(w.T)
            out["biases"].append(b)
            out["grad_weights"].append(gw.T)
            out["grad_biases"].append(gb)
        return out

    def _torch_probe(self) -> dict[str, Any]:
        import torch  # only here: a PyTorch model was given

        assert self.probe is not None and self.model is not None
        x, y, loss_fn = self.probe
        x = torch.as_tensor(x, dtype=torch.float32).reshape(1, -1)
        zs: list[Any] = []
        activations: list[Any] = [x]
        a = x
        for module in self.model.children():
            a = module(a)
            if type(module).__name__ == "Linear":
                zs.append(a)
                activations.append(a)  # σ = identity until an activation module replaces it
            else:
                activations[-1] = a
        target = torch.as_tensor(y)
        # a target like the output (regression, BCE), or a class index (cross-entropy)
        target = target.reshape(a.shape) if target.is_floating_point() and target.numel() == a.numel() \
            else target.reshape(1)
        deltas = torch.autograd.grad(loss_fn(a, target), zs)  # ∂Cₓ/∂zˡ, the parameters' .grad untouched
        return {"activations": [v.detach().reshape(-1).tolist() for v in activations],
                "zs": [z.detach().reshape(-1).tolist() for z in zs],
                "deltas": [d.detach().reshape(-1).tolist() for d in deltas],
                "target": target.float().reshape(-1).tolist() if target.numel() == self.sizes[-1] else []}

    # -- every epoch --------------------------------------------------------------------------------------------
    def log_epoch(self, epoch: int, *, train_cost: float, test_cost: float | None = None,
                  accuracy: float | None = None, train_accuracy: float | None = None, learning_rate: float = 0.0,
                  weights: Sequence[Any] | None = None, biases: Sequence[Any] | None = None,
                  grad_weights: Sequence[Any] | None = None, grad_biases: Sequence[Any] | None = None,
                  probe: dict[str, Any] | None = None) -> None:
        """One epoch: its costs (and accuracies), and the network's weights and gradients (read from the PyTorch
        model, or given as arrays)."""
        if self.linears:
            tensors = self._torch_tensors()
            if self.probe is not None:
                probe = self._torch_probe()
        else:
            if weights is None or biases is None or grad_weights is None or grad_biases is None:
                raise BackpropVizError("log_epoch() needs weights=, biases=, grad_weights= and grad_biases=")
            tensors = {"weights": weights, "biases": biases, "grad_weights": grad_weights, "grad_biases": grad_biases}
        body: dict[str, Any] = {
            "epoch": epoch, "train_cost": float(train_cost), "learning_rate": float(learning_rate),
            **{k: [np.asarray(a, dtype=np.float64).tolist() for a in v] for k, v in tensors.items()}}
        for key, value in (("test_cost", test_cost), ("accuracy", accuracy), ("train_accuracy", train_accuracy)):
            if value is not None:
                body[key] = float(value)
        if probe is not None:
            body["probe"] = probe
        self.run._set(self.client._json("POST", f"/api/runs/{self.run.id}/epochs", json=body))

    def finish(self, state: str = "done", reason: str = "") -> None:
        if self.run.info["state"] in ("running", "queued", "paused"):
            self.run._set(self.client._json("POST", f"/api/runs/{self.run.id}/finish",
                                            json={"state": state, "reason": reason}))

    def __enter__(self) -> Tracker:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: object) -> None:
        if error is None:
            self.finish()
        else:
            self.finish("failed", f"{type(error).__name__}: {error}"[:2000])
