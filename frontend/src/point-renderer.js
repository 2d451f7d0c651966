/** Draw points on a canvas by density, a time-boxed slice of batches per animation frame, straight into pixels. */

import { LEVELS, MIN_SCALE_MAX, palette, pixelTable } from './density.js';

// Writing pixels into one ImageData and putting it once per frame costs a few nanoseconds a
// point; canvas paths or fillRect per point cost far more, and an SVG node per point dies at
// 500k. The frame budget keeps the page responsive while millions of points are drawn.
const FRAME_BUDGET_MS = 8;
// Each pixel counts the points drawn on it and shows its count's colour (density.js: a log
// scale up to the most points any pixel holds). The scale's top follows that maximum in steps
// of this factor (each step recolours the whole canvas once), and exactly once the stream is
// over and all is drawn: a recolour per frame while points arrive cost a 5M stream ~25 %.
const SCALE_STEP = 1.25;

export class PointRenderer {
  /** `onDrawn` is called after a frame that leaves nothing waiting to be drawn. */
  /** `onScale` gets the top of the colour scale (points in the densest pixel) when it changes. */
  constructor(canvas, { onDrawn = () => {}, onScale = () => {} } = {}) {
    this.canvas = canvas;
    this.context = canvas.getContext('2d');
    // The last complete picture and the transform it was drawn at, shown moved and scaled to
    // the new transform while a redraw (zoom, pan, resize) is under way: the whole picture
    // stays on screen during a gesture instead of refilling from one corner.
    this.backBuffer = document.createElement('canvas');
    this.backContext = this.backBuffer.getContext('2d');
    this.backTransform = null; // {kx, ox, ky, oy, dpr} while the back buffer stands in
    this.backShown = false; // the back buffer is on the canvas at the current transform
    this.redrawUntil = 0; // batches the redraw must draw before its picture is complete
    this.canvasValid = false; // the canvas shows the pixels (at the current transform) as last put
    // How many batches a frame may draw at most (besides the time budget): the browser tests
    // lower it to catch the page mid-redraw; 0 holds the drawing.
    this.batchesPerFrame = Infinity;
    this.palette = palette();
    this.onDrawn = onDrawn;
    this.onScale = onScale;
    this.grids = []; // the overview's grids, shown where no point is (setBackground)
    this.backgroundKey = ''; // the size and transform `background` was sampled at
    this.complete = false; // no more points are coming (streamEnded), so the scale may be made exact
    this.maxCount = 0; // the most points any pixel holds at the current transform
    this.scaleMax = MIN_SCALE_MAX; // the count the colours are scaled to (≤ maxCount, or the minimum)
    this.pixelOf = pixelTable(this.scaleMax, this.palette); // count → pixel, for counts below its length
    this.batches = []; // [{xy: Float64Array, count, classes: Uint8Array | null}]
    // Colour by a property: each point's class (point-columns.js) looked up in this table of
    // 256 pixels instead of the density colours; null: by density.
    this.classTable = null;
    this.total = 0; // points held
    this.next = 0; // index of the first batch not yet drawn at the current transform
    this.pointSize = 2; // CSS pixels
    this.dpr = 1;
    // screen (CSS px) = k * data + offset, per axis
    this.transform = { kx: 1, ox: 0, ky: 1, oy: 0 };
    this.frameRequested = false;
    this.frames = 0; // frames that drew something, for the status line
    this.resize(canvas.clientWidth || 1, canvas.clientHeight || 1, 1);
  }

  /** Size the canvas for a CSS box at a device pixel ratio, and redraw everything. */
  resize(width, height, dpr) {
    this.keepPicture();
    this.dpr = dpr;
    this.canvas.width = Math.max(1, Math.round(width * dpr));
    this.canvas.height = Math.max(1, Math.round(height * dpr));
    this.image = this.context.createImageData(this.canvas.width, this.canvas.height);
    this.pixels = new Uint32Array(this.image.data.buffer);
    // 16 bits a pixel (saturating at 65,535): half the memory a random write touches of 32.
    this.counts = new Uint16Array(this.canvas.width * this.canvas.height);
    // The class of the point drawn last on each pixel, while colouring by a property.
    this.classes = new Uint8Array(this.canvas.width * this.canvas.height);
    this.background = new Uint32Array(this.canvas.width * this.canvas.height);
    this.backgroundKey = '';
    this.redraw();
  }

  /** Map data to CSS pixels with screen = k * value + offset on each axis, and redraw. */
  setTransform(kx, ox, ky, oy) {
    const t = this.transform;
    if (t.kx === kx && t.ox === ox && t.ky === ky && t.oy === oy) return;
    this.keepPicture();
    this.transform = { kx, ox, ky, oy };
    this.redraw();
  }

  /**
   * Show `grids` where no point is: the overview, sampled into this one canvas under the points
   * rather than drawn in a canvas of its own. Each is {bbox, width, height, pixels} (a pixel a
   * cell, top row first); later ones cover earlier ones where they lie. The points stay.
   */
  setBackground(grids) {
    this.grids = grids;
    this.backgroundKey = '';
    this.composeBackground();
    const { counts, pixels, background } = this;
    for (let i = 0; i < counts.length; i += 1) if (counts[i] === 0) pixels[i] = background[i];
    this.dirty = true;
    this.schedule();
  }

  /** Sample the grids into `background` at the current transform (nearest cell), unless it is so already. */
  composeBackground() {
    const { width, height } = this.canvas;
    const { kx, ox, ky, oy } = this.transform;
    const key = `${width} ${height} ${kx} ${ox} ${ky} ${oy} ${this.dpr}`;
    if (key === this.backgroundKey) return;
    this.backgroundKey = key;
    const background = this.background;
    background.fill(0);
    const dpr = this.dpr;
    for (const grid of this.grids) {
      const [minX, minY, maxX, maxY] = grid.bbox;
      // The cell under each device pixel's centre: data = (device / dpr - offset) / k, per axis.
      const cols = new Int32Array(width);
      let first = width;
      let last = -1;
      for (let px = 0; px < width; px += 1) {
        const x = ((px + 0.5) / dpr - ox) / kx;
        const col = Math.floor(((x - minX) / (maxX - minX)) * grid.width);
        cols[px] = col >= 0 && col < grid.width ? col : -1;
        if (cols[px] >= 0) [first, last] = [Math.min(first, px), px];
      }
      if (last < 0) continue;
      const src = grid.pixels;
      for (let py = 0; py < height; py += 1) {
        const y = ((py + 0.5) / dpr - oy) / ky;
        const row = Math.floor(((maxY - y) / (maxY - minY)) * grid.height);
        if (row < 0 || row >= grid.height) continue;
        const from = row * grid.width;
        const to = py * width;
        for (let px = first; px <= last; px += 1) background[to + px] = src[from + cols[px]];
      }
    }
  }

  /** Set the side of a point's square in CSS pixels, and redraw. */
  setPointSize(size) {
    this.pointSize = size;
    this.redraw();
  }

  /** Forget every point and blank the canvas at once. */
  clear() {
    this.complete = false;
    this.batches = [];
    this.total = 0;
    this.backTransform = null;
    this.redraw();
  }

  /** Keep a batch of points (x, y pairs; `classes`: each one's colour class, or null) and draw it in a coming frame. */
  add(xy, count, classes = null) {
    if (count === 0) return;
    this.batches.push({ xy, count, classes });
    this.total += count;
    this.schedule();
  }

  /**
   * Colour by class from `table` (256 pixels; null: by density), with `classes` the class of
   * every point held, in arrival order (null: none), and redraw. Points beyond `classes` keep
   * the classes they came with.
   */
  setColouring(table, classes) {
    this.classTable = table;
    let at = 0;
    for (const batch of this.batches) {
      if (table === null) batch.classes = null;
      else if (classes !== null && at + batch.count <= classes.length) batch.classes = classes.subarray(at, at + batch.count);
      at += batch.count;
    }
    this.keepPicture();
    this.redraw();
  }

  /** No more points are coming: once all are drawn, the colours are scaled to the densest pixel exactly. */
  streamEnded() {
    this.complete = true;
    this.dirty = true;
    this.schedule();
  }

  /** Return true while some held points are not on the canvas yet, or their final colours are not. */
  get busy() {
    return this.drawing || (this.complete && Math.max(this.maxCount, MIN_SCALE_MAX) !== this.scaleMax);
  }

  /** Return true while some held points are not on the canvas yet. */
  get drawing() {
    return this.next < this.batches.length;
  }

  redraw() {
    this.composeBackground();
    this.pixels.set(this.background);
    this.counts.fill(0);
    this.maxCount = 0;
    this.setScale(MIN_SCALE_MAX);
    this.next = 0;
    this.redrawUntil = this.batches.length;
    this.dirty = true;
    this.canvasValid = false;
    this.backShown = false;
    this.schedule();
  }

  /**
   * Before the picture is redrawn from scratch, copy what the canvas shows into the back
   * buffer, unless a redraw is already under way: then the back buffer still holds the last
   * complete picture, and that is what keeps being shown.
   */
  keepPicture() {
    if (this.backTransform !== null || !this.canvasValid || this.batches.length === 0) return;
    const { width, height } = this.canvas;
    if (this.backBuffer.width !== width || this.backBuffer.height !== height) {
      this.backBuffer.width = width;
      this.backBuffer.height = height;
    } else this.backContext.clearRect(0, 0, width, height);
    this.backContext.drawImage(this.canvas, 0, 0);
    this.backTransform = { ...this.transform, dpr: this.dpr };
  }

  /** Show the last complete picture moved and scaled from its transform to the current one. */
  showBackBuffer() {
    const from = this.backTransform;
    const to = this.transform;
    const { dpr } = this;
    // screen = k * data + o, so new = (k1 / k0) * (old - o0) + o1, in device pixels.
    const sx = to.kx / from.kx;
    const sy = to.ky / from.ky;
    const scaleX = (sx * dpr) / from.dpr;
    const scaleY = (sy * dpr) / from.dpr;
    const ctx = this.context;
    ctx.save();
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.clearRect(0, 0, this.canvas.width, this.canvas.height);
    ctx.imageSmoothingEnabled = false;
    ctx.setTransform(scaleX, 0, 0, scaleY, dpr * (to.ox - sx * from.ox), dpr * (to.oy - sy * from.oy));
    ctx.drawImage(this.backBuffer, 0, 0);
    ctx.restore();
  }

  schedule() {
    if (this.frameRequested) return;
    this.frameRequested = true;
    requestAnimationFrame(() => this.frame());
  }

  frame() {
    this.frameRequested = false;
    const deadline = performance.now() + FRAME_BUDGET_MS;
    let drawn = 0;
    while (this.next < this.batches.length && drawn < this.batchesPerFrame) {
      const { xy, count, classes } = this.batches[this.next];
      if (this.classTable === null) this.drawBatch(xy, count);
      else this.drawClassBatch(xy, count, classes);
      this.next += 1;
      drawn += 1;
      this.dirty = true;
      if (performance.now() > deadline) break;
    }
    if (this.backTransform !== null && this.next < this.redrawUntil) {
      // Mid-redraw: the new picture lacks points the last one had, so that one stands in,
      // moved to the current transform, until the new one has them all.
      if (!this.backShown) this.showBackBuffer();
      this.backShown = true;
    } else if (this.dirty) {
      // The colours follow the densest pixel: in steps while drawing, exactly once all is drawn.
      const top = Math.max(this.maxCount, MIN_SCALE_MAX);
      const standIn = this.backTransform !== null;
      this.backTransform = null;
      if (top > this.scaleMax * SCALE_STEP || (this.complete && !this.drawing && top !== this.scaleMax)) this.recolour(top);
      else if (standIn) this.onScale(this.scaleMax); // the redraw's scale, kept from the legend meanwhile
      this.context.putImageData(this.image, 0, 0);
      this.dirty = false;
      this.canvasValid = true;
      this.frames += 1;
    }
    if (this.busy) this.schedule();
    else this.onDrawn();
  }

  /** Scale the colours to `scaleMax` points a pixel, and tell the legend. */
  setScale(scaleMax) {
    if (scaleMax === this.scaleMax) return;
    this.scaleMax = scaleMax;
    this.pixelOf = pixelTable(this.scaleMax, this.palette);
    // While the last complete picture stands in for a redraw, the legend keeps its scale.
    if (this.backTransform === null) this.onScale(scaleMax);
  }

  /** Colour every pixel again from its count on a scale up to `scaleMax`. */
  recolour(scaleMax) {
    this.setScale(scaleMax);
    if (this.classTable !== null) return; // coloured by class: the count's scale changes no pixel
    const { pixels, counts, pixelOf } = this;
    const limit = pixelOf.length;
    const darkest = this.palette[LEVELS - 1];
    for (let i = 0; i < counts.length; i += 1) {
      const n = counts[i];
      if (n !== 0) pixels[i] = n < limit ? pixelOf[n] : darkest;
    }
  }

  /** Return the points' squares in device pixels: side, and top-left corner = k * value + o (centred on the point). */
  squares() {
    const { dpr, transform } = this;
    const size = Math.max(1, Math.round(this.pointSize * dpr));
    return {
      size,
      kx: transform.kx * dpr,
      ox: transform.ox * dpr - size / 2,
      ky: transform.ky * dpr,
      oy: transform.oy * dpr - size / 2,
    };
  }

  drawBatch(xy, count) {
    const { pixels, counts, pixelOf } = this;
    const limit = pixelOf.length;
    const darkest = this.palette[LEVELS - 1];
    let most = this.maxCount;
    const width = this.canvas.width;
    const height = this.canvas.height;
    const { size, kx, ox, ky, oy } = this.squares();
    if (size === 1) {
      for (let i = 0; i < count; i += 1) {
        const px = Math.round(kx * xy[2 * i] + ox);
        const py = Math.round(ky * xy[2 * i + 1] + oy);
        if (px >= 0 && px < width && py >= 0 && py < height) {
          const at = py * width + px;
          const n = counts[at] + 1;
          if (n < 65536) counts[at] = n;
          pixels[at] = n < limit ? pixelOf[n] : darkest;
          if (n > most) most = n;
        }
      }
      this.maxCount = most;
      return;
    }
    for (let i = 0; i < count; i += 1) {
      const px = Math.round(kx * xy[2 * i] + ox);
      const py = Math.round(ky * xy[2 * i + 1] + oy);
      // The positive test also drops NaN (a point without numbers).
      if (!(px > -size && px < width && py > -size && py < height)) continue;
      // Clip the square to the canvas: a point on the edge of the view still shows in part.
      const x0 = Math.max(px, 0);
      const x1 = Math.min(px + size, width);
      const y1 = Math.min(py + size, height);
      for (let y = Math.max(py, 0); y < y1; y += 1) {
        for (let at = y * width + x0, end = y * width + x1; at < end; at += 1) {
          const n = counts[at] + 1;
          if (n < 65536) counts[at] = n;
          pixels[at] = n < limit ? pixelOf[n] : darkest;
          if (n > most) most = n;
        }
      }
    }
    this.maxCount = most;
  }

  /**
   * Draw a batch coloured by class (`classes[i]` looked up in the class table; no classes: all
   * "no value"): the last point drawn on a pixel gives its colour. Counts are kept as by
   * density (they say where points are). A loop of its own, so density's stays as it was.
   */
  drawClassBatch(xy, count, classes) {
    const { pixels, counts, classTable } = this;
    const pixelClasses = this.classes;
    let most = this.maxCount;
    const width = this.canvas.width;
    const height = this.canvas.height;
    const { size, kx, ox, ky, oy } = this.squares();
    for (let i = 0; i < count; i += 1) {
      const px = Math.round(kx * xy[2 * i] + ox);
      const py = Math.round(ky * xy[2 * i + 1] + oy);
      if (!(px > -size && px < width && py > -size && py < height)) continue;
      const cls = classes === null ? 255 : classes[i];
      const pixel = classTable[cls];
      const x0 = Math.max(px, 0);
      const x1 = Math.min(px + size, width);
      const y1 = Math.min(py + size, height);
      for (let y = Math.max(py, 0); y < y1; y += 1) {
        for (let at = y * width + x0, end = y * width + x1; at < end; at += 1) {
          const n = counts[at] + 1;
          if (n < 65536) counts[at] = n;
          if (n > most) most = n;
          pixels[at] = pixel;
          pixelClasses[at] = cls;
        }
      }
    }
    this.maxCount = most;
  }
}
