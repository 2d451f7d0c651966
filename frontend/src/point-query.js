/** Run point queries in the parsing worker, one at a time: starting a query aborts the one running. */

/**
 * Owns the worker. `run()` returns nothing; progress comes back through the handlers given to
 * it, and only for the query that is current: messages still in flight from an aborted query
 * are dropped by id, so their points never reach the picture.
 */
export class PointQuery {
  /** `onAbortConfirmed(count)` runs each time the worker reports a fetch it really aborted. */
  constructor(workerUrl, { onAbortConfirmed = () => {} } = {}) {
    this.onAbortConfirmed = onAbortConfirmed;
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
   * onStart(total), onPoints(xy, count), onFinish({outcome, received, message?, status?}).
   */
  run(request, handlers) {
    this.abort();
    const id = this.nextId++;
    this.current = { id, handlers };
    this.worker.postMessage({ type: 'query', id, ...request });
    return id;
  }

  /** Abort the running query, if any; its onFinish is not called (the caller knows). */
  abort() {
    if (this.current === null) return false;
    this.worker.postMessage({ type: 'abort', id: this.current.id });
    this.current = null;
    return true;
  }

  receive(message) {
    if (message.type === 'finish' && message.outcome === 'aborted') {
      this.abortedCount += 1;
      this.onAbortConfirmed(this.abortedCount);
    }
    if (this.current === null || message.id !== this.current.id) return;
    const { handlers } = this.current;
    if (message.type === 'start') handlers.onStart(message.total);
    else if (message.type === 'points') handlers.onPoints(message.xy, message.count);
    else if (message.type === 'finish') {
      this.current = null;
      handlers.onFinish(message);
    }
  }

  fail(message) {
    if (this.current === null) return;
    const { handlers } = this.current;
    this.current = null;
    handlers.onFinish({ outcome: 'invalid', received: 0, message });
  }
}
