/** Collect points into Float64Array batches [x0, y0, x1, y1, ...] and hand each full one over. */

/** Collects points into Float64Arrays [x0, y0, x1, y1, ...] of `size` points and hands each one over. */
export class PointBatches {
  /** `onBatch(xy, count)` gets each batch; it may keep (or transfer) `xy`: a new one is started. */
  constructor(size, onBatch, { maxAgeMs = Infinity } = {}) {
    this.size = size;
    this.onBatch = onBatch;
    this.maxAgeMs = maxAgeMs;
    this.total = 0;
    this.start();
  }

  start() {
    this.xy = new Float64Array(2 * this.size);
    this.count = 0;
    this.since = performance.now();
  }

  push(x, y) {
    const at = 2 * this.count;
    this.xy[at] = x;
    this.xy[at + 1] = y;
    this.count += 1;
    this.total += 1;
    if (this.count === this.size) this.flush();
  }

  /**
   * Push the points xs[i], ys[i] for start <= i < end (two coordinate columns, as Arrow sends
   * them): one tight interleaving loop per batch filled, not a call per point.
   */
  pushColumns(xs, ys, start, end) {
    while (start < end) {
      const n = Math.min(end - start, this.size - this.count);
      const { xy } = this;
      let at = 2 * this.count;
      for (let i = start, stop = start + n; i < stop; i += 1) {
        xy[at] = xs[i];
        xy[at + 1] = ys[i];
        at += 2;
      }
      this.count += n;
      this.total += n;
      start += n;
      if (this.count === this.size) this.flush();
    }
  }

  /** Hand over the points collected so far, if any. */
  flush() {
    if (this.count === 0) return;
    const { xy, count } = this;
    this.start();
    this.onBatch(xy, count);
  }

  /** Hand over a partly filled batch that has waited long enough (slow streams fill in steadily). */
  tick() {
    if (this.count > 0 && performance.now() - this.since >= this.maxAgeMs) this.flush();
  }
}
