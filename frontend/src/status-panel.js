/** Show a query's progress, speed and outcome in words, and mirror them in data- attributes for tests. */

import { countText } from './selection-count.js';

const integer = new Intl.NumberFormat('en-US');

/** Return a rate like "1.2 M points/s". */
function formatRate(perSecond) {
  if (!Number.isFinite(perSecond) || perSecond <= 0) return '';
  if (perSecond >= 1e6) return `${(perSecond / 1e6).toFixed(1)} M points/s`;
  if (perSecond >= 1e3) return `${Math.round(perSecond / 1e3)} k points/s`;
  return `${Math.round(perSecond)} points/s`;
}

const FORMAT_NAMES = { arrow: 'Arrow', ndjson: 'NDJSON' };

/** Return a byte count like "950 B", "12.3 kB", "4.1 MB". */
function formatBytes(bytes) {
  if (bytes >= 1e6) return `${(bytes / 1e6).toFixed(1)} MB`;
  if (bytes >= 1e3) return `${(bytes / 1e3).toFixed(1)} kB`;
  return `${bytes} B`;
}

/**
 * Return the transfer figure: bytes per point and MB/s over `ms`, like "16.2 B/point · 6.1 MB/s".
 * `decoded` says the bytes are the decoded body's (the wire size is not known yet, or not
 * given), which the figure then says too.
 */
export function formatTransfer({ bytes, points, ms, decoded = false }) {
  if (!(bytes > 0)) return '';
  const size = points > 0 ? `${(bytes / points).toFixed(1)} B/point` : formatBytes(bytes);
  const rate = ms > 0 ? ` · ${(bytes / (1000 * ms)).toFixed(1)} MB/s` : '';
  return `${size}${rate}${decoded ? ' (decoded)' : ''}`;
}

/** Return the transfer figure's label: the format and the encoding, like "Transfer · Arrow, zstd". */
export function transferLabel(format, encoding) {
  const parts = [FORMAT_NAMES[format] ?? format, encoding].filter(Boolean);
  return parts.length > 0 ? `Transfer · ${parts.join(', ')}` : 'Transfer';
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
 * data-finished-at (performance.now() when its last point was drawn); and how the points
 * came: data-format (arrow | ndjson, by the answer's Content-Type), data-encoding (its
 * Content-Encoding, identity without one), data-body-bytes (decoded bytes read so far) and
 * data-wire-bytes (bytes on the wire, once the browser says; '' until then). data-total is
 * the figure progress is measured against: the polygons' count once known, else the stream's
 * X-Dataset-Count header. The polygons' count (see setCounts) is mirrored in data-count-state
 * (counting | counted | failed; '' for none asked), data-counted (all of them together, ''
 * until known) and data-polygon-counts (JSON: each polygon's count, null until known).
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
    this.transfer = root.querySelector('.transfer') ?? this.addFigure('transfer');
    this.transferDt = this.transfer.parentElement.querySelector('dt');
    this.countBox = root.querySelector('.count') ?? this.addFigure('count', { before: this.rate.parentElement });
    this.countBox.parentElement.querySelector('dt').textContent = 'Count';
    this.queries = 0;
    this.startedAt = 0;
    this.state = 'idle';
    this.ticking = false;
    this.resetQuery();
  }

  /** Forget the last query's figures: its points, its measure, its counts, its transfer. */
  resetQuery() {
    this.received = 0;
    this.total = null;
    this.streamTotal = null; // the stream's X-Dataset-Count header
    this.endTotal = null; // the count of a complete stream (see finish)
    this.counts = null;
    this.resetTransport();
  }

  /** Add a figure to the box (the page's template has none for the transfer, the count), last or `before` one: returns its <dd>. */
  addFigure(name, { before = null } = {}) {
    const figure = document.createElement('div');
    figure.className = `${name}-figure`;
    const dd = document.createElement('dd');
    dd.className = name;
    figure.append(document.createElement('dt'), dd);
    this.root.querySelector('.figures').insertBefore(figure, before);
    return dd;
  }

  resetTransport() {
    this.format = '';
    this.encoding = '';
    this.bodyBytes = 0;
    this.wireBytes = null;
  }

  /** The answer's headers came: its format (arrow | ndjson) and Content-Encoding. */
  setTransport({ format = '', encoding = '' } = {}) {
    this.format = format;
    this.encoding = encoding;
    this.schedule();
  }

  /** Show a hint while nothing runs. */
  idle(text) {
    clearInterval(this.timer);
    this.state = 'idle';
    this.resetQuery();
    this.hint.textContent = '';
    this.show({ message: text, counter: '', rate: '', elapsed: '', transfer: '' });
    this.bar.value = 0;
    this.bar.removeAttribute('max');
    this.bar.hidden = true;
  }

  /** A query began at `startedAt` (performance.now() of the click). */
  start(label, startedAt) {
    this.queries += 1;
    this.state = 'loading';
    this.resetQuery();
    this.startedAt = startedAt;
    this.root.dataset.query = String(this.queries);
    this.root.dataset.stream = 'open';
    delete this.root.dataset.elapsedMs;
    delete this.root.dataset.finishedAt;
    this.hint.textContent = '';
    this.bar.hidden = false;
    this.bar.removeAttribute('value'); // indeterminate until the total is known
    this.show({ message: label, counter: 'waiting for the server…', rate: '', elapsed: '', transfer: '' });
    // The elapsed time keeps moving even while the server thinks and no batch arrives.
    clearInterval(this.timer);
    this.timer = setInterval(() => this.schedule(), 100);
  }

  /** The dataset holds `total` points (the X-Dataset-Count header): progress has a scale now, until the polygons are counted. */
  setTotal(total) {
    this.streamTotal = total;
    this.measure();
  }

  /**
   * The polygons' count so far (null: none asked, as for every point): {state, total,
   * polygons, message} of SelectionCount. Once the total of them all is known, progress is
   * measured against it; a count that failed leaves the stream's header as the measure.
   */
  setCounts(counts) {
    this.counts = counts;
    this.measure();
    if (this.state !== 'idle' && this.state !== 'loading') {
      // Over already: the counter and the bar are not ticking, so they are set here.
      if (this.total !== null && this.state === 'done') this.bar.value = this.bar.max;
      this.show({ counter: this.counterText() });
    }
  }

  /** Set the figure progress is measured against: the polygons' count when known (or their complete stream's), else the header. */
  measure() {
    const counted = this.counts?.total;
    const ended = this.counts === null ? null : this.endTotal;
    this.total = Number.isSafeInteger(counted) ? counted : (ended ?? this.streamTotal);
    if (this.total !== null) this.bar.max = Math.max(this.total, 1);
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

  /** `count` more points arrived; `bodyBytes` of the body have been read by then. */
  add(count, bodyBytes) {
    this.received += count;
    if (bodyBytes !== undefined) this.bodyBytes = bodyBytes;
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
    // A complete stream of the polygons sent exactly their count: the measure from now on,
    // rather than the dataset's, whether their count comes later or failed.
    if (result.outcome === 'end') this.endTotal = result.received;
    this.measure();
    // A cancel on the page says nothing of the bytes: what the worker last said stays.
    this.format = result.format ?? this.format;
    this.encoding = result.encoding ?? this.encoding;
    this.bodyBytes = result.bodyBytes ?? this.bodyBytes;
    this.wireBytes = result.wireBytes ?? this.wireBytes;
    this.root.dataset.elapsedMs = ms.toFixed(1);
    this.root.dataset.finishedAt = finishedAt.toFixed(1);
    // A refused polygon is still on the plot: say how to get out of the error.
    this.hint.textContent = result.outcome === 'refused' && result.status === 400 ? 'Drag a vertex to fix the polygon, or clear the polygons.' : '';
    if (state === 'done') this.bar.value = this.bar.max ?? 1;
    else if (!this.bar.hasAttribute('value')) this.bar.value = 0;
    this.show({
      message,
      counter: this.counterText(),
      rate: formatRate((result.received * 1000) / ms),
      elapsed: seconds,
      transfer: this.transferText(ms),
    });
  }

  /** The transfer figure over `ms`: by the wire bytes once known, else by the decoded ones. */
  transferText(ms) {
    const decoded = this.wireBytes === null;
    return formatTransfer({ bytes: decoded ? this.bodyBytes : this.wireBytes, points: this.received, ms, decoded });
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
      transfer: this.transferText(ms),
    });
  }

  /** Show the polygons' count: one polygon's, or all of them together and each one, numbered as on the plot. */
  showCounts() {
    const { counts, root } = this;
    const text = (count) => (count === null && counts.message ? `count failed: ${counts.message}` : countText(count));
    root.dataset.countState = counts?.state ?? '';
    root.dataset.counted = Number.isSafeInteger(counts?.total) ? String(counts.total) : '';
    root.dataset.polygonCounts = counts ? JSON.stringify(counts.polygons.map((n) => (Number.isSafeInteger(n) ? n : null))) : '';
    const figure = this.countBox.parentElement;
    figure.hidden = counts === null;
    const key = counts === null ? '' : JSON.stringify([counts.state, counts.total, counts.polygons, counts.message]);
    if (this.countBox.dataset.shown === key) return;
    this.countBox.dataset.shown = key;
    figure.classList.toggle('failed', counts?.state === 'failed');
    if (counts === null) {
      this.countBox.replaceChildren();
      return;
    }
    if (counts.polygons.length <= 1) {
      this.countBox.replaceChildren(text(counts.total));
      return;
    }
    const all = document.createElement('span');
    all.className = 'count-all';
    all.textContent = `in all ${text(counts.total)}`;
    const list = document.createElement('ol');
    list.className = 'polygon-counts';
    list.append(
      ...counts.polygons.map((count) => {
        const item = document.createElement('li');
        item.textContent = text(count);
        return item;
      }),
    );
    this.countBox.replaceChildren(all, list);
  }

  show({ message, counter, rate, elapsed, transfer }) {
    const { root } = this;
    root.dataset.state = this.state;
    root.dataset.received = String(this.received);
    root.dataset.total = this.total === null ? '' : String(this.total);
    this.showCounts();
    root.dataset.format = this.format;
    root.dataset.encoding = this.encoding;
    root.dataset.bodyBytes = String(this.bodyBytes);
    root.dataset.wireBytes = this.wireBytes === null ? '' : String(this.wireBytes);
    const label = transferLabel(this.format, this.encoding);
    if (this.transferDt.textContent !== label) this.transferDt.textContent = label;
    if (transfer !== undefined) this.transfer.textContent = transfer;
    if (message !== undefined) this.message.textContent = message;
    if (counter !== undefined) this.counter.textContent = counter;
    if (rate !== undefined) this.rate.textContent = rate;
    if (elapsed !== undefined) this.elapsed.textContent = elapsed;
    this.onShow();
  }
}
