/** Run point queries in the parsing worker, one at a time: starting a query aborts the one running. */

// The formats the page may ask the server for (`?format=` on a stream's URL): Arrow unless the
// page's own URL says `?format=ndjson`, as Arrow measured fastest (frontend/README.md, "Measured").
// What was asked does not decide how the answer is read: the worker reads a point stream by its
// Content-Type, Arrow's with the Arrow reader and any other as NDJSON (point-worker.js).
export const FORMATS = ['arrow', 'ndjson'];
export const DEFAULT_FORMAT = 'arrow';

/** Return the format the page's URL query asks for (`?format=ndjson` or `?format=arrow`), else the default. */
export function formatFromSearch(search) {
  const asked = new URLSearchParams(search).get('format');
  return FORMATS.includes(asked) ? asked : DEFAULT_FORMAT;
}

/**
 * Owns the worker. `run()` returns nothing; progress comes back through the handlers given to
 * it, and only for the query that is current: messages still in flight from an aborted query
 * are dropped by id, so their points never reach the picture.
 */
export class PointQuery {
  /**
   * `format` is the stream format asked for (arrow | ndjson); `onAbortConfirmed(count)` runs
   * each time the worker reports a fetch it really aborted.
   */
  /**
   * `onClasses({version, classes, spec})` gets the classes the worker sends after `colour()`
   * ({query id: Uint8Array of its points' classes, in arrival order}).
   */
  constructor(workerUrl, { format = DEFAULT_FORMAT, onAbortConfirmed = () => {}, onClasses = () => {} } = {}) {
    this.format = format;
    this.onAbortConfirmed = onAbortConfirmed;
    this.onClasses = onClasses;
    this.picks = new Map(); // request number -> resolve, for pick()
    this.nextPick = 1;
    this.colourVersion = 0;
    this.worker = new Worker(workerUrl, { type: 'module' });
    this.worker.onmessage = ({ data }) => this.receive(data);
    this.worker.onerror = (event) => {
      event.preventDefault();
      this.fail(`the parsing worker failed (${event.message || 'unknown error'})`);
    };
    this.nextId = 1;
    this.current = null; // {id, handlers}
    // Fetches the worker confirmed it aborted; the browser tests read this to see that a
    // superseded request was really stopped, not just ignored.
    this.abortedCount = 0;
  }

  /**
   * Start a query, aborting the running one. `request` is {url, method, body?}; handlers are
   * onStart(total, {format, encoding}), onPoints(xy, count, bodyBytes, {classes, version, spec}) and
   * onFinish({outcome, received, message?, status?, format?, encoding?, bodyBytes?, wireBytes?})
   * (see point-worker.js).
   */
  run(request, handlers) {
    this.abort();
    const id = this.nextId++;
    this.current = { id, handlers };
    this.worker.postMessage({ type: 'query', id, format: this.format, ...request });
    return id;
  }

  /** Abort the running query, if any; its onFinish is not called (the caller knows). */
  abort() {
    if (this.current === null) return false;
    this.worker.postMessage({ type: 'abort', id: this.current.id });
    this.current = null;
    return true;
  }

  /** Tell the worker the page now shows query `id`'s points (it forgets older queries' points; null: none shown). */
  shown(id) {
    this.worker.postMessage({ type: 'shown', id });
  }

  /**
   * Resolve with the nearest of query `query`'s first `count` points to data point (x, y) within
   * `radius` CSS px (a data unit being kx px across, ky down): {index, id, x, y, properties,
   * distance}, or null when none is that close.
   */
  pick({ query, count, x, y, kx, ky, radius }) {
    const request = this.nextPick++;
    return new Promise((resolve) => {
      this.picks.set(request, resolve);
      this.worker.postMessage({ type: 'pick', request, query, count, x, y, kx, ky, radius });
    });
  }

  /**
   * Colour points by `spec` ({property, kind: 'number' | 'category', min?, max?, values?}; null:
   * by density) from now on, and have the classes of the points held sent (onClasses).
   * Return the colouring's version number.
   */
  colour(spec) {
    this.colourVersion += 1;
    this.worker.postMessage({ type: 'colour', version: this.colourVersion, spec });
    return this.colourVersion;
  }

  receive(message) {
    if (message.type === 'picked') {
      this.picks.get(message.request)?.(message.point);
      this.picks.delete(message.request);
      return;
    }
    if (message.type === 'classes') {
      this.onClasses(message);
      return;
    }
    if (message.type === 'finish' && message.outcome === 'aborted') {
      this.abortedCount += 1;
      this.onAbortConfirmed(this.abortedCount);
    }
    if (this.current === null || message.id !== this.current.id) return;
    const { handlers } = this.current;
    if (message.type === 'start') handlers.onStart(message.total, { format: message.format, encoding: message.encoding });
    else if (message.type === 'points') {
      const { classes, version, spec } = message;
      handlers.onPoints(message.xy, message.count, message.bodyBytes, { classes, version, spec });
    }
    else if (message.type === 'finish') {
      this.current = null;
      handlers.onFinish(message);
    }
  }

  fail(message) {
    for (const resolve of this.picks.values()) resolve(null);
    this.picks.clear();
    if (this.current === null) return;
    const { handlers } = this.current;
    this.current = null;
    handlers.onFinish({ outcome: 'invalid', received: 0, message });
  }
}
