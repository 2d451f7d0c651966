// Tests of the Arrow stream reader (frontend/src/arrow-stream.js): run with `node --test frontend/test/`.
//
// The streams are written here with apache-arrow itself (its node build, which writes a record
// batch's custom metadata as the server's pyarrow does) and read with the bundle the browser
// gets, frontend/build/arrow.mjs (made by `make node`).

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { Bool, Field, Float64, Int64, makeData, RecordBatch, RecordBatchStreamWriter, Schema, Struct, Utf8, vectorFromArray } from 'apache-arrow';

import { RecordBatchReader } from '../build/arrow.mjs';
import { readArrowPointStream } from '../src/arrow-stream.js';
import { PointBatches } from '../src/point-batches.js';
import { random, splitRandomly, streamOf } from '../test-helpers/byte-chunks.mjs';

/** Return a schema as the server sends it: id, x, y, then the given property fields. */
function pointSchema(properties = [], { stringIds = false } = {}) {
  const fields = [
    new Field('id', stringIds ? new Utf8() : new Int64(), false),
    new Field('x', new Float64(), false),
    new Field('y', new Float64(), false),
    ...properties,
  ];
  return new Schema(fields, new Map([['dataset', 'test'], ['geometry', 'planar']]));
}

/** Return a record batch of `rows` (objects keyed by field name) with the given custom metadata. */
function batchOf(schema, rows, metadata = new Map()) {
  const children = schema.fields.map((field) => vectorFromArray(rows.map((row) => row[field.name]), field.type).data[0]);
  const data = makeData({ type: new Struct(schema.fields), length: rows.length, nullCount: 0, children });
  return new RecordBatch(schema, data, metadata);
}

const endBatch = (schema, count) => batchOf(schema, [], new Map([['end', 'true'], ['count', String(count)]]));
const errorBatch = (schema, message, count) => batchOf(schema, [], new Map([['error', message], ['count', String(count)]]));

/** Return the point [x, y] numbered i (fractions, negatives: not just small integers). */
const pointAt = (i) => [i * 0.5 - 3, -i / 3];

/** Return the rows numbered from..to-1, with an id and any properties `extra(i)` gives. */
function rowsOf(from, to, extra = () => ({})) {
  return Array.from({ length: to - from }, (_, k) => {
    const i = from + k;
    const [x, y] = pointAt(i);
    return { id: BigInt(i), x, y, ...extra(i) };
  });
}

/** Return the bytes of a stream: the schema, batches of `per` points out of `n`, then `last` (the end batch by default). */
function pointStream(n, { per = 4, schema = pointSchema(), extra, last } = {}) {
  const batches = [];
  for (let from = 0; from < n; from += per) batches.push(batchOf(schema, rowsOf(from, Math.min(n, from + per), extra)));
  if (last !== null) batches.push(last ?? endBatch(schema, n));
  return RecordBatchStreamWriter.writeAll(batches).toUint8Array(true);
}

const END_OF_STREAM = 8; // the IPC end-of-stream marker: 0xFFFFFFFF then a zero length

/** Read byte chunks (or one Uint8Array) and return {result, points, bytes} with points as [x, y] pairs. */
async function read(input, { body, ...options } = {}) {
  const chunks = input instanceof Uint8Array ? [input] : input;
  const points = [];
  let bytes = 0;
  // A small batch size so that batches fill and flush many times over.
  const batches = new PointBatches(7, (xy, count) => {
    for (let i = 0; i < count; i += 1) points.push([xy[2 * i], xy[2 * i + 1]]);
  });
  const result = await readArrowPointStream(body ?? streamOf(chunks), {
    ...options,
    batches,
    RecordBatchReader,
    onBytes: (n) => {
      bytes += n;
    },
  });
  if (result.outcome !== 'aborted') batches.flush();
  return { result, points, bytes };
}

const expectedPoints = (n) => Array.from({ length: n }, (_, i) => pointAt(i));

describe('readArrowPointStream', () => {
  test('a whole stream ends with its end batch and every point', async () => {
    const bytes = pointStream(10);
    const { result, points, bytes: counted } = await read(bytes);
    assert.deepEqual(result, { outcome: 'end', received: 10 });
    assert.deepEqual(points, expectedPoints(10));
    assert.equal(counted, bytes.length, 'onBytes heard of every byte');
  });

  test('large batches, as the server sends them, in chunks the size of network reads', async () => {
    const n = 50_000;
    const bytes = pointStream(n, { per: 16_384 });
    const rand = random(5);
    const { result, points } = await read(splitRandomly(bytes, rand, 70_000));
    assert.deepEqual(result, { outcome: 'end', received: n });
    assert.deepEqual(points[0], pointAt(0));
    assert.deepEqual(points[n - 1], pointAt(n - 1));
    assert.deepEqual(points[16_384], pointAt(16_384));
  });

  test('an empty result is a schema and the end batch', async () => {
    const { result, points } = await read(pointStream(0));
    assert.deepEqual(result, { outcome: 'end', received: 0 });
    assert.equal(points.length, 0);
  });

  test("the server's error batch ends the stream with its message", async () => {
    const schema = pointSchema();
    const { result, points } = await read(pointStream(6, { schema, last: errorBatch(schema, 'the store went away', 6) }));
    assert.deepEqual(result, { outcome: 'error', received: 6, message: 'the store went away' });
    assert.deepEqual(points, expectedPoints(6));
  });

  test('an end batch that miscounts is reported', async () => {
    const schema = pointSchema();
    const { result } = await read(pointStream(5, { schema, last: endBatch(schema, 6) }));
    assert.equal(result.outcome, 'invalid');
    assert.match(result.message, /says 6 points but 5 arrived/);
  });

  test('a stream without its end batch was cut, even when it stops between messages', async () => {
    const { result, points } = await read(pointStream(9, { last: null }));
    assert.equal(result.outcome, 'cut');
    assert.equal(result.received, 9);
    assert.match(result.message, /cut after 9 points \(no end batch\)/);
    assert.equal(points.length, 9);
  });

  test('a stream cut at any byte before the end batch is over was cut, never ended', async () => {
    const bytes = pointStream(10, { per: 3 });
    const all = expectedPoints(10);
    for (let cut = 0; cut < bytes.length - END_OF_STREAM; cut += 1) {
      const { result, points } = await read([bytes.slice(0, cut)]);
      assert.equal(result.outcome, 'cut', `cut at byte ${cut} of ${bytes.length}`);
      assert.equal(result.received, points.length);
      assert.deepEqual(points, all.slice(0, points.length), `cut at byte ${cut}: the points before the cut`);
    }
  });

  test('a larger stream cut at random bytes, in random chunks, was cut', async () => {
    const bytes = pointStream(3000, { per: 512, schema: pointSchema([new Field('name', new Utf8(), true)]), extra: (i) => ({ name: `n${i}` }) });
    const rand = random(11);
    for (let k = 0; k < 150; k += 1) {
      const cut = Math.floor(rand() * (bytes.length - END_OF_STREAM));
      const { result } = await read(splitRandomly(bytes.slice(0, cut), rand, 4096));
      assert.equal(result.outcome, 'cut', `cut at byte ${cut}`);
      assert.ok(result.received < 3000);
    }
  });

  test('a stream cut inside its end-of-stream marker still ended: the end batch came', async () => {
    const bytes = pointStream(4);
    for (let cut = bytes.length - END_OF_STREAM; cut < bytes.length; cut += 1) {
      assert.deepEqual((await read([bytes.slice(0, cut)])).result, { outcome: 'end', received: 4 }, `cut at byte ${cut}`);
    }
  });

  test('an empty answer was cut', async () => {
    const { result } = await read([]);
    assert.equal(result.outcome, 'cut');
    assert.equal(result.received, 0);
  });

  test('bytes that are not Arrow (an NDJSON answer) are a cut stream, not points', async () => {
    const ndjson = new TextEncoder().encode('{"id":0,"pt":[1,2]}\n{"end":true,"count":1}\n');
    const { result, points } = await read([ndjson]);
    assert.equal(result.outcome, 'cut');
    assert.equal(points.length, 0);
  });

  test('every single split position, and one byte per chunk, give the same points', async () => {
    const schema = pointSchema([new Field('name', new Utf8(), true), new Field('n', new Int64(), true)]);
    const bytes = pointStream(7, { per: 3, schema, extra: (i) => ({ name: `Zürich ${i}`, n: BigInt(i * 10) }) });
    const expected = expectedPoints(7);
    for (let cut = 1; cut < bytes.length; cut += 1) {
      const { result, points } = await read([bytes.slice(0, cut), bytes.slice(cut)]);
      assert.deepEqual(result, { outcome: 'end', received: 7 }, `split at byte ${cut}`);
      assert.deepEqual(points, expected, `split at byte ${cut}`);
    }
    const { result, points } = await read(Array.from(bytes, (b) => Uint8Array.of(b)));
    assert.deepEqual(result, { outcome: 'end', received: 7 });
    assert.deepEqual(points, expected);
  });

  test('chunks that are views at odd offsets into larger buffers read the same', async () => {
    const bytes = pointStream(40, { per: 9 });
    const rand = random(3);
    const chunks = splitRandomly(bytes, rand, 300).map((chunk) => {
      const pad = 1 + Math.floor(rand() * 7);
      const holder = new Uint8Array(chunk.length + pad + 5);
      holder.set(chunk, pad);
      return holder.subarray(pad, pad + chunk.length);
    });
    const { result, points } = await read(chunks);
    assert.deepEqual(result, { outcome: 'end', received: 40 });
    assert.deepEqual(points, expectedPoints(40));
  });

  test('string ids and property columns of every kind are passed over, not breaking the read', async () => {
    const json = new Field('tags', new Utf8(), true, new Map([['pointsite:json', 'true']]));
    const schema = pointSchema(
      [new Field('count', new Int64(), true), new Field('score', new Float64(), true), new Field('open', new Bool(), true), new Field('name', new Utf8(), true), json],
      { stringIds: true },
    );
    const extra = (i) => ({
      id: `p-${i}`,
      count: i % 3 ? BigInt(i) : null,
      score: i % 4 ? i / 7 : null,
      open: i % 2 === 0,
      name: i % 5 ? `東京 ${i}` : null,
      tags: JSON.stringify(i % 2 ? [i, 'a'] : { k: i }),
    });
    const { result, points } = await read(pointStream(23, { per: 5, schema, extra }));
    assert.deepEqual(result, { outcome: 'end', received: 23 });
    assert.deepEqual(points, expectedPoints(23));
  });

  test('a stream without float64 x and y is not ours', async () => {
    const schema = new Schema([new Field('id', new Int64()), new Field('x', new Float64()), new Field('lat', new Float64())]);
    const batch = batchOf(schema, [{ id: 1n, x: 1, lat: 2 }]);
    const bytes = RecordBatchStreamWriter.writeAll([batch, endBatch(schema, 1)]).toUint8Array(true);
    const { result, points } = await read(bytes);
    assert.equal(result.outcome, 'invalid');
    assert.match(result.message, /no float64 x and y/);
    assert.equal(points.length, 0);
  });

  test('points after the end batch are refused', async () => {
    const schema = pointSchema();
    const batches = [batchOf(schema, rowsOf(0, 2)), endBatch(schema, 2), batchOf(schema, rowsOf(2, 3))];
    const { result } = await read(RecordBatchStreamWriter.writeAll(batches).toUint8Array(true));
    assert.equal(result.outcome, 'invalid');
    assert.match(result.message, /after the end batch/);
  });

  test('a connection that fails mid-stream is reported as cut', async () => {
    const bytes = pointStream(12);
    let sent = false;
    const body = new ReadableStream({
      pull(controller) {
        if (!sent) {
          sent = true;
          controller.enqueue(bytes.slice(0, Math.floor(bytes.length / 2)));
        } else controller.error(new TypeError('network error'));
      },
    });
    const { result } = await read(null, { body });
    assert.equal(result.outcome, 'cut');
    assert.ok(result.received < 12);
    assert.match(result.message, /connection failed after \d+ points \(network error\)/);
  });

  test('points are handed over as their batch arrives, before the stream is over', async () => {
    const bytes = pointStream(8, { per: 4 });
    const half = pointStream(4, { per: 4, last: null }).length; // the schema and the first batch
    let release;
    const held = new Promise((resolve) => {
      release = resolve;
    });
    let pulls = 0;
    const body = new ReadableStream({
      async pull(controller) {
        pulls += 1;
        if (pulls === 1) controller.enqueue(bytes.slice(0, half));
        else if (pulls === 2) {
          await held; // the rest comes only once the first points were seen
          controller.enqueue(bytes.slice(half));
        } else controller.close();
      },
    });
    const seen = [];
    const batches = new PointBatches(4, (xy, count) => {
      seen.push(count);
      release();
    });
    const result = await readArrowPointStream(body, { batches, RecordBatchReader });
    batches.flush();
    assert.deepEqual(result, { outcome: 'end', received: 8 });
    assert.deepEqual(seen, [4, 4]);
  });

  test('an abort stops the read at once and cancels the body', async () => {
    const bytes = pointStream(8, { per: 4 });
    const half = pointStream(4, { per: 4, last: null }).length;
    const controller = new AbortController();
    let cancelled = false;
    let pulls = 0;
    const body = new ReadableStream({
      pull(stream) {
        pulls += 1;
        if (pulls === 1) stream.enqueue(bytes.slice(0, half));
        // Later pulls never answer: the server is slow, only the abort can end this read.
        return new Promise(() => {});
      },
      cancel() {
        cancelled = true;
      },
    });
    const seen = [];
    const batches = new PointBatches(4, (xy, count) => {
      seen.push(count);
      controller.abort();
    });
    const result = await readArrowPointStream(body, { batches, signal: controller.signal, RecordBatchReader });
    assert.deepEqual(result, { outcome: 'aborted', received: 4 });
    assert.deepEqual(seen, [4]);
    assert.ok(cancelled, 'the body was cancelled');
  });

  test('a signal aborted before the read starts reads nothing', async () => {
    const controller = new AbortController();
    controller.abort();
    const { result, points } = await read(pointStream(3), { signal: controller.signal });
    assert.deepEqual(result, { outcome: 'aborted', received: 0 });
    assert.equal(points.length, 0);
  });
});

describe('PointBatches.pushColumns', () => {
  test('fills batches across their boundaries like push does, point by point', () => {
    const xs = Float64Array.from({ length: 23 }, (_, i) => i);
    const ys = Float64Array.from({ length: 23 }, (_, i) => -i);
    const byColumns = [];
    const byPoints = [];
    const columns = new PointBatches(5, (xy, count) => byColumns.push(Array.from(xy.subarray(0, 2 * count))));
    const points = new PointBatches(5, (xy, count) => byPoints.push(Array.from(xy.subarray(0, 2 * count))));
    columns.push(100, -100); // a batch already part full
    points.push(100, -100);
    columns.pushColumns(xs, ys, 0, 9);
    columns.pushColumns(xs, ys, 9, 23);
    for (let i = 0; i < 23; i += 1) points.push(xs[i], ys[i]);
    columns.flush();
    points.flush();
    assert.deepEqual(byColumns, byPoints);
    assert.equal(columns.total, 24);
  });
});
