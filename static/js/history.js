// The open run's metrics history, column by column: one growable Float64Array per quantity (NaN stands for
// null). A run of 100 000 epochs then holds ~10 MB rather than 100 000 objects, appending a point allocates
// nothing (the arrays double when full), and the charts read and thin columns without building arrays.
// No imports, no DOM.

const SCALARS = ["epoch", "train_cost", "test_cost", "accuracy", "train_accuracy", "learning_rate"];

export class History {
  constructor() {
    this.length = 0;
    this.layers = -1; // L, from the first point's grad_norms
    this.capacity = 0;
    this.cols = Object.create(null); // name → Float64Array(capacity); per layer: grad_norms.l, delta_norms.l
  }

  /** A history holding `points` (metrics objects in epoch order). */
  static from(points) {
    const h = new History();
    for (const p of points) h.push(p);
    return h;
  }

  grow(min) {
    const capacity = Math.max(4096, this.capacity * 2, min);
    for (const [name, old] of Object.entries(this.cols)) {
      const col = new Float64Array(capacity);
      col.set(old.subarray(0, this.length));
      this.cols[name] = col;
    }
    this.capacity = capacity;
  }

  /** Append a metrics point; a point not after the last one is ignored (returns false). */
  push(p) {
    const n = this.length;
    if (n && !(p.epoch > this.cols.epoch[n - 1])) return false;
    if (this.layers < 0) {
      this.layers = (p.grad_norms || []).length;
      this.capacity = 0;
      for (const k of SCALARS) this.cols[k] = new Float64Array(0);
      for (let l = 0; l < this.layers; l++) {
        this.cols[`grad_norms.${l}`] = new Float64Array(0);
        this.cols[`delta_norms.${l}`] = new Float64Array(0);
      }
    }
    if (n === this.capacity) this.grow(n + 1);
    const c = this.cols;
    for (const k of SCALARS) c[k][n] = p[k] ?? NaN;
    for (let l = 0; l < this.layers; l++) {
      c[`grad_norms.${l}`][n] = (p.grad_norms && p.grad_norms[l]) ?? NaN;
      c[`delta_norms.${l}`][n] = (p.delta_norms && p.delta_norms[l]) ?? NaN;
    }
    this.length = n + 1;
    return true;
  }

  /**
   * The points as columns of their own, to post to another thread: {length, layers, cols}, and the buffers
   * to transfer with it.
   */
  toMessage() {
    const cols = {};
    for (const [name, col] of Object.entries(this.cols)) cols[name] = col.slice(0, this.length);
    return [{ length: this.length, layers: this.layers, cols }, Object.values(cols).map((c) => c.buffer)];
  }

  /** A history from a toMessage(). */
  static fromMessage(m) {
    const h = new History();
    h.append(m);
    return h;
  }

  /** Append the points of a toMessage() (those not after this history's last epoch are skipped). */
  append(m) {
    if (!m.length) return 0;
    const epochs = m.cols.epoch;
    let start = 0;
    const last = this.lastEpoch();
    while (start < m.length && !(epochs[start] > last)) start++;
    const count = m.length - start;
    if (!count) return 0;
    if (this.layers < 0) {
      this.layers = m.layers;
      for (const name of Object.keys(m.cols)) this.cols[name] = new Float64Array(0);
    }
    if (this.length + count > this.capacity) this.grow(this.length + count);
    for (const [name, col] of Object.entries(this.cols)) {
      const src = m.cols[name];
      if (src) col.set(src.subarray(start, m.length), this.length);
      else col.fill(NaN, this.length, this.length + count);
    }
    this.length += count;
    return count;
  }

  /** The values of one column so far (a view, not a copy): "train_cost", "grad_norms.0", … */
  column(name) {
    const col = this.cols[name];
    return col ? col.subarray(0, this.length) : new Float64Array(0);
  }

  /** The value of a column at point k, null where it is missing. */
  value(name, k) {
    const col = this.cols[name];
    const v = col && k >= 0 && k < this.length ? col[k] : NaN;
    return Number.isNaN(v) ? null : v;
  }

  /** Point k as the stream sent it (null where a value is missing). */
  at(k) {
    if (k < 0 || k >= this.length) return null;
    const v = (name) => this.value(name, k);
    const p = {};
    for (const key of SCALARS) p[key] = v(key);
    p.grad_norms = Array.from({ length: this.layers }, (_, l) => v(`grad_norms.${l}`));
    p.delta_norms = Array.from({ length: this.layers }, (_, l) => v(`delta_norms.${l}`));
    return p;
  }

  /** The newest point, or null. */
  last() {
    return this.at(this.length - 1);
  }

  /** The newest epoch, or -Infinity when empty. */
  lastEpoch() {
    return this.length ? this.cols.epoch[this.length - 1] : -Infinity;
  }
}
