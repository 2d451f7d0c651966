// Time the two stream readers in node on 1M points: `node frontend/bench/readers.mjs [points]`.
//
// The bodies are made here as the server writes them: NDJSON lines {"id":7,"pt":[x,y]} with
// random doubles (17 digits, the worst case for the byte-level number reader) or with two
// properties; Arrow batches of 16,384 rows with and without the same two properties. Each is
// read from 64 KiB chunks (about what a fetch body yields) into 16,384-point batches, as the
// worker does; the median of 7 reads is printed, after 2 to warm up.

import { Field, Float64, Int64, makeData, RecordBatch, RecordBatchStreamWriter, Schema, Struct, Utf8, vectorFromArray } from 'apache-arrow';

import { RecordBatchReader } from '../build/arrow.mjs';
import { readArrowPointStream } from '../src/arrow-stream.js';
import { readPointStream } from '../src/ndjson-stream.js';
import { PointBatches } from '../src/point-batches.js';
import { streamOf } from '../test-helpers/byte-chunks.mjs';

const N = Number(process.argv[2] ?? 1_000_000);
const PER = 16_384;
const CHUNK = 65_536;

function randomPoints(n) {
  let seed = 7;
  const rand = () => {
    seed = (seed * 16807) % 2147483647;
    return seed / 2147483647;
  };
  return Array.from({ length: n }, () => [rand() * 1000, rand() * 1000]);
}

function ndjson(points, withProperties) {
  const lines = points.map(([x, y], id) =>
    withProperties ? JSON.stringify({ id, pt: [x, y], kind: `k${id % 17}`, level: id % 9 }) : JSON.stringify({ id, pt: [x, y] }),
  );
  return new TextEncoder().encode(`${lines.join('\n')}\n{"end":true,"count":${points.length}}\n`);
}

function arrowStream(points, withProperties) {
  const properties = withProperties ? [new Field('kind', new Utf8(), true), new Field('level', new Int64(), true)] : [];
  const schema = new Schema([new Field('id', new Int64(), false), new Field('x', new Float64(), false), new Field('y', new Float64(), false), ...properties]);
  const batches = [];
  for (let from = 0; from < points.length; from += PER) {
    const part = points.slice(from, from + PER);
    const columns = {
      id: BigInt64Array.from(part, (_, i) => BigInt(from + i)),
      x: Float64Array.from(part, (p) => p[0]),
      y: Float64Array.from(part, (p) => p[1]),
      kind: part.map((_, i) => `k${(from + i) % 17}`),
      level: BigInt64Array.from(part, (_, i) => BigInt((from + i) % 9)),
    };
    const children = schema.fields.map((field) => vectorFromArray(columns[field.name], field.type).data[0]);
    batches.push(new RecordBatch(schema, makeData({ type: new Struct(schema.fields), length: part.length, nullCount: 0, children })));
  }
  const end = new RecordBatch(schema, undefined, new Map([['end', 'true'], ['count', String(points.length)]]));
  return RecordBatchStreamWriter.writeAll([...batches, end]).toUint8Array(true);
}

function chunksOf(bytes) {
  const chunks = [];
  for (let at = 0; at < bytes.length; at += CHUNK) chunks.push(bytes.slice(at, at + CHUNK));
  return chunks;
}

async function time(read, bytes) {
  const runs = [];
  for (let k = 0; k < 9; k += 1) {
    const batches = new PointBatches(PER, () => {});
    const stream = streamOf(chunksOf(bytes)); // cut beforehand: the timing is the reader's alone
    const start = performance.now();
    const result = await read(stream, { batches });
    batches.flush();
    if (result.outcome !== 'end' || result.received !== N) throw new Error(JSON.stringify(result));
    if (k >= 2) runs.push(performance.now() - start);
  }
  runs.sort((a, b) => a - b);
  return runs[Math.floor(runs.length / 2)];
}

const points = randomPoints(N);
const readArrow = (stream, options) => readArrowPointStream(stream, { ...options, RecordBatchReader });
console.log(`${N.toLocaleString('en-US')} points, median of 7 reads`);
for (const withProperties of [false, true]) {
  for (const [name, make, read] of [
    ['NDJSON', ndjson, readPointStream],
    ['Arrow', arrowStream, readArrow],
  ]) {
    const bytes = make(points, withProperties);
    const ms = await time(read, bytes);
    const label = `${name}${withProperties ? ' + 2 properties' : ''}`;
    console.log(`${label.padEnd(24)} ${(bytes.length / 1e6).toFixed(1).padStart(6)} MB  ${ms.toFixed(0).padStart(5)} ms`);
  }
}
