/** Keep the page's query (dataset, polygons or "show all") in the URL fragment, and read it back. */

// The fragment reads like: #dataset=grid&polygon=1.5,2;30,2;30,40&polygon=...  or  #dataset=grid&all
// Numbers are written with String(), the shortest text that reads back as the same double, so
// a reloaded link sends exactly the polygon that was sent before.

/** Return the fragment (with its '#', or '' for nothing) that describes `state`. */
export function encodeState({ dataset = null, polygons = [], all = false }) {
  const parts = [];
  if (dataset) parts.push(`dataset=${encodeURIComponent(dataset)}`);
  if (all) parts.push('all');
  for (const ring of polygons) {
    parts.push(`polygon=${ring.map(([x, y]) => `${x},${y}`).join(';')}`);
  }
  return parts.length > 0 ? `#${parts.join('&')}` : '';
}

/** Return {dataset, polygons, all} read from a fragment; polygons that make no sense are left out. */
export function decodeState(hash) {
  const params = new URLSearchParams(hash.replace(/^#/, ''));
  const polygons = [];
  for (const text of params.getAll('polygon')) {
    const ring = text.split(';').map((pair) => pair.split(',').map(Number));
    const valid = ring.every((point) => point.length === 2 && point.every(Number.isFinite));
    if (valid && ring.length >= 3) polygons.push(ring);
  }
  return { dataset: params.get('dataset') || null, polygons, all: params.has('all') && polygons.length === 0 };
}
