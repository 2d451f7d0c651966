// Tests of the GeoJSON built from drawn polygons (frontend/src/query-geometry.js).

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { closedRing, queryGeometry, roundTo, signedArea2, vertexStep } from '../src/query-geometry.js';

const square = [[0, 0], [10, 0], [10, 10], [0, 10]];

test('signed area is positive counter-clockwise', () => {
  assert.equal(signedArea2(square), 200);
  assert.equal(signedArea2([...square].reverse()), -200);
});

test('rings are closed and turned counter-clockwise', () => {
  assert.deepEqual(closedRing(square), [...square, [0, 0]]);
  const turned = closedRing([...square].reverse());
  assert.ok(signedArea2(turned.slice(0, -1)) > 0);
  assert.deepEqual(turned[0], turned[turned.length - 1]);
});

test('one ring is a Polygon, several a MultiPolygon, none nothing', () => {
  assert.deepEqual(queryGeometry([square]), { type: 'Polygon', coordinates: [closedRing(square)] });
  const other = [[20, 20], [30, 20], [25, 30]];
  assert.deepEqual(queryGeometry([square, other]), {
    type: 'MultiPolygon',
    coordinates: [[closedRing(square)], [closedRing(other)]],
  });
  assert.equal(queryGeometry([]), null);
});

test('vertices are rounded to a power of ten without binary noise', () => {
  assert.equal(vertexStep(50), 0.0001);
  assert.equal(vertexStep(360), 0.001);
  assert.equal(roundTo(0.1 + 0.2, 0.0001), 0.3);
  assert.equal(roundTo(12.345678, 0.001), 12.346);
  assert.equal(roundTo(-7.77777, 1), -8);
  assert.equal(String(roundTo(1 / 3, 1e-7)), '0.3333333');
});
