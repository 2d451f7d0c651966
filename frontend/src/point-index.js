/** A grid index over point coordinates: the nearest point to a click, by screen distance, within a radius. */

// The grid has about one cell for every CELL_POINTS points, at most MAX_CELLS cells (16 MB of
// cell starts). Fewer, fuller cells measured faster both to build (fewer cache misses while
// scattering) and to look up (fewer cells visited) than a point or two a cell.
//
// Measured in node 20 on this repository's 2-core machine, over 5M uniform random points in
// 16,384-point chunks (`node bench/point_index.mjs` prints the figures): building 0.23–0.27 s (bounds, cell counts, scatter: three passes;
// done in the worker, only when a click asks and points came since), a lookup ~0.02 ms with the
// whole dataset in a ~900 px plot and an 8 px radius (some 2,000 candidate points). With other
// jobs loading the machine (load ~7) the same took ~1.0 s and ~0.1 ms.
const CELL_POINTS = 16;
const MAX_CELLS = 1 << 22;

/**
 * Index the first `count` points of `chunks` (each {xs, ys, count}: coordinate columns, in the
 * order the points arrived; a point's index is its position over the chunks). Points with a
 * coordinate that is not a finite number are left out (they are not drawn either).
 */
export class GridIndex {
  constructor(chunks, count) {
    this.count = count;
    let minX = Infinity;
    let minY = Infinity;
    let maxX = -Infinity;
    let maxY = -Infinity;
    let seen = 0;
    for (const chunk of chunks) {
      const n = Math.min(chunk.count, count - seen);
      const { xs, ys } = chunk;
      for (let i = 0; i < n; i += 1) {
        const x = xs[i];
        const y = ys[i];
        // NaN fails every comparison, so it moves no bound.
        if (x < minX) minX = x;
        if (x > maxX) maxX = x;
        if (y < minY) minY = y;
        if (y > maxY) maxY = y;
      }
      seen += n;
      if (seen >= count) break;
    }
    const finite = Number.isFinite(minX) && Number.isFinite(maxX) && Number.isFinite(minY) && Number.isFinite(maxY);
    if (!finite) [minX, minY, maxX, maxY] = [0, 0, 0, 0];
    const width = maxX - minX;
    const height = maxY - minY;
    const target = Math.max(1, Math.min(MAX_CELLS, Math.ceil(count / CELL_POINTS)));
    // Cells about square in data units, whatever the data's aspect.
    let columns = width > 0 && height > 0 ? Math.round(Math.sqrt((target * width) / height)) : width > 0 ? target : 1;
    columns = Math.max(1, Math.min(target, columns));
    const rows = Math.max(1, Math.floor(target / columns));
    this.bounds = [minX, minY, maxX, maxY];
    this.columns = columns;
    this.rows = rows;
    this.sx = width > 0 ? columns / width : 0;
    this.sy = height > 0 ? rows / height : 0;

    const cellOf = new Int32Array(count); // -1: left out
    const starts = new Uint32Array(columns * rows + 1);
    const { sx, sy } = this;
    const lastColumn = columns - 1;
    const lastRow = rows - 1;
    seen = 0;
    for (const chunk of chunks) {
      const n = Math.min(chunk.count, count - seen);
      const { xs, ys } = chunk;
      for (let i = 0; i < n; i += 1) {
        const x = xs[i];
        const y = ys[i];
        if (!(x >= minX && x <= maxX && y >= minY && y <= maxY)) {
          cellOf[seen + i] = -1;
          continue;
        }
        // As cellColumn and cellRow, inlined: this loop runs once a point.
        let column = Math.floor((x - minX) * sx);
        if (column > lastColumn) column = lastColumn;
        let row = Math.floor((y - minY) * sy);
        if (row > lastRow) row = lastRow;
        const cell = row * columns + column;
        cellOf[seen + i] = cell;
        starts[cell + 1] += 1;
      }
      seen += n;
      if (seen >= count) break;
    }
    for (let c = 1; c < starts.length; c += 1) starts[c] += starts[c - 1];
    const kept = starts[starts.length - 1];
    const next = starts.slice(0, -1);
    // The points sorted by cell: their coordinates side by side (a lookup reads no chunk) and
    // their indices.
    const sortedX = new Float64Array(kept);
    const sortedY = new Float64Array(kept);
    const order = new Uint32Array(kept);
    seen = 0;
    for (const chunk of chunks) {
      const n = Math.min(chunk.count, count - seen);
      const { xs, ys } = chunk;
      for (let i = 0; i < n; i += 1) {
        const cell = cellOf[seen + i];
        if (cell < 0) continue;
        const at = next[cell]++;
        sortedX[at] = xs[i];
        sortedY[at] = ys[i];
        order[at] = seen + i;
      }
      seen += n;
      if (seen >= count) break;
    }
    this.xs = sortedX;
    this.ys = sortedY;
    this.order = order;
    this.starts = starts;
  }

  cellColumn(x) {
    return Math.min(this.columns - 1, Math.max(0, Math.floor((x - this.bounds[0]) * this.sx)));
  }

  cellRow(y) {
    return Math.min(this.rows - 1, Math.max(0, Math.floor((y - this.bounds[1]) * this.sy)));
  }

  /**
   * Return {index, distance} of the point nearest to data point (x, y) on screen, where a data
   * unit is `kx` CSS px across and `ky` down (the plot's scales), within `radius` px; null when
   * none is that close. Of points equally near, the one that came last (drawn on top) wins.
   */
  nearest(x, y, kx, ky, radius) {
    if (this.order.length === 0 || !(radius >= 0)) return null;
    const ax = Math.abs(kx);
    const ay = Math.abs(ky);
    if (!(ax > 0 && ay > 0)) return null;
    const rx = radius / ax;
    const ry = radius / ay;
    const [minX, minY, maxX, maxY] = this.bounds;
    if (x + rx < minX || x - rx > maxX || y + ry < minY || y - ry > maxY) return null;
    const c0 = this.cellColumn(x - rx);
    const c1 = this.cellColumn(x + rx);
    const r0 = this.cellRow(y - ry);
    const r1 = this.cellRow(y + ry);
    const { xs, ys, order, starts, columns } = this;
    const limit = radius * radius;
    let best = -1;
    let bestDistance = Infinity;
    for (let row = r0; row <= r1; row += 1) {
      for (let cell = row * columns + c0, end = row * columns + c1; cell <= end; cell += 1) {
        for (let at = starts[cell], stop = starts[cell + 1]; at < stop; at += 1) {
          const dx = (xs[at] - x) * ax;
          const dy = (ys[at] - y) * ay;
          const d = dx * dx + dy * dy;
          if (d > limit) continue;
          if (d < bestDistance || (d === bestDistance && order[at] > best)) {
            bestDistance = d;
            best = order[at];
          }
        }
      }
    }
    return best < 0 ? null : { index: best, distance: Math.sqrt(bestDistance) };
  }
}

/**
 * Return {index, distance} of the nearest of the points `from` <= index < `to` of `chunks` (as
 * GridIndex takes them), by a scan: for the points that came after an index was built. Same
 * rules as GridIndex.nearest.
 */
export function nearestScanned(chunks, from, to, x, y, kx, ky, radius) {
  const ax = Math.abs(kx);
  const ay = Math.abs(ky);
  if (!(ax > 0 && ay > 0 && radius >= 0)) return null;
  const limit = radius * radius;
  let best = -1;
  let bestDistance = Infinity;
  let seen = 0;
  for (const chunk of chunks) {
    const start = Math.max(from - seen, 0);
    const end = Math.min(chunk.count, to - seen);
    const { xs, ys } = chunk;
    for (let i = start; i < end; i += 1) {
      const dx = (xs[i] - x) * ax;
      const dy = (ys[i] - y) * ay;
      const d = dx * dx + dy * dy;
      if (d <= limit && d <= bestDistance) {
        bestDistance = d;
        best = seen + i;
      }
    }
    seen += chunk.count;
    if (seen >= to) break;
  }
  return best < 0 ? null : { index: best, distance: Math.sqrt(bestDistance) };
}
