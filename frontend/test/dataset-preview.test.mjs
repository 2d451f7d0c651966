// The admin preview's pure parts: the bbox it asks the overview for, and how it paints the counts.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { fittedBBox, paint } from '../src/dataset-preview.js';

test('the bbox holds the bounds with the canvas aspect, centred', () => {
  const [x0, y0, x1, y1] = fittedBBox([0, 0, 100, 10], 200, 100);
  assert.deepEqual([x0, x1], [0, 100]); // x is the tighter axis: kept
  assert.equal(y1 - y0, 50); // y widened to the 2:1 aspect
  assert.equal((y0 + y1) / 2, 5);
  const tall = fittedBBox([0, 0, 10, 100], 200, 100);
  assert.deepEqual([tall[1], tall[3]], [0, 100]);
  assert.equal(tall[2] - tall[0], 200);
});

test('counts are painted bottom row last, densest in the points colour, empty cells clear', () => {
  const counts = [0, 1, 100, 0]; // 2 x 2, row 0 at the lowest y
  const pixels = new Uint8ClampedArray(2 * 2 * 4);
  assert.equal(paint(counts, 2, 2, pixels), 100);
  const at = (line, col) => Array.from(pixels.slice((line * 2 + col) * 4, (line * 2 + col) * 4 + 4));
  assert.deepEqual(at(1, 0), [0, 0, 0, 0]); // count 0 (row 0 is the canvas's bottom line)
  assert.deepEqual(at(0, 0), [31, 102, 170, 255]); // count 100, the largest
  const light = at(1, 1); // count 1: lighter than the densest
  assert.ok(light[0] > 31 && light[3] === 255);
  assert.deepEqual(at(0, 1), [0, 0, 0, 0]);
});
