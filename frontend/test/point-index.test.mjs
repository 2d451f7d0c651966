// Tests of the grid index over point coordinates (frontend/src/point-index.js): run with `node --test frontend/test/`.
// Its speed is measured by bench/point_index.mjs.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { GridIndex, nearestScanned } from '../src/point-index.js';
import { random } from '../test-helpers/byte-chunks.mjs';

/** Return the points as coordinate chunks of at most `per` points: [{xs, ys, count}]. */
function chunksOf(points, per) {
  const chunks = [];
  for (let at = 0; at < points.length; at += per) {
    const part = points.slice(at, at + per);
    chunks.push({ xs: Float64Array.from(part, (p) => p[0]), ys: Float64Array.from(part, (p) => p[1]), count: part.length });
  }
  return chunks;
}

/** The nearest point by brute force: {index, distance} or null; of equals, the later one. */
function bruteNearest(points, count, x, y, kx, ky, radius) {
  let best = null;
  for (let i = 0; i < count; i += 1) {
    const [px, py] = points[i];
    const d = Math.hypot((px - x) * Math.abs(kx), (py - y) * Math.abs(ky));
    if (!(d <= radius)) continue;
    if (best === null || d < best.distance || (d === best.distance && i > best.index)) best = { index: i, distance: d };
  }
  return best;
}

describe('GridIndex', () => {
  test('finds the nearest point on screen as brute force does, over chunks, with unequal scales', () => {
    const rand = random(11);
    const points = Array.from({ length: 5000 }, () => [rand() * 1000 - 500, rand() * 20]);
    const index = new GridIndex(chunksOf(points, 700), points.length);
    // A data unit is 0.9 px across and 40 px down: screen distance, not data distance.
    const [kx, ky] = [0.9, -40];
    let found = 0;
    for (let k = 0; k < 2000; k += 1) {
      const x = rand() * 1100 - 550;
      const y = rand() * 24 - 2;
      const want = bruteNearest(points, points.length, x, y, kx, ky, 8);
      const got = index.nearest(x, y, kx, ky, 8);
      if (want === null) assert.equal(got, null);
      else {
        found += 1;
        assert.equal(got.index, want.index);
        assert.ok(Math.abs(got.distance - want.distance) < 1e-9);
      }
    }
    assert.ok(found > 500 && found < 1950, `both hits and misses (${found} hits)`);
  });

  test('clusters leave most cells empty; a click in an empty stretch finds nothing, one at its edge the cluster', () => {
    const rand = random(3);
    const points = [];
    for (const [cx, cy] of [
      [0, 0],
      [100, 100],
    ]) {
      for (let i = 0; i < 2000; i += 1) points.push([cx + rand() - 0.5, cy + rand() - 0.5]);
    }
    const index = new GridIndex(chunksOf(points, 1024), points.length);
    assert.equal(index.nearest(50, 50, 5, 5, 8), null);
    const near = index.nearest(0.5 + 1.5, 0, 5, 5, 8); // 1.5 units = 7.5 px right of the cluster's edge
    assert.deepEqual(near && near.index, bruteNearest(points, points.length, 2, 0, 5, 5, 8).index);
    for (let k = 0; k < 300; k += 1) {
      const [x, y] = [rand() * 110 - 5, rand() * 110 - 5];
      assert.deepEqual(index.nearest(x, y, 5, 5, 8)?.index ?? null, bruteNearest(points, points.length, x, y, 5, 5, 8)?.index ?? null);
    }
  });

  test('the radius is in screen pixels and inclusive', () => {
    const index = new GridIndex(chunksOf([[10, 10]], 10), 1);
    assert.equal(index.nearest(10 + 8 / 4, 10, 4, 4, 8).index, 0); // exactly 8 px away
    assert.equal(index.nearest(10 + 8.01 / 4, 10, 4, 4, 8), null);
    assert.equal(index.nearest(10, 10 + 2.5, 4, 4, 8), null); // 10 px away
    assert.equal(index.nearest(10, 10 + 2.5, 4, 4, 12).index, 0);
  });

  test('only the first `count` points are indexed; points without numbers are left out', () => {
    const points = [
      [0, 0],
      [NaN, 5],
      [1, 1],
      [5, 5],
    ];
    const index = new GridIndex(chunksOf(points, 2), 3);
    assert.equal(index.nearest(5, 5, 10, 10, 8), null, 'the fourth point is not drawn yet');
    assert.equal(index.nearest(1, 1, 10, 10, 8).index, 2);
    assert.equal(index.nearest(0, 5, 10, 10, 30), null, 'NaN is never near');
  });

  test('of points on the same spot, the last one (drawn on top) wins', () => {
    const index = new GridIndex(chunksOf([[2, 2], [2, 2], [3, 3], [2, 2]], 3), 4);
    assert.equal(index.nearest(2, 2, 1, 1, 8).index, 3);
  });

  test('no points, one point, points on a line', () => {
    assert.equal(new GridIndex([], 0).nearest(0, 0, 1, 1, 8), null);
    assert.equal(new GridIndex(chunksOf([[4, 4]], 1), 1).nearest(4.5, 4, 10, 10, 8).index, 0);
    const line = Array.from({ length: 100 }, (_, i) => [i, 7]);
    const index = new GridIndex(chunksOf(line, 30), line.length);
    assert.equal(index.nearest(41.2, 7.3, 10, 10, 8).index, 41);
    assert.equal(index.nearest(41.5, 9, 10, 10, 8), null);
  });


  test('nearestScanned finds the nearest of a range of points as brute force does', () => {
    const rand = random(5);
    const points = Array.from({ length: 3000 }, () => [rand() * 100, rand() * 100]);
    const chunks = chunksOf(points, 250);
    const [from, to] = [1234, 2900];
    let found = 0;
    for (let k = 0; k < 500; k += 1) {
      const [x, y] = [rand() * 100, rand() * 100];
      const expected = bruteNearest(points.slice(from, to), to - from, x, y, 3, 3, 8);
      const got = nearestScanned(chunks, from, to, x, y, 3, 3, 8);
      if (expected === null) assert.equal(got, null);
      else {
        found += 1;
        assert.equal(got.index, expected.index + from);
        assert.ok(Math.abs(got.distance - expected.distance) < 1e-9);
      }
    }
    assert.ok(found > 100, `only ${found} clicks found a point`);
  });
});
