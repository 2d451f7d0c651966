/** Colour by a property: the choices a dataset offers, the 256-colour class tables, and the legend. */

import { NULL_CLASS, OTHER, RAMP_BINS, TOP_VALUES } from './point-columns.js';

// A value not among the ten most common, and no value at all: greys apart from Tableau's own
// warm grey (its tenth colour), the darker one for "other" (it is data), the lighter for none.
export const OTHER_COLOUR = '#6f6f6f';
export const NULL_COLOUR = '#d4d4d4';
// The properties that can colour the points, and how.
const KINDS = { int64: 'number', float64: 'number', utf8: 'category', bool: 'category' };

/** Return [r, g, b] of a CSS colour d3 can read. */
function rgbOf(colour) {
  const { r, g, b } = globalThis.d3.rgb(colour);
  return [Math.round(r), Math.round(g), Math.round(b)];
}

/** Return the ramp's colour of class `cls` (0 … RAMP_BINS - 1): d3's viridis at the bin's middle. */
export function rampColour(cls, interpolate = globalThis.d3.interpolateViridis) {
  return interpolate(RAMP_BINS === 1 ? 0 : cls / (RAMP_BINS - 1));
}

/** Return the colours ('#rrggbb' or 'rgb(…)') of the 256 classes for a colouring of `kind` (number | category). */
export function classColours(kind, d3 = globalThis.d3) {
  const colours = new Array(256).fill(OTHER_COLOUR);
  if (kind === 'number') for (let cls = 0; cls < RAMP_BINS; cls += 1) colours[cls] = rampColour(cls, d3.interpolateViridis);
  else d3.schemeTableau10.slice(0, TOP_VALUES).forEach((colour, cls) => (colours[cls] = colour));
  colours[OTHER] = OTHER_COLOUR;
  colours[NULL_CLASS] = NULL_COLOUR;
  return colours;
}

/** Return the class table the renderer paints from: 256 opaque pixels of this machine's byte order. */
export function classTable(kind) {
  const bytes = new Uint8ClampedArray(256 * 4);
  classColours(kind).forEach((colour, cls) => bytes.set([...rgbOf(colour), 255], cls * 4));
  return new Uint32Array(bytes.buffer);
}

/** Return [r, g, b, 255] of class `cls` under a colouring of `kind`. */
export function classRgba(kind, cls) {
  return [...rgbOf(classColours(kind)[cls]), 255];
}

/** Return the properties a dataset's detail can colour by: [{name, type, kind}], in its order. */
export function colourChoices(detail) {
  return (detail?.properties ?? []).filter((p) => KINDS[p.type]).map((p) => ({ ...p, kind: KINDS[p.type] }));
}

/**
 * Return the colouring the worker gets for property `choice` (an entry of colourChoices):
 * {property, kind, min, max} for numbers, {property, kind, values, top} for the rest, with
 * whatever statistics the API gave (the worker learns the missing ones from the points).
 */
export function colourSpec(choice) {
  if (choice.kind === 'number') {
    const known = Number.isFinite(choice.min) && Number.isFinite(choice.max);
    return { property: choice.name, kind: 'number', min: known ? choice.min : null, max: known ? choice.max : null };
  }
  const top = Array.isArray(choice.top) ? choice.top : null;
  return {
    property: choice.name,
    kind: 'category',
    values: top && top.map((entry) => entry.value).slice(0, TOP_VALUES),
    top,
    distinct: choice.distinct ?? null,
    nulls: Number.isFinite(choice.values) && Number.isFinite(choice.count) ? choice.values < choice.count : null,
  };
}

/** Return a number as the ramp's ends label it. */
function shortNumber(value) {
  if (!Number.isFinite(value)) return '?';
  return Math.abs(value) >= 1e5 || (value !== 0 && Math.abs(value) < 1e-3) ? value.toExponential(2) : String(+value.toPrecision(4));
}

/** The legend of a colouring by a property: a ramp with its min and max, or the top values' swatches. */
export class ColourLegend {
  constructor(root) {
    this.root = root;
    this.key = '';
  }

  /** Show the legend of `spec` (as the worker resolved it), or hide it with null. */
  show(spec) {
    const key = spec === null ? '' : JSON.stringify([spec.property, spec.kind, spec.min, spec.max, spec.values, spec.nulls]);
    if (key === this.key) return;
    this.key = key;
    this.root.hidden = spec === null;
    if (spec === null) return;
    this.root.dataset.property = spec.property;
    this.root.dataset.kind = spec.kind;
    const caption = document.createElement('div');
    caption.className = 'caption';
    caption.textContent = spec.property;
    if (spec.kind === 'number') {
      const bar = document.createElement('canvas');
      bar.width = RAMP_BINS;
      bar.height = 1;
      const context = bar.getContext('2d');
      const image = context.createImageData(RAMP_BINS, 1);
      new Uint32Array(image.data.buffer).set(classTable('number').subarray(0, RAMP_BINS));
      context.putImageData(image, 0, 0);
      const ticks = document.createElement('div');
      ticks.className = 'ends';
      const [low, high] = [spec.min, spec.max].map((value) => {
        const tick = document.createElement('span');
        tick.textContent = shortNumber(value);
        return tick;
      });
      low.className = 'min';
      high.className = 'max';
      ticks.append(low, high);
      this.root.replaceChildren(bar, ticks, caption);
      return;
    }
    const colours = classColours('category');
    const values = spec.values ?? [];
    const rows = values.map((value, cls) => [String(value), colours[cls], 'value']);
    const known = spec.top ? spec.top.length : values.length;
    if (spec.distinct === null || spec.distinct === undefined || spec.distinct > values.length || known > values.length) {
      rows.push(['other', colours[OTHER], 'other']);
    }
    if (spec.nulls !== false) rows.push(['no value', colours[NULL_CLASS], 'null']);
    const list = document.createElement('ul');
    list.className = 'swatches';
    for (const [label, colour, role] of rows) {
      const item = document.createElement('li');
      item.dataset.role = role;
      const swatch = document.createElement('span');
      swatch.className = 'swatch';
      swatch.style.background = colour;
      const text = document.createElement('span');
      text.className = 'label';
      text.textContent = label;
      item.append(swatch, text);
      list.append(item);
    }
    this.root.replaceChildren(list, caption);
  }
}

/**
 * The "Colour by" picker: Density, then the dataset's properties that can colour (from
 * GET /api/datasets/<name>). `onChange(spec | null)` hears of each choice (null: density).
 */
export class ColourBy {
  constructor(select, { onChange = () => {}, onError = () => {} } = {}) {
    this.select = select;
    this.onChange = onChange;
    this.onError = onError;
    this.choices = [];
    this.wanted = null; // the property the link asked for, until the dataset's properties are known
    this.loading = 0; // numbers the detail requests, so a late answer for another dataset is dropped
    this.select.addEventListener('change', () => this.onChange(this.spec()));
    this.offer([]);
  }

  /** Return the property chosen, or null for density. */
  get property() {
    return this.select.value || null;
  }

  /** Return the property chosen, or the one asked for while the dataset's properties load; null for density. */
  get chosen() {
    return this.wanted ?? this.property;
  }

  /** Return the colouring chosen, or null for density. */
  spec() {
    const choice = this.choices.find((c) => c.name === this.select.value);
    return choice ? colourSpec(choice) : null;
  }

  offer(choices) {
    this.choices = choices;
    const options = [new Option('Density', ''), ...choices.map((c) => new Option(`${c.name} (${c.type})`, c.name))];
    this.select.replaceChildren(...options);
    this.select.disabled = choices.length === 0;
  }

  /**
   * Offer the properties of dataset `entry` (fetched from the API), choosing `wanted` (a
   * property name; null: density) once they are known; report the choice through onChange.
   * With `announce`, a wanted property the dataset lacks is said (onError); else density is
   * chosen without a word (another dataset picked, without the property chosen before).
   */
  async load(entry, wanted = null, { announce = false } = {}) {
    const request = ++this.loading;
    this.wanted = wanted;
    this.offer([]);
    this.onChange(null);
    if (entry.status !== 'ready' || !(entry.properties?.length > 0)) {
      if (announce && wanted !== null && entry.status === 'ready') this.onError(`No property “${wanted}” to colour by in “${entry.name}”: coloured by density.`);
      // Kept while the dataset imports: it may have the property once ready.
      if (entry.status === 'ready') this.wanted = null;
      return;
    }
    let detail;
    try {
      const response = await fetch(`/api/datasets/${encodeURIComponent(entry.name)}`, { cache: 'no-store' });
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      detail = await response.json();
    } catch (err) {
      if (request !== this.loading) return;
      this.wanted = null;
      this.onError(`The properties of “${entry.name}” could not be read to colour by (${err.message}).`);
      return;
    }
    if (request !== this.loading) return;
    const count = detail.count;
    this.offer(colourChoices(detail).map((c) => ({ ...c, count })));
    const known = this.choices.some((c) => c.name === this.wanted);
    if (announce && this.wanted !== null && !known) this.onError(`No property “${this.wanted}” to colour by in “${entry.name}”: coloured by density.`);
    this.select.value = known ? this.wanted : '';
    this.wanted = null;
    this.onChange(this.spec());
  }
}
