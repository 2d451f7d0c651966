// Tests of the worker's point columns (frontend/src/point-columns.js) as the two stream readers
// fill them, and of the colour classes: run with `node --test frontend/test/`.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { Bool, Field, Float64, Int64, makeData, RecordBatch, RecordBatchStreamWriter, Schema, Struct, Utf8, vectorFromArray } from 'apache-arrow';

import { RecordBatchReader } from '../build/arrow.mjs';
import { readArrowPointStream } from '../src/arrow-stream.js';
import { readPointStream } from '../src/ndjson-stream.js';
import { PointBatches } from '../src/point-batches.js';
import {
  ArrowColumns,
  NdjsonColumns,
  NULL_CLASS,
  OTHER,
  RAMP_BINS,
  ValueColumn,
  categoryClass,
  categoryClasses,
  classesOf,
  rampClass,
} from '../src/point-columns.js';
import { random, splitRandomly, streamOf } from '../test-helpers/byte-chunks.mjs';

const encoder = new TextEncoder();
const KINDS = ['bus', 'car', 'bike', 'walk', 'train', 'tram', 'ferry', 'taxi', 'boat', 'cab', 'rare1', 'rare2', 'Zürich 東京'];

/** The properties of point i: a category (skewed, with nulls), a float, an int, a bool, JSON text. */
function propsOf(i) {
  return {
    kind: i % 17 === 0 ? null : KINDS[Math.min(KINDS.length - 1, Math.floor(-Math.log2(1 - ((i * 7919) % 1000) / 1000) * 1.5))],
    value: i % 13 === 0 ? null : ((i * 37) % 1000) / 10 - 20,
    rank: i * 3 - 50,
    even: i % 2 === 0,
    meta: JSON.stringify({ i, tags: ['a', 'b'].slice(0, i % 3) }),
    x_: `shadow ${i}`,
  };
}
const pointAt = (i) => [i * 0.5 - 3, -i / 3 + 0]; // + 0: no -0, which JSON writes as 0

/** Return an Arrow stream as the server writes it: id, x, y, then the properties, batches of `per`. */
function arrowStream(n, per) {
  const fields = [
    new Field('id', new Int64(), false),
    new Field('x', new Float64(), false),
    new Field('y', new Float64(), false),
    new Field('kind', new Utf8(), true),
    new Field('value', new Float64(), true),
    new Field('rank', new Int64(), true),
    new Field('even', new Bool(), true),
    new Field('meta', new Utf8(), true, new Map([['pointsite:json', 'true']])),
    new Field('x_', new Utf8(), true, new Map([['pointsite:property', 'x']])),
  ];
  const schema = new Schema(fields, new Map([['dataset', 'test'], ['geometry', 'planar']]));
  const batchOf = (rows, metadata = new Map()) => {
    const children = fields.map((field) => vectorFromArray(rows.map((row) => row[field.name]), field.type).data[0]);
    return new RecordBatch(schema, makeData({ type: new Struct(fields), length: rows.length, nullCount: 0, children }), metadata);
  };
  const batches = [];
  for (let from = 0; from < n; from += per) {
    const rows = [];
    for (let i = from; i < Math.min(n, from + per); i += 1) {
      const [x, y] = pointAt(i);
      rows.push({ id: BigInt(1000 + i), x, y, ...propsOf(i), rank: BigInt(propsOf(i).rank) });
    }
    batches.push(batchOf(rows));
  }
  batches.push(batchOf([], new Map([['end', 'true'], ['count', String(n)]])));
  return RecordBatchStreamWriter.writeAll(batches).toUint8Array(true);
}

/** Return the NDJSON of n points with the same properties (JSON ones as values, `x` by its own name); every 5th point plain. */
function ndjsonStream(n) {
  const lines = [];
  for (let i = 0; i < n; i += 1) {
    const { meta, x_: shadow, ...rest } = propsOf(i);
    const line = { id: 1000 + i, pt: pointAt(i) };
    if (i % 5 !== 4) Object.assign(line, Object.fromEntries(Object.entries(rest).filter(([, v]) => v !== null)), { meta: JSON.parse(meta), x: shadow });
    lines.push(JSON.stringify(line));
  }
  lines.push(JSON.stringify({ end: true, count: n }));
  return encoder.encode(lines.map((line) => `${line}\n`).join(''));
}

/** Read a stream into columns, checking each batch's points are kept before they are handed over. */
async function readInto(format, bytes) {
  const columns = format === 'arrow' ? new ArrowColumns() : new NdjsonColumns();
  let handed = 0;
  const batches = new PointBatches(9, (xy, count) => {
    assert.ok(columns.count >= handed + count, 'the columns hold a batch before it is handed over');
    handed += count;
  });
  const rand = random(4);
  const options = { batches, columns, ...(format === 'arrow' ? { RecordBatchReader } : {}) };
  const read = format === 'arrow' ? readArrowPointStream : readPointStream;
  const result = await read(streamOf(splitRandomly(bytes, rand, 3000)), options);
  batches.flush();
  assert.equal(result.outcome, 'end', result.message);
  assert.equal(handed, columns.count);
  return columns;
}

describe('colour classes', () => {
  test('a number on the ramp: the ends, the middle, clamped outside, no value', () => {
    assert.equal(rampClass(0, 0, 100), 0);
    assert.equal(rampClass(100, 0, 100), RAMP_BINS - 1);
    assert.equal(rampClass(50, 0, 100), Math.floor(RAMP_BINS / 2));
    assert.equal(rampClass(99.9, 0, 100), RAMP_BINS - 1);
    assert.equal(rampClass(-5, 0, 100), 0);
    assert.equal(rampClass(1e9, 0, 100), RAMP_BINS - 1);
    assert.equal(rampClass(null, 0, 100), NULL_CLASS);
    assert.equal(rampClass(NaN, 0, 100), NULL_CLASS);
    assert.equal(rampClass(7, 7, 7), 0, 'one value only: the low end');
    assert.ok(RAMP_BINS - 1 < OTHER && OTHER < NULL_CLASS);
  });

  test('categories: the top ten values by rank, the rest other, none null', () => {
    const top = ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j', 'k', 'l'];
    const classes = categoryClasses(top);
    assert.equal(classes.size, 10);
    assert.deepEqual(
      ['a', 'j', 'k', 'zzz', null, undefined, true].map((v) => categoryClass(v, classes)),
      [0, 9, OTHER, OTHER, NULL_CLASS, NULL_CLASS, OTHER],
    );
    assert.deepEqual([...classesOf([true, false, null], { kind: 'category', values: [false, true] })], [1, 0, NULL_CLASS]);
  });

  test('a value column turns into plain values when kinds mix, keeping what it held', () => {
    const column = new ValueColumn();
    column.set(0, 'a');
    column.set(3, 'b');
    assert.equal(column.type, 'utf8');
    column.set(5, 7);
    assert.equal(column.type, 'json');
    assert.deepEqual([0, 1, 2, 3, 4, 5, 6].map((i) => column.get(i)), ['a', null, null, 'b', null, 7, null]);
    const lines = new NdjsonColumns();
    lines.addLine({ id: 1, pt: [0, 0], mixed: 'a' }, 0, 0);
    lines.addLine({ id: 2, pt: [1, 1], mixed: 2 }, 1, 1);
    assert.deepEqual(lines.point(0).properties, [{ name: 'mixed', type: 'json', value: '"a"' }], 'JSON text, as Arrow carries it');
    assert.deepEqual(lines.point(1).properties, [{ name: 'mixed', type: 'json', value: '2' }]);
    const numbers = new ValueColumn();
    numbers.set(2000, 1.5);
    assert.equal(numbers.type, 'float64');
    assert.equal(numbers.get(1999), null);
    assert.equal(numbers.get(2000), 1.5);
  });
});

for (const format of ['arrow', 'ndjson']) {
  describe(`the ${format} reader keeps the points as columns`, () => {
    const n = 700;
    const bytes = format === 'arrow' ? arrowStream(n, 64) : ndjsonStream(n);
    /** What the point's properties should read, in the stream's format. */
    const expected = (i) => {
      const props = propsOf(i);
      if (format === 'ndjson' && i % 5 === 4) return {}; // a plain line: no properties
      return { kind: props.kind, value: props.value, rank: props.rank, even: props.even, meta: props.meta, x: props.x_ };
    };

    test("each point's id, coordinates and properties", async () => {
      const columns = await readInto(format, bytes);
      assert.equal(columns.count, n);
      for (const i of [0, 1, 4, 63, 64, 65, 199, 350, 699]) {
        const point = columns.point(i);
        assert.equal(point.id, String(1000 + i));
        if (format === 'ndjson' && i % 5 === 4) {
          // A plain line's numbers are read straight from the bytes: an ulp or two off past 17 digits (ndjson-stream.js).
          pointAt(i).forEach((v, k) => assert.ok(Math.abs([point.x, point.y][k] - v) <= 4 * Number.EPSILON * Math.abs(v)));
        } else assert.deepEqual([point.x, point.y], pointAt(i));
        const got = Object.fromEntries(point.properties.map((p) => [p.name, p.value]));
        const want = expected(i);
        for (const [name, value] of Object.entries(want)) {
          if (name === 'meta' && format === 'ndjson') assert.deepEqual(JSON.parse(got.meta), JSON.parse(value));
          else assert.deepEqual(got[name] ?? null, value, `${name} of point ${i}`);
        }
        if (format === 'ndjson' && i % 5 === 4) assert.ok(point.properties.every((p) => p.value === null));
      }
      const types = Object.fromEntries(columns.point(0).properties.map((p) => [p.name, p.type]));
      assert.deepEqual(types, { kind: 'utf8', value: 'float64', rank: 'int64', even: 'bool', meta: 'json', x: 'utf8' });
    });

    test('classes over any range match the reference, for numbers, strings and booleans', async () => {
      const columns = await readInto(format, bytes);
      const values = (name) => Array.from({ length: n }, (_, i) => expected(i)[name] ?? null);
      const specs = [
        { property: 'value', kind: 'number', min: -10, max: 60 },
        { property: 'rank', kind: 'number', min: 0, max: 1000 },
        { property: 'kind', kind: 'category', values: KINDS.slice(0, 10) },
        { property: 'kind', kind: 'category', values: ['Zürich 東京', 'car'] },
        { property: 'even', kind: 'category', values: [true, false] },
        { property: 'missing', kind: 'number', min: 0, max: 1 },
      ];
      for (const spec of specs) {
        const want = classesOf(values(spec.property), spec);
        for (const [start, count] of [
          [0, n],
          [60, 70],
          [63, 1],
          [640, 60],
        ]) {
          const out = new Uint8Array(count);
          columns.classify(spec, start, out);
          assert.deepEqual([...out], [...want.subarray(start, start + count)], `${spec.property} ${start}+${count}`);
        }
      }
      // The category classes tell the top values apart, and there are others and nulls.
      const all = new Uint8Array(n);
      columns.classify(specs[2], 0, all);
      assert.ok(all.includes(0) && all.includes(OTHER) && all.includes(NULL_CLASS));
    });

    test('statistics learnt from the points held', async () => {
      const columns = await readInto(format, bytes);
      const held = 300;
      const numbers = Array.from({ length: held }, (_, i) => expected(i).value).filter((v) => typeof v === 'number');
      assert.deepEqual(columns.stats('value', 'number', held), { min: Math.min(...numbers), max: Math.max(...numbers) });
      const { top } = columns.stats('kind', 'category', held);
      const counts = new Map();
      for (let i = 0; i < held; i += 1) {
        const kind = expected(i).kind;
        if (kind) counts.set(kind, (counts.get(kind) ?? 0) + 1);
      }
      assert.equal(top[0].value, [...counts].sort((a, b) => b[1] - a[1])[0][0]);
      assert.deepEqual(Object.fromEntries(top.map((t) => [t.value, t.count])), Object.fromEntries(counts));
    });
  });
}
