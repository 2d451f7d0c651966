/** Own the plot's frame: scales fitted to a dataset's bounds, axes, and d3-zoom panning and zooming. */

import { constrainArea, formatDegrees, onTheGlobe, worldTranslateExtent } from './basemap.js';

const d3 = globalThis.d3;

const MARGIN = { top: 10, right: 14, bottom: 30, left: 58 };
// Zooming out a little past the data is allowed, zooming in far enough to pick single points.
const SCALE_EXTENT = [0.5, 100000];
const NO_LIMIT = [
  [-Infinity, -Infinity],
  [Infinity, Infinity],
];

/**
 * Lays out an <svg> overlay and a <canvas> inside `root` and keeps them in step: `x` and `y` are
 * the current (zoomed) scales from data to pixels of the inner area; `onChange` runs whenever
 * they move (zoom, pan, resize, new bounds). Nothing is fetched again on zoom: listeners redraw.
 */
export class PlotView {
  constructor(root, { onChange = () => {} } = {}) {
    this.root = root;
    this.onChange = onChange;
    this.svg = d3.select(root).select('svg.overlay');
    this.canvas = root.querySelector('canvas.points');
    // The basemap (under the canvas) covers the inner area as the canvas does, when there is one.
    this.basemap = root.querySelector('svg.basemap');
    this.margin = MARGIN;
    this.geometry = 'planar';
    this.inner = this.svg.select('g.inner');
    this.hit = this.inner.select('rect.hit');
    this.clip = this.svg.select('clipPath rect');
    this.xAxis = this.svg.select('g.axis-x');
    this.yAxis = this.svg.select('g.axis-y');
    this.bounds = [0, 0, 1, 1];
    this.transform = d3.zoomIdentity;
    this.width = 1;
    this.height = 1;
    this.zoom = d3
      .zoom()
      .scaleExtent(SCALE_EXTENT)
      // A press-and-drag pans; a click that barely moves is left to the polygon tool.
      .clickDistance(4)
      // On lon/lat, what the inner area shows stays within the world (see setBounds).
      .constrain((transform, extent, translateExtent) => constrainArea(transform, this.innerArea(), translateExtent))
      .on('zoom', (event) => {
        this.transform = event.transform;
        this.update();
      });
    // Double-click closes a polygon, so it must not zoom.
    this.svg.call(this.zoom).on('dblclick.zoom', null);
    new ResizeObserver(() => this.layout()).observe(root);
    this.layout();
  }

  /**
   * Fit the view to [minX, minY, maxX, maxY] with one unit the same length on both axes;
   * `geometry` 'spherical' (lon/lat) labels the axes in degrees and keeps the view on the world.
   */
  setBounds(bounds, geometry = 'planar') {
    this.bounds = bounds ?? [0, 0, 1, 1];
    this.geometry = geometry === 'spherical' ? 'spherical' : 'planar';
    this.limitPanning();
    this.svg.call(this.zoom.transform, d3.zoomIdentity);
    this.update();
  }

  /** Return the inner plot area in the outer svg's coordinates. */
  innerArea() {
    return [
      [MARGIN.left, MARGIN.top],
      [MARGIN.left + this.width, MARGIN.top + this.height],
    ];
  }

  /** Keep a lon/lat view from panning past the poles and the antimeridian; a plane has no edge. */
  limitPanning() {
    if (this.geometry !== 'spherical') {
      this.zoom.translateExtent(NO_LIMIT);
      return;
    }
    const base = this.baseScales();
    this.zoom.translateExtent(worldTranslateExtent(base.x, base.y, MARGIN));
  }

  /** Go back to the whole dataset. */
  reset() {
    this.svg.transition().duration(250).call(this.zoom.transform, d3.zoomIdentity);
  }

  /** Zoom by `factor` around the centre (keyboard +/-). */
  zoomBy(factor) {
    this.svg.transition().duration(150).call(this.zoom.scaleBy, factor);
  }

  /** Pan by a fraction of the view (keyboard arrows). */
  panBy(dx, dy) {
    this.svg.transition().duration(150).call(this.zoom.translateBy, (dx * this.width) / this.transform.k, (dy * this.height) / this.transform.k);
  }

  layout() {
    const box = this.root.getBoundingClientRect();
    const outerWidth = Math.max(120, Math.floor(box.width));
    const outerHeight = Math.max(120, Math.floor(box.height));
    this.width = outerWidth - MARGIN.left - MARGIN.right;
    this.height = outerHeight - MARGIN.top - MARGIN.bottom;
    this.svg.attr('width', outerWidth).attr('height', outerHeight);
    this.inner.attr('transform', `translate(${MARGIN.left},${MARGIN.top})`);
    this.hit.attr('width', this.width).attr('height', this.height);
    this.clip.attr('width', this.width).attr('height', this.height);
    this.xAxis.attr('transform', `translate(${MARGIN.left},${MARGIN.top + this.height})`);
    this.yAxis.attr('transform', `translate(${MARGIN.left},${MARGIN.top})`);
    for (const layer of [this.canvas, this.basemap]) {
      if (!layer) continue;
      Object.assign(layer.style, {
        left: `${MARGIN.left}px`,
        top: `${MARGIN.top}px`,
        width: `${this.width}px`,
        height: `${this.height}px`,
      });
    }
    this.basemap?.setAttribute('width', this.width);
    this.basemap?.setAttribute('height', this.height);
    this.zoom.extent([
      [0, 0],
      [outerWidth, outerHeight],
    ]);
    this.limitPanning();
    this.update();
  }

  /** Return the unzoomed scales: the bounds, padded a little, centred with equal units. */
  baseScales() {
    const [minX, minY, maxX, maxY] = this.bounds;
    const spanX = Math.max(maxX - minX, 1e-9);
    const spanY = Math.max(maxY - minY, 1e-9);
    const pad = 0.04;
    const k = Math.min(this.width / (spanX * (1 + 2 * pad)), this.height / (spanY * (1 + 2 * pad)));
    const cx = (minX + maxX) / 2;
    const cy = (minY + maxY) / 2;
    const halfW = this.width / (2 * k);
    const halfH = this.height / (2 * k);
    return {
      x: d3.scaleLinear().domain([cx - halfW, cx + halfW]).range([0, this.width]),
      y: d3.scaleLinear().domain([cy - halfH, cy + halfH]).range([this.height, 0]),
    };
  }

  update() {
    const base = this.baseScales();
    // The zoom acts on the outer svg, whose origin is MARGIN away from the inner area: the
    // visible inner pixel r shows what the unzoomed plot had at ((r + MARGIN) - t) / k - MARGIN.
    // Keeping the range and moving the domain keeps the axes' ticks inside the plot.
    const t = this.transform;
    const unzoomX = (r) => base.x.invert((r + MARGIN.left - t.x) / t.k - MARGIN.left);
    const unzoomY = (r) => base.y.invert((r + MARGIN.top - t.y) / t.k - MARGIN.top);
    this.x = base.x.copy().domain(base.x.range().map(unzoomX));
    this.y = base.y.copy().domain(base.y.range().map(unzoomY));
    const xTicks = Math.max(2, Math.round(this.width / 90));
    const yTicks = Math.max(2, Math.round(this.height / 60));
    this.xAxis.call(this.axis(d3.axisBottom(this.x), 'lon', xTicks));
    this.yAxis.call(this.axis(d3.axisLeft(this.y), 'lat', yTicks));
    this.onChange(this);
  }

  /** Set up an axis of about `count` ticks: plain numbers on a plane, degrees on the globe's lon/lat only. */
  axis(axis, along, count) {
    if (this.geometry !== 'spherical') return axis.ticks(count);
    const [a, b] = axis.scale().domain();
    const step = d3.tickStep(Math.min(a, b), Math.max(a, b), count);
    return axis.tickValues(onTheGlobe(axis.scale().ticks(count), along)).tickFormat((v) => formatDegrees(v, along, step));
  }

  /** Return the data coordinates under a pointer event. */
  invert(event) {
    const [px, py] = d3.pointer(event, this.inner.node());
    return [this.x.invert(px), this.y.invert(py)];
  }

  /** Return the page (client) coordinates of a data point, for tests and tooltips. */
  toClient([x, y]) {
    const box = this.hit.node().getBoundingClientRect();
    return [box.left + this.x(x), box.top + this.y(y)];
  }

  /** Return the visible span of data along x, to pick how finely vertices are kept. */
  visibleSpan() {
    const [a, b] = this.x.domain();
    return Math.abs(b - a);
  }
}
