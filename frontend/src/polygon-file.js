/**
 * Read polygons from a GeoJSON file (picked or dropped on the plot): a Polygon, a MultiPolygon,
 * a Feature of one, or a FeatureCollection of such Features. Each is checked as the server
 * checks a query (polygon-check.js: the same words), so a file the page takes is one the server
 * takes. Holes are refused with words: the page draws, edits and links outer rings only, and a
 * hole silently dropped would select what the file excludes.
 */

import { checkRing, checkShell, describe } from './polygon-check.js';

/** Return a Python-style repr of a type name, as the server quotes it ('Point'). */
function quoted(value) {
  const text = typeof value === 'string' && value.length <= 40 ? value : describe(value);
  return `'${text.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}

/** Return [[coordinates, where], ...] for a Polygon or MultiPolygon, or {error}. */
function polygonsOf(geometry) {
  if (geometry === null || typeof geometry !== 'object' || Array.isArray(geometry)) {
    return { error: "the Feature's geometry must be a Polygon or MultiPolygon object" };
  }
  const { type, coordinates } = geometry;
  if (type === 'Polygon') return { polygons: [[coordinates, 'coordinates']] };
  if (type === 'MultiPolygon') {
    if (!Array.isArray(coordinates) || coordinates.length === 0) {
      return { error: `coordinates of a MultiPolygon must be a non-empty list of polygons, got ${describe(coordinates)}` };
    }
    return { polygons: coordinates.map((polygon, i) => [polygon, `coordinates[${i}]`]) };
  }
  if (type === undefined) return { error: 'the object has no "type": expected a GeoJSON Polygon or MultiPolygon (or a Feature of one)' };
  return { error: `expected a GeoJSON Polygon or MultiPolygon (or a Feature of one), got type ${quoted(type)}` };
}

/** Return [[geometry, prefix], ...] for the file's document, or {error}. */
function geometriesOf(doc) {
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) {
    return { error: `expected a GeoJSON object (Polygon, MultiPolygon, Feature or FeatureCollection), got ${describe(doc)}` };
  }
  if (doc.type === 'Feature') return { geometries: [[doc.geometry, '']] };
  if (doc.type !== 'FeatureCollection') return { geometries: [[doc, '']] };
  if (!Array.isArray(doc.features) || doc.features.length === 0) {
    return { error: `the FeatureCollection's features must be a non-empty list of Features, got ${describe(doc.features)}` };
  }
  const geometries = [];
  for (const [i, feature] of doc.features.entries()) {
    if (feature?.type !== 'Feature') return { error: `features[${i}] must be a Feature, got ${describe(feature)}` };
    geometries.push([feature.geometry, `features[${i}]: `]);
  }
  return { geometries };
}

/**
 * Return {rings} (outer rings, first vertex not repeated, as the page holds them) read from a
 * GeoJSON text, or {error} saying what is wrong and where, in the server's words.
 */
export function parsePolygonFile(text, { kind, maxVertices }) {
  const read = readFile(text, kind, maxVertices);
  // The API words its refusals "invalid polygon: …"; a hole is the page's own refusal.
  return read.error && !read.hole ? { error: `invalid polygon: ${read.error}` } : read;
}

function readFile(text, kind, maxVertices) {
  let doc;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    return { error: `the file is not valid JSON: ${err.message}` };
  }
  const found = geometriesOf(doc);
  if (found.error) return found;
  const budget = { used: 0 };
  const rings = [];
  for (const [geometry, prefix] of found.geometries) {
    const read = polygonsOf(geometry);
    if (read.error) return { error: prefix + read.error };
    for (const [polygon, where] of read.polygons) {
      if (!Array.isArray(polygon) || polygon.length === 0) {
        return { error: `${prefix}${where} must be a non-empty list of rings, got ${describe(polygon)}` };
      }
      for (let r = 0; r < polygon.length; r += 1) {
        const problem = checkRing(polygon[r], `${where}[${r}]`, kind, budget, maxVertices);
        if (problem) return { error: prefix + problem };
      }
      if (polygon.length > 1) {
        const holes = polygon.length - 1;
        return {
          hole: true,
          error: `${prefix}${where} has ${holes} hole${holes === 1 ? '' : 's'}; the page draws outer rings only, so it loads no polygon with holes (the API takes them: send it with curl)`,
        };
      }
      const problem = checkShell(polygon[0], where, kind);
      if (problem) return { error: prefix + problem };
      rings.push(polygon[0].slice(0, -1).map(([x, y]) => [x, y]));
    }
  }
  return { rings };
}
