// Tests of the dataset panel's words (frontend/src/dataset-panel.js).

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { boundsText, dateText, decimalsFor, geometryText, statusText } from '../src/dataset-panel.js';

test('planar bounds to about a thousandth of their span', () => {
  assert.equal(boundsText([0, 0, 49, 49], 'planar'), 'x 0 – 49 · y 0 – 49');
  assert.equal(boundsText([0.0012, 3.5, 999.998, 1000], 'planar'), 'x 0 – 1,000 · y 3.5 – 1,000');
  assert.equal(boundsText([0.12345, 0, 0.5, 2], 'planar'), 'x 0.1235 – 0.5 · y 0 – 2');
  assert.equal(boundsText(null, 'planar'), '');
  assert.equal(decimalsFor(0), 2); // one point: no span to scale by
});

test('lon/lat bounds in degrees east, west, north and south', () => {
  assert.equal(boundsText([-179.96, -60.04, 179.9, 75.25], 'spherical'), 'lon 180°W – 179.9°E · lat 60°S – 75.3°N');
  assert.equal(boundsText([-0.01, 0, 0.5, 0.25], 'spherical'), 'lon 0.01°W – 0.5°E · lat 0° – 0.25°N');
});

test('geometry, status and dates in words', () => {
  assert.match(geometryText('spherical'), /lon\/lat.*geodesic/);
  assert.match(geometryText('planar'), /planar/);
  const ready = { status: 'ready', importing: false, job: '', progress: 1, status_message: '' };
  assert.equal(statusText(ready), 'ready');
  assert.equal(statusText({ ...ready, importing: true, job: 'running', progress: 0.42 }), 'ready · re-importing 42%');
  assert.equal(statusText({ ...ready, status_message: 'the last import failed (x); the previous points are still served' }), 'ready · the last import failed (x); the previous points are still served');
  assert.equal(statusText({ ...ready, status: 'importing', importing: true, job: 'queued', progress: 0 }), 'queued');
  assert.equal(statusText({ ...ready, status: 'failed', status_message: 'line 3: no x' }), 'failed: line 3: no x');
  assert.match(dateText('2026-03-02T14:05:00+00:00'), /2026/);
  assert.equal(dateText(null), '');
});
