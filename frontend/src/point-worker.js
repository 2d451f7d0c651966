/** Web Worker: fetch a point stream, parse it off the main thread, and post the points as typed arrays. */

import { readArrowPointStream } from './arrow-stream.js';
import { readPointStream } from './ndjson-stream.js';
import { PointBatches } from './point-batches.js';

// Messages in:  {type: 'query', id, url, method, body, format}   format: 'arrow' | 'ndjson'
//               {type: 'abort', id}
// Messages out: {type: 'start', id, total, format, encoding}     total = X-Dataset-Count, or null
//               {type: 'points', id, xy, count, bodyBytes}       xy: Float64Array [x0, y0, x1, y1, ...]
//               {type: 'finish', id, outcome, received, message?, status?, format?, encoding?, bodyBytes?, wireBytes?}
// outcome is end | error | invalid | cut | aborted | refused (an HTTP error before the stream).
// format is what the server sent (by Content-Type), encoding its Content-Encoding ('identity'
// without one); bodyBytes are the decoded bytes read so far, wireBytes the bytes on the wire
// (resource timing's encodedBodySize), null when the browser does not say.

// Points per message: big enough that a 5M stream is a few hundred messages, small enough
// that the first points show up at once and each drawing step stays short.
const BATCH_POINTS = 16384;
// A partly filled batch is still sent after this long, so slow streams fill in steadily.
const BATCH_MAX_AGE_MS = 50;
const ARROW_TYPE = 'application/vnd.apache.arrow.stream';
// The resource timing buffer holds 250 entries by default, then drops new ones: clear it
// long before, or a long session would stop seeing its wire sizes.
const MAX_TIMINGS = 100;

// apache-arrow, bundled by esbuild into frontend/build/ (served at /static/vendor/arrow/).
// Loaded at once, but waited for only by an Arrow answer: without the bundle NDJSON still works.
const arrow = import('../vendor/arrow/arrow.mjs').then(
  (module) => ({ RecordBatchReader: module.RecordBatchReader }),
  (err) => ({ error: err }),
);

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

/** Return the request URL for `format`: Arrow is asked for by ?format=arrow, NDJSON is the default. */
function requestUrl(url, format) {
  const absolute = new URL(url, self.location.href);
  if (format === 'arrow') absolute.searchParams.set('format', 'arrow');
  return absolute.href;
}

/** Return the body's size on the wire from resource timing (the last fetch of `url` since `since`), or null. */
async function wireBytes(url, since) {
  const find = () => {
    const entries = performance.getEntriesByName(url, 'resource').filter((entry) => entry.startTime >= since);
    const entry = entries[entries.length - 1];
    return entry ? entry.encodedBodySize || entry.transferSize || null : null;
  };
  let bytes = find();
  // The entry is there when the body is over in Chromium; give it one task if not.
  if (bytes === null) bytes = await new Promise((resolve) => setTimeout(() => resolve(find()), 0));
  if (performance.getEntriesByType('resource').length > MAX_TIMINGS) performance.clearResourceTimings();
  return bytes;
}

/** Read the body with the reader its Content-Type calls for; resolve with its result. */
async function readBody(response, format, options) {
  if (format !== 'arrow') return readPointStream(response.body, options);
  const { RecordBatchReader, error } = await arrow;
  if (error) {
    await response.body.cancel().catch(() => {});
    return { outcome: 'invalid', received: 0, message: `the Arrow reader could not be loaded (${error.message}); run \`make node\`` };
  }
  return readArrowPointStream(response.body, { ...options, RecordBatchReader });
}

async function run({ id, url, method, body, format: asked = 'ndjson' }) {
  const controller = new AbortController();
  running.set(id, controller);
  const finish = (result) => self.postMessage({ type: 'finish', id, ...result });
  try {
    const target = requestUrl(url, asked);
    const since = performance.now();
    let response;
    try {
      response = await fetch(target, {
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
    // Whatever was asked, the answer's Content-Type says how to read it.
    const type = (response.headers.get('Content-Type') ?? '').split(';')[0].trim().toLowerCase();
    const format = type === ARROW_TYPE ? 'arrow' : 'ndjson';
    const encoding = response.headers.get('Content-Encoding') || 'identity';
    const header = response.headers.get('X-Dataset-Count');
    self.postMessage({ type: 'start', id, total: header === null ? null : Number(header), format, encoding });
    let bodyBytes = 0;
    // Transfer, not copy: each full buffer moves to the main thread and a new one is started.
    const batches = new PointBatches(
      BATCH_POINTS,
      (xy, count) => self.postMessage({ type: 'points', id, xy, count, bodyBytes }, [xy.buffer]),
      { maxAgeMs: BATCH_MAX_AGE_MS },
    );
    const onBytes = (n) => {
      bodyBytes += n;
    };
    const result = await readBody(response, format, { batches, signal: controller.signal, onBytes });
    // Points parsed before an abort are dropped: nobody wants them any more.
    if (result.outcome !== 'aborted') batches.flush();
    const wire = result.outcome === 'aborted' ? null : await wireBytes(target, since);
    finish({ ...result, format, encoding, bodyBytes, wireBytes: wire });
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
