/** Draw and edit polygons on the plot: click vertices, rubber band, close, cancel, drag a vertex. */

import { roundTo, vertexStep } from './query-geometry.js';

const d3 = globalThis.d3;

// A click this close (px) to the first vertex closes the ring; a click this close to the last
// one adds nothing (the two clicks of a double-click land on the same spot).
const CLOSE_DISTANCE = 9;
const SAME_SPOT_DISTANCE = 3;
// Geodesic edges are drawn as polylines with a vertex about every this many degrees.
const GEODESIC_STEP_DEGREES = 1;

/**
 * Return the points (in data coordinates) that draw the edge a→b: the segment itself on a
 * plane, the shortest great-circle arc on the sphere (what the server tests against).
 */
export function edgePoints(a, b, geometry) {
  if (geometry !== 'spherical') return [a, b];
  const degrees = (d3.geoDistance(a, b) * 180) / Math.PI;
  const steps = Math.min(360, Math.max(1, Math.ceil(degrees / GEODESIC_STEP_DEGREES)));
  const along = d3.geoInterpolate(a, b);
  const points = [a];
  for (let i = 1; i < steps; i += 1) points.push(along(i / steps));
  points.push(b);
  return points;
}

/** Return the data-coordinate polyline through `ring`'s edges, closed back to the start if asked. */
export function ringOutline(ring, geometry, closed) {
  const out = [];
  const last = closed ? ring.length : ring.length - 1;
  for (let i = 0; i < last; i += 1) {
    const edge = edgePoints(ring[i], ring[(i + 1) % ring.length], geometry);
    out.push(...(i === 0 ? edge : edge.slice(1)));
  }
  return out.length > 0 ? out : ring.slice(0, 1);
}

/** Return a vertex kept inside the sphere's coordinates (lon ±180, lat ±90) on a spherical plot. */
export function clampVertex([x, y], geometry) {
  if (geometry !== 'spherical') return [x, y];
  return [Math.min(180, Math.max(-180, x)), Math.min(90, Math.max(-90, y))];
}

/**
 * Return a spherical ring ordered so that d3-geo takes the smaller of the two regions it
 * splits the sphere into as its inside — the region the server selects. (d3-geo decides the
 * inside by winding, so the same ring in the other order would mean the rest of the globe.)
 */
export function orientSmaller(ring) {
  if (ring.length < 3) return ring;
  const area = d3.geoArea({ type: 'Polygon', coordinates: [[...ring, ring[0]]] });
  return area > 2 * Math.PI ? [...ring].reverse() : ring;
}

/**
 * Split a lon/lat polyline where it crosses the antimeridian (a longitude jump of more than
 * 180°) into pieces that each stay on the map, ending and starting on the ±180 edges.
 */
export function splitAtAntimeridian(points) {
  const pieces = [];
  let piece = [];
  for (let i = 0; i < points.length; i += 1) {
    const point = points[i];
    const previous = points[i - 1];
    if (previous && Math.abs(point[0] - previous[0]) > 180) {
      // Where the short way between them meets the edge, on a straight line in lon/lat (the
      // points are a degree or so apart, so the line is as good as the arc).
      const edge = previous[0] > 0 ? 180 : -180;
      const unwrapped = point[0] + (edge > 0 ? 360 : -360);
      const t = (edge - previous[0]) / (unwrapped - previous[0]);
      const lat = previous[1] + t * (point[1] - previous[1]);
      piece.push([edge, lat]);
      pieces.push(piece);
      piece = [[-edge, lat]];
    }
    piece.push(point);
  }
  pieces.push(piece);
  return pieces;
}

/**
 * Return the d3-geo equirectangular projection that puts lon/lat where the plot's linear
 * scales `x` and `y` do (one degree the same length on both axes), clipped a little outside
 * the plot's area so a deep zoom does not make huge paths.
 */
export function plotProjection(x, y) {
  const degree = x(1) - x(0); // pixels per degree
  const [left, right] = x.range();
  const [bottom, top] = y.range();
  const margin = 20;
  return d3
    .geoEquirectangular()
    .scale((degree * 180) / Math.PI)
    .translate([x(0), y(0)])
    .clipExtent([
      [Math.min(left, right) - margin, Math.min(top, bottom) - margin],
      [Math.max(left, right) + margin, Math.max(top, bottom) + margin],
    ]);
}

/**
 * Return the SVG path of a closed spherical ring on the plot: its great-circle edges, cut at
 * the antimeridian by d3-geo, enclosing the smaller region (the one the server selects).
 */
export function sphericalRingPath(ring, x, y) {
  const outline = ringOutline(orientSmaller(ring), 'spherical', true);
  return d3.geoPath(plotProjection(x, y))({ type: 'Polygon', coordinates: [outline] }) ?? '';
}

export class PolygonTool {
  /**
   * `view` is the PlotView (scales, pointer inversion); `layer` the <g> to draw in; `onChange`
   * gets the closed rings (arrays of [x, y]) after every change that alters the query; `onDraft`
   * gets the number of vertices of the ring being drawn (0 when none), for hints.
   */
  constructor(view, layer, { onChange = () => {}, onDraft = () => {} } = {}) {
    this.view = view;
    this.layer = d3.select(layer);
    this.onChange = onChange;
    this.onDraft = onDraft;
    this.geometry = 'planar';
    this.polygons = []; // closed rings, first vertex not repeated
    this.draft = []; // the ring being drawn
    this.pointer = null; // data coordinates of the pointer while drawing
    this.closedLayer = this.layer.append('g').attr('class', 'closed');
    this.draftLayer = this.layer.append('g').attr('class', 'draft');
    this.vertexDrag = this.makeVertexDrag();
    const hit = view.hit;
    hit.on('click.polygon', (event) => this.click(event));
    hit.on('dblclick.polygon', (event) => {
      event.preventDefault();
      this.close();
    });
    view.svg.on('mousemove.polygon', (event) => {
      if (this.draft.length === 0) return;
      this.pointer = clampVertex(view.invert(event), this.geometry);
      this.renderDraft();
    });
    view.svg.on('mouseleave.polygon', () => {
      this.pointer = null;
      this.renderDraft();
    });
  }

  /** Start over with these closed rings (a link, a new dataset) without reporting a change. */
  setPolygons(rings, geometry) {
    this.geometry = geometry;
    this.polygons = rings.map((ring) => ring.map(([x, y]) => [x, y]));
    this.cancelDraft();
    this.render();
  }

  /** Remove every polygon and report it. */
  clear() {
    this.polygons = [];
    this.cancelDraft();
    this.render();
    this.onChange(this.polygons);
  }

  /** Forget the ring being drawn. */
  cancelDraft() {
    this.draft = [];
    this.pointer = null;
    this.renderDraft();
    this.onDraft(0);
  }

  /** Handle a key pressed on the plot; return true when it meant something here. */
  key(event) {
    if (this.draft.length === 0) return false;
    if (event.key === 'Enter') this.close();
    else if (event.key === 'Escape') this.cancelDraft();
    else if (event.key === 'Backspace') {
      this.draft.pop();
      this.renderDraft();
      this.onDraft(this.draft.length);
    } else return false;
    return true;
  }

  click(event) {
    // Enter, Escape and Backspace must reach the plot; the press usually focused it already.
    // A mouse click must not light up the keyboard focus ring (focusVisible: false).
    if (document.activeElement !== this.view.root) this.view.root.focus({ preventScroll: true, focusVisible: false });
    const point = this.snap(this.view.invert(event));
    const [px, py] = d3.pointer(event, this.view.inner.node());
    if (this.draft.length >= 3 && this.screenDistance(this.draft[0], px, py) <= CLOSE_DISTANCE) {
      this.close();
      return;
    }
    const lastVertex = this.draft[this.draft.length - 1];
    if (lastVertex && this.screenDistance(lastVertex, px, py) <= SAME_SPOT_DISTANCE) return;
    this.draft.push(point);
    this.pointer = point;
    this.renderDraft();
    this.onDraft(this.draft.length);
  }

  /** Close the ring being drawn if it has three vertices, and report the new set of polygons. */
  close() {
    if (this.draft.length < 3) return;
    this.polygons.push(this.draft);
    this.cancelDraft();
    this.render();
    this.onChange(this.polygons);
  }

  /**
   * Return a vertex rounded finely enough for the current zoom, so links stay short; on the
   * sphere kept within lon ±180, lat ±90 (the padded view shows more, the server refuses it).
   */
  snap(point) {
    const step = vertexStep(this.view.visibleSpan());
    const [x, y] = clampVertex(point, this.geometry);
    return clampVertex([roundTo(x, step), roundTo(y, step)], this.geometry);
  }

  screenDistance([x, y], px, py) {
    return Math.hypot(this.view.x(x) - px, this.view.y(y) - py);
  }

  pathOf(ring, closed) {
    const { x, y } = this.view;
    if (this.geometry === 'spherical') {
      if (closed && ring.length >= 3) return sphericalRingPath(ring, x, y);
      // An open line (the ring being drawn) is cut where it crosses the antimeridian, rather
      // than joined straight across the map.
      return splitAtAntimeridian(ringOutline(ring, this.geometry, false))
        .map((piece) => `M${piece.map(([a, b]) => `${x(a)},${y(b)}`).join('L')}`)
        .join('');
    }
    const line = ringOutline(ring, this.geometry, closed).map(([a, b]) => `${x(a)},${y(b)}`);
    return `M${line.join('L')}${closed ? 'Z' : ''}`;
  }

  /** Redraw everything at the current scales (after zoom, pan, resize or an edit). */
  render() {
    const { x, y } = this.view;
    const groups = this.closedLayer
      .selectAll('g.polygon')
      .data(this.polygons)
      .join((enter) => {
        const g = enter.append('g').attr('class', 'polygon');
        g.append('path').attr('class', 'outline');
        return g;
      });
    groups.select('path.outline').attr('d', (ring) => this.pathOf(ring, true));
    groups
      .selectAll('circle.vertex')
      .data((ring, polygonIndex) => ring.map((point, vertexIndex) => ({ point, polygonIndex, vertexIndex })))
      .join((enter) => enter.append('circle').attr('class', 'vertex').attr('r', 5).call(this.vertexDrag))
      .attr('cx', (d) => x(d.point[0]))
      .attr('cy', (d) => y(d.point[1]));
    this.renderDraft();
  }

  /** Return the d3-drag behaviour that moves a vertex of a closed polygon and re-queries on release. */
  makeVertexDrag() {
    const tool = this;
    return d3
      .drag()
      .on('start', function (event, d) {
        d.moved = false;
        d3.select(this).classed('dragging', true);
      })
      .on('drag', (event, d) => {
        const [px, py] = d3.pointer(event, this.view.inner.node());
        this.polygons[d.polygonIndex][d.vertexIndex] = this.snap([this.view.x.invert(px), this.view.y.invert(py)]);
        d.moved = true;
        this.render();
      })
      .on('end', function (event, d) {
        d3.select(this).classed('dragging', false);
        // A press without a move is not an edit: nothing to query again.
        if (d.moved) tool.onChange(tool.polygons);
      });
  }

  renderDraft() {
    const { x, y } = this.view;
    const draft = this.draft;
    const layer = this.draftLayer;
    this.layer.classed('drawing', draft.length > 0);
    if (draft.length === 0) {
      layer.selectAll('*').remove();
      return;
    }
    const withPointer = this.pointer ? [...draft, this.pointer] : draft;
    layer
      .selectAll('path.drawn')
      .data([0])
      .join('path')
      .attr('class', 'drawn')
      .attr('d', this.pathOf(withPointer, false));
    // The closing edge the ring would get, dashed, so the user sees the shape before closing.
    const closing = withPointer.length >= 3 ? [withPointer[withPointer.length - 1], draft[0]] : [];
    layer
      .selectAll('path.closing')
      .data(closing.length ? [0] : [])
      .join('path')
      .attr('class', 'closing')
      .attr('d', () => this.pathOf(closing, false));
    layer
      .selectAll('circle.draft-vertex')
      .data(draft)
      .join('circle')
      .attr('class', (d, i) => (i === 0 && draft.length >= 3 ? 'draft-vertex first' : 'draft-vertex'))
      .attr('r', (d, i) => (i === 0 ? 6 : 4))
      .attr('cx', (d) => x(d[0]))
      .attr('cy', (d) => y(d[1]));
  }
}
