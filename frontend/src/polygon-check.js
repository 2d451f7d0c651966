/**
 * The server's checks of a query area (points/geometry.py parse_area, _part, _ring), run in the
 * page before anything is sent, with the server's words: a refused polygon costs no request and
 * keeps the picture. The checks mirror the server's for every case they cover; what they leave
 * out (rounding at the limits of floating point) the server still refuses itself.
 */

const RAD = Math.PI / 180;
// A spherical polygon's vertices must lie within this angle of their mean direction (the server's).
export const MAX_SPHERICAL_RADIUS_DEGREES = 89;
const MIN_COS = Math.cos(MAX_SPHERICAL_RADIUS_DEGREES * RAD);

/** Return a number as Python's `{:g}` writes it (6 significant digits), as the server's messages do. */
export function formatG(value) {
  if (value === 0) return Object.is(value, -0) ? '-0' : '0';
  const [mantissa, exponent] = value.toExponential(5).split('e');
  const exp = Number(exponent);
  const trim = (text) => (text.includes('.') ? text.replace(/0+$/, '').replace(/\.$/, '') : text);
  if (exp < -4 || exp >= 6) return `${trim(mantissa)}e${exp < 0 ? '-' : '+'}${String(Math.abs(exp)).padStart(2, '0')}`;
  return trim(value.toFixed(5 - exp));
}

/** Return a number as GEOS writes a location (15 significant digits). */
function formatLocation(value) {
  return String(Number(value.toPrecision(15)));
}

/** Return a value described as the server's `_describe` does, for messages. */
export function describe(value) {
  if (value === null || value === undefined) return 'null';
  if (typeof value === 'boolean') return value ? 'true' : 'false';
  if (typeof value === 'string') {
    const shown = value.length <= 40 ? value : `${value.slice(0, 40)}…`;
    return `the string '${shown.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
  }
  if (Array.isArray(value)) return `a list of ${value.length}`;
  if (typeof value === 'object') return 'an object';
  if (typeof value === 'number') return `the number ${value}`;
  return typeof value;
}

const position = ([x, y]) => `[${formatG(x)}, ${formatG(y)}]`;

/**
 * Check one ring as the server's `_ring` does; `budget` is {used} over the whole area. Return
 * the message of the first thing wrong, or null.
 */
export function checkRing(value, where, kind, budget, maxVertices) {
  if (!Array.isArray(value)) return `${where} must be a list of [x, y] positions, got ${describe(value)}`;
  if (value.length > 0 && !Array.isArray(value[0])) {
    return `${where} must be a list of [x, y] positions, got ${describe(value[0])} as its first item (is a level of brackets missing?)`;
  }
  if (value.length > 0 && value[0].length > 0 && Array.isArray(value[0][0])) {
    return `${where}[0] must be a position [x, y] of 2 numbers, got a list of lists (is there a level of brackets too many?)`;
  }
  budget.used += value.length;
  if (budget.used > maxVertices) return `the area has more than ${maxVertices.toLocaleString('en-US')} vertices, the most a query may have`;
  if (value.length < 4) {
    return `${where} has ${value.length} position(s); a ring needs at least 4 (3 corners and the first repeated at the end)`;
  }
  for (let i = 0; i < value.length; i += 1) {
    const p = value[i];
    if (!Array.isArray(p) || p.length !== 2) {
      const got = Array.isArray(p) ? `${p.length} numbers` : describe(p);
      return `${where}[${i}] must be a position [x, y] of exactly 2 numbers, got ${got}`;
    }
    for (const k of [0, 1]) {
      if (typeof p[k] !== 'number') return `${where}[${i}][${k}] must be a number, got ${describe(p[k])}`;
      if (!Number.isFinite(p[k])) return `${where}[${i}][${k}] must be a finite number, got ${p[k]}`;
    }
  }
  const first = value[0];
  const last = value[value.length - 1];
  if (first[0] !== last[0] || first[1] !== last[1]) {
    return `${where} is not closed: its last position ${position(last)} must repeat its first ${position(first)}`;
  }
  if (kind === 'spherical') {
    const bad = value.findIndex(([lon, lat]) => Math.abs(lon) > 180 || Math.abs(lat) > 90);
    if (bad >= 0) {
      return `${where}[${bad}] = ${position(value[bad])} is out of range: spherical data needs longitude in [-180, 180] and latitude in [-90, 90]`;
    }
  }
  return null;
}

/** Return the orientation of c against the line a→b: > 0 left, < 0 right, 0 on it. */
function orient(a, b, c) {
  return (b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0]);
}

/** Return true when p, known to be on the line a→b, lies on the segment a–b. */
function within(a, b, p) {
  return Math.min(a[0], b[0]) <= p[0] && p[0] <= Math.max(a[0], b[0]) && Math.min(a[1], b[1]) <= p[1] && p[1] <= Math.max(a[1], b[1]);
}

/**
 * Return where a closed ring (first position repeated at the end) crosses or touches itself,
 * as GEOS names it: {reason: 'self-intersection' | 'ring self-intersection', at: [x, y]}, or
 * null. Two edges crossing is a self-intersection, as is an edge turning back over the one
 * before; a vertex met again (on another edge, or twice) is a ring self-intersection.
 */
export function selfIntersection(closed) {
  // GEOS ignores repeated consecutive positions.
  const pts = closed.filter((p, i) => i === 0 || p[0] !== closed[i - 1][0] || p[1] !== closed[i - 1][1]);
  const n = pts.length - 1; // edges: pts[i] → pts[i + 1]
  if (n < 3) return null;
  // Edges by their leftmost x: an edge meets only edges whose x-range overlaps its own.
  const order = Array.from({ length: n }, (_, i) => i).sort((i, j) => Math.min(pts[i][0], pts[i + 1][0]) - Math.min(pts[j][0], pts[j + 1][0]));
  let found = null;
  const consider = (hit, i, j) => {
    // Keep the hit on the earliest pair of edges, as a walk along the ring meets it.
    const key = [Math.min(i, j), Math.max(i, j)];
    if (!found || key[0] < found.key[0] || (key[0] === found.key[0] && key[1] < found.key[1])) found = { ...hit, key };
  };
  for (let s = 0; s < n; s += 1) {
    const i = order[s];
    const a = pts[i];
    const b = pts[i + 1];
    const right = Math.max(a[0], b[0]);
    for (let t = s + 1; t < n; t += 1) {
      const j = order[t];
      const c = pts[j];
      const d = pts[j + 1];
      if (Math.min(c[0], d[0]) > right) break;
      if (Math.max(a[1], b[1]) < Math.min(c[1], d[1]) || Math.max(c[1], d[1]) < Math.min(a[1], b[1])) continue;
      const hit = meet(i, j, a, b, c, d, n);
      if (hit) consider(hit, i, j);
    }
  }
  return found ? { reason: found.reason, at: found.at } : null;
}

/** Return how edges i (a→b) and j (c→d) of an n-edge ring meet beyond what the ring's shape allows, or null. */
function meet(i, j, a, b, c, d, n) {
  const o1 = orient(a, b, c);
  const o2 = orient(a, b, d);
  const o3 = orient(c, d, a);
  const o4 = orient(c, d, b);
  const adjacent = Math.abs(i - j) === 1 || Math.abs(i - j) === n - 1;
  if (adjacent) {
    // They share a vertex; that is wrong only when one turns back along the other.
    if (j === (i + 1) % n) {
      if ((o2 === 0 && within(a, b, d)) || (o3 === 0 && within(c, d, a))) return { reason: 'self-intersection', at: b };
    } else if ((o4 === 0 && within(c, d, b)) || (o1 === 0 && within(a, b, c))) {
      return { reason: 'self-intersection', at: a };
    }
    return null;
  }
  if (((o1 > 0 && o2 < 0) || (o1 < 0 && o2 > 0)) && ((o3 > 0 && o4 < 0) || (o3 < 0 && o4 > 0))) {
    const t = o3 / (o3 - o4);
    return { reason: 'self-intersection', at: [a[0] + t * (b[0] - a[0]), a[1] + t * (b[1] - a[1])] };
  }
  for (const [p, on, q, r] of [
    [c, o1, a, b],
    [d, o2, a, b],
    [a, o3, c, d],
    [b, o4, c, d],
  ]) {
    if (on === 0 && within(q, r, p)) return { reason: 'ring self-intersection', at: p };
  }
  return null;
}

/** Return unit vectors for [lon, lat] degrees. */
function unit([lon, lat]) {
  const cosLat = Math.cos(lat * RAD);
  return [cosLat * Math.cos(lon * RAD), cosLat * Math.sin(lon * RAD), Math.sin(lat * RAD)];
}

const cross = (a, b) => [a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]];
const dot = (a, b) => a[0] * b[0] + a[1] * b[1] + a[2] * b[2];

/**
 * Return the gnomonic plane the server tests a spherical polygon in (centred on its vertices'
 * mean direction: great circles are straight there), or {error} when the polygon does not fit
 * in a hemisphere, with the server's words.
 */
export function gnomonicPlane(closed) {
  const xyz = closed.slice(0, -1).map(unit);
  const sum = xyz.reduce((s, v) => [s[0] + v[0], s[1] + v[1], s[2] + v[2]], [0, 0, 0]);
  const norm = Math.hypot(...sum);
  if (norm < 1e-9) {
    return {
      error:
        'a spherical polygon must fit in a hemisphere (its vertices are spread all around the globe); split it into a MultiPolygon of smaller parts',
    };
  }
  const center = sum.map((v) => v / norm);
  if (Math.min(...xyz.map((v) => dot(v, center))) < MIN_COS) {
    return {
      error: `a spherical polygon must fit in a hemisphere (every vertex within ${MAX_SPHERICAL_RADIUS_DEGREES} degrees of the polygon's centre); split a larger area into a MultiPolygon of smaller parts`,
    };
  }
  const helper = Math.abs(center[2]) < 0.9 ? [0, 0, 1] : [1, 0, 0];
  const raw = cross(helper, center);
  const e1 = raw.map((v) => v / Math.hypot(...raw));
  const e2 = cross(center, e1);
  const project = (p) => {
    const v = unit(p);
    const d = dot(v, center);
    return [dot(v, e1) / d, dot(v, e2) / d];
  };
  return { project };
}

/** Return twice the area enclosed by a closed ring (absolute). */
function area2(closed) {
  let sum = 0;
  for (let i = 0; i + 1 < closed.length; i += 1) sum += closed[i][0] * closed[i + 1][1] - closed[i + 1][0] * closed[i][1];
  return Math.abs(sum);
}

/** Return true when every vertex of a closed ring is on one line through its first (exactly). */
function allOnOneLine(closed) {
  const o = closed[0];
  const far = closed.reduce((best, p) => (Math.hypot(p[0] - o[0], p[1] - o[1]) > Math.hypot(best[0] - o[0], best[1] - o[1]) ? p : best), o);
  return closed.every((p) => orient(o, far, p) === 0);
}

/**
 * Check an outer ring (already through checkRing) as the server's `_part` does once its rings
 * are read: no area, self-intersection, and on the sphere the hemisphere. Return the message or null.
 */
export function checkShell(closed, where, kind) {
  if (kind === 'planar') {
    if (allOnOneLine(closed)) return `${where} has no area: its outer ring's vertices are all on one line`;
    const hit = selfIntersection(closed);
    if (hit) return `${where} is not a valid polygon: ${hit.reason} at [${hit.at.map(formatLocation).join(', ')}]`;
    return null;
  }
  const plane = gnomonicPlane(closed);
  if (plane.error) return plane.error;
  // Vertices at a pole are one point of the sphere under many longitudes: projected, they land
  // a rounding error apart, where GEOS's verdict rests on that rounding. The server decides those.
  if (closed.some(([, lat]) => Math.abs(lat) === 90)) return null;
  const flat = closed.map(plane.project);
  const hit = selfIntersection(flat);
  if (hit) return `${where} is not a valid polygon on the sphere: ${hit.reason}`;
  if (area2(flat) === 0) return `${where} has no area: its outer ring's vertices are all on one line`;
  return null;
}

/**
 * Return why the server would refuse this query body (a GeoJSON Polygon or MultiPolygon, bare
 * or as a Feature's geometry, without holes: the page sends none), in its words, or null.
 */
export function checkArea(doc, { kind, maxVertices }) {
  let geometry = doc;
  if (geometry?.type === 'Feature') geometry = geometry.geometry;
  const budget = { used: 0 };
  const parts =
    geometry?.type === 'Polygon'
      ? [[geometry.coordinates, 'coordinates']]
      : (geometry?.coordinates ?? []).map((polygon, i) => [polygon, `coordinates[${i}]`]);
  for (const [rings, where] of parts) {
    if (!Array.isArray(rings) || rings.length === 0) return `${where} must be a non-empty list of rings, got ${describe(rings)}`;
    for (let r = 0; r < rings.length; r += 1) {
      const problem = checkRing(rings[r], `${where}[${r}]`, kind, budget, maxVertices);
      if (problem) return problem;
    }
    const problem = checkShell(rings[0], where, kind);
    if (problem) return problem;
  }
  return null;
}
