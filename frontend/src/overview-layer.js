/** The dataset's overview (the `…/overview` density grid) under the points: data in view before any query, and context around a selection. */

import { LEVELS, palette, pixelTable } from './density.js';

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
export function overviewGrid(view, bounds, pxPerUnit, viewPx = [Infinity, Infinity]) {
  const data = padFlat(bounds);
  const bbox = intersectBox(padFlat(view), data);
  if (bbox === null) return null;
  // Never more cells than the view has room for (a flat dataset's plot is zoomed 1e9 times).
  const cells = (span, room) =>
    Math.min(MAX_CELLS, Math.ceil(room / CELL_PX), Math.max(1, Math.ceil((span * pxPerUnit) / CELL_PX)));
  return { bbox, width: cells(bbox[2] - bbox[0], viewPx[0]), height: cells(bbox[3] - bbox[1], viewPx[1]) };
}

/** Return a box with some extent where it has none (one point, points on a line), as the API does. */
function padFlat([minX, minY, maxX, maxY]) {
  if (minX === maxX) [minX, maxX] = [minX - 0.5, maxX + 0.5];
  if (minY === maxY) [minY, maxY] = [minY - 0.5, maxY + 0.5];
  return [minX, minY, maxX, maxY];
}

/** Return the grey, faint version of overview pixels: context under a query's points (luminance as CSS grayscale). */
export function dimPixels(pixels) {
  const bytes = new Uint8ClampedArray(pixels.buffer, pixels.byteOffset, pixels.byteLength);
  const out = new Uint8ClampedArray(bytes.length);
  const alpha = Math.round(255 * DIM_ALPHA);
  for (let i = 0; i < bytes.length; i += 4) {
    if (bytes[i + 3] === 0) continue;
    const grey = 0.2126 * bytes[i] + 0.7152 * bytes[i + 1] + 0.0722 * bytes[i + 2];
    out[i] = grey;
    out[i + 1] = grey;
    out[i + 2] = grey;
    out[i + 3] = alpha;
  }
  return new Uint32Array(out.buffer);
}

/** Return the RGBA pixels (top row first) of an overview's counts (bottom row first), coloured by `colours`. */
export function overviewPixels({ width, height, counts }, colours) {
  let most = 0;
  for (const n of counts) if (n > most) most = n;
  const pixelOf = pixelTable(most, colours);
  const limit = pixelOf.length;
  const darkest = colours[LEVELS - 1];
  const pixels = new Uint32Array(width * height);
  for (let row = 0; row < height; row += 1) {
    const from = row * width;
    const to = (height - 1 - row) * width; // the grid's row 0 is the lowest y, the image's the top
    for (let col = 0; col < width; col += 1) {
      const n = counts[from + col];
      if (n !== 0) pixels[to + col] = n < limit ? pixelOf[n] : darkest;
    }
  }
  return { pixels, most };
}

export class OverviewLayer {
  /**
   * Holds the dataset's overview grids as small images (a pixel a cell) and hands them to
   * `onDraw(grids, dim)`: the point renderer samples them into its one canvas, under the points
   * (a second canvas under the points cost a 5M stream 15-25 % in Chromium's compositing; a
   * full-canvas read back per zoom event, megabytes of garbage a frame). `grids` are
   * [{bbox, width, height, pixels (top row first)}], the coarse whole grid first, the visible
   * box's over it; `dim` says to draw them as context (grey, faint). `onScale` gets the densest
   * cell's count of what is shown (for the legend), `onError` a sentence when an overview could
   * not be had (the last picture stays).
   */
  constructor({ onDraw = () => {}, onScale = () => {}, onError = () => {} } = {}) {
    this.onDraw = onDraw;
    this.dim = false; // drawn as context: grey and faint
    this.colours = palette();
    this.onScale = onScale;
    this.onError = onError;
    this.dataset = null;
    // The whole dataset's grid, and the visible box's once zoomed in: {bbox, width, height, pixels, grey, most}.
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
    this.fetchWhole();
  }

  /** Ask for the whole dataset's grid, at the view's resolution (a failed one is asked again after a gesture). */
  fetchWhole() {
    const entry = this.dataset;
    if (entry?.status !== 'ready' || !entry.bounds || entry.count === 0 || !this.view) return;
    const grid = overviewGrid(entry.bounds, entry.bounds, this.pxPerUnit(), [this.view.width, this.view.height]);
    if (grid) this.fetch(grid, 'whole');
  }

  /** The view moved: the renderer redraws what is held; ask for the visible box once the gesture settles. */
  moved(view) {
    this.view = view;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => (this.whole ? this.refine() : this.pending === null && this.fetchWhole()), SETTLE_MS);
  }

  /** Ask for the visible box at the view's resolution, unless the whole grid (or the detail held) already serves it. */
  refine() {
    const { view, whole } = this;
    if (!view || !whole) return;
    const [x0, x1] = view.x.domain();
    const [y0, y1] = view.y.domain();
    const grid = overviewGrid([x0, y0, x1, y1], this.dataset.bounds, this.pxPerUnit(), [view.width, view.height]);
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
      const held = { bbox: answer.bbox, width: answer.width, height: answer.height, pixels, grey: null, most };
      this[slot] = held;
      if (slot === 'whole') this.detail = null;
      this.draw();
      if (slot === 'whole') {
        this.drawnAt = performance.now();
        this.refine(); // zoomed in while it came: the visible box too
      }
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

  /** Hand what is held to the renderer: the whole grid, the visible box's over it. */
  draw() {
    const held = [this.whole, this.detail].filter(Boolean);
    if (this.dim) for (const grid of held) grid.grey ??= dimPixels(grid.pixels);
    this.onDraw(
      held.map((grid) => ({ ...grid, pixels: this.dim ? grid.grey : grid.pixels })),
      this.dim,
    );
    const shown = this.detail ?? this.whole;
    this.onScale(shown ? shown.most : 0);
  }
}
