// How often an expensive view may redraw while a run streams: the view measures what its draws cost and
// redraws at most `share` of the time (a draw of 5 ms with share 0.25 waits 20 ms before the next), never more
// often than every `minInterval` ms nor less often than every `maxInterval` ms. A view that is not ready
// calls wake(requestFrame), so the newest state is drawn once it is.

export class Pacer {
  constructor({ share, minInterval = 0, maxInterval = 2000 }) {
    this.share = share;
    this.minInterval = minInterval;
    this.maxInterval = maxInterval;
    this.cost = 0; // ms per draw, smoothed
    this.next = 0; // performance.now() from which the next draw may start
    this.timer = 0;
  }

  ready(now = performance.now()) {
    return now >= this.next;
  }

  /** A draw that started at `t0` (performance.now()) took `ms`. */
  spent(t0, ms) {
    this.cost = this.cost ? 0.7 * this.cost + 0.3 * ms : ms;
    const wait = Math.min(this.maxInterval, Math.max(this.minInterval, this.cost / this.share));
    this.next = t0 + wait;
  }

  /** Time a synchronous draw. */
  measure(draw) {
    const t0 = performance.now();
    const out = draw();
    this.spent(t0, performance.now() - t0);
    return out;
  }

  /** Call `request` once this pacer is ready again (one timer at a time). */
  wake(request) {
    if (this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = 0;
      request();
    }, Math.max(0, this.next - performance.now()));
  }
}
