// Tests of the count requests built for the drawn polygons and their words (frontend/src/selection-count.js).

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { countBodies, countText, countUrl, polygonLabels, readCount } from '../src/selection-count.js';
import { queryGeometry } from '../src/query-geometry.js';

const square = [[0, 0], [10, 0], [10, 10], [0, 10]];
const other = [[20, 20], [30, 20], [25, 30]];

test('one polygon is counted once, as its own "in all"', () => {
  assert.deepEqual(countBodies([square]), [{ key: 'all', body: JSON.stringify(queryGeometry([square])) }]);
});

test('several polygons: all of them first (the stream body), then each alone', () => {
  assert.deepEqual(countBodies([square, other]), [
    { key: 'all', body: JSON.stringify(queryGeometry([square, other])) },
    { key: 0, body: JSON.stringify(queryGeometry([square])) },
    { key: 1, body: JSON.stringify(queryGeometry([other])) },
  ]);
  assert.equal(JSON.parse(countBodies([square, other])[0].body).type, 'MultiPolygon');
  assert.deepEqual(countBodies([]), []);
});

test('the count URL escapes the dataset name', () => {
  assert.equal(countUrl('grid'), '/api/datasets/grid/points/count');
  assert.equal(countUrl('a b/c'), '/api/datasets/a%20b%2Fc/points/count');
});

test('counts in words, pending and failed ones too', () => {
  assert.equal(countText(0), '0 points');
  assert.equal(countText(1), '1 point');
  assert.equal(countText(949316), '949,316 points');
  assert.equal(countText(undefined), 'counting…');
  assert.equal(countText(null), 'count failed');
});

test('an answer is a count, or an error in the API’s words or by its status', () => {
  assert.equal(readCount(200, '{"count": 42}'), 42);
  assert.equal(readCount(200, '{"count": 0}'), 0);
  const refused = readCount(400, '{"error": "invalid polygon: the ring crosses itself"}');
  assert.ok(refused instanceof Error);
  assert.equal(refused.message, 'invalid polygon: the ring crosses itself');
  assert.equal(readCount(502, '<html>Bad gateway</html>').message, 'HTTP 502');
  // A 200 without a count (or a nonsense one) is no count.
  for (const text of ['{}', '{"count": -1}', '{"count": 1.5}', '{"count": "7"}', 'null', '']) {
    assert.equal(readCount(200, text).message, 'the answer holds no count', text);
  }
});

test('polygon labels: the count alone for one, numbered as in the status box for several', () => {
  assert.deepEqual(polygonLabels(null), []);
  assert.deepEqual(polygonLabels({ state: 'counted', total: 5, polygons: [5], message: '' }), ['5 points']);
  assert.deepEqual(polygonLabels({ state: 'counting', total: undefined, polygons: [1200, undefined], message: '' }), [
    '1 · 1,200 points',
    '2 · counting…',
  ]);
  assert.deepEqual(polygonLabels({ state: 'failed', total: 3, polygons: [null, 3], message: 'HTTP 503' }), ['1 · count failed', '2 · 3 points']);
});
