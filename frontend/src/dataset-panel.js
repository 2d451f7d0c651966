/** The dataset panel: what the chosen dataset is (description, points, bounds, geometry, properties, dates, import). */

import { importText } from './dataset-list.js';

const integer = new Intl.NumberFormat('en-US');

/** Return the decimals that show a coordinate to about a thousandth of `span` (0 to 6). */
export function decimalsFor(span) {
  if (!(span > 0) || !Number.isFinite(span)) return 2;
  return Math.min(6, Math.max(0, 3 - Math.floor(Math.log10(span))));
}

/** Return a planar coordinate with at most `decimals`, grouped like "1,000.5". */
export function formatCoordinate(value, decimals) {
  return value.toLocaleString('en-US', { maximumFractionDigits: decimals });
}

/** Return an angle in degrees with at most `decimals`, and the hemisphere letter (`negative`, `positive`) unless it rounds to 0. */
function formatDegrees(value, decimals, negative, positive) {
  const text = Math.abs(value).toLocaleString('en-US', { maximumFractionDigits: decimals, useGrouping: false });
  if (Number(text) === 0) return '0°';
  return `${text}°${value < 0 ? negative : positive}`;
}

/** Return a longitude in degrees like "12.5°W", "0°", "179.9°E". */
export function formatLongitude(value, decimals) {
  return formatDegrees(value, decimals, 'W', 'E');
}

/** Return a latitude in degrees like "33.9°S", "0°", "60.2°N". */
export function formatLatitude(value, decimals) {
  return formatDegrees(value, decimals, 'S', 'N');
}


/** Return the bounds in words: "x 0 – 1,000 · y 0 – 1,000", or in degrees for lon/lat; '' while unknown. */
export function boundsText(bounds, geometry) {
  if (!bounds) return '';
  const [x0, y0, x1, y1] = bounds;
  const dx = decimalsFor(x1 - x0);
  const dy = decimalsFor(y1 - y0);
  if (geometry === 'spherical') {
    // Degrees: to a tenth of a degree at least (about 11 km), finer for a small area.
    const lon = Math.max(1, dx);
    const lat = Math.max(1, dy);
    return `lon ${formatLongitude(x0, lon)} – ${formatLongitude(x1, lon)} · lat ${formatLatitude(y0, lat)} – ${formatLatitude(y1, lat)}`;
  }
  return `x ${formatCoordinate(x0, dx)} – ${formatCoordinate(x1, dx)} · y ${formatCoordinate(y0, dy)} – ${formatCoordinate(y1, dy)}`;
}

/** Return the geometry kind in words: how coordinates and polygon edges are read. */
export function geometryText(geometry) {
  return geometry === 'spherical' ? 'lon/lat on the sphere; polygon edges are geodesics (great-circle arcs)' : 'planar x/y; polygon edges are straight';
}

/** Return a date-time of the API (ISO 8601) in the reader's time zone, like "2 Mar 2026, 14:05"; '' for none. */
export function dateText(iso) {
  if (!iso) return '';
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return '';
  return date.toLocaleString('en-GB', { dateStyle: 'medium', timeStyle: 'short' });
}

/** Return what is served and what runs, in words: "ready", "importing 42%", "ready · re-importing 7%", "failed: …". */
export function statusText(dataset) {
  const running = importText(dataset);
  if (dataset.status === 'failed') return `failed: ${dataset.status_message || 'no reason given'}`;
  if (dataset.status !== 'ready') return running || dataset.status;
  const parts = ['ready', running, dataset.status_message].filter(Boolean);
  return parts.join(' · ');
}

/**
 * Fills the panel's section with the chosen dataset. Its root carries, for the tests:
 * data-dataset (name), data-status (ready | importing | failed), data-importing (true | false)
 * and data-progress (0..1 of the import in progress).
 */
export class DatasetPanel {
  constructor(root) {
    this.root = root;
    this.title = root.querySelector('.dataset-title');
    this.description = root.querySelector('.dataset-description');
    this.bar = root.querySelector('progress');
    this.facts = root.querySelector('.facts');
  }

  /** Show `dataset` (an entry of /api/datasets). */
  show(dataset) {
    const { root } = this;
    root.dataset.dataset = dataset.name;
    root.dataset.status = dataset.status;
    root.dataset.importing = String(Boolean(dataset.importing));
    root.dataset.progress = String(dataset.progress ?? 0);
    this.title.textContent = dataset.title || dataset.name;
    this.description.textContent = dataset.description || '';
    this.description.hidden = !dataset.description;
    // The bar moves with a running import; a queued one has no share done yet.
    const running = Boolean(dataset.importing) && dataset.job !== 'queued';
    this.bar.hidden = !running;
    if (running) this.bar.value = dataset.progress ?? 0;
    const ready = dataset.status === 'ready';
    this.facts.replaceChildren(
      fact('status', 'Status', statusText(dataset)),
      fact('count', 'Points', ready ? integer.format(dataset.count) : '—'),
      fact('bounds', 'Bounds', boundsText(dataset.bounds, dataset.geometry) || '—'),
      fact('geometry', 'Geometry', geometryText(dataset.geometry)),
      fact('properties', 'Properties', propertiesList(dataset.properties)),
      fact('created', 'Created', dateText(dataset.created)),
      fact('updated', 'Updated', dateText(dataset.updated)),
    );
  }
}

/** Return a <div> of the facts list: a term and its value (text, or a node). */
function fact(name, term, value) {
  const row = document.createElement('div');
  row.className = `fact-${name}`;
  const dt = document.createElement('dt');
  dt.textContent = term;
  const dd = document.createElement('dd');
  dd.append(value);
  row.append(dt, dd);
  return row;
}

/** Return the properties as a list of names with their column types, or words when there are none or they are unknown. */
function propertiesList(properties) {
  if (properties === null || properties === undefined) return 'not known until its points are served';
  if (properties.length === 0) return 'none (only id, x and y)';
  const list = document.createElement('ul');
  list.className = 'property-list';
  for (const { name, type } of properties) {
    const item = document.createElement('li');
    const label = document.createElement('span');
    label.className = 'property-name';
    label.textContent = name;
    const kind = document.createElement('span');
    kind.className = 'property-type';
    kind.textContent = type;
    item.append(label, ' ', kind);
    list.append(item);
  }
  return list;
}
