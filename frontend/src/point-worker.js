/** Web Worker: fetch a point stream, parse it off the main thread, and post the points as typed arrays. */

import { PointBatches, readPointStream } from './ndjson-stream.js';

// Messages in:  {type: 'query', id, url, method, body}   {type: 'abort', id}
// Messages out: {type: 'start', id, total}                total = X-Dataset-Count, or null
//               {type: 'points', id, xy, count}           xy: Float64Array [x0, y0, x1, y1, ...]
//               {type: 'finish', id, outcome, received, message?, status?}
// outcome is end | error | invalid | cut | aborted | refused (an HTTP error before the stream).

// Points per message: big enough that a 5M stream is a few hundred messages, small enough
// that the first points show up at once and each drawing step stays short.
const BATCH_POINTS = 16384;
// A partly filled batch is still sent after this long, so slow streams fill in steadily.
const BATCH_MAX_AGE_MS = 50;

const running = new Map(); // query id -> AbortController

/** Return the words of an error response: the API's {"error": "..."} or the HTTP status. */
async function refusal(response) {
  const fallback = `the server answered ${response.status} ${response.statusText}`.trim();
  try {
    const body = await response.json();
    return typeof body?.error === 'string' ? body.error : fallback;
  } catch {
    return fallback;
  }
}

async function run({ id, url, method, body }) {
  const controller = new AbortController();
  running.set(id, controller);
  const finish = (result) => self.postMessage({ type: 'finish', id, ...result });
  try {
    let response;
    try {
      response = await fetch(url, {
        method,
        body,
        headers: body === undefined ? {} : { 'Content-Type': 'application/json' },
        signal: controller.signal,
        cache: 'no-store',
      });
    } catch (err) {
      if (controller.signal.aborted) return finish({ outcome: 'aborted', received: 0 });
      return finish({ outcome: 'refused', received: 0, message: `the server could not be reached (${err.message})` });
    }
    if (!response.ok) {
      return finish({ outcome: 'refused', received: 0, status: response.status, message: await refusal(response) });
    }
    const header = response.headers.get('X-Dataset-Count');
    self.postMessage({ type: 'start', id, total: header === null ? null : Number(header) });
    // Transfer, not copy: each full buffer moves to the main thread and a new one is started.
    const batches = new PointBatches(
      BATCH_POINTS,
      (xy, count) => self.postMessage({ type: 'points', id, xy, count }, [xy.buffer]),
      { maxAgeMs: BATCH_MAX_AGE_MS },
    );
    const result = await readPointStream(response.body, { batches, signal: controller.signal });
    // Points parsed before an abort are dropped: nobody wants them any more.
    if (result.outcome !== 'aborted') batches.flush();
    finish(result);
  } catch (err) {
    // A bug here must still end the query on the page, not leave it "loading" for ever.
    finish({ outcome: 'invalid', received: 0, message: `the parsing worker failed (${err.message})` });
  } finally {
    running.delete(id);
  }
}

self.onmessage = ({ data }) => {
  if (data.type === 'query') run(data);
  else if (data.type === 'abort') running.get(data.id)?.abort();
};
