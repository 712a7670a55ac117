// The footer's equations: the catalog's, in its one convention, with the line on the text's column form.

export function mountNotation(root) {
  let drawnFor = null;
  return {
    update(s) {
      if (s.catalog === drawnFor) return;
      drawnFor = s.catalog;
      const n = s.catalog.notation;
      const eq = n.equations;
      root.querySelector(".equations").textContent = [eq.inputs, eq.forward, eq.output_delta, eq.hidden_delta,
        eq.weight_gradient, eq.bias_gradient, eq.update].join(" · ");
      root.querySelector(".convention").textContent = `Convention: ${n.convention}. ${n.seed[0].toUpperCase()}${n.seed.slice(1)}. `
        + `${s.catalog.grad_subset_note}.`;
    },
  };
}
