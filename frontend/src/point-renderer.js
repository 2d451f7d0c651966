/** Draw points on a canvas, a time-boxed slice of batches per animation frame, straight into pixels. */

// Writing pixels into one ImageData and putting it once per frame costs a few nanoseconds a
// point; canvas paths or fillRect per point cost far more, and an SVG node per point dies at
// 500k. The frame budget keeps the page responsive while millions of points are drawn.
const FRAME_BUDGET_MS = 8;

/** Return the color as the 32-bit pixel value of this machine's byte order. */
function packColor([r, g, b, a = 255]) {
  const bytes = new Uint8ClampedArray([r, g, b, a]);
  return new Uint32Array(bytes.buffer)[0];
}

export class PointRenderer {
  /** `onDrawn` is called after a frame that leaves nothing waiting to be drawn. */
  constructor(canvas, { color = [31, 102, 170], onDrawn = () => {} } = {}) {
    this.canvas = canvas;
    this.context = canvas.getContext('2d');
    this.pixel = packColor(color);
    this.onDrawn = onDrawn;
    this.batches = []; // [{xy: Float64Array, count}]
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
    this.dpr = dpr;
    this.canvas.width = Math.max(1, Math.round(width * dpr));
    this.canvas.height = Math.max(1, Math.round(height * dpr));
    this.image = this.context.createImageData(this.canvas.width, this.canvas.height);
    this.pixels = new Uint32Array(this.image.data.buffer);
    this.redraw();
  }

  /** Map data to CSS pixels with screen = k * value + offset on each axis, and redraw. */
  setTransform(kx, ox, ky, oy) {
    this.transform = { kx, ox, ky, oy };
    this.redraw();
  }

  /** Set the side of a point's square in CSS pixels, and redraw. */
  setPointSize(size) {
    this.pointSize = size;
    this.redraw();
  }

  /** Forget every point and blank the canvas at once. */
  clear() {
    this.batches = [];
    this.total = 0;
    this.redraw();
  }

  /** Keep a batch of points (x, y pairs) and draw it in a coming frame. */
  add(xy, count) {
    if (count === 0) return;
    this.batches.push({ xy, count });
    this.total += count;
    this.schedule();
  }

  /** Return true while some held points are not on the canvas yet. */
  get busy() {
    return this.next < this.batches.length;
  }

  redraw() {
    this.pixels.fill(0);
    this.next = 0;
    this.dirty = true;
    this.schedule();
  }

  schedule() {
    if (this.frameRequested) return;
    this.frameRequested = true;
    requestAnimationFrame(() => this.frame());
  }

  frame() {
    this.frameRequested = false;
    const deadline = performance.now() + FRAME_BUDGET_MS;
    while (this.next < this.batches.length) {
      const { xy, count } = this.batches[this.next];
      this.drawBatch(xy, count);
      this.next += 1;
      this.dirty = true;
      if (performance.now() > deadline) break;
    }
    if (this.dirty) {
      this.context.putImageData(this.image, 0, 0);
      this.dirty = false;
      this.frames += 1;
    }
    if (this.busy) this.schedule();
    else this.onDrawn();
  }

  drawBatch(xy, count) {
    const { pixels, dpr } = this;
    const width = this.canvas.width;
    const height = this.canvas.height;
    const size = Math.max(1, Math.round(this.pointSize * dpr));
    // Device pixels of the square's top-left corner: centred on the point.
    const kx = this.transform.kx * dpr;
    const ox = this.transform.ox * dpr - size / 2;
    const ky = this.transform.ky * dpr;
    const oy = this.transform.oy * dpr - size / 2;
    const pixel = this.pixel;
    if (size === 1) {
      for (let i = 0; i < count; i += 1) {
        const px = Math.round(kx * xy[2 * i] + ox);
        const py = Math.round(ky * xy[2 * i + 1] + oy);
        if (px >= 0 && px < width && py >= 0 && py < height) pixels[py * width + px] = pixel;
      }
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
        for (let at = y * width + x0, end = y * width + x1; at < end; at += 1) pixels[at] = pixel;
      }
    }
  }
}
