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

// Across the antimeridian (frontend/src/polygon-tool.js): the smaller region is the inside,
// open lines break at the map's edge, vertices stay on the sphere.

const closedOf = (ring) => ({ type: 'Polygon', coordinates: [[...ring, ring[0]]] });

test('a ring across 180° is oriented so d3-geo takes the small region near 180° as its inside', async () => {
  const { orientSmaller } = await import('../src/polygon-tool.js');
  const ring = [[170, -10], [-170, -10], [-170, 10], [170, 10]];
  for (const order of [ring, [...ring].reverse()]) {
    const inside = closedOf(orientSmaller(order));
    assert.ok(d3.geoArea(inside) < 2 * Math.PI);
    assert.ok(d3.geoContains(inside, [179, 0]) && d3.geoContains(inside, [-179, 5]));
    assert.ok(!d3.geoContains(inside, [0, 0]) && !d3.geoContains(inside, [160, 0]));
  }
});

test('a box from -100 to 100 at ±60° bounds the region round the back (its edges go that way)', async () => {
  const { orientSmaller } = await import('../src/polygon-tool.js');
  const ring = [[-100, -60], [100, -60], [100, 60], [-100, 60]];
  for (const order of [ring, [...ring].reverse()]) {
    const inside = closedOf(orientSmaller(order));
    assert.ok(d3.geoContains(inside, [180, 0]) && d3.geoContains(inside, [150, 50]));
    assert.ok(!d3.geoContains(inside, [0, 0]) && !d3.geoContains(inside, [90, 0]));
  }
});

test('the closed path of a ring across 180° is two pieces on the map edges, not one across the map', async () => {
  const { sphericalRingPath } = await import('../src/polygon-tool.js');
  // 2 px a degree, lon 0 at x = 400, lat 0 at y = 200 (y down).
  const x = d3.scaleLinear().domain([-200, 200]).range([0, 800]);
  const y = d3.scaleLinear().domain([-100, 100]).range([400, 0]);
  const path = sphericalRingPath([[170, -10], [-170, -10], [-170, 10], [170, 10]], x, y);
  assert.equal(path.match(/M/g).length, 2, path);
  const xs = [...path.matchAll(/(-?[\d.]+),(-?[\d.]+)/g)].map((m) => Number(m[1]));
  // Every x is within 10° of an edge of the map (x(±180) = 40 and 760), none near the middle.
  assert.ok(xs.every((px) => (px >= 40 - 1e-6 && px <= 60 + 1e-6) || (px >= 740 - 1e-6 && px <= 760 + 1e-6)), path);
});

test('an open line across 180° breaks at the edge of the map', async () => {
  const { splitAtAntimeridian } = await import('../src/polygon-tool.js');
  const pieces = splitAtAntimeridian([[178, 0], [179.5, 1], [-179.5, 3], [-178, 4]]);
  assert.equal(pieces.length, 2);
  assert.deepEqual(pieces[0].slice(0, 2), [[178, 0], [179.5, 1]]);
  assert.deepEqual(pieces[0][2], [180, 2]);
  assert.deepEqual(pieces[1][0], [-180, 2]);
  assert.deepEqual(pieces[1].slice(1), [[-179.5, 3], [-178, 4]]);
  assert.deepEqual(splitAtAntimeridian([[0, 0], [90, 0], [179, 0]]), [[[0, 0], [90, 0], [179, 0]]]);
  // The other way round, west to east across 180°.
  const back = splitAtAntimeridian([[-179, 0], [179, 2]]);
  assert.deepEqual(back, [[[-179, 0], [-180, 1]], [[180, 1], [179, 2]]]);
});

test('spherical vertices are kept within lon ±180 and lat ±90; planar ones are left alone', async () => {
  const { clampVertex } = await import('../src/polygon-tool.js');
  assert.deepEqual(clampVertex([-185.2, 95], 'spherical'), [-180, 90]);
  assert.deepEqual(clampVertex([200, -100], 'spherical'), [180, -90]);
  assert.deepEqual(clampVertex([12.5, -3], 'spherical'), [12.5, -3]);
  assert.deepEqual(clampVertex([-185.2, 95], 'planar'), [-185.2, 95]);
});
