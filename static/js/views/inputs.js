// The network's inputs, in the data panel: for 2-D data Playground's features as toggles (the same as a
// click on an input neuron of the diagram), whether the inputs are standardised (a switch), and each input's
// mean μ and scale s over the training split (GET /api/runs/{id}/data), a⁰ = (φ(x) − μ) / s.

import { label } from "../catalog.js";
import { fmt, setHidden, setText } from "../format.js";

export function mountInputs(root, actions) {
  const chips = root.querySelector(".feature-chips");
  const table = root.querySelector(".input-table");
  const note = root.querySelector(".standardize-note");
  let drawnKey = "";

  function chip(cat, name, on) {
    const b = document.createElement("button");
    b.type = "button";
    b.className = "chip";
    b.dataset.feature = name;
    b.textContent = label(cat, "features", name);
    b.setAttribute("aria-pressed", String(on));
    b.title = on ? `${name}: an input; click to take it out (a new run)` : `${name}: click to add it as an input (a new run)`;
    b.addEventListener("click", () => actions.toggleFeature(name, !on));
    return b;
  }

  const cell = (tag, text, cls) => {
    const c = document.createElement(tag);
    c.textContent = text;
    c.title = text;
    if (cls) c.className = cls;
    return c;
  };

  return {
    update(s) {
      const key = [s.rev.config, s.rev.data, s.rev.datasets, s.rev.catalog].join("|");
      if (key === drawnKey) return;
      drawnKey = key;
      const cat = s.catalog;
      const info = s.datasets.find((d) => d.name === s.config.dataset);
      const twoD = !!info && info.two_d;
      setHidden(chips, !twoD);
      if (twoD) chips.replaceChildren(...cat.features.map((f) => chip(cat, f.name, s.config.features.includes(f.name))));
      const d = s.data;
      if (!d) {
        setText(note, "");
        table.replaceChildren();
        return;
      }
      setText(note, d.standardized
        ? `Each input is standardised with its mean μ and standard deviation s over the ${d.train.y.length} training examples.`
        : "Not standardised: the network sees each feature as it is (μ = 0, s = 1).");
      const head = document.createElement("tr");
      head.append(cell("th", "input"), cell("th", "μ"), cell("th", "s"));
      const rows = d.feature_names.map((n, j) => {
        const tr = document.createElement("tr");
        const name = twoD && cat.by.features.has(n) ? label(cat, "features", n) : n;
        tr.append(cell("td", name, "name"), cell("td", fmt(d.mean[j]), "num"), cell("td", fmt(d.scale[j]), "num"));
        return tr;
      });
      table.replaceChildren(head, ...rows);
      table.classList.toggle("raw", !d.standardized);
    },
  };
}
