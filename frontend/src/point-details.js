/** Point details: a click in Select mode (or an Alt+click in any mode) shows the nearest drawn point in the side panel. */

const d3 = globalThis.d3;

// How near (CSS px, on screen) a click must be to a point to pick it.
export const PICK_RADIUS = 8;
export const NOTHING_NEAR = `No point within ${PICK_RADIUS} px`;
export const NOTHING_SHOWN = 'No points shown: Show all or draw a polygon';

/** Return a property value as the panel writes it. */
export function valueText(value) {
  if (value === null || value === undefined) return '—';
  return typeof value === 'string' ? value : String(value);
}

export class PointDetails {
  /**
   * `view` is the PlotView; `root` the panel's #point-details section; `marker` the SVG <g>
   * the ring on the picked point is drawn in. `pick({x, y, kx, ky, radius})` resolves with the
   * nearest point or null (the worker's answer); `held()` returns how many points the page
   * shows; `selecting()` whether a plain click picks (Select mode); `geometry()` the dataset's.
   */
  constructor(view, root, marker, { pick, held, selecting, geometry }) {
    this.view = view;
    this.root = root;
    this.marker = d3.select(marker);
    this.pickPoint = pick;
    this.held = held;
    this.selecting = selecting;
    this.geometry = geometry;
    this.point = null; // the point shown, or null
    this.asked = 0; // numbers the clicks, so only the last one's answer is shown
    this.title = root.querySelector('h2');
    this.body = root.querySelector('.details');
    view.hit.on('click.details', (event) => {
      if (event.altKey || this.selecting()) this.click(event);
    });
  }

  /** Pick the point nearest to the click. */
  async click(event) {
    const [px, py] = d3.pointer(event, this.view.inner.node());
    const asked = ++this.asked;
    if (this.held() === 0) {
      this.show(null, NOTHING_SHOWN);
      return;
    }
    const { x, y } = this.view;
    const x0 = x.invert(px);
    const y0 = y.invert(py);
    // Pixels per data unit on each axis (the scales are linear): screen distance, not data distance.
    const kx = Math.abs(x(1) - x(0));
    const ky = Math.abs(y(1) - y(0));
    this.root.dataset.state = 'asking';
    const point = await this.pickPoint({ x: x0, y: y0, kx, ky, radius: PICK_RADIUS });
    if (asked !== this.asked) return;
    this.show(point, point === null ? NOTHING_NEAR : '');
  }

  /** Forget the point shown (a new query, another dataset). */
  clear() {
    this.asked += 1;
    this.point = null;
    this.root.hidden = true;
    this.root.dataset.state = 'empty';
    this.body.replaceChildren();
    this.render();
  }

  /** Show `point` ({id, x, y, properties}) or, with null, `message`. */
  show(point, message) {
    this.point = point;
    this.root.hidden = false;
    this.root.dataset.state = point === null ? 'none' : 'point';
    if (point === null) {
      const p = document.createElement('p');
      p.className = 'details-message';
      p.textContent = message;
      this.body.replaceChildren(p);
      this.render();
      return;
    }
    const spherical = this.geometry() === 'spherical';
    const rows = [
      ['id', valueText(point.id), 'id'],
      [spherical ? 'lon' : 'x', String(point.x), 'x'],
      [spherical ? 'lat' : 'y', String(point.y), 'y'],
      ...point.properties.map((p) => [p.name, valueText(p.value), 'property']),
    ];
    const list = document.createElement('dl');
    list.className = 'facts';
    for (const [term, value, role] of rows) {
      const row = document.createElement('div');
      row.dataset.role = role;
      const dt = document.createElement('dt');
      dt.textContent = term;
      const dd = document.createElement('dd');
      dd.textContent = value;
      row.append(dt, dd);
      list.append(row);
    }
    this.body.replaceChildren(list);
    this.render();
  }

  /** Draw the ring on the picked point at the current scales (after a zoom or pan too). */
  render() {
    const point = this.point;
    this.marker
      .selectAll('circle.picked')
      .data(point ? [point] : [])
      .join('circle')
      .attr('class', 'picked')
      .attr('r', 7)
      .attr('cx', (p) => this.view.x(p.x))
      .attr('cy', (p) => this.view.y(p.y));
  }
}
