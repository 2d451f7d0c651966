// Tests of the lon/lat map's pure parts (frontend/src/basemap.js): degree labels, ticks kept on the globe, the panning limits.

import assert from 'node:assert/strict';
import { before, test } from 'node:test';

let d3;
let constrainArea;
let degreeDecimals;
let formatDegrees;
let onTheGlobe;
let worldTranslateExtent;

before(async () => {
  // The page loads d3's UMD build as a global; here the same package comes from node_modules.
  d3 = await import('d3');
  globalThis.d3 = d3;
  ({ constrainArea, degreeDecimals, formatDegrees, onTheGlobe, worldTranslateExtent } = await import('../src/basemap.js'));
});

test('longitudes read east and west of Greenwich, 0° and 180° without a side', () => {
  assert.equal(formatDegrees(0, 'lon'), '0°');
  assert.equal(formatDegrees(-120, 'lon'), '120°W');
  assert.equal(formatDegrees(30, 'lon'), '30°E');
  assert.equal(formatDegrees(180, 'lon'), '180°');
  assert.equal(formatDegrees(-180, 'lon'), '180°');
});

test('latitudes read north and south of the equator', () => {
  assert.equal(formatDegrees(0, 'lat'), '0°');
  assert.equal(formatDegrees(45, 'lat'), '45°N');
  assert.equal(formatDegrees(-60, 'lat'), '60°S');
  assert.equal(formatDegrees(90, 'lat'), '90°N');
});

test('the tick step sets the decimals: whole degrees zoomed out, decimals zoomed in', () => {
  assert.equal(formatDegrees(45.5, 'lat', 0.5), '45.5°N');
  assert.equal(formatDegrees(-0.13, 'lon', 0.01), '0.13°W');
  assert.equal(formatDegrees(2.25, 'lon', 0.05), '2.25°E');
  assert.equal(formatDegrees(30, 'lon', 10), '30°E');
  assert.equal(formatDegrees(1e-15, 'lat', 0.1), '0°'); // a tick at 0 that arithmetic left off 0
  assert.equal(formatDegrees(-0.04, 'lat', 0.1), '0°');
  assert.deepEqual([100, 10, 5, 1, 0.5, 0.2, 0.1, 0.05, 0.001].map(degreeDecimals), [0, 0, 0, 0, 1, 1, 1, 2, 3]);
});

test('labels of d3 ticks at any zoom carry their step', () => {
  for (const [a, b] of [[-200, 200], [10, 12], [51.4, 51.6], [-0.2, -0.1]]) {
    const step = d3.tickStep(a, b, 8);
    const labels = d3.ticks(a, b, 8).map((v) => formatDegrees(v, 'lon', step));
    assert.equal(new Set(labels).size, labels.length, `distinct labels for [${a}, ${b}]: ${labels}`);
  }
});

test('ticks off the globe are left out', () => {
  assert.deepEqual(onTheGlobe([-150, -100, -90, -45, 0, 45, 90, 100], 'lat'), [-90, -45, 0, 45, 90]);
  assert.deepEqual(onTheGlobe([-200, -180, 0, 180, 200], 'lon'), [-180, 0, 180]);
});

test('the translate extent is the world box in the outer svg at identity zoom', () => {
  const x = d3.scaleLinear().domain([-200, 200]).range([0, 800]);
  const y = d3.scaleLinear().domain([-100, 100]).range([400, 0]);
  const rounded = worldTranslateExtent(x, y, { left: 50, top: 10 }).map((corner) => corner.map((v) => Math.round(v * 1e9) / 1e9));
  assert.deepEqual(rounded, [
    [90, 30],
    [810, 390],
  ]);
});

test('the inner area is kept within the extent, and centred on it when larger', () => {
  const extent = [
    [0, 0],
    [1000, 500],
  ];
  const area = [
    [50, 10],
    [850, 410],
  ];
  // Zoomed in 4x and panned far up: pulled back so the area's top is the extent's top.
  const panned = constrainArea(d3.zoomIdentity.translate(0, 5000).scale(4), area, extent);
  assert.equal(panned.invertY(10), 0);
  // Zoomed out 0.5x: the area is larger than the extent, which sits in its middle.
  const out = constrainArea(d3.zoomIdentity.translate(300, 300).scale(0.5), area, extent);
  assert.equal((out.invertX(50) + out.invertX(850)) / 2, 500);
  assert.equal((out.invertY(10) + out.invertY(410)) / 2, 250);
  // No limit: left as it is.
  const free = [
    [-Infinity, -Infinity],
    [Infinity, Infinity],
  ];
  const t = d3.zoomIdentity.translate(123, -456).scale(3);
  assert.deepEqual(constrainArea(t, area, free), t);
});
