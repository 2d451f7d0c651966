/** Web Worker: fetch a point stream, parse it off the main thread, and post the points as typed arrays. */

import { readArrowPointStream } from './arrow-stream.js';
import { readPointStream } from './ndjson-stream.js';
import { PointBatches } from './point-batches.js';
import { ArrowColumns, NdjsonColumns } from './point-columns.js';
import { GridIndex, nearestScanned } from './point-index.js';

// Messages in:  {type: 'query', id, url, method, body, format}   format: 'arrow' | 'ndjson'
//               {type: 'abort', id}
//               {type: 'shown', id}      the page now shows query `id`'s points: older ones are forgotten
//               {type: 'pick', request, query, count, x, y, kx, ky, radius}
//                                        the nearest of query's first `count` points to data (x, y), within
//                                        `radius` CSS px where a data unit is kx px across and ky down
//               {type: 'colour', version, spec}   colour by spec {property, kind: number | category,
//                                        min?, max?, values?} (null: by density) from now on
// Messages out: {type: 'start', id, total, format, encoding}     total = X-Dataset-Count, or null
//               {type: 'points', id, xy, count, bodyBytes, classes, version, spec?}
//                                        xy: Float64Array [x0, y0, x1, y1, ...]; classes: Uint8Array of each
//                                        point's colour class (point-columns.js), or null by density;
//                                        spec: the colouring's, once its missing min/max or values are learnt
//               {type: 'picked', request, point}   point: {index, id, x, y, properties, distance} or null
//               {type: 'classes', version, classes, spec}   every held point's class under the new
//                                        colouring, by query id ({} by density, or no points held)
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
// A click indexes the points again once they are this many times those indexed (see pick).
const REINDEX_GROWTH = 1.25;
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
// Query id -> {columns, posted, index, spec}: the points of the query shown (`shownId`) and of
// the one running, kept as columns for point details and colouring. `posted` counts the points
// handed to the page; `index` is the grid index over the first `index.count` of them.
const held = new Map();
let shownId = 0;
// The colouring asked for (null: by density), numbered so the page knows which one classes follow.
let colour = { version: 0, spec: null };

/**
 * Return the query's colouring with what the page did not know (a number's min and max, a
 * category's most common values) learnt from the points held, or null by density.
 */
function specOf(store, learnFrom) {
  if (colour.spec === null) return null;
  if (store.spec !== null && store.spec.version === colour.version) return store.spec;
  const asked = colour.spec;
  let spec = { ...asked, version: colour.version, learnt: false };
  const count = learnFrom ?? store.posted;
  if (asked.kind === 'number' && !(Number.isFinite(asked.min) && Number.isFinite(asked.max))) {
    spec = { ...spec, ...store.columns.stats(asked.property, 'number', count), learnt: true };
  } else if (asked.kind === 'category' && !Array.isArray(asked.values)) {
    const { top } = store.columns.stats(asked.property, 'category', count);
    spec = { ...spec, values: top.slice(0, 10).map((entry) => entry.value), top, learnt: true };
  }
  store.spec = spec;
  return spec;
}

/** Return the classes of the store's points start … start + count - 1 under `spec`. */
function classesOf(store, spec, start, count) {
  const out = new Uint8Array(count);
  store.columns.classify(spec, start, out);
  return out;
}

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
  // Only the shown query's points and this one's are kept.
  for (const key of held.keys()) if (key !== shownId) held.delete(key);
  const store = { columns: null, posted: 0, index: null, spec: null };
  held.set(id, store);
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
    store.columns = format === 'arrow' ? new ArrowColumns() : new NdjsonColumns();
    // Transfer, not copy: each full buffer moves to the main thread and a new one is started.
    // Its points' columns are kept already (the readers keep them before the push), so they
    // can be coloured here; by density nothing more is done.
    const batches = new PointBatches(
      BATCH_POINTS,
      (xy, count) => {
        const start = store.posted;
        let classes = null;
        let spec;
        if (colour.spec !== null) {
          const known = store.spec?.version === colour.version;
          spec = specOf(store, start + count);
          classes = classesOf(store, spec, start, count);
          if (known || !spec.learnt) spec = undefined; // said once, with the first batch that learnt it
        }
        store.posted += count;
        const message = { type: 'points', id, xy, count, bodyBytes, classes, version: colour.version, spec };
        self.postMessage(message, classes ? [xy.buffer, classes.buffer] : [xy.buffer]);
      },
      { maxAgeMs: BATCH_MAX_AGE_MS },
    );
    const onBytes = (n) => {
      bodyBytes += n;
    };
    const result = await readBody(response, format, { batches, signal: controller.signal, onBytes, columns: store.columns });
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

/** Answer a click: the nearest of the query's first `count` points, indexed first if points came since. */
function pick({ request, query, count, x, y, kx, ky, radius }) {
  const store = held.get(query);
  if (!store || store.columns === null) {
    self.postMessage({ type: 'picked', request, point: null });
    return;
  }
  const n = Math.min(count, store.posted);
  const chunks = store.columns.coordinates();
  // Built again only once the points grew by a quarter: a click while a stream runs scans the
  // points since (a 5M build takes ~0.2 s of the worker, bench/point_index.mjs).
  if (store.index === null || n > store.index.count * REINDEX_GROWTH || n < store.index.count) {
    store.index = new GridIndex(chunks, n);
  }
  const indexed = store.index.nearest(x, y, kx, ky, radius);
  const scanned = n > store.index.count ? nearestScanned(chunks, store.index.count, n, x, y, kx, ky, radius) : null;
  // Of equals the later point wins, and the scanned ones came later.
  const found = scanned !== null && (indexed === null || scanned.distance <= indexed.distance) ? scanned : indexed;
  const point = found === null ? null : { ...store.columns.point(found.index), distance: found.distance };
  self.postMessage({ type: 'picked', request, point });
}

/**
 * Colour by `spec` from now on, and send the classes of each held query's points under it (at
 * most two: the shown one and the running one). The page takes those of the query it shows when
 * they arrive: by then it has every batch posted before them, or dropped a superseded query's.
 */
function recolour({ version, spec }) {
  colour = { version, spec };
  const classes = {}; // query id -> Uint8Array
  const transfer = [];
  let resolved = spec && { ...spec, version };
  for (const [query, store] of held) {
    store.spec = null;
    if (spec === null || store.columns === null || store.posted === 0) continue;
    resolved = specOf(store);
    classes[query] = classesOf(store, resolved, 0, store.posted);
    transfer.push(classes[query].buffer);
  }
  self.postMessage({ type: 'classes', version, classes, spec: resolved }, transfer);
}

self.onmessage = ({ data }) => {
  if (data.type === 'query') run(data);
  else if (data.type === 'abort') running.get(data.id)?.abort();
  else if (data.type === 'shown') {
    // null: the page shows no points any more; only a running query's are kept.
    shownId = data.id;
    for (const key of held.keys()) if (shownId === null ? !running.has(key) : key < shownId) held.delete(key);
  } else if (data.type === 'pick') pick(data);
  else if (data.type === 'colour') recolour(data);
};
