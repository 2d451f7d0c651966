/** Turn the polygons drawn on the page into the GeoJSON body of a points/within query. */

/** Return twice the signed area of an open ring (positive when counter-clockwise, y up). */
export function signedArea2(ring) {
  let sum = 0;
  for (let i = 0, j = ring.length - 1; i < ring.length; j = i, i += 1) {
    sum += (ring[j][0] - ring[i][0]) * (ring[j][1] + ring[i][1]);
  }
  return sum;
}

/** Return the ring closed (first vertex repeated) and counter-clockwise, as RFC 7946 asks. */
export function closedRing(ring) {
  const ordered = signedArea2(ring) < 0 ? [...ring].reverse() : [...ring];
  return [...ordered, ordered[0]];
}

/** Return a Polygon for one drawn ring, a MultiPolygon for several, or null for none. */
export function queryGeometry(rings) {
  if (rings.length === 0) return null;
  if (rings.length === 1) return { type: 'Polygon', coordinates: [closedRing(rings[0])] };
  return { type: 'MultiPolygon', coordinates: rings.map((ring) => [closedRing(ring)]) };
}

/** Return `value` rounded to a multiple of `step` (a power of ten), without binary noise like 0.30000000000000004. */
export function roundTo(value, step) {
  const decimals = Math.max(0, -Math.floor(Math.log10(step)));
  return Number((Math.round(value / step) * step).toFixed(decimals));
}

/** Return the power of ten just under a 100,000th of `span`: vertices are kept that finely. */
export function vertexStep(span) {
  // Number('1e-4') is exactly the double nearest 0.0001; 10 ** -4 is one ulp off.
  return Number(`1e${Math.floor(Math.log10(Math.max(span, 1e-12) / 1e5))}`);
}
