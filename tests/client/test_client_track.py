"""Your own model on the page: a training loop written elsewhere streams into a run of kind ``external``
(``Client.track``), checked field by field against what was sent; bad epochs are refused with a message.
The PyTorch model trains in a process of its own (PyTorch and NumPy's BLAS are not mixed in one process)."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import httpx
import numpy as np
import pytest

from backprop_core import MLP
from backprop_viz import Client
from tests import support as kit

pytestmark = pytest.mark.timeout(300)


def test_a_numpy_loop_streams_into_an_external_run(client: Client, server: kit.Server) -> None:
    net = MLP([2, 3, 1], "tanh", "tanh", "quadratic", seed=1, dtype=np.float64)
    rng = np.random.default_rng(0)
    X, Y = rng.normal(size=(40, 2)), rng.choice([-1.0, 1.0], size=(40, 1))
    sent: list[dict[str, Any]] = []
    with client.track(name="my <b>numpy</b> mlp", layers=[2, 3, 1], activations=["tanh", "tanh"]) as t:
        for epoch in range(6):
            trace = net.forward(X)
            grads = net.backward(trace, Y)
            probe = net.forward(X[:1])
            probe_grads = net.backward(probe, Y[:1])
            t.log_epoch(epoch, train_cost=net.cost(trace, Y), learning_rate=0.1, weights=net.weights,
                        biases=net.biases, grad_weights=grads.weights, grad_biases=grads.biases,
                        probe={"activations": [a[0].tolist() for a in probe.activations],
                               "zs": [z[0].tolist() for z in probe.zs],
                               "deltas": [d[0].tolist() for d in probe_grads.deltas], "target": Y[0].tolist()})
            sent.append({"W1": net.weights[0].copy(), "dW2": grads.weights[1].copy(),
                         "delta1": probe_grads.deltas[0][0]})
            for w, g in zip(net.weights, grads.weights, strict=True):
                w -= 0.1 * g
            for b, g in zip(net.biases, grads.biases, strict=True):
                b -= 0.1 * g
    run = t.run.refresh()
    assert run.info["kind"] == "external" and run.info["state"] == "done" and run.info["epoch"] == 5
    assert run.info["name"] == "my <b>numpy</b> mlp" and run.info["layer_sizes"] == [2, 3, 1]
    assert [p["epoch"] for p in run.history()] == list(range(6))
    for epoch in (0, 5):
        snap = run.snapshot(epoch)
        np.testing.assert_allclose(snap["W1"], sent[epoch]["W1"], rtol=1e-6)
        np.testing.assert_allclose(snap["dW2"], sent[epoch]["dW2"], rtol=1e-5, atol=1e-8)
        np.testing.assert_allclose(snap["delta1"], sent[epoch]["delta1"], rtol=1e-5, atol=1e-8)
    # the stream shows it like any run, to a late joiner too
    seen = kit.wait_for(lambda: list(run.watch()), what="the stream of a finished external run")
    assert [p["epoch"] for p in seen] == list(range(6))


def test_bad_epochs_are_refused_with_a_message(server: kit.Server) -> None:
    with httpx.Client(base_url=server.url, timeout=30) as http:
        made = http.post("/api/runs/external", json={"layer_sizes": [2, 2, 1], "activations": ["relu", "sigmoid"]})
        assert made.status_code == 201, made.text
        rid = made.json()["id"]
        ok = {"epoch": 0, "train_cost": 0.5, "weights": [[[0.1, 0.2], [0.3, 0.4]], [[0.5], [0.6]]],
              "biases": [[0.0, 0.0], [0.0]], "grad_weights": [[[0.0, 0.0], [0.0, 0.0]], [[0.0], [0.0]]],
              "grad_biases": [[0.0, 0.0], [0.0]]}
        wrong_shape = {**ok, "weights": [[[0.1, 0.2, 0.3], [0.3, 0.4, 0.5]], [[0.5], [0.6]]]}
        r = http.post(f"/api/runs/{rid}/epochs", json=wrong_shape)
        assert r.status_code == 422 and "weights[0]" in r.json()["detail"], r.text
        r = http.post(f"/api/runs/{rid}/epochs", content=json.dumps({**ok, "train_cost": "NaN"}),
                      headers={"content-type": "application/json"})
        assert r.status_code == 422, r.text
        r = http.post(f"/api/runs/{rid}/epochs", json={**ok, "epoch": 3})
        assert r.status_code == 409 and "epoch 0 was expected" in r.json()["detail"], r.text
        assert http.post(f"/api/runs/{rid}/epochs", json=ok).status_code == 200
        assert http.post(f"/api/runs/{rid}/pause").status_code == 409
        bad = http.post("/api/runs/external", json={"layer_sizes": [2, 1], "activations": ["softplus"]})
        assert bad.status_code == 422 and "activations" in bad.text
        assert http.post(f"/api/runs/{rid}/finish", json={"state": "done"}).json()["state"] == "done"
        assert http.post(f"/api/runs/{rid}/epochs", json={**ok, "epoch": 1}).status_code == 409


TORCH_SCRIPT = r'''
import json, sys
import torch
from backprop_viz import Client

torch.manual_seed(0)
model = torch.nn.Sequential(torch.nn.Linear(2, 4), torch.nn.Tanh(), torch.nn.Linear(4, 1), torch.nn.Sigmoid())
X = torch.randn(64, 2)
y = (X[:, :1] * X[:, 1:] > 0).float()
loss_fn = torch.nn.BCELoss()
opt = torch.optim.SGD(model.parameters(), lr=0.5)
c = Client(sys.argv[1])
sent = []
with c.track(model, name="torch mlp", epochs=8, probe=(X[0], y[0], loss_fn)) as t:
    for epoch in range(8):
        opt.zero_grad()
        loss = loss_fn(model(X), y)
        loss.backward()
        t.log_epoch(epoch, train_cost=loss.item(), learning_rate=0.5)
        sent.append({"W1": model[0].weight.detach().T.tolist(), "dW1": model[0].weight.grad.T.tolist()})
        opt.step()
print(json.dumps({"id": t.run.id, "sent": sent}))
'''


def test_a_pytorch_sequential_streams_weights_gradients_and_a_probe(server: kit.Server) -> None:
    out = subprocess.run([sys.executable, "-c", TORCH_SCRIPT, server.url], capture_output=True, text=True,
                         timeout=240, cwd=kit.ROOT)
    assert out.returncode == 0, out.stderr[-3000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    run = Client(server.url).run(result["id"])
    assert run.info["state"] == "done" and run.info["activations"] == ["tanh", "sigmoid"]
    assert run.info["layer_sizes"] == [2, 4, 1]
    for epoch in (0, 7):
        snap = run.snapshot(epoch)
        np.testing.assert_allclose(snap["W1"], result["sent"][epoch]["W1"], rtol=1e-6)
        np.testing.assert_allclose(snap["dW1"], result["sent"][epoch]["dW1"], rtol=1e-5, atol=1e-8)
        assert snap["delta2"].shape == (1,) and snap["a2"].shape == (1,) and 0 < float(snap["a2"][0]) < 1


def test_the_page_draws_an_external_run(client: Client, browser: Any) -> None:
    from tests.e2e.e2e_helpers import new_page, wait_drawn

    rng = np.random.default_rng(2)
    Ws = [rng.normal(size=(2, 3)), rng.normal(size=(3, 2))]
    bs = [np.zeros(3), np.zeros(2)]
    with client.track(name="drawn", layers=[2, 3, 2], activations=["relu", "softmax"], n_classes=2) as t:
        for epoch in range(3):
            t.log_epoch(epoch, train_cost=1.0 / (epoch + 1), weights=Ws, biases=bs,
                        grad_weights=[w * 0.1 for w in Ws], grad_biases=[b + 0.01 for b in bs])
    page, watch = new_page(browser)
    page.goto(f"{client.server}/#run={t.run.id}")
    wait_drawn(page)
    assert page.evaluate("() => window.__bpv.run().id") == t.run.id
    assert page.evaluate("() => window.__bpv.historyLength()") == 3
    # its data is the training program's: the output panel says so rather than wait for it
    page.wait_for_function("() => document.querySelector('#data-panel .data-caption').textContent"
                           ".includes('stays with')")
    assert watch.errors() == [] and watch.foreign_requests == []
    page.context.close()
