/** Draw and edit polygons on the plot: click vertices or drag a rectangle, rubber band, close, cancel, drag a corner, select and delete. */

import { boxRing, cornerIndices, densifyLongEdges, moveCorner } from './lonlat-edges.js';
import { checkArea } from './polygon-check.js';
import { queryGeometry, roundTo, vertexStep } from './query-geometry.js';

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
   * gets the number of vertices of the ring being drawn (0 when none), for hints; `onRefuse` gets
   * the server's words for a polygon the page did not send (it keeps the picture and the query).
   * `maxVertices` is the server's limit on a query's positions (POINTS_MAX_VERTICES).
   */
  constructor(view, layer, { onChange = () => {}, onDraft = () => {}, onRefuse = () => {}, maxVertices = 10_000 } = {}) {
    this.view = view;
    this.layer = d3.select(layer);
    this.onChange = onChange;
    this.onDraft = onDraft;
    this.onRefuse = onRefuse;
    this.maxVertices = maxVertices;
    this.geometry = 'planar';
    this.mode = 'polygon'; // what a press on the plot draws: polygon (clicks) | rectangle (a drag) | select (nothing)
    this.polygons = []; // closed rings, first vertex not repeated: exactly the vertices sent
    this.selected = null; // index of the selected polygon (Delete removes it)
    this.labels = []; // a text per polygon, shown in its middle (its count of points), or '' for none
    this.draft = []; // the ring being drawn
    this.boxDraft = null; // the rectangle being dragged out, as the ring it would send
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
    // In rectangle mode a drag on the plot draws the box; d3-drag stops the press there, so
    // d3-zoom (on the svg above) does not pan; the wheel still zooms.
    hit.call(this.makeBoxDrag());
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
    this.selected = null;
    this.cancelDraft();
    this.render();
  }

  /** Draw polygons by clicks ('polygon'), rectangles by a drag ('rectangle'), or nothing ('select': clicks pick points). */
  setMode(mode) {
    this.mode = mode;
    this.cancelDraft();
  }

  /** Show `labels[i]` in the middle of polygon i (its count; '' shows nothing). */
  setLabels(labels) {
    this.labels = labels;
    this.render();
  }

  /** Remove every polygon and report it. */
  clear() {
    this.polygons = [];
    this.selected = null;
    this.cancelDraft();
    this.render();
    this.onChange(this.polygons);
  }

  /**
   * Add closed rings (a loaded file) if the query with them is one the server takes, and report
   * the change; else say why and change nothing. Return whether they were added.
   */
  add(rings) {
    const next = [...this.polygons, ...rings.map((ring) => ring.map(([x, y]) => [x, y]))];
    if (this.refuse(next)) return false;
    this.polygons = next;
    this.selected = null;
    this.cancelDraft();
    this.render();
    this.onChange(this.polygons);
    return true;
  }

  /** Remove the selected polygon and report the change (the query runs with the others). */
  deleteSelected() {
    if (this.selected === null) return;
    this.polygons.splice(this.selected, 1);
    this.selected = null;
    this.render();
    this.onChange(this.polygons);
  }

  /** Select polygon `index` (null: none) and redraw. */
  select(index) {
    this.selected = index;
    this.render();
  }

  /**
   * Return true (having said why through onRefuse) when the server would refuse the query made
   * of `rings`: checked here with its words, so nothing is sent and the picture stays.
   */
  refuse(rings) {
    if (rings.length === 0) return false;
    const message = checkArea(queryGeometry(rings), { kind: this.geometry, maxVertices: this.maxVertices });
    if (message) this.onRefuse(`invalid polygon: ${message}`);
    return message !== null;
  }

  /** Forget the ring or rectangle being drawn. */
  cancelDraft() {
    this.draft = [];
    this.boxDraft = null;
    this.pointer = null;
    this.renderDraft();
    this.onDraft(0);
  }

  /** Handle a key pressed on the plot; return true when it meant something here. */
  key(event) {
    if (this.draft.length === 0) {
      if (this.selected === null) return false;
      if (event.key === 'Delete' || event.key === 'Backspace') this.deleteSelected();
      else if (event.key === 'Escape') this.select(null);
      else return false;
      return true;
    }
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
    // In Select mode, and with Alt in any mode, a click picks a point (point-details.js): it
    // draws nothing and selects no polygon.
    if (this.mode === 'select' || event.altKey) return;
    const [px, py] = d3.pointer(event, this.view.inner.node());
    if (this.draft.length === 0) {
      // Not drawing: a click on a polygon selects it; elsewhere it drops the selection and,
      // with the polygon tool, starts a ring.
      const hit = this.polygonAt(px, py);
      if (hit !== null || this.selected !== null) this.select(hit);
      if (hit !== null || this.mode !== 'polygon') return;
    }
    const point = this.snap(this.view.invert(event));
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

  /** Return the index of the topmost polygon whose shading covers the plot pixel (px, py), or null. */
  polygonAt(px, py) {
    const paths = this.closedLayer.selectAll('g.polygon path.outline').nodes();
    for (let i = paths.length - 1; i >= 0; i -= 1) {
      if (paths[i].isPointInFill(new DOMPoint(px, py))) return i;
    }
    return null;
  }

  /**
   * Close the ring being drawn if it has three vertices and the server would take it, and report
   * the new set of polygons. On the sphere an edge spanning more than 180° of longitude is laid
   * along the straight line drawn on the map (the server would take the shorter arc, the other
   * way round the globe). A refused ring stays open, to be mended (Backspace) or dropped (Esc).
   */
  close() {
    if (this.draft.length < 3) return;
    const ring = this.geometry === 'spherical' ? densifyLongEdges(this.draft, this.tolerance(), this.rounder()) : this.draft;
    if (this.refuse([...this.polygons, ring])) return;
    this.polygons.push(ring);
    this.cancelDraft();
    this.render();
    this.onChange(this.polygons);
  }

  /** Return the ring a rectangle with corners p and q sends: 4 corners, or on the sphere densified parallels and meridians. */
  boxRing(p, q) {
    if (this.geometry === 'spherical') return boxRing(p, q, this.tolerance(), this.rounder());
    const [x0, x1] = [Math.min(p[0], q[0]), Math.max(p[0], q[0])];
    const [y0, y1] = [Math.min(p[1], q[1]), Math.max(p[1], q[1])];
    return [
      [x0, y0],
      [x1, y0],
      [x1, y1],
      [x0, y1],
    ];
  }

  /** Return how far (degrees) a sent edge may stray from the drawn line: half a pixel at this zoom. */
  tolerance() {
    return 0.5 / Math.abs(this.view.x(1) - this.view.x(0));
  }

  /** Return the rounding of vertices at this zoom (see snap). */
  rounder() {
    const step = vertexStep(this.view.visibleSpan());
    return (value) => roundTo(value, step);
  }

  /**
   * Return a vertex rounded finely enough for the current zoom, so links stay short; on the
   * sphere kept within lon ±180, lat ±90 (the padded view shows more, the server refuses it).
   */
  snap(point) {
    const round = this.rounder();
    const [x, y] = clampVertex(point, this.geometry);
    return clampVertex([round(x), round(y)], this.geometry);
  }

  screenDistance([x, y], px, py) {
    return Math.hypot(this.view.x(x) - px, this.view.y(y) - py);
  }

  pathOf(ring, closed) {
    const { x, y } = this.view;
    if (this.geometry === 'spherical') {
      if (closed && ring.length >= 3) return sphericalRingPath(ring, x, y);
      // An open line (the ring being drawn) is cut where it crosses the antimeridian, rather
      // than joined straight across the map; an edge longer than 180° of longitude is shown
      // straight, as close() will send it.
      const line = densifyLongEdges(ring, this.tolerance(), (v) => v, false);
      return splitAtAntimeridian(ringOutline(line, this.geometry, false))
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
      })
      .classed('selected', (ring, i) => i === this.selected);
    groups.select('path.outline').attr('d', (ring) => this.pathOf(ring, true));
    // Handles on the corners only: on the sphere the vertices inserted along a straight line
    // (a rectangle's sides, a long edge) move with the corners.
    const handles = (ring) => (this.geometry === 'spherical' ? cornerIndices(ring) : ring.map((_, i) => i));
    groups
      .selectAll('circle.vertex')
      .data((ring, polygonIndex) => handles(ring).map((vertexIndex) => ({ point: ring[vertexIndex], polygonIndex, vertexIndex })))
      .join((enter) => enter.append('circle').attr('class', 'vertex').attr('r', 5).call(this.vertexDrag))
      .attr('cx', (d) => x(d.point[0]))
      .attr('cy', (d) => y(d.point[1]));
    this.renderLabels(groups);
    this.renderDelete();
    this.renderDraft();
  }

  /** Draw each polygon's label in the middle of its outline, kept inside the plot. */
  renderLabels(groups) {
    const { width, height } = this.view;
    groups
      .selectAll('text.count-label')
      .data((ring, i) => (this.labels[i] ? [this.labels[i]] : []))
      .join('text')
      .attr('class', 'count-label')
      .attr('text-anchor', 'middle')
      .attr('dy', '0.35em')
      .text((label) => label)
      .each(function () {
        const box = this.parentNode.querySelector('path.outline').getBBox();
        const left = Math.min(Math.max(box.x, 0), width);
        const right = Math.max(Math.min(box.x + box.width, width), 0);
        const top = Math.min(Math.max(box.y, 0), height);
        const bottom = Math.max(Math.min(box.y + box.height, height), 0);
        this.setAttribute('x', String((left + right) / 2));
        this.setAttribute('y', String((top + bottom) / 2));
      });
  }

  /** Draw the ✕ that deletes the selected polygon, at the top right of its outline. */
  renderDelete() {
    const outline = this.selected === null ? null : this.closedLayer.selectAll('g.polygon path.outline').nodes()[this.selected];
    const box = outline?.getBBox();
    const button = this.closedLayer
      .selectAll('g.delete-polygon')
      .data(box ? [box] : [])
      .join((enter) => {
        const g = enter.append('g').attr('class', 'delete-polygon');
        g.append('title').text('Delete this polygon (Delete key)');
        g.append('circle').attr('r', 9);
        g.append('text').attr('text-anchor', 'middle').attr('dy', '0.35em').text('✕');
        g.on('click', (event) => {
          event.stopPropagation();
          this.deleteSelected();
        });
        return g;
      });
    // Kept inside the plot, so a polygon running off the view still shows its ✕.
    const left = Math.min(Math.max((box?.x ?? 0) + (box?.width ?? 0), 12), this.view.width - 12);
    const top = Math.min(Math.max(box?.y ?? 0, 12), this.view.height - 12);
    button.attr('transform', `translate(${left},${top})`);
  }

  /**
   * Return the d3-drag behaviour that moves a corner of a closed polygon and re-queries on
   * release; a move the server would refuse is undone, saying why.
   */
  makeVertexDrag() {
    const tool = this;
    return d3
      .drag()
      .on('start', function (event, d) {
        d.moved = false;
        d.base = tool.polygons[d.polygonIndex].map((p) => [...p]);
        d3.select(this).classed('dragging', true);
      })
      .on('drag', (event, d) => {
        const [px, py] = d3.pointer(event, this.view.inner.node());
        const point = this.snap([this.view.x.invert(px), this.view.y.invert(py)]);
        if (this.geometry === 'spherical') {
          this.polygons[d.polygonIndex] = moveCorner(d.base, d.vertexIndex, point, this.tolerance(), this.rounder()).ring;
        } else {
          this.polygons[d.polygonIndex][d.vertexIndex] = point;
        }
        d.moved = true;
        this.render();
      })
      .on('end', function (event, d) {
        d3.select(this).classed('dragging', false);
        // A press without a move is not an edit: nothing to query again.
        if (!d.moved) return;
        if (tool.refuse(tool.polygons)) {
          tool.polygons[d.polygonIndex] = d.base;
          tool.render();
        } else tool.onChange(tool.polygons);
      });
  }

  /** Return the d3-drag behaviour that draws a rectangle in rectangle mode (any other press is left to d3-zoom and clicks). */
  makeBoxDrag() {
    const tool = this;
    let start = null;
    const pointAt = (event) => {
      const [px, py] = d3.pointer(event, this.view.inner.node());
      return this.snap([this.view.x.invert(px), this.view.y.invert(py)]);
    };
    return d3
      .drag()
      .filter((event) => tool.mode === 'rectangle' && tool.draft.length === 0 && !event.ctrlKey && !event.button)
      .on('start', (event) => {
        start = { point: pointAt(event.sourceEvent), at: d3.pointer(event.sourceEvent, this.view.inner.node()) };
      })
      .on('drag', (event) => {
        this.boxDraft = this.boxRing(start.point, pointAt(event.sourceEvent));
        this.renderDraft();
      })
      .on('end', (event) => {
        const [px, py] = d3.pointer(event.sourceEvent, this.view.inner.node());
        const ring = this.boxDraft;
        this.boxDraft = null;
        this.renderDraft();
        // A press that barely moved is a click (it selects), not a box.
        if (!ring || Math.abs(px - start.at[0]) < 3 || Math.abs(py - start.at[1]) < 3) return;
        if (this.refuse([...this.polygons, ring])) return;
        this.polygons.push(ring);
        this.selected = null;
        this.render();
        this.onChange(this.polygons);
      });
  }

  renderDraft() {
    const { x, y } = this.view;
    const draft = this.draft;
    const layer = this.draftLayer;
    this.layer.classed('drawing', draft.length > 0 || this.boxDraft !== null);
    if (this.boxDraft) {
      layer.selectAll('path.closing, circle.draft-vertex').remove();
      layer.selectAll('path.drawn').data([0]).join('path').attr('class', 'drawn').attr('d', this.pathOf(this.boxDraft, true));
      return;
    }
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
