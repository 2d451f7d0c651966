/**
 * Lines that are straight on the lon/lat map (parallels, meridians, a rectangle's sides, a long
 * free edge), turned into the geodesic vertices the server understands: a vertex often enough
 * that each great-circle step between two of them strays from the drawn line by less than a
 * tolerance (half a pixel at the zoom it was drawn at). No d3: pure, tested under node.
 */

const RAD = Math.PI / 180;
// At most this many degrees between two vertices of a densified line, whatever the zoom.
export const MAX_STEP_DEGREES = 1;
// A vertex whose ring turns by less than this (degrees, in lon/lat) is one of a line's inserted
// vertices, not a corner the user placed: it gets no handle, and a corner's drag moves it.
const CORNER_TURN_DEGREES = 1;

/**
 * Return (degrees) how far the great-circle arc between two points of latitude `lat`, `step`
 * degrees of longitude apart, strays from that parallel (at its middle, toward the pole).
 */
export function parallelBow(step, lat) {
  const phi = Math.min(Math.abs(lat), 89.999) * RAD;
  const c = Math.cos((Math.min(step, 179) * RAD) / 2);
  return (Math.atan(Math.tan(phi) / c) - phi) / RAD;
}

/** Return the most a `step`-wide arc strays from its parallel for latitudes between latA and latB. */
export function maxBow(step, latA, latB) {
  const lo = Math.sign(latA) !== Math.sign(latB) ? 0 : Math.min(Math.abs(latA), Math.abs(latB));
  const hi = Math.max(Math.abs(latA), Math.abs(latB));
  // The bow peaks where tan(lat) = sqrt(cos(step / 2)), about 45°.
  const peak = Math.atan(Math.sqrt(Math.cos((Math.min(step, 179) * RAD) / 2))) / RAD;
  const atPeak = lo <= peak && peak <= hi ? parallelBow(step, peak) : 0;
  return Math.max(parallelBow(step, lo), parallelBow(step, hi), atPeak);
}

/** Return the longitude step (at most 1°, halved as needed) whose arcs stray by at most `tolerance` degrees. */
export function stepFor(latA, latB, tolerance) {
  let step = MAX_STEP_DEGREES;
  while (step > 1e-9 && maxBow(step, latA, latB) > tolerance) step /= 2;
  return step;
}

/**
 * Return the vertices strictly between `a` and `b` on the straight lon/lat line joining them,
 * evenly spaced, close enough that the geodesic polygon follows the line within `tolerance`
 * degrees; `round` rounds each one (to keep links short).
 */
export function lineInterior(a, b, tolerance, round = (v) => v) {
  const dLon = b[0] - a[0];
  const dLat = b[1] - a[1];
  const step = stepFor(a[1], b[1], tolerance);
  const n = Math.max(1, Math.ceil(Math.abs(dLon) / step - 1e-9), Math.ceil(Math.abs(dLat) / MAX_STEP_DEGREES - 1e-9));
  const points = [];
  for (let i = 1; i < n; i += 1) points.push([round(a[0] + (dLon * i) / n), round(a[1] + (dLat * i) / n)]);
  return points;
}

/**
 * Return the ring of the lon/lat box with corners `p` and `q`: bottom side west to east, then
 * up, back along the top and down, every side densified (counter-clockwise, first not repeated).
 */
export function boxRing(p, q, tolerance, round = (v) => v) {
  const [west, east] = [Math.min(p[0], q[0]), Math.max(p[0], q[0])];
  const [south, north] = [Math.min(p[1], q[1]), Math.max(p[1], q[1])];
  const corners = [
    [west, south],
    [east, south],
    [east, north],
    [west, north],
  ];
  return corners.flatMap((corner, i) => [corner, ...lineInterior(corner, corners[(i + 1) % 4], tolerance, round)]);
}

/** Return true when the edge a→b, taken as the server does (the shorter arc), would not follow the map's straight line: it spans more than 180° of longitude. */
export function isLongEdge(a, b) {
  return Math.abs(b[0] - a[0]) > 180;
}

/**
 * Return the ring (or with `closed` false the open line) with every edge spanning more than 180°
 * of longitude replaced by the straight lon/lat line drawn on the map (densified); shorter edges
 * stay single great-circle arcs.
 */
export function densifyLongEdges(ring, tolerance, round = (v) => v, closed = true) {
  return ring.flatMap((point, i) => {
    const next = ring[(i + 1) % ring.length];
    const isEdge = closed || i + 1 < ring.length;
    return isEdge && isLongEdge(point, next) ? [point, ...lineInterior(point, next, tolerance, round)] : [point];
  });
}

/** Return the angle (degrees, 0 to 180) by which a path turns at b, coming from a and going to c. */
function turn(a, b, c) {
  const u = [b[0] - a[0], b[1] - a[1]];
  const v = [c[0] - b[0], c[1] - b[1]];
  if ((u[0] === 0 && u[1] === 0) || (v[0] === 0 && v[1] === 0)) return 180;
  return Math.abs(Math.atan2(u[0] * v[1] - u[1] * v[0], u[0] * v[0] + u[1] * v[1])) / RAD;
}

/** Return the indices of a ring's corners: the vertices where it turns (the others were inserted along a line). */
export function cornerIndices(ring) {
  if (ring.length <= 3) return ring.map((_, i) => i);
  const corners = ring
    .map((point, i) => i)
    .filter((i) => turn(ring[(i + ring.length - 1) % ring.length], ring[i], ring[(i + 1) % ring.length]) >= CORNER_TURN_DEGREES);
  return corners.length >= 3 ? corners : ring.map((_, i) => i);
}

/**
 * Return {ring, index}: `ring` with corner `index` moved to `point`, and where that corner is in
 * the new ring. The lines from it to the neighbouring corners that were densified (or become
 * longer than 180° of longitude) are laid anew, so a rectangle's side stays a straight line on
 * the map; single arcs stay single arcs.
 */
export function moveCorner(ring, index, point, tolerance, round = (v) => v) {
  const corners = cornerIndices(ring);
  const at = corners.indexOf(index);
  if (at < 0) return { ring, index };
  const out = [];
  let movedAt = 0;
  corners.forEach((start, k) => {
    const next = (k + 1) % corners.length;
    const end = corners[next];
    const a = k === at ? point : ring[start];
    const b = next === at ? point : ring[end];
    if (k === at) movedAt = out.length;
    out.push(a);
    // The vertices inserted between the two corners (wrapping past the ring's end).
    const inner = end > start ? ring.slice(start + 1, end) : [...ring.slice(start + 1), ...ring.slice(0, end)];
    if (k !== at && next !== at) out.push(...inner);
    else if (inner.length > 0 || isLongEdge(a, b)) out.push(...lineInterior(a, b, tolerance, round));
  });
  return { ring: out, index: movedAt };
}
