/** Keep the page's query (dataset, polygons or "show all") in the URL fragment, and read it back. */

// The fragment reads like: #dataset=grid&polygon=1.5,2;30,2;30,40&polygon=...  or  #dataset=grid&all
// A polygon query that was cancelled keeps its polygons, with `&cancelled`: they are drawn, not queried.
// Colouring by a property adds `&colour=<property>` (none: by density).
// Numbers are written with String(), the shortest text that reads back as the same double, so
// a reloaded link sends exactly the polygon that was sent before.

/** Return the fragment (with its '#', or '' for nothing) that describes `state`. */
export function encodeState({ dataset = null, polygons = [], all = false, cancelled = false, colour = null }) {
  const parts = [];
  if (dataset) parts.push(`dataset=${encodeURIComponent(dataset)}`);
  if (all) parts.push('all');
  for (const ring of polygons) {
    parts.push(`polygon=${ring.map(([x, y]) => `${x},${y}`).join(';')}`);
  }
  if (cancelled && polygons.length > 0) parts.push('cancelled');
  if (colour) parts.push(`colour=${encodeURIComponent(colour)}`);
  return parts.length > 0 ? `#${parts.join('&')}` : '';
}

/** Return the ring a `polygon=` value describes, or null when it cannot be read as one. */
function readRing(text) {
  const ring = text.split(';').map((pair) => pair.split(',').map((part) => (part.trim() === '' ? NaN : Number(part))));
  // Every vertex two finite numbers (1e400 is Infinity), and at least three of them.
  const valid = ring.every((point) => point.length === 2 && point.every(Number.isFinite));
  return valid && ring.length >= 3 ? ring : null;
}

/**
 * Return {dataset, polygons, all, cancelled, colour, unreadable} read from a fragment: polygons that
 * make no sense are left out and counted in `unreadable`, so the page can say so.
 */
export function decodeState(hash) {
  const params = new URLSearchParams(hash.replace(/^#/, ''));
  const polygons = [];
  let unreadable = 0;
  for (const text of params.getAll('polygon')) {
    const ring = readRing(text);
    if (ring) polygons.push(ring);
    else unreadable += 1;
  }
  return {
    dataset: params.get('dataset') || null,
    polygons,
    all: params.has('all') && polygons.length === 0,
    cancelled: params.has('cancelled') && polygons.length > 0,
    colour: params.get('colour') || null,

    unreadable,
  };
}
