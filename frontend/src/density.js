/** The density colours shared by the points and the overview: a log scale of counts onto a perceptual ramp, and its legend. */

// ColorBrewer's YlGnBu (d3-scale-chromatic, in the d3 bundle), a perceptual sequential ramp,
// from its 40% mark (a teal that still shows on white and on the map's land) to its dark end.
// Sparse is light, dense is dark: on a white page ink piling up reads as more.
export const RAMP_START = 0.4;
export const LEVELS = 256;
// The scale's top is at least this many points a pixel: a dataset whose points never share a
// pixel is drawn in the light end (one point each), not all in the darkest colour.
export const MIN_SCALE_MAX = 8;
// Counts are looked up in a table up to here; above, the darkest level.
const TABLE_LIMIT = 65536;

/** Return the level (0 … LEVELS - 1) of `count` ≥ 1 on a log scale whose top is `scaleMax`. */
export function levelOf(count, scaleMax) {
  const top = Math.max(scaleMax, MIN_SCALE_MAX);
  if (count >= top) return LEVELS - 1;
  return Math.round(((LEVELS - 1) * Math.log(count)) / Math.log(top));
}

/** Return the table count → level for counts 0 … min(scaleMax, TABLE_LIMIT) (0 is unused: no point). */
export function levelTable(scaleMax) {
  const size = Math.min(Math.max(scaleMax, MIN_SCALE_MAX), TABLE_LIMIT) + 1;
  const table = new Uint8Array(size);
  for (let count = 1; count < size; count += 1) table[count] = levelOf(count, scaleMax);
  return table;
}

/** Return the pixel (of `colours`, the palette) of each count 0 … min(scaleMax, TABLE_LIMIT): one lookup a count. */
export function pixelTable(scaleMax, colours) {
  return Uint32Array.from(levelTable(scaleMax), (level) => colours[level]);
}

/** Return [r, g, b] of ramp position `t` (0 … 1) given d3's `interpolate` (which returns 'rgb(r, g, b)'). */
export function rampRgb(interpolate, t) {
  const text = interpolate(RAMP_START + (1 - RAMP_START) * t);
  const match = /rgb\((\d+), (\d+), (\d+)\)/.exec(text);
  if (!match) throw new Error(`unexpected colour ${text}`);
  return [Number(match[1]), Number(match[2]), Number(match[3])];
}

/** Return the LEVELS colours as 32-bit pixels of this machine's byte order, opaque. */
export function palette(interpolate = globalThis.d3.interpolateYlGnBu) {
  const bytes = new Uint8ClampedArray(LEVELS * 4);
  for (let level = 0; level < LEVELS; level += 1) {
    const [r, g, b] = rampRgb(interpolate, level / (LEVELS - 1));
    bytes.set([r, g, b, 255], level * 4);
  }
  return new Uint32Array(bytes.buffer);
}

/** Return the [r, g, b, 255] drawn for `count` points in a pixel when the scale's top is `scaleMax`. */
export function densityRgba(count, scaleMax, interpolate = globalThis.d3.interpolateYlGnBu) {
  return [...rampRgb(interpolate, levelOf(count, scaleMax) / (LEVELS - 1)), 255];
}

/** Return the round counts (1, 10, 100, …) to label a log legend running from 1 to `scaleMax`. */
export function legendTicks(scaleMax) {
  const top = Math.max(scaleMax, MIN_SCALE_MAX);
  const ticks = [];
  for (let value = 1; value < top; value *= 10) ticks.push(value);
  if (top / ticks[ticks.length - 1] < 2 && ticks.length > 1) ticks.pop(); // no label crowding the top
  ticks.push(top);
  return ticks;
}

/** Return a count as the legend writes it: 950, 12k, 3.4M. */
export function shortCount(value) {
  if (value < 1000) return String(Math.round(value));
  if (value < 1e6) return `${+(value / 1000).toPrecision(value < 1e4 ? 2 : 3)}k`;
  return `${+(value / 1e6).toPrecision(2)}M`;
}

/** The legend on the plot: the ramp, its log scale from 1 to the top, and what is counted. */
export class DensityLegend {
  constructor(root) {
    this.root = root;
    this.bar = root.querySelector('canvas');
    this.labels = root.querySelector('.ticks');
    this.caption = root.querySelector('.caption');
    this.key = '';
    const context = this.bar.getContext('2d');
    this.bar.width = LEVELS;
    this.bar.height = 1;
    const image = context.createImageData(LEVELS, 1);
    new Uint32Array(image.data.buffer).set(palette());
    context.putImageData(image, 0, 0);
  }

  /** Show the scale of `scaleMax` points per `unit` ('pixel', 'cell'), or hide with scaleMax 0. */
  show(scaleMax, unit) {
    const key = `${scaleMax} ${unit}`;
    if (key === this.key) return;
    this.key = key;
    this.root.hidden = scaleMax <= 0;
    if (scaleMax <= 0) return;
    const top = Math.max(scaleMax, MIN_SCALE_MAX);
    this.labels.replaceChildren(
      ...legendTicks(scaleMax).map((value) => {
        const tick = document.createElement('span');
        tick.textContent = shortCount(value);
        // On the log scale 1 is at the left end, `top` at the right.
        tick.style.left = `${(100 * Math.log(value)) / Math.log(top)}%`;
        return tick;
      }),
    );
    this.caption.textContent = `points per ${unit} (log scale)`;
    this.root.dataset.max = String(top);
    this.root.dataset.unit = unit;
  }
}
