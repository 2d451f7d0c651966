/** A light world map under the points of a lon/lat dataset, and the degree labels of its axes. */

import { plotProjection } from './polygon-tool.js';

// The world's box in lon/lat: the map ends there, and so do the axes' ticks and the panning.
export const WORLD = [-180, -90, 180, 90];
// The paths are computed for the view at some zoom and then moved with an SVG transform; they
// are computed again once the zoom has changed by more than this factor either way, or the view
// has left the area computed (the view plus one view's width and height on every side).
const RESCALE_FACTOR = 2;

/**
 * Return the number of decimals that tell ticks `step` degrees apart from each other (0 for
 * whole degrees, 1 for 0.5 or 0.2, 2 for 0.05...).
 */
export function degreeDecimals(step) {
  if (!(step > 0) || !Number.isFinite(step)) return 0;
  return Math.max(0, Math.ceil(-Math.log10(step) - 1e-9));
}

/**
 * Return a degree label: `axis` 'lon' gives 30°E, 120°W, 0°, 180°; 'lat' gives 45°N, 60°S, 0°.
 * `step` (the distance between ticks) sets the decimals.
 */
export function formatDegrees(value, axis, step = 1) {
  const decimals = degreeDecimals(step);
  const magnitude = Math.abs(value).toFixed(decimals);
  if (Number(magnitude) === 0) return '0°';
  if (axis === 'lon' && Number(magnitude) === 180) return '180°';
  const [positive, negative] = axis === 'lat' ? ['N', 'S'] : ['E', 'W'];
  return `${magnitude}°${value > 0 ? positive : negative}`;
}

/** Return the ticks of `values` that lie on the globe along `axis` (lon within ±180, lat within ±90). */
export function onTheGlobe(values, axis) {
  const limit = axis === 'lat' ? 90 : 180;
  return values.filter((v) => Math.abs(v) <= limit + 1e-9);
}

/**
 * Return d3-zoom's translateExtent for a spherical plot: the world's box in the outer svg's
 * coordinates at identity zoom, from the unzoomed scales `x`, `y` of the inner area and the
 * margin between the two.
 */
export function worldTranslateExtent(x, y, margin) {
  const [west, south, east, north] = WORLD;
  return [
    [x(west) + margin.left, y(north) + margin.top],
    [x(east) + margin.left, y(south) + margin.top],
  ];
}

/**
 * d3-zoom's own constraint, applied to `area` (the inner plot, in the outer svg's coordinates)
 * instead of the zoom's extent: what has to stay within the translateExtent is what the plot
 * shows, not the margins round it. A view larger than the extent is centred on it.
 */
export function constrainArea(transform, area, translateExtent) {
  const dx0 = transform.invertX(area[0][0]) - translateExtent[0][0];
  const dx1 = transform.invertX(area[1][0]) - translateExtent[1][0];
  const dy0 = transform.invertY(area[0][1]) - translateExtent[0][1];
  const dy1 = transform.invertY(area[1][1]) - translateExtent[1][1];
  return transform.translate(
    dx1 > dx0 ? (dx0 + dx1) / 2 : Math.min(0, dx0) || Math.max(0, dx1),
    dy1 > dy0 ? (dy0 + dy1) / 2 : Math.min(0, dy0) || Math.max(0, dy1),
  );
}

let atlas = null; // the promise of {land, borders}, fetched once for the page

/** Fetch and convert Natural Earth's 110m land and country borders (world-atlas), once. */
function loadAtlas() {
  if (!atlas) {
    const url = (file) => new URL(`../vendor/world-atlas/${file}`, import.meta.url);
    const json = (file) =>
      fetch(url(file)).then((response) => {
        if (!response.ok) throw new Error(`${file}: HTTP ${response.status}`);
        return response.json();
      });
    atlas = Promise.all([json('land-110m.json'), json('countries-110m.json')]).then(([land, countries]) => {
      const topojson = globalThis.topojson;
      if (!topojson) throw new Error('topojson-client is not loaded');
      return {
        land: topojson.feature(land, land.objects.land),
        borders: topojson.mesh(countries, countries.objects.countries, (a, b) => a !== b),
      };
    });
    // A failed load is tried again by the next lon/lat dataset shown, not kept as the answer.
    atlas.catch(() => {
      atlas = null;
    });
  }
  return atlas;
}

export class Basemap {
  /**
   * `view` is the PlotView; `svg` an <svg class="basemap"> under the points canvas, laid over the
   * inner plot area as the canvas is. `show(geometry)` draws the map for 'spherical' and nothing
   * for 'planar'; `render()` follows the view (call it from the view's onChange).
   */
  constructor(view, svg) {
    const d3 = globalThis.d3;
    this.view = view;
    this.svg = d3.select(svg);
    this.layer = this.svg.append('g').attr('class', 'map');
    this.geometry = 'planar';
    this.features = null; // {land, borders} once loaded
    this.drawn = null; // {key, transform} of the view the paths were computed for
    this.drawMs = 0; // how long the last computation of the paths took
  }

  show(geometry) {
    this.geometry = geometry === 'spherical' ? 'spherical' : 'planar';
    this.drawn = null;
    if (this.geometry !== 'spherical') {
      this.layer.selectAll('path').remove();
      return;
    }
    if (this.features) {
      this.render();
      return;
    }
    loadAtlas().then(
      (features) => {
        this.features = features;
        this.drawn = null;
        this.render();
      },
      (error) => {
        console.warn(`pointsite: no basemap (${error.message})`);
      },
    );
  }

  render() {
    if (this.geometry !== 'spherical' || !this.features) return;
    const { view } = this;
    const t = view.transform;
    const key = `${view.width},${view.height},${view.bounds.join(',')}`;
    if (this.drawn && this.drawn.key === key) {
      // Move the paths computed at `at` to the current zoom: inner pixels map as
      // r = (r0 + m - at) * (k / at.k) + t - m, for each axis with its margin m.
      const at = this.drawn.transform;
      const s = t.k / at.k;
      const { left, top } = view.margin;
      const ox = (left - at.x) * s + t.x - left;
      const oy = (top - at.y) * s + t.y - top;
      // The part of the computed area now in view, in the computed paths' pixels.
      const x0 = -ox / s;
      const x1 = (view.width - ox) / s;
      const y0 = -oy / s;
      const y1 = (view.height - oy) / s;
      const inside = x0 >= -view.width && x1 <= 2 * view.width && y0 >= -view.height && y1 <= 2 * view.height;
      if (s <= RESCALE_FACTOR && s >= 1 / RESCALE_FACTOR && inside) {
        this.layer.attr('transform', `translate(${ox},${oy}) scale(${s})`);
        return;
      }
    }
    this.draw(key);
  }

  /** Compute every path for the current view, over the view plus one view on every side. */
  draw(key) {
    const d3 = globalThis.d3;
    const { view } = this;
    const started = performance.now();
    const projection = plotProjection(view.x, view.y).clipExtent([
      [-view.width, -view.height],
      [2 * view.width, 2 * view.height],
    ]);
    const path = d3.geoPath(projection);
    const layers = [
      ['sphere', { type: 'Sphere' }],
      ['graticule', d3.geoGraticule10()],
      ['land', this.features.land],
      ['borders', this.features.borders],
    ];
    this.layer
      .attr('transform', null)
      .selectAll('path')
      .data(layers, ([name]) => name)
      .join('path')
      .attr('class', ([name]) => name)
      .attr('d', ([, feature]) => path(feature) ?? '');
    this.drawMs = performance.now() - started;
    this.drawn = { key, transform: view.transform };
  }
}
