/** Show a query's progress, speed and outcome in words, and mirror them in data- attributes for tests. */

const integer = new Intl.NumberFormat('en-US');

/** Return a rate like "1.2 M points/s". */
function formatRate(perSecond) {
  if (!Number.isFinite(perSecond) || perSecond <= 0) return '';
  if (perSecond >= 1e6) return `${(perSecond / 1e6).toFixed(1)} M points/s`;
  if (perSecond >= 1e3) return `${Math.round(perSecond / 1e3)} k points/s`;
  return `${Math.round(perSecond)} points/s`;
}

/** Return seconds like "0.42 s" (two decimals under ten seconds, one above). */
export function formatSeconds(ms) {
  const s = ms / 1000;
  return `${s < 10 ? s.toFixed(2) : s.toFixed(1)} s`;
}

/**
 * Owns the status box. Its root element carries, for the browser tests and the bench:
 * data-state (idle | loading | done | error | cut | cancelled), data-received, data-total,
 * data-query (a number, one more per query) and, once a query is over, data-elapsed-ms and
 * data-finished-at (performance.now() when its last point was drawn).
 */
export class StatusPanel {
  constructor(root, { onShow = () => {} } = {}) {
    this.root = root;
    this.onShow = onShow;
    this.noticeBox = root.querySelector('.notice');
    this.noticeText = '';
    this.bar = root.querySelector('progress');
    this.counter = root.querySelector('.counter');
    this.rate = root.querySelector('.rate');
    this.elapsed = root.querySelector('.elapsed');
    this.message = root.querySelector('.message');
    this.hint = root.querySelector('.hint');
    this.queries = 0;
    this.received = 0;
    this.total = null;
    this.startedAt = 0;
    this.state = 'idle';
    this.ticking = false;
  }

  /** Show a hint while nothing runs. */
  idle(text) {
    clearInterval(this.timer);
    this.state = 'idle';
    this.received = 0;
    this.total = null;
    this.hint.textContent = '';
    this.show({ message: text, counter: '', rate: '', elapsed: '' });
    this.bar.value = 0;
    this.bar.removeAttribute('max');
    this.bar.hidden = true;
  }

  /** A query began at `startedAt` (performance.now() of the click). */
  start(label, startedAt) {
    this.queries += 1;
    this.state = 'loading';
    this.received = 0;
    this.total = null;
    this.startedAt = startedAt;
    this.root.dataset.query = String(this.queries);
    this.root.dataset.stream = 'open';
    delete this.root.dataset.elapsedMs;
    delete this.root.dataset.finishedAt;
    this.hint.textContent = '';
    this.bar.hidden = false;
    this.bar.removeAttribute('value'); // indeterminate until the total is known
    this.show({ message: label, counter: 'waiting for the server…', rate: '', elapsed: '' });
    // The elapsed time keeps moving even while the server thinks and no batch arrives.
    clearInterval(this.timer);
    this.timer = setInterval(() => this.schedule(), 100);
  }

  /** The dataset holds `total` points (the X-Dataset-Count header): progress has a scale now. */
  setTotal(total) {
    this.total = total;
    if (total !== null) this.bar.max = Math.max(total, 1);
    this.schedule();
  }

  /** The stream is over (its points may not all be drawn yet). */
  streamEnded() {
    this.root.dataset.stream = 'ended';
  }

  /** Say something about the link or the choice of dataset, beside the query's own words ('' for nothing). */
  notice(text) {
    this.noticeText = text;
    this.noticeBox.textContent = text;
    this.noticeBox.hidden = text === '';
    this.onShow();
  }

  /** `count` more points arrived. */
  add(count) {
    this.received += count;
    this.schedule();
  }

  /** The query is over and its points are drawn; say how it ended. */
  finish(result, finishedAt) {
    const ms = finishedAt - this.startedAt;
    const n = integer.format(result.received);
    const seconds = formatSeconds(ms);
    const states = {
      end: ['done', `done: ${n} points in ${seconds}`],
      refused: ['error', result.message],
      error: ['error', `The server failed after ${n} points: ${result.message}`],
      invalid: ['error', `The answer could not be read: ${result.message}`],
      cut: ['cut', `Cut: ${result.message}. The picture is incomplete.`],
      aborted: ['cancelled', `Cancelled after ${n} points.`],
    };
    const [state, message] = states[result.outcome] ?? ['error', result.message ?? 'unknown outcome'];
    clearInterval(this.timer);
    this.state = state;
    this.received = result.received;
    this.root.dataset.elapsedMs = ms.toFixed(1);
    this.root.dataset.finishedAt = finishedAt.toFixed(1);
    // A refused polygon is still on the plot: say how to get out of the error.
    this.hint.textContent = result.outcome === 'refused' && result.status === 400 ? 'Drag a vertex to fix the polygon, or clear the polygons.' : '';
    if (state === 'done') this.bar.value = this.bar.max ?? 1;
    else if (!this.bar.hasAttribute('value')) this.bar.value = 0;
    this.show({ message, counter: this.counterText(), rate: formatRate((result.received * 1000) / ms), elapsed: seconds });
  }

  counterText() {
    const received = integer.format(this.received);
    return this.total === null ? `${received} points` : `${received} / ${integer.format(this.total)} points`;
  }

  schedule() {
    if (this.ticking) return;
    this.ticking = true;
    requestAnimationFrame(() => {
      this.ticking = false;
      this.tick();
    });
  }

  /** Refresh the live figures: at most once a frame, however many batches arrive. */
  tick() {
    if (this.state !== 'loading') return;
    const ms = performance.now() - this.startedAt;
    if (this.total !== null) this.bar.value = Math.min(this.received, this.total);
    this.show({
      counter: this.counterText(),
      rate: formatRate((this.received * 1000) / ms),
      elapsed: formatSeconds(ms),
    });
  }

  show({ message, counter, rate, elapsed }) {
    const { root } = this;
    root.dataset.state = this.state;
    root.dataset.received = String(this.received);
    root.dataset.total = this.total === null ? '' : String(this.total);
    if (message !== undefined) this.message.textContent = message;
    if (counter !== undefined) this.counter.textContent = counter;
    if (rate !== undefined) this.rate.textContent = rate;
    if (elapsed !== undefined) this.elapsed.textContent = elapsed;
    this.onShow();
  }
}
