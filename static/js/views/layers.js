// The hidden-layer editor above the diagram: add/remove layers, neurons +/− (or type a width), and the
// activation of each layer. Every change resets the run (a new network), as in Playground.

import { hiddenActivationNames, label, layerLimits } from "../catalog.js";
import { selectTitle } from "../format.js";
import { compactActivation, hiddenActivations } from "../state.js";

function button(text, label, onClick, disabled = false) {
  const b = document.createElement("button");
  b.type = "button";
  b.className = "icon-btn";
  b.textContent = text;
  b.title = label;
  b.setAttribute("aria-label", label);
  b.disabled = disabled;
  b.addEventListener("click", onClick);
  return b;
}

export function mountLayers(root, actions) {
  const count = root.querySelector(".layer-count");
  const cards = root.querySelector(".layer-cards");
  let state = null;
  let drawnKey = "";

  const fallback = () => state.catalog.config.defaults.activation;
  const apply = (layers, acts) => actions.setConfig({ hidden_layers: layers, activation: compactActivation(acts, fallback()) });
  const current = () => [[...state.config.hidden_layers], hiddenActivations(state.config)];
  const limits = () => layerLimits(state.catalog);

  root.querySelector(".add-layer").addEventListener("click", () => {
    const [layers, acts] = current();
    if (layers.length >= limits().layers) return;
    layers.push(2);
    acts.push(acts[acts.length - 1] || fallback());
    apply(layers, acts);
  });
  root.querySelector(".remove-layer").addEventListener("click", () => {
    const [layers, acts] = current();
    if (!layers.length) return;
    layers.pop();
    acts.pop();
    apply(layers, acts);
  });

  function card(k, width, act) {
    const div = document.createElement("div");
    div.className = "layer-card";
    const title = document.createElement("span");
    title.className = "layer-title";
    title.textContent = `layer ${k + 1}`;
    const max = limits().width;
    const setWidth = (w) => {
      const [layers, acts] = current();
      layers[k] = Math.max(1, Math.min(max, w));
      if (layers[k] !== width) apply(layers, acts);
    };
    const input = document.createElement("input");
    input.type = "number";
    input.min = "1";
    input.max = String(max);
    input.value = String(width);
    input.className = "layer-width";
    input.setAttribute("aria-label", `neurons in hidden layer ${k + 1}`);
    input.addEventListener("change", () => {
      const w = Number(input.value);
      if (Number.isInteger(w) && w >= 1 && w <= max) setWidth(w);
      else {
        actions.message("error", `a layer needs between 1 and ${max} neurons, got '${input.value}'`);
        input.value = String(width);
      }
    });
    const select = document.createElement("select");
    select.setAttribute("aria-label", `activation of hidden layer ${k + 1}`);
    for (const a of hiddenActivationNames(state.catalog)) select.append(new Option(label(state.catalog, "activations", a), a, false, a === act));
    select.title = label(state.catalog, "activations", act);
    select.addEventListener("change", () => {
      selectTitle(select);
      const [layers, acts] = current();
      acts[k] = select.value;
      apply(layers, acts);
    });
    div.append(title, button("−", `remove a neuron from layer ${k + 1}`, () => setWidth(width - 1), width <= 1),
      input, button("+", `add a neuron to layer ${k + 1}`, () => setWidth(width + 1), width >= max), select);
    return div;
  }

  return {
    update(s) {
      state = s;
      const acts = hiddenActivations(s.config);
      const key = JSON.stringify([s.config.hidden_layers, acts]);
      if (key === drawnKey) return;
      drawnKey = key;
      const n = s.config.hidden_layers.length;
      count.textContent = `${n} hidden layer${n === 1 ? "" : "s"}`;
      root.querySelector(".add-layer").disabled = n >= limits().layers;
      root.querySelector(".remove-layer").disabled = n === 0;
      cards.replaceChildren(...s.config.hidden_layers.map((w, k) => card(k, w, acts[k])));
    },
  };
}
