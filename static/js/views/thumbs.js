// Dataset thumbnails, as Playground shows them: a small picture of each dataset's points (2-D sets), or of
// one of its images; a click picks it. The points come from the dataset preview (GET /api/datasets/{name},
// fetched once per dataset by the actions).

import { VALUE_SCALE, classColor, lutIndex } from "../colors.js";
import { sizeCanvas } from "./predictions.js";

const SIZE = 44;
const UPLOADS = 4; // the newest uploads get a thumbnail (all are in the menu)

function drawPoints(ctx, d) {
  const X = [...d.train.X, ...d.test.X];
  const y = [...d.train.y, ...d.test.y];
  let m = 1e-9;
  for (const p of X) m = Math.max(m, Math.abs(p[0]), Math.abs(p[1]));
  const reg = d.task === "regression";
  const yMax = reg ? Math.max(1e-9, ...y.map(Math.abs)) : 1;
  X.forEach((p, k) => {
    ctx.fillStyle = reg ? VALUE_SCALE.css[lutIndex(y[k], yMax)] : classColor(Math.round(y[k]), d.n_classes);
    ctx.fillRect(SIZE / 2 + (p[0] / m) * (SIZE / 2 - 2) - 1, SIZE / 2 - (p[1] / m) * (SIZE / 2 - 2) - 1, 2.2, 2.2);
  });
}

function drawImage(ctx, d) {
  const [rows, cols] = d.image_shape;
  const x = d.train.X[0];
  const cell = SIZE / Math.max(rows, cols);
  let hi = 1e-9;
  for (const v of x) hi = Math.max(hi, v);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      const v = 255 - Math.round((Math.max(0, x[r * cols + c]) / hi) * 255);
      ctx.fillStyle = `rgb(${v},${v},${v})`;
      ctx.fillRect(c * cell, r * cell, cell + 0.5, cell + 0.5);
    }
  }
}

export function mountThumbs(root, actions) {
  let drawnKey = "";
  const canvases = new Map(); // dataset name → its button (kept between draws)

  function thumb(info, preview) {
    let b = canvases.get(info.name);
    if (!b) {
      b = document.createElement("button");
      b.type = "button";
      b.className = "thumb";
      b.dataset.dataset = info.name;
      b.append(document.createElement("canvas"));
      b.addEventListener("click", () => actions.setConfig({ dataset: info.name }));
      canvases.set(info.name, b);
    }
    const text = `${info.label || info.name}${info.description ? `: ${info.description}` : ""}`;
    b.title = text;
    b.setAttribute("aria-label", info.label || info.name);
    const key = preview ? "drawn" : "empty";
    if (b.dataset.drawn !== key) {
      b.dataset.drawn = key;
      const ctx = sizeCanvas(b.firstChild, SIZE, SIZE);
      if (preview && preview.image_shape) drawImage(ctx, preview);
      else if (preview && info.two_d) drawPoints(ctx, preview);
      else { // a table: its number of columns
        ctx.font = "10px system-ui, sans-serif";
        ctx.textAlign = "center";
        ctx.fillStyle = "#888";
        ctx.fillText(`${info.input_dim} cols`, SIZE / 2, SIZE / 2 + 3);
      }
    }
    return b;
  }

  return {
    update(s) {
      const key = [s.rev.datasets, s.rev.previews, s.config.dataset].join("|");
      if (key === drawnKey) return;
      drawnKey = key;
      let uploads = 0;
      const shown = s.datasets.filter((d) => !d.name.startsWith("csv:") || d.name === s.config.dataset || uploads++ < UPLOADS);
      actions.loadPreviews(shown);
      root.replaceChildren(...shown.map((d) => {
        const b = thumb(d, s.previews[d.name]);
        b.setAttribute("aria-pressed", String(d.name === s.config.dataset));
        return b;
      }));
    },
  };
}
