// Tests of how polygon edges are drawn (frontend/src/polygon-tool.js): straight on a plane, great-circle arcs on the sphere.

import assert from 'node:assert/strict';
import { before, test } from 'node:test';

let edgePoints;
let ringOutline;

before(async () => {
  // The page loads d3's UMD build as a global; here the same package comes from node_modules.
  globalThis.d3 = await import('d3');
  ({ edgePoints, ringOutline } = await import('../src/polygon-tool.js'));
});

test('a planar edge is the segment itself', () => {
  assert.deepEqual(edgePoints([0, 60], [90, 60], 'planar'), [[0, 60], [90, 60]]);
});

test('a spherical edge bows toward the pole, as the shortest arc does', () => {
  const points = edgePoints([0, 60], [90, 60], 'spherical');
  assert.ok(points.length > 40, `${points.length} points`);
  assert.deepEqual(points[0], [0, 60]);
  assert.deepEqual(points[points.length - 1], [90, 60]);
  const middle = points[Math.floor(points.length / 2)];
  // The great circle through (0, 60) and (90, 60) peaks at atan(tan 60° / cos 45°) ≈ 67.8°.
  assert.ok(Math.abs(middle[0] - 45) < 2.5, `middle longitude ${middle[0]}`);
  assert.ok(middle[1] > 67 && middle[1] < 68.5, `middle latitude ${middle[1]}`);
});

test('a meridian edge stays on its meridian', () => {
  for (const [lon, lat] of edgePoints([10, -40], [10, 40], 'spherical')) {
    assert.ok(Math.abs(lon - 10) < 1e-9);
    assert.ok(lat >= -40 - 1e-9 && lat <= 40 + 1e-9);
  }
});

test('an outline runs through every vertex and closes on request', () => {
  const ring = [[0, 0], [4, 0], [4, 3]];
  assert.deepEqual(ringOutline(ring, 'planar', false), ring);
  assert.deepEqual(ringOutline(ring, 'planar', true), [...ring, [0, 0]]);
  assert.deepEqual(ringOutline([[1, 1]], 'planar', false), [[1, 1]]);
});
