/** The dataset's overview (the `…/overview` density grid) under the points: data in view before any query, and context around a selection. */

import { LEVELS, levelTable, palette } from './density.js';

// A grid cell is about this many CSS pixels on a side: fine enough to see structure at once,
// a quarter of the cells of a per-pixel grid (the body of a 1024×1024 grid of 5M points is
// ~0.5 MB with zstd; at 2 px a cell a full-screen plot asks for ~600×400).
const CELL_PX = 2;
const MAX_CELLS = 2048; // the API's limit on each side (points/overview.py)
// After a zoom or pan, wait this long for the gesture to settle before asking for the new box.
const SETTLE_MS = 150;
// Under a query's points the overview is context: grey, and this opaque.
const DIM_ALPHA = 0.35;

/** Return the part of box `a` inside box `b` ([minX, minY, maxX, maxY] each), or null when they do not overlap. */
export function intersectBox(a, b) {
  const box = [Math.max(a[0], b[0]), Math.max(a[1], b[1]), Math.min(a[2], b[2]), Math.min(a[3], b[3])];
  return box[0] < box[2] && box[1] < box[3] ? box : null;
}

/**
 * Return the overview request for the visible box `view` ([minX, minY, maxX, maxY]) of a
 * dataset with `bounds`, drawn `pxPerUnit` CSS pixels a data unit: the box clipped to the data,
 * and cells of about CELL_PX pixels. Null when the view shows none of the data.
 */
export function overviewGrid(view, bounds, pxPerUnit) {
  let [minX, minY, maxX, maxY] = bounds;
  // A dataset of one point, or on one line, has flat bounds: give them some extent (as the API does).
  if (minX === maxX) [minX, maxX] = [minX - 0.5, maxX + 0.5];
  if (minY === maxY) [minY, maxY] = [minY - 0.5, maxY + 0.5];
  const bbox = intersectBox(view, [minX, minY, maxX, maxY]);
  if (bbox === null) return null;
  const cells = (span) => Math.min(MAX_CELLS, Math.max(1, Math.ceil((span * pxPerUnit) / CELL_PX)));
  return { bbox, width: cells(bbox[2] - bbox[0]), height: cells(bbox[3] - bbox[1]) };
}

/** Return the RGBA pixels (top row first) of an overview's counts (bottom row first), coloured by `colours`. */
export function overviewPixels({ width, height, counts }, colours) {
  let most = 0;
  for (const n of counts) if (n > most) most = n;
  const levels = levelTable(most);
  const limit = levels.length;
  const pixels = new Uint32Array(width * height);
  for (let row = 0; row < height; row += 1) {
    const from = row * width;
    const to = (height - 1 - row) * width; // the grid's row 0 is the lowest y, the image's the top
    for (let col = 0; col < width; col += 1) {
      const n = counts[from + col];
      if (n !== 0) pixels[to + col] = colours[n < limit ? levels[n] : LEVELS - 1];
    }
  }
  return { pixels, most };
}

export class OverviewLayer {
  /**
   * Draws on a canvas of its own, not shown: `onDraw(pixels)` gets what it drew (a Uint32Array
   * of the plot's device pixels, or null for nothing), which the point renderer puts under the
   * points in its one canvas. A second canvas under the points' cost a 5M stream 15-25 % in
   * compositing (bench: issue 11's note). `onScale` gets the densest cell's count of what is
   * shown (for the legend), `onError` a sentence when an overview could not be had (the last
   * picture stays).
   */
  constructor({ onDraw = () => {}, onScale = () => {}, onError = () => {} } = {}) {
    this.canvas = document.createElement('canvas');
    this.context = this.canvas.getContext('2d', { willReadFrequently: true });
    this.onDraw = onDraw;
    this.dim = false; // drawn as context: grey and faint
    this.colours = palette();
    this.onScale = onScale;
    this.onError = onError;
    this.dataset = null;
    // The whole dataset's grid, and the visible box's once zoomed in: {bbox, image, most}.
    this.whole = null;
    this.detail = null;
    this.pending = null; // AbortController of the fetch under way
    this.timer = 0;
    this.view = null;
    this.requests = 0; // overview fetches started (for the tests)
    this.drawnAt = null; // performance.now() when the dataset's whole overview was first drawn (the bench reads it)
  }

  /** Show dataset `entry` (ready or not) in `view`: its whole overview, fetched at once. */
  show(entry, view) {
    this.abort();
    this.dataset = entry;
    this.whole = null;
    this.detail = null;
    this.drawnAt = null;
    this.view = view;
    this.draw();
    this.onScale(0);
    if (entry?.status !== 'ready' || !entry.bounds || entry.count === 0) return;
    const grid = overviewGrid(entry.bounds, entry.bounds, this.pxPerUnit());
    if (grid) this.fetch(grid, 'whole');
  }

  /** The view moved: redraw what is held at once, and ask for the visible box once the gesture settles. */
  moved(view) {
    this.view = view;
    this.draw();
    clearTimeout(this.timer);
    if (!this.whole) return;
    this.timer = setTimeout(() => this.refine(), SETTLE_MS);
  }

  /** Ask for the visible box at the view's resolution, unless the whole grid (or the detail held) already serves it. */
  refine() {
    const { view, whole } = this;
    if (!view || !whole) return;
    const [x0, x1] = view.x.domain();
    const [y0, y1] = view.y.domain();
    const grid = overviewGrid([x0, y0, x1, y1], this.dataset.bounds, this.pxPerUnit());
    if (grid === null) return;
    const coarse = (held) => {
      const [a, b, c, d] = held.bbox;
      const inside = grid.bbox[0] >= a && grid.bbox[1] >= b && grid.bbox[2] <= c && grid.bbox[3] <= d;
      // Cells of the held grid, in the new grid's cells: ≤ 1.5 means it is about as fine.
      const ratio = ((c - a) / held.width) / ((grid.bbox[2] - grid.bbox[0]) / grid.width);
      return !inside || ratio > 1.5;
    };
    if (!coarse(whole)) {
      if (this.detail) this.detail = null;
      this.abort();
      this.draw();
      return;
    }
    if (this.detail && !coarse(this.detail) && this.detail.width <= 2 * grid.width) return;
    this.fetch(grid, 'detail');
  }

  /** Return CSS pixels a data unit at the current view. */
  pxPerUnit() {
    const [x0, x1] = this.view.x.domain();
    return this.view.width / Math.abs(x1 - x0);
  }

  abort() {
    clearTimeout(this.timer);
    this.pending?.abort();
    this.pending = null;
  }

  async fetch(grid, slot) {
    this.abort();
    const controller = new AbortController();
    this.pending = controller;
    const name = this.dataset.name;
    const params = new URLSearchParams({ width: grid.width, height: grid.height, bbox: grid.bbox.join(',') });
    this.requests += 1;
    try {
      const response = await fetch(`/api/datasets/${encodeURIComponent(name)}/overview?${params}`, {
        signal: controller.signal,
      });
      if (!response.ok) {
        const body = await response.json().catch(() => null);
        throw new Error(body?.error ?? `HTTP ${response.status}`);
      }
      const answer = await response.json();
      if (this.pending !== controller) return; // superseded meanwhile
      this.pending = null;
      const { pixels, most } = overviewPixels(answer, this.colours);
      const image = new OffscreenCanvas(answer.width, answer.height);
      image.getContext('2d').putImageData(new ImageData(new Uint8ClampedArray(pixels.buffer), answer.width, answer.height), 0, 0);
      this[slot] = { bbox: answer.bbox, width: answer.width, height: answer.height, image, most };
      if (slot === 'whole') this.detail = null;
      this.draw();
      if (slot === 'whole') this.drawnAt = performance.now();
    } catch (err) {
      if (err.name === 'AbortError' || this.pending !== controller) return;
      this.pending = null;
      this.onError(`The overview of “${name}” could not be had: ${err.message}.`);
    }
  }

  /** Draw as context (grey and faint, under a query's points) or not. */
  setDim(dim) {
    if (dim === this.dim) return;
    this.dim = dim;
    this.draw();
  }

  /** Draw what is held at the view's current scales: the whole grid, the visible box's over it. */
  draw() {
    const { canvas, context, view } = this;
    const dpr = window.devicePixelRatio || 1;
    if (view) {
      const width = Math.max(1, Math.round(view.width * dpr));
      const height = Math.max(1, Math.round(view.height * dpr));
      if (canvas.width !== width || canvas.height !== height) [canvas.width, canvas.height] = [width, height];
    }
    context.setTransform(1, 0, 0, 1, 0, 0);
    context.clearRect(0, 0, canvas.width, canvas.height);
    const shown = this.detail ?? this.whole;
    if (!view || !shown) {
      this.onDraw(null);
      this.onScale(0);
      return;
    }
    context.imageSmoothingEnabled = false;
    context.setTransform(dpr, 0, 0, dpr, 0, 0);
    for (const held of [this.whole, this.detail]) {
      if (!held) continue;
      const [minX, minY, maxX, maxY] = held.bbox;
      const left = view.x(minX);
      const top = view.y(maxY);
      const w = view.x(maxX) - left;
      const h = view.y(minY) - top;
      context.clearRect(left, top, w, h); // the finer grid replaces the coarse one where it has cells
      context.drawImage(held.image, left, top, w, h);
    }
    if (this.dim) {
      // Grey and faint: the canvas's own filter over what it holds (one pass, then read back).
      context.setTransform(1, 0, 0, 1, 0, 0);
      context.globalCompositeOperation = 'copy';
      context.filter = `grayscale(1) opacity(${DIM_ALPHA})`;
      context.drawImage(canvas, 0, 0);
      context.filter = 'none';
      context.globalCompositeOperation = 'source-over';
    }
    const data = context.getImageData(0, 0, canvas.width, canvas.height).data;
    this.onDraw(new Uint32Array(data.buffer, data.byteOffset, data.byteLength / 4));
    this.onScale(shown.most);
  }
}
