/** Count the points of the drawn polygons before they stream: each polygon's, and all of them together. */

import { pointsPath } from './query-export.js';
import { queryGeometry } from './query-geometry.js';

const integer = new Intl.NumberFormat('en-US');

// Count requests in flight at once: the browser opens six connections to a host, and the point
// stream (from the worker) must not wait behind a queue of counts.
const PARALLEL = 3;

/** Return the URL of a dataset's points/count query. */
export function countUrl(dataset) {
  return pointsPath(dataset, 'count');
}

/**
 * Return the bodies to count for `rings`, all of them first (the figure progress is measured
 * against), as {key: 'all' | polygon index, body}. One polygon is its own "in all": one request.
 */
export function countBodies(rings) {
  if (rings.length === 0) return [];
  const all = { key: 'all', body: JSON.stringify(queryGeometry(rings)) };
  if (rings.length === 1) return [all];
  return [all, ...rings.map((ring, index) => ({ key: index, body: JSON.stringify(queryGeometry([ring])) }))];
}

/** Return a count in words: "1 point", "12,345 points"; pending (undefined) and failed (null) say so. */
export function countText(count) {
  if (count === undefined) return 'counting…';
  if (count === null) return 'count failed';
  return `${integer.format(count)} point${count === 1 ? '' : 's'}`;
}

/**
 * Return what a count answer says: the count, or an Error in words. `status` is the HTTP status,
 * `text` the body (`{"count": N}`, or `{"error": "..."}` from the API).
 */
export function readCount(status, text) {
  let parsed = null;
  try {
    parsed = JSON.parse(text);
  } catch {
    // Not JSON (a proxy's error page): said below by its status.
  }
  if (status >= 200 && status < 300 && Number.isSafeInteger(parsed?.count) && parsed.count >= 0) return parsed.count;
  if (typeof parsed?.error === 'string' && parsed.error) return new Error(parsed.error);
  return new Error(status >= 200 && status < 300 ? 'the answer holds no count' : `HTTP ${status}`);
}

/**
 * Counts the selection, one selection at a time: `run()` aborts the requests of the one before
 * (their answers are never reported). Answers are kept per dataset version and body, so adding
 * a polygon counts only the new one and the union again.
 */
export class SelectionCount {
  /**
   * `onChange(counts)` gets, after each answer, {state, total, polygons, message}: state is
   * counting | counted | failed; total (the union's) and each of polygons are a count,
   * undefined while asked, or null when the count failed; message says why one failed.
   */
  constructor({ onChange = () => {} } = {}) {
    this.onChange = onChange;
    this.controller = null;
    this.cache = new Map(); // `${version}\n${url}\n${body}` → count
    this.aborted = 0; // requests of superseded selections really aborted (a test hook reads it)
    this.requests = 0; // count requests sent (not answered from the cache)
    this.counts = null; // the last counts reported, for the current selection
  }

  /**
   * Count the polygons `rings` of dataset `name`, whose points are `version` (its `updated`: a
   * new import is counted afresh). With no rings nothing is counted and counts is null.
   */
  run(name, version, rings) {
    this.abort();
    const bodies = countBodies(rings);
    if (bodies.length === 0) return;
    const controller = new AbortController();
    this.controller = controller;
    const url = countUrl(name);
    const keyOf = ({ body }) => `${version}\n${url}\n${body}`;
    const found = new Map(bodies.map((item) => [item.key, this.cache.get(keyOf(item))]));
    const messages = [];
    const report = () => {
      if (this.controller !== controller) return; // superseded: never shown
      const total = found.get('all');
      const polygons = rings.map((_, index) => (rings.length === 1 ? total : found.get(index)));
      const values = [total, ...polygons];
      const state = values.includes(undefined) ? 'counting' : values.includes(null) ? 'failed' : 'counted';
      this.counts = { state, total, polygons, message: messages[0] ?? '' };
      if (state !== 'counting') this.controller = null;
      this.onChange(this.counts);
    };
    const queue = bodies.filter((item) => found.get(item.key) === undefined);
    const next = async () => {
      for (let item = queue.shift(); item; item = queue.shift()) {
        const answer = await this.ask(url, item.body, controller.signal);
        if (controller.signal.aborted) return;
        if (answer instanceof Error) {
          found.set(item.key, null);
          messages.push(answer.message);
        } else {
          found.set(item.key, answer);
          this.cache.set(keyOf(item), answer);
        }
        report();
      }
    };
    report();
    for (let i = 0; i < Math.min(PARALLEL, queue.length); i += 1) next();
  }

  /** Return the count of `body`, or an Error saying why there is none (an abort returns one too). */
  async ask(url, body, signal) {
    this.requests += 1;
    let response;
    try {
      response = await fetch(url, { method: 'POST', body, headers: { 'Content-Type': 'application/json' }, signal });
      return readCount(response.status, await response.text());
    } catch (err) {
      if (signal.aborted) {
        this.aborted += 1;
        return err;
      }
      return new Error(`the server could not be reached (${err.message})`);
    }
  }

  /** Stop counting the current selection: nothing more about it is reported. */
  abort() {
    this.counts = null;
    if (this.controller === null) return;
    this.controller.abort();
    this.controller = null;
  }
}

/** Return the label of each polygon on the plot: its count, numbered (as in the status box) when there are several. */
export function polygonLabels(counts) {
  if (counts === null) return [];
  const { polygons } = counts;
  return polygons.map((count, i) => (polygons.length === 1 ? countText(count) : `${i + 1} · ${countText(count)}`));
}
