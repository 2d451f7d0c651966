// Tests of the NDJSON stream reader (frontend/src/ndjson-stream.js): run with `node --test frontend/test/`.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { PointBatches, readPointStream, scanNumber } from '../src/ndjson-stream.js';
import { random, splitRandomly, streamOf } from '../test-helpers/byte-chunks.mjs';

const encoder = new TextEncoder();

/** Return the NDJSON text of n points (every other one with a name in some script) and an end line. */
function sampleStream(n, { end = true } = {}) {
  const names = ['Zürich', '東京', 'São Paulo', '🌍 earth', 'plain', 'Ελλάδα'];
  const lines = [];
  for (let id = 0; id < n; id += 1) {
    const point = { id, pt: [id * 0.5, -id / 3] };
    // Plain lines take the byte-level path, lines with properties the JSON.parse one.
    lines.push(JSON.stringify(id % 2 ? { ...point, name: names[id % names.length] } : point));
  }
  if (end) lines.push(JSON.stringify({ end: true, count: n }));
  return lines.map((line) => `${line}\n`).join('');
}

/** Read `text` (or byte chunks) and return {result, points} with points as [x, y] pairs. */
async function read(input, options = {}) {
  const chunks = typeof input === 'string' ? [encoder.encode(input)] : input;
  const points = [];
  // A small batch size so that batches fill and flush many times over.
  const batches = new PointBatches(7, (xy, count) => {
    for (let i = 0; i < count; i += 1) points.push([xy[2 * i], xy[2 * i + 1]]);
  });
  const result = await readPointStream(streamOf(chunks), { ...options, batches });
  if (result.outcome !== 'aborted') batches.flush();
  return { result, points };
}

describe('readPointStream', () => {
  test('a whole stream ends with its end line and every point', async () => {
    const { result, points } = await read(sampleStream(10));
    assert.deepEqual(result, { outcome: 'end', received: 10 });
    assert.equal(points.length, 10);
    assert.deepEqual(points[3], [1.5, -1]);
    assert.deepEqual(points[8], [4, -8 / 3]);
  });

  test('random chunk boundaries give the same points', async () => {
    const text = sampleStream(300);
    const bytes = encoder.encode(text);
    const expected = (await read(text)).points;
    for (let seed = 1; seed <= 200; seed += 1) {
      const chunks = splitRandomly(bytes, random(seed), seed % 2 ? 7 : 301);
      const { result, points } = await read(chunks);
      assert.deepEqual(result, { outcome: 'end', received: 300 }, `seed ${seed}`);
      assert.deepEqual(points, expected, `seed ${seed}`);
    }
  });

  test('every single split position, including inside multi-byte characters', async () => {
    const text = sampleStream(6);
    const bytes = encoder.encode(text);
    const expected = (await read(text)).points;
    for (let cut = 1; cut < bytes.length; cut += 1) {
      const { result, points } = await read([bytes.slice(0, cut), bytes.slice(cut)]);
      assert.equal(result.outcome, 'end', `cut at byte ${cut}`);
      assert.deepEqual(points, expected, `cut at byte ${cut}`);
    }
  });

  test('a four-byte character arriving one byte per chunk', async () => {
    const text = `${JSON.stringify({ id: 1, pt: [0, 0], name: '🌍' })}\n{"id":2,"pt":[5,6]}\n{"end":true,"count":2}\n`;
    const bytes = encoder.encode(text);
    const { result, points } = await read(Array.from(bytes, (b) => Uint8Array.of(b)));
    assert.deepEqual(result, { outcome: 'end', received: 2 });
    assert.deepEqual(points, [[0, 0], [5, 6]]);
  });

  test("the server's error line ends the stream with its message", async () => {
    const text = `${sampleStream(4, { end: false })}{"error":"the store went away","count":4}\n`;
    const { result, points } = await read(text);
    assert.deepEqual(result, { outcome: 'error', received: 4, message: 'the store went away' });
    assert.equal(points.length, 4);
  });

  test('a stream without its last line was cut', async () => {
    const { result, points } = await read(sampleStream(5, { end: false }));
    assert.equal(result.outcome, 'cut');
    assert.equal(result.received, 5);
    assert.match(result.message, /cut after 5 points/);
    assert.equal(points.length, 5);
  });

  test('a stream cut in the middle of a line, even of a character, was cut', async () => {
    const text = sampleStream(5);
    // Stop one byte into the three bytes of 東.
    const tornAt = encoder.encode(text.slice(0, text.indexOf('東'))).length + 1;
    const { result } = await read([encoder.encode(text).slice(0, tornAt)]);
    assert.equal(result.outcome, 'cut');
    const midLine = encoder.encode('{"id":0,"pt":[1,2]}\n{"id":1,"pt":[3,');
    assert.equal((await read([midLine])).result.outcome, 'cut');
  });

  test('an empty answer was cut', async () => {
    assert.equal((await read([])).result.outcome, 'cut');
  });

  test('the last line may lack its newline', async () => {
    const { result } = await read('{"id":0,"pt":[1,2]}\n{"end":true,"count":1}');
    assert.deepEqual(result, { outcome: 'end', received: 1 });
  });

  test('blank lines and CRLF line ends are accepted', async () => {
    const { result, points } = await read('{"id":0,"pt":[1,2]}\r\n\r\n{"id":1,"pt":[3,4]}\r\n{"end":true,"count":2}\r\n');
    assert.deepEqual(result, { outcome: 'end', received: 2 });
    assert.deepEqual(points[1], [3, 4]);
  });

  test('an end line that miscounts is reported', async () => {
    const { result } = await read('{"id":0,"pt":[1,2]}\n{"end":true,"count":2}\n');
    assert.equal(result.outcome, 'invalid');
    assert.match(result.message, /says 2 points but 1 arrived/);
  });

  test('lines after the end line are refused', async () => {
    const { result } = await read('{"end":true,"count":0}\n{"id":0,"pt":[1,2]}\n');
    assert.equal(result.outcome, 'invalid');
  });

  test('a line that is not JSON is refused, naming the line', async () => {
    const { result } = await read('{"id":0,"pt":[1,2]}\n{"id":1,"pt":[1,2]\n{"end":true,"count":2}\n');
    assert.equal(result.outcome, 'invalid');
    assert.match(result.message, /line 2: not JSON/);
  });

  test('lines with properties in one chunk: the same points whether the chunk is all ASCII or not, a bad line still named', async () => {
    // An all-ASCII block is decoded once and its lines sliced from the text; any other line alone.
    const lines = Array.from({ length: 50 }, (_, i) => JSON.stringify({ id: i, pt: [i / 7, -i], kind: `k${i % 3}`, v: i * 0.1 }));
    const text = `${lines.join('\n')}\n{"end":true,"count":50}\n`;
    const ascii = await read(text);
    const accented = await read(text.replace('"k1"', '"k1é"'));
    assert.deepEqual(ascii.result, { outcome: 'end', received: 50 });
    assert.deepEqual(accented.result, { outcome: 'end', received: 50 });
    assert.deepEqual(ascii.points, accented.points);
    assert.deepEqual(ascii.points[7], [1, -7]);
    const broken = await read(text.replace(lines[20], lines[20].slice(0, -1)));
    assert.equal(broken.result.outcome, 'invalid');
    assert.match(broken.result.message, /line 21: not JSON/);
    const notUtf8 = encoder.encode(text);
    notUtf8[encoder.encode(lines.slice(0, 30).join('\n')).length + 12] = 0xff;
    const bad = await read([notUtf8]);
    assert.equal(bad.result.outcome, 'invalid');
    assert.match(bad.result.message, /line 31: not JSON/);
  });

  test('a line that is neither a point nor a last line is refused', async () => {
    const { result } = await read('{"id":0,"where":[1,2]}\n{"end":true,"count":1}\n');
    assert.equal(result.outcome, 'invalid');
    assert.match(result.message, /neither a point/);
  });

  test('bytes that are not UTF-8 are refused', async () => {
    const { result } = await read([Uint8Array.of(0x7b, 0xff, 0xfe, 0x7d, 0x0a)]);
    assert.equal(result.outcome, 'invalid');
  });

  test('a connection that fails mid-stream is reported as cut', async () => {
    let sent = false;
    const body = new ReadableStream({
      pull(controller) {
        if (!sent) {
          sent = true;
          controller.enqueue(encoder.encode('{"id":0,"pt":[1,2]}\n'));
        } else controller.error(new TypeError('network error'));
      },
    });
    const result = await readPointStream(body, { batches: new PointBatches(4, () => {}) });
    assert.equal(result.outcome, 'cut');
    assert.equal(result.received, 1);
    assert.match(result.message, /network error/);
  });

  test('an abort stops the read at once and cancels the body', async () => {
    const controller = new AbortController();
    let cancelled = false;
    let pulls = 0;
    const body = new ReadableStream({
      pull(stream) {
        pulls += 1;
        if (pulls === 1) stream.enqueue(encoder.encode('{"id":0,"pt":[1,2]}\n'));
        // Later pulls never answer: the server is slow, only the abort can end this read.
        return new Promise(() => {});
      },
      cancel() {
        cancelled = true;
      },
    });
    const seen = [];
    const batches = new PointBatches(1, (xy) => {
      seen.push([xy[0], xy[1]]);
      controller.abort();
    });
    const result = await readPointStream(body, { signal: controller.signal, batches });
    assert.deepEqual(result, { outcome: 'aborted', received: 1 });
    assert.deepEqual(seen, [[1, 2]]);
    assert.ok(cancelled, 'the body was cancelled');
  });

  test('a signal aborted before the read starts reads nothing', async () => {
    const controller = new AbortController();
    controller.abort();
    const { result, points } = await read(sampleStream(3), { signal: controller.signal });
    assert.deepEqual(result, { outcome: 'aborted', received: 0 });
    assert.equal(points.length, 0);
  });
});

describe('strict JSON on both paths', () => {
  const bad = {
    'a leading zero in an id': '{"id":01,"pt":[1,2]}',
    'a leading zero in a number': '{"id":1,"pt":[01,2]}',
    'three coordinates': '{"id":1,"pt":[1,2,3]}',
    'a coordinate that is a string': '{"id":1,"pt":["1",2]}',
    'a number with a bare dot': '{"id":1,"pt":[1.,2]}',
    'a torn exponent': '{"id":1,"pt":[1e,2]}',
    'a trailing comma': '{"id":1,"pt":[1,2],}',
  };
  for (const [what, line] of Object.entries(bad)) {
    test(`refuses ${what}`, async () => {
      const { result } = await read(`${line}\n{"end":true,"count":1}\n`);
      assert.equal(result.outcome, 'invalid', line);
      assert.match(result.message, /^line 1: /);
    });
  }

  test('accepts what JSON allows beyond the plain shape', async () => {
    const lines = [
      '{"id":"a-7","pt":[1,2]}',
      '{ "id": 3, "pt": [ -0.5 , 2E+2 ] }',
      '{"pt":[1e-7,-3],"id":4,"kind":"shop"}',
      '{"id":-5,"pt":[0,-0]}',
    ];
    const { result, points } = await read(`${lines.join('\n')}\n{"end":true,"count":4}\n`);
    assert.deepEqual(result, { outcome: 'end', received: 4 });
    assert.deepEqual(points, [[1, 2], [-0.5, 200], [1e-7, -3], [0, -0]]);
  });
});

describe('scanNumber', () => {
  /** Return the value scanNumber reads from `text` (and check it reads all of it). */
  function scan(text) {
    const bytes = encoder.encode(`${text},`);
    let value;
    // scanNumber leaves its value for plainPoint; read it back through a one-point line.
    const end = scanNumber(bytes, 0);
    assert.equal(end, text.length, text);
    const batches = new PointBatches(1, (xy) => {
      value = xy[0];
    });
    return readPointStream(streamOf([encoder.encode(`{"id":0,"pt":[${text},0]}\n{"end":true,"count":1}\n`)]), { batches }).then(
      (result) => {
        assert.equal(result.outcome, 'end', text);
        return value;
      },
    );
  }

  test('reads what JSON writes, exactly up to 15 significant digits', async () => {
    for (const text of ['0', '-0', '7', '-12.5', '0.1', '1e5', '1E-7', '2.5e+3', '123456789012345', '0.000001', '-180', '89.999999']) {
      assert.equal(Object.is(await scan(text), Number(text)), true, text);
    }
  });

  test('random doubles as JSON prints them land within a few ulps', async () => {
    const rand = random(42);
    for (let i = 0; i < 2000; i += 1) {
      const magnitude = 10 ** Math.floor(rand() * 12 - 6);
      const value = (rand() - 0.5) * magnitude;
      const text = JSON.stringify(value);
      const read = await scan(text);
      const tolerance = Math.abs(value) * 8 * Number.EPSILON;
      assert.ok(Math.abs(read - value) <= tolerance, `${text} read as ${read}`);
    }
  });

  test('far exponents and long mantissas are read exactly', async () => {
    for (const text of ['1e300', '-2.5e-300', '5e-324', '1.7976931348623157e308', '123456789012345678901234567']) {
      assert.equal(await scan(text), Number(text), text);
    }
  });

  test('refuses what is not a JSON number', () => {
    for (const text of ['', '-', '01', '1.', '.5', '+1', '1e', '1e+', 'x']) {
      assert.equal(scanNumber(encoder.encode(`${text},`), 0), -1, JSON.stringify(text));
    }
  });
});
