// The page's grid index (frontend/src/point-index.js) over 5M points: build time and lookup time,
// medians of 5 builds and of 1,000 lookups each. Run: node bench/point_index.mjs [points]

import { GridIndex } from '../frontend/src/point-index.js';
import { random } from '../frontend/test-helpers/byte-chunks.mjs';

const n = Number(process.argv[2] ?? 5_000_000);
const CHUNK = 16384; // the worker's batch size
const rand = random(1);
const chunks = [];
for (let at = 0; at < n; at += CHUNK) {
  const count = Math.min(CHUNK, n - at);
  const xs = new Float64Array(count);
  const ys = new Float64Array(count);
  for (let i = 0; i < count; i += 1) {
    xs[i] = rand() * 1000;
    ys[i] = rand() * 1000;
  }
  chunks.push({ xs, ys, count });
}
const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
const builds = [];
const lookups = [];
let hits = 0;
for (let run = 0; run < 5; run += 1) {
  let started = performance.now();
  const index = new GridIndex(chunks, n);
  builds.push(performance.now() - started);
  // The whole dataset in a ~900 px plot (0.9 px a unit), an 8 px radius.
  started = performance.now();
  for (let k = 0; k < 1000; k += 1) if (index.nearest(rand() * 1000, rand() * 1000, 0.9, 0.9, 8)) hits += 1;
  lookups.push((performance.now() - started) / 1000);
}
console.log(
  `${n.toLocaleString('en-US')} points: build ${median(builds).toFixed(0)} ms (median of 5), ` +
    `lookup ${median(lookups).toFixed(3)} ms (median over 5 × 1,000; ${hits} of 5,000 found)`,
);
