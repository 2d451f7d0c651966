/**
 * The worker's copy of a query's points as columns: coordinates, ids and property values, kept
 * compactly (Arrow's own record batches; typed arrays and dictionary codes for NDJSON), read
 * back for one point (its details) or as a colour class per point (colour by a property).
 */

// A point's colour class (one byte): 0 … RAMP_BINS - 1 a bin of a number's ramp, or the index
// of a value among the most common ones; OTHER a value not among them; NULL no value.
export const RAMP_BINS = 254;
export const OTHER = 254;
export const NULL_CLASS = 255;
// The most common values a category colouring tells apart (d3.schemeTableau10 has ten colours).
export const TOP_VALUES = 10;

/**
 * Return the class of number `value` on a ramp over [min, max] (clamped), NULL_CLASS for a value
 * that is not a number (null, NaN).
 */
export function rampClass(value, min, max) {
  if (typeof value !== 'number' || Number.isNaN(value)) return NULL_CLASS;
  if (!(max > min)) return 0;
  const t = (value - min) / (max - min);
  if (!(t > 0)) return 0;
  if (t >= 1) return RAMP_BINS - 1;
  return Math.floor(t * RAMP_BINS);
}

/** Return the Map value → class of a category colouring's `values` (most common first). */
export function categoryClasses(values) {
  const classes = new Map();
  values.slice(0, TOP_VALUES).forEach((value, k) => {
    if (!classes.has(value)) classes.set(value, k);
  });
  return classes;
}

/** Return the class of `value` given categoryClasses' map: its index, OTHER, or NULL_CLASS for none. */
export function categoryClass(value, classes) {
  if (value === null || value === undefined) return NULL_CLASS;
  const k = classes.get(value);
  return k === undefined ? OTHER : k;
}

/**
 * Return the class of each value in `values` (any iterable) for `spec`: {kind: 'number', min,
 * max} or {kind: 'category', values}. The reference the columns' fast paths are tested against.
 */
export function classesOf(values, spec) {
  const out = [];
  if (spec.kind === 'number') for (const value of values) out.push(rampClass(value, spec.min, spec.max));
  else {
    const classes = categoryClasses(spec.values);
    for (const value of values) out.push(categoryClass(value, classes));
  }
  return Uint8Array.from(out);
}

/** Return a value as a point's details show it: numbers, strings and booleans as they are, an Arrow int64 as a number when exact. */
function plain(value) {
  if (typeof value === 'bigint') {
    return value >= BigInt(Number.MIN_SAFE_INTEGER) && value <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(value) : String(value);
  }
  return value === undefined ? null : value;
}

/** Tally values: return {min, max} for numbers or {top: [{value, count}], distinct} for the rest, most common first. */
class Tally {
  constructor(kind) {
    this.kind = kind;
    this.min = Infinity;
    this.max = -Infinity;
    this.counts = new Map();
  }

  add(value) {
    if (value === null || value === undefined) return;
    if (this.kind === 'number') {
      if (typeof value !== 'number' || Number.isNaN(value)) return;
      if (value < this.min) this.min = value;
      if (value > this.max) this.max = value;
    } else this.counts.set(value, (this.counts.get(value) ?? 0) + 1);
  }

  result() {
    if (this.kind === 'number') return Number.isFinite(this.min) ? { min: this.min, max: this.max } : { min: 0, max: 0 };
    const top = [...this.counts].map(([value, count]) => ({ value, count }));
    top.sort((a, b) => b.count - a.count);
    return { top: top.slice(0, 20), distinct: this.counts.size };
  }
}

/** Return the bit `i` of an Arrow validity bitmap (1: a value, 0: null). */
const valid = (bitmap, i) => (bitmap[i >> 3] >> (i & 7)) & 1;

/** Return the type word of an Arrow field as the API names property types (int64 | float64 | utf8 | bool | json). */
function arrowType(field) {
  const name = String(field.type).toLowerCase();
  if (field.metadata?.get('pointsite:json') === 'true') return 'json';
  if (name.startsWith('int')) return 'int64';
  if (name.startsWith('float')) return 'float64';
  if (name === 'bool') return 'bool';
  return 'utf8';
}

/**
 * The points of an Arrow stream, as the record batches came: no value is decoded until asked
 * for (the details of a point, a colouring). The coordinates are Arrow's x and y columns.
 */
export class ArrowColumns {
  constructor() {
    this.count = 0;
    this.batches = []; // {start, rows, batch, xs, ys}
    this.fields = null; // [{name, type, column}] of the properties, in the schema's order
    this.idColumn = -1;
  }

  /** Keep a record batch of `rows` points whose coordinates are `xs`, `ys` (views Arrow made). */
  add(batch, xs, ys, rows) {
    if (this.fields === null) {
      const { fields } = batch.schema;
      this.idColumn = fields.findIndex((field) => field.name === 'id');
      this.fields = [];
      fields.forEach((field, column) => {
        if (column < 3 && ['id', 'x', 'y'].includes(field.name)) return;
        const name = field.metadata?.get('pointsite:property') || field.name;
        this.fields.push({ name, type: arrowType(field), column });
      });
    }
    this.batches.push({ start: this.count, rows, batch, xs, ys });
    this.count += rows;
  }

  /** The coordinate columns, for the grid index: [{xs, ys, count}]. */
  coordinates() {
    return this.batches.map(({ xs, ys, rows }) => ({ xs, ys, count: rows }));
  }

  /** Return the position in `batches` of the batch holding point `index` (a binary search over their starts). */
  batchAt(index) {
    const { batches } = this;
    let lo = 0;
    let hi = batches.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (batches[mid].start <= index) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }

  /** Return point `index` as {index, id, x, y, properties: [{name, type, value}]}. */
  point(index) {
    const held = this.batches[this.batchAt(index)];
    const row = index - held.start;
    const value = (column) => plain(held.batch.getChildAt(column)?.get(row));
    const id = this.idColumn < 0 ? null : value(this.idColumn);
    return {
      index,
      id: id === null ? null : String(id),
      x: held.xs[row],
      y: held.ys[row],
      properties: (this.fields ?? []).map(({ name, type, column }) => ({ name, type, value: value(column) })),
    };
  }

  /** Return the property's column index, or -1 when the stream has no such property. */
  column(property) {
    return (this.fields ?? []).find((field) => field.name === property)?.column ?? -1;
  }

  /** Return the values of `property` over the first `count` points: {min, max} or {top, distinct}. */
  stats(property, kind, count) {
    const tally = new Tally(kind);
    const column = this.column(property);
    if (column < 0) return tally.result();
    for (const { start, rows, batch } of this.batches) {
      if (start >= count) break;
      const vector = batch.getChildAt(column);
      for (let row = 0, n = Math.min(rows, count - start); row < n; row += 1) {
        const v = plain(vector.get(row));
        tally.add(kind === 'number' && typeof v === 'string' ? Number(v) : v);
      }
    }
    return tally.result();
  }

  /** Write the class of points start … start + out.length - 1 for `spec` into `out` (a Uint8Array). */
  classify(spec, start, out) {
    const column = this.column(spec.property);
    if (column < 0) {
      out.fill(NULL_CLASS);
      return;
    }
    const end = start + out.length;
    const classes = spec.kind === 'category' ? categoryClasses(spec.values) : null;
    let held = this.batchAt(start);
    for (; held < this.batches.length && this.batches[held].start < end; held += 1) {
      const { start: first, rows, batch } = this.batches[held];
      const from = Math.max(start, first) - first;
      const to = Math.min(end, first + rows) - first;
      const at = first + from - start; // where row `from` goes in `out`
      const data = batch.data.children[column];
      const type = this.fields.find((field) => field.column === column).type;
      if (data.offset === 0 && spec.kind === 'number' && (type === 'float64' || type === 'int64')) {
        numberClasses(data, from, to, spec, out, at);
      } else if (data.offset === 0 && spec.kind === 'category' && type === 'utf8') {
        stringClasses(data, from, to, spec.values, out, at);
      } else {
        const vector = batch.getChildAt(column);
        for (let row = from; row < to; row += 1) {
          const v = plain(vector.get(row));
          out[at + row - from] = classes ? categoryClass(v, classes) : rampClass(typeof v === 'string' ? Number(v) : v, spec.min, spec.max);
        }
      }
    }
  }
}

/** Ramp classes of an Arrow float64 or int64 column's rows from … to - 1, read from its buffers. */
function numberClasses(data, from, to, { min, max }, out, at) {
  const { values, nullBitmap, nullCount } = data;
  const bigints = values instanceof BigInt64Array;
  const span = max - min;
  for (let row = from; row < to; row += 1) {
    if (nullCount > 0 && !valid(nullBitmap, row)) {
      out[at + row - from] = NULL_CLASS;
      continue;
    }
    const v = bigints ? Number(values[row]) : values[row];
    let cls;
    if (Number.isNaN(v)) cls = NULL_CLASS;
    else if (!(span > 0)) cls = 0;
    else {
      const t = (v - min) / span;
      cls = t > 0 ? (t >= 1 ? RAMP_BINS - 1 : Math.floor(t * RAMP_BINS)) : 0;
    }
    out[at + row - from] = cls;
  }
}

/**
 * Category classes of an Arrow utf8 column's rows from … to - 1, compared as UTF-8 bytes with
 * the top values (no string is decoded).
 */
function stringClasses(data, from, to, values, out, at) {
  const encoder = new TextEncoder();
  const byLength = new Map(); // byte length → [{bytes, cls}]
  values.slice(0, TOP_VALUES).forEach((value, cls) => {
    if (typeof value !== 'string') return;
    const bytes = encoder.encode(value);
    if (!byLength.has(bytes.length)) byLength.set(bytes.length, []);
    const same = byLength.get(bytes.length);
    if (!same.some((known) => known.bytes.every((b, i) => b === bytes[i]))) same.push({ bytes, cls });
  });
  const { values: text, valueOffsets, nullBitmap, nullCount } = data;
  for (let row = from; row < to; row += 1) {
    if (nullCount > 0 && !valid(nullBitmap, row)) {
      out[at + row - from] = NULL_CLASS;
      continue;
    }
    const begin = valueOffsets[row];
    const candidates = byLength.get(valueOffsets[row + 1] - begin);
    let cls = OTHER;
    if (candidates) {
      for (const { bytes, cls: k } of candidates) {
        let same = true;
        for (let i = 0; i < bytes.length && same; i += 1) same = text[begin + i] === bytes[i];
        if (same) {
          cls = k;
          break;
        }
      }
    }
    out[at + row - from] = cls;
  }
}

// A column of NDJSON values: numbers in a Float64Array (NaN: no value), strings or booleans
// as dictionary codes in an Int32Array (-1: no value), anything else (objects, lists, a mix of
// kinds) in a plain array.
const EMPTY = 'empty';
const NUMBERS = 'numbers';
const CODES = 'codes';
const VALUES = 'values';
const FIRST_CAPACITY = 1024;

/** One NDJSON property (or the ids): its values by point index, as compact as their kind allows. */
export class ValueColumn {
  constructor() {
    this.kind = EMPTY;
    this.data = null;
    this.integers = true; // every number so far is an integer (the type word says int64)
    this.dictionary = null; // code → value
    this.codes = null; // value → code
    this.valueKind = null; // 'string' | 'boolean' for codes
  }

  /** Return the column's type word (int64 | float64 | utf8 | bool | json). */
  get type() {
    if (this.kind === NUMBERS) return this.integers ? 'int64' : 'float64';
    if (this.kind === CODES) return this.valueKind === 'boolean' ? 'bool' : 'utf8';
    if (this.kind === VALUES) return 'json';
    return 'utf8';
  }

  /** Make room for index `i`, the new room holding no value. */
  reserve(i) {
    if (this.kind === VALUES || i < this.data.length) return;
    let size = Math.max(FIRST_CAPACITY, this.data.length);
    while (size <= i) size *= 2;
    const grown = new this.data.constructor(size);
    grown.fill(this.kind === NUMBERS ? NaN : -1, this.data.length);
    grown.set(this.data);
    this.data = grown;
  }

  /** Set the value of point `i` (null: none). */
  set(i, value) {
    // The usual cases first: a value of the kind the column holds already, room for it.
    const { data } = this;
    if (this.kind === NUMBERS && typeof value === 'number' && i < data.length) {
      data[i] = value;
      if (this.integers && !Number.isInteger(value)) this.integers = false;
      return;
    }
    if (this.kind === CODES && typeof value === this.valueKind && i < data.length) {
      const code = this.codes.get(value);
      if (code !== undefined) {
        data[i] = code;
        return;
      }
    }
    if (value === null || value === undefined) {
      if (this.kind === VALUES) this.data[i] = null;
      return; // typed columns hold "none" wherever nothing was set
    }
    const kind = typeof value === 'number' ? NUMBERS : typeof value === 'string' || typeof value === 'boolean' ? CODES : VALUES;
    if (this.kind === EMPTY) this.start(kind, value);
    else if (this.kind !== VALUES && (kind !== this.kind || (kind === CODES && typeof value !== this.valueKind))) this.toValues();
    if (this.kind === NUMBERS) {
      this.reserve(i);
      this.data[i] = value;
      if (this.integers && !Number.isInteger(value)) this.integers = false;
    } else if (this.kind === CODES) {
      this.reserve(i);
      let code = this.codes.get(value);
      if (code === undefined) {
        code = this.dictionary.length;
        this.dictionary.push(value);
        this.codes.set(value, code);
      }
      this.data[i] = code;
    } else this.data[i] = value;
  }

  start(kind, value) {
    this.kind = kind;
    if (kind === NUMBERS) this.data = new Float64Array(0);
    else if (kind === CODES) {
      this.data = new Int32Array(0);
      this.dictionary = [];
      this.codes = new Map();
      this.valueKind = typeof value;
    } else this.data = [];
  }

  /** Turn a typed column into a plain array of values: a value of another kind came. */
  toValues() {
    const values = [];
    const { data } = this;
    for (let i = 0; i < data.length; i += 1) values.push(this.get(i));
    this.kind = VALUES;
    this.data = values;
    this.dictionary = null;
    this.codes = null;
  }

  /** Return the value of point `i`, or null. */
  get(i) {
    if (this.kind === EMPTY || i >= this.data.length) return null;
    const v = this.data[i];
    if (this.kind === NUMBERS) return Number.isNaN(v) ? null : v;
    if (this.kind === CODES) return v < 0 ? null : this.dictionary[v];
    return v ?? null;
  }

  /** Write the classes of points start … start + out.length - 1 into `out` for `spec`. */
  classify(spec, start, out) {
    const n = out.length;
    const { data } = this;
    if (this.kind === EMPTY) out.fill(NULL_CLASS);
    else if (this.kind === CODES && spec.kind === 'category') {
      // One lookup a distinct value, then one a point.
      const classes = categoryClasses(spec.values);
      const byCode = Uint8Array.from(this.dictionary, (value) => categoryClass(value, classes));
      for (let k = 0; k < n; k += 1) {
        const i = start + k;
        const code = i < data.length ? data[i] : -1;
        out[k] = code < 0 ? NULL_CLASS : byCode[code];
      }
    } else if (this.kind === NUMBERS && spec.kind === 'number') {
      for (let k = 0; k < n; k += 1) {
        const i = start + k;
        out[k] = i < data.length ? rampClass(data[i], spec.min, spec.max) : NULL_CLASS;
      }
    } else {
      const classes = spec.kind === 'category' ? categoryClasses(spec.values) : null;
      for (let k = 0; k < n; k += 1) {
        const v = this.get(start + k);
        out[k] = classes ? categoryClass(v, classes) : rampClass(v, spec.min, spec.max);
      }
    }
  }
}

/**
 * The points of an NDJSON stream: coordinates and ids in growing typed arrays, each property
 * a ValueColumn. A line's properties are every member but "id" and "pt".
 */
export class NdjsonColumns {
  constructor() {
    this.count = 0;
    this.xs = new Float64Array(FIRST_CAPACITY);
    this.ys = new Float64Array(FIRST_CAPACITY);
    // Number ids (the server's integers) in a typed array, beside the coordinates; the first id
    // that is not a number moves them all to a ValueColumn (`ids`).
    this.idNumbers = new Float64Array(FIRST_CAPACITY);
    this.ids = null;
    this.columns = new Map(); // property name → ValueColumn, in the order first met
  }

  grow() {
    const size = this.xs.length * 2;
    for (const name of ['xs', 'ys', 'idNumbers']) {
      const grown = new Float64Array(size);
      grown.set(this[name]);
      this[name] = grown;
    }
  }

  /** Keep a point without properties (the reader's fast path: {"id": <integer>, "pt": [x, y]}). */
  addPlain(id, x, y) {
    const i = this.count;
    if (i === this.xs.length) this.grow();
    this.xs[i] = x;
    this.ys[i] = y;
    if (this.ids === null) this.idNumbers[i] = id;
    else this.ids.set(i, id);
    this.count = i + 1;
  }

  /** Keep a point line parsed as JSON: its id, "pt" and properties. */
  addLine(line, x, y) {
    const i = this.count;
    if (i === this.xs.length) this.grow();
    this.xs[i] = x;
    this.ys[i] = y;
    const id = line.id ?? null;
    if (this.ids === null && typeof id !== 'number') {
      this.ids = new ValueColumn();
      for (let k = 0; k < i; k += 1) this.ids.set(k, this.idNumbers[k]);
    }
    if (this.ids === null) this.idNumbers[i] = id;
    else this.ids.set(i, id);
    for (const name in line) {
      if (name === 'id' || name === 'pt') continue;
      let column = this.columns.get(name);
      if (column === undefined) {
        column = new ValueColumn();
        this.columns.set(name, column);
      }
      column.set(i, line[name]);
    }
    this.count = i + 1;
  }

  coordinates() {
    return [{ xs: this.xs, ys: this.ys, count: this.count }];
  }

  point(index) {
    const id = this.ids === null ? this.idNumbers[index] : this.ids.get(index);
    return {
      index,
      id: id === null ? null : typeof id === 'string' ? id : JSON.stringify(id),
      x: this.xs[index],
      y: this.ys[index],
      properties: [...this.columns].map(([name, column]) => {
        const value = column.get(index);
        const { type } = column;
        // JSON properties (objects, lists, mixed kinds) are shown as their JSON text, as the
        // Arrow stream carries them.
        return { name, type, value: type === 'json' && value !== null ? JSON.stringify(value) : value };
      }),
    };
  }

  stats(property, kind, count) {
    const tally = new Tally(kind);
    const column = this.columns.get(property);
    if (column) for (let i = 0; i < Math.min(count, this.count); i += 1) tally.add(column.get(i));
    return tally.result();
  }

  classify(spec, start, out) {
    const column = this.columns.get(spec.property);
    if (column) column.classify(spec, start, out);
    else out.fill(NULL_CLASS);
  }
}
