// Tests of the density scale (frontend/src/density.js) and the overview's grids (frontend/src/overview-layer.js).

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { LEVELS, MIN_SCALE_MAX, legendTicks, levelOf, levelTable, palette, shortCount } from '../src/density.js';
import { dimPixels, intersectBox, overviewGrid, overviewPixels } from '../src/overview-layer.js';

// A stand-in for d3.interpolateYlGnBu with the same contract: t in [0, 1] -> 'rgb(r, g, b)'.
const grey = (t) => `rgb(${Math.round(255 * (1 - t))}, ${Math.round(255 * (1 - t))}, ${Math.round(255 * (1 - t))})`;

test('counts go on a log scale from 1 (the lightest level) to the top (the darkest)', () => {
  assert.equal(levelOf(1, 1000), 0);
  assert.equal(levelOf(1000, 1000), LEVELS - 1);
  assert.equal(levelOf(5000, 1000), LEVELS - 1);
  // Log: 10 of 1000 is a third of the way, 100 two thirds.
  assert.equal(levelOf(10, 1000), Math.round((LEVELS - 1) / 3));
  assert.equal(levelOf(100, 1000), Math.round((2 * (LEVELS - 1)) / 3));
  // A scale never tops out below MIN_SCALE_MAX: lone points stay light when none overlap.
  assert.equal(levelOf(1, 1), 0);
  assert.equal(levelOf(MIN_SCALE_MAX, 2), LEVELS - 1);
});

test('the level table agrees with levelOf and covers counts up to the top', () => {
  const table = levelTable(300);
  assert.equal(table.length, 301);
  for (const n of [1, 2, 7, 50, 299, 300]) assert.equal(table[n], levelOf(n, 300));
  assert.equal(levelTable(2).length, MIN_SCALE_MAX + 1);
  assert.equal(levelTable(10_000_000).length, 65537); // bounded: above, the darkest level
});

test('the palette runs the ramp from its start to its end, opaque', () => {
  const colours = palette(grey);
  assert.equal(colours.length, LEVELS);
  const bytes = new Uint8Array(colours.buffer);
  assert.equal(bytes[3], 255);
  assert.ok(bytes[0] > bytes[(LEVELS - 1) * 4], 'sparse is lighter than dense');
  assert.equal(bytes[(LEVELS - 1) * 4], 0); // the ramp's end
});

test('legend ticks are powers of ten up to the top, not crowding it', () => {
  assert.deepEqual(legendTicks(375), [1, 10, 100, 375]);
  assert.deepEqual(legendTicks(120), [1, 10, 120]);
  assert.deepEqual(legendTicks(3), [1, MIN_SCALE_MAX]);
  assert.deepEqual([950, 1200, 12_345, 3_400_000].map(shortCount), ['950', '1.2k', '12.3k', '3.4M']);
});

test('the overview asks for the visible part of the data, in cells of about 2 px', () => {
  assert.deepEqual(intersectBox([0, 0, 10, 10], [5, 5, 20, 20]), [5, 5, 10, 10]);
  assert.equal(intersectBox([0, 0, 1, 1], [2, 2, 3, 3]), null);
  // The whole dataset at 0.8 px a unit: 1000 units -> 400 cells.
  assert.deepEqual(overviewGrid([0, 0, 1000, 500], [0, 0, 1000, 500], 0.8), { bbox: [0, 0, 1000, 500], width: 400, height: 200 });
  // Zoomed on a corner that goes past the data: only the data's part, at the zoom's resolution.
  assert.deepEqual(overviewGrid([-100, -100, 100, 100], [0, 0, 1000, 500], 8), { bbox: [0, 0, 100, 100], width: 400, height: 400 });
  assert.equal(overviewGrid([2000, 0, 3000, 10], [0, 0, 1000, 500], 1), null);
  // Never more cells than the API allows; flat bounds get an extent.
  assert.equal(overviewGrid([0, 0, 1000, 1000], [0, 0, 1000, 1000], 100).width, 2048);
  assert.deepEqual(overviewGrid([4, 4, 6, 6], [5, 5, 5, 5], 10).bbox, [4.5, 4.5, 5.5, 5.5]);
  // The whole overview of one point (or of points on a line): the view is the flat bounds too,
  // and the plot zoomed ~1e9 times asks for no more cells than the view has room for.
  assert.deepEqual(overviewGrid([5, 5, 5, 5], [5, 5, 5, 5], 1e11, [800, 600]), { bbox: [4.5, 4.5, 5.5, 5.5], width: 400, height: 300 });
  assert.deepEqual(overviewGrid([0, 3, 10, 3], [0, 3, 10, 3], 80, [800, 600]).bbox, [0, 2.5, 10, 3.5]);
});

test('dimmed overview pixels are grey by luminance and faint; empty ones stay empty', () => {
  const colours = new Uint32Array(new Uint8ClampedArray([200, 100, 50, 255, 0, 0, 0, 0]).buffer);
  const bytes = new Uint8Array(dimPixels(colours).buffer);
  const grey = Math.round(0.2126 * 200 + 0.7152 * 100 + 0.0722 * 50);
  assert.deepEqual([...bytes.slice(0, 4)], [grey, grey, grey, 89]);
  assert.deepEqual([...bytes.slice(4)], [0, 0, 0, 0]);
});

test('overview pixels put the grid upside up and leave empty cells transparent', () => {
  const colours = palette(grey);
  // 2x2 grid, row 0 the lowest y: bottom-left 1 point, top-right 100.
  const { pixels, most } = overviewPixels({ width: 2, height: 2, counts: [1, 0, 0, 100] }, colours);
  assert.equal(most, 100);
  assert.equal(pixels[2], colours[0]); // bottom-left of the image: the lightest
  assert.equal(pixels[1], colours[LEVELS - 1]); // top-right: the darkest
  assert.equal(pixels[0], 0);
  assert.equal(pixels[3], 0);
});
