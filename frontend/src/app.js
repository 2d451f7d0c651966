/** Wire the page: the dataset picker, the plot, the polygon tool, the streamed queries, the status and the URL. */

import { Basemap } from './basemap.js';
import { DatasetWatcher, importText, optionLabel } from './dataset-list.js';
import { DatasetPanel } from './dataset-panel.js';
import { ColourBy, ColourLegend, classRgba, classTable } from './colour-by.js';
import { DensityLegend, densityRgba } from './density.js';
import { ExportMenu } from './export-menu.js';
import { OverviewLayer } from './overview-layer.js';
import { PlotView } from './plot-view.js';
import { PointDetails } from './point-details.js';
import { formatFromSearch, PointQuery } from './point-query.js';
import { PointRenderer } from './point-renderer.js';
import { DrawingTools } from './drawing-tools.js';
import { PolygonTool } from './polygon-tool.js';
import { pointsPath } from './query-export.js';
import { queryGeometry } from './query-geometry.js';
import { polygonLabels, SelectionCount } from './selection-count.js';
import { StatusPanel } from './status-panel.js';
import { decodeState, encodeState } from './url-state.js';

const $ = (selector) => document.querySelector(selector);
if (!globalThis.d3) {
  // The vendored d3 is served from frontend/node_modules; without it nothing below can work.
  $('#status .message').textContent = 'd3 is missing: run `make node` (npm ci in frontend/) and reload.';
  throw new Error('d3 is missing');
}
const controls = {
  dataset: $('#dataset'),
  showAll: $('#show-all'),
  clear: $('#clear'),
  cancel: $('#cancel'),
  resetView: $('#reset-view'),
  drawingHint: $('#drawing-hint'),
};
const panel = new DatasetPanel($('#dataset-panel'));
const plotRoot = $('#plot');
let draftVertices = 0; // vertices of the ring being drawn, for the hint on the plot
let refusal = ''; // why the page did not send the last polygon drawn or loaded (the server's words)
const status = new StatusPanel($('#status'), { onShow: () => updatePlotHint() });

const HINT = 'Click on the plot to draw a polygon, or press “Show all”.';

/** Return the side of a point's square (CSS px): big enough to see a few, small enough for millions. */
function pointSizeFor(count) {
  if (count <= 10_000) return 5;
  if (count <= 200_000) return 2;
  return 1;
}

let datasets = [];
let dataset = null; // the chosen entry of /api/datasets
let mode = 'none'; // what the picture shows: none | all | within
let stopped = false; // the query of `mode` was cancelled: its picture is partial, and the link says so
let running = null; // {finished: result | null} for the query whose points are being drawn

const legend = new DensityLegend($('#density-legend'));
const colourLegend = new ColourLegend($('#colour-legend'));
let colourShown = null; // the colouring's spec as the worker resolved it (null: by density), for the legend
const renderer = new PointRenderer(plotRoot.querySelector('canvas.points'), {
  onDrawn: () => settle(),
  onScale: () => updateLegend(),
});
let overviewMost = 0; // the densest cell of the overview shown
// The overview is drawn in the renderer's canvas, under the points (see OverviewLayer).
const overview = new OverviewLayer({
  onDraw: (grids) => renderer.setBackground(grids),
  onScale: (most) => {
    overviewMost = most;
    updateLegend();
  },
  onError: (message) => status.notice(message),
});

/** Show the scale of what stands out: the points of a query once there are some, else the overview. */
function updateLegend() {
  const coloured = colourShown !== null && renderer.classTable !== null && mode !== 'none' && renderer.total > 0;
  colourLegend.show(coloured ? colourShown : null);
  if (coloured) legend.show(0, 'pixel');
  else if (mode === 'none') legend.show(overviewMost, 'cell');
  else legend.show(renderer.total > 0 ? renderer.scaleMax : 0, 'pixel'); // grey context alone has no scale
}

/** Say whether a query's points are on screen: the overview under them is then dimmed, as context. */
function markSelection() {
  plotRoot.classList.toggle('has-selection', mode !== 'none');
  overview.setDim(mode !== 'none');
  updateLegend();
}

let tool = null;
let basemap = null;
let details = null;
const view = new PlotView(plotRoot, {
  onChange: (v) => {
    const dpr = window.devicePixelRatio || 1;
    if (renderer.canvas.width !== Math.round(v.width * dpr) || renderer.canvas.height !== Math.round(v.height * dpr)) {
      renderer.resize(v.width, v.height, dpr);
    }
    overview.moved(v); // the renderer's background at the new scales, before it redraws
    // A linear scale is k * value + offset; the renderer redraws what it holds, no refetch.
    const [x0, x1] = v.x.domain();
    const [y0, y1] = v.y.domain();
    const kx = (v.x(x1) - v.x(x0)) / (x1 - x0);
    const ky = (v.y(y1) - v.y(y0)) / (y1 - y0);
    renderer.setTransform(kx, v.x(0), ky, v.y(0));
    tool?.render();
    details?.render();
    basemap?.render();
  },
});
basemap = new Basemap(view, plotRoot.querySelector('svg.basemap'));
tool = new PolygonTool(view, plotRoot.querySelector('g.polygons'), {
  maxVertices: Number(plotRoot.dataset.maxVertices) || 10_000,
  onRefuse: (message) => refuse(`Not sent: ${message}`),
  onChange: (polygons) => {
    forgetRefusal();
    if (polygons.length === 0) showNothing();
    else query('within');
  },
  onDraft: (vertices) => {
    draftVertices = vertices;
    forgetRefusal();
    updatePlotHint();
  },
});
const drawingTools = new DrawingTools(tool, plotRoot, { dataset: () => dataset, onRefuse: (message) => refuse(message) });
let shownQuery = 0; // the query whose points the renderer holds (the worker keeps their columns)
details = new PointDetails(view, $('#point-details'), plotRoot.querySelector('g.pick-marker'), {
  pick: (click) => pointQuery.pick({ ...click, query: shownQuery, count: renderer.total }),
  held: () => renderer.total,
  selecting: () => drawingTools.mode === 'select',
  geometry: () => dataset?.geometry ?? 'planar',
});
// Colour by a property: the worker sends each point's class with its coordinates; a new choice
// takes effect when the classes of the points held come back (onClasses), so the picture never
// mixes two colourings.
let colourVersion = 0; // the colouring last asked of the worker
const colourBy = new ColourBy($('#colour-by'), {
  onChange: (spec) => {
    colourVersion = pointQuery.colour(spec);
    writeUrl();
  },
  onError: (message) => status.notice(message),
});
const selectionCount = new SelectionCount({ onChange: (counts) => showCounts(counts) });
const exportMenu = new ExportMenu($('#export'), {
  selection: () => ({ name: dataset?.status === 'ready' ? dataset.name : null, mode, rings: tool.polygons }),
  // The number of points the file holds: the polygons' count, else the dataset's.
  count: () => (mode === 'within' ? (selectionCount.counts === null ? null : selectionCount.counts.total) : (status.total ?? dataset?.count ?? null)),
  onError: (message) => status.notice(message),
});

/** The picture holds no query's points any more: the worker lets go of their columns and index. */
function forgetPoints() {
  shownQuery = 0;
  pointQuery.shown(null);
}

/** Count the drawn polygons' points at once, beside their stream (every point needs no count: the stream says it). */
function countSelection() {
  if (mode === 'within' && dataset) selectionCount.run(dataset.name, dataset.updated ?? '', tool.polygons);
  else selectionCount.abort();
  if (selectionCount.counts === null) showCounts(null);
}

/** Show the polygons' counts (null: none) in the status, on the polygons and in the Export menu. */
function showCounts(counts) {
  status.setCounts(counts);
  tool.setLabels(polygonLabels(counts));
  exportMenu.render();
}

/** Say why a polygon was not sent or a file not loaded, on the plot and in the status; the picture and the query stay. */
function refuse(message) {
  refusal = message;
  status.notice(refusal);
}

/** Stop saying why the last polygon was not sent: the drawing or the polygons changed since. */
function forgetRefusal() {
  if (!refusal) return;
  refusal = '';
  status.notice('');
}

/**
 * Say on the plot itself what matters now: how to go on with the ring being drawn; else a
 * refusal, error or cut stream (on a narrow window the status box is below the fold); else a
 * word about the link (an unknown dataset, polygons that could not be read).
 */
function updatePlotHint() {
  const hint = controls.drawingHint;
  let text = '';
  let problem = false;
  if (refusal) {
    text = refusal;
    problem = true;
  } else if (draftVertices > 0) {
    text =
      draftVertices < 3
        ? `Drawing: ${draftVertices} vertex${draftVertices === 1 ? '' : 'es'}; a polygon needs 3. Esc cancels.`
        : 'Close it: click the first vertex, double-click or press Enter. Backspace undoes a vertex.';
  } else if (status.state === 'error' || status.state === 'cut') {
    text = status.message.textContent;
    problem = true;
  } else if (status.noticeText) {
    text = status.noticeText;
    problem = true;
  }
  if (hint.textContent !== text) hint.textContent = text;
  hint.hidden = text === '';
  hint.classList.toggle('problem', problem);
}
// The stream format: Arrow unless the page's query says `?format=ndjson` (the bench and the
// tests compare the two); the fragment keeps the query's state, the query string the format.
const pointQuery = new PointQuery(new URL('./point-worker.js', import.meta.url), {
  format: formatFromSearch(location.search),
  onAbortConfirmed: (count) => {
    status.root.dataset.aborted = String(count);
  },
  onClasses: ({ version, classes, spec }) => {
    if (version !== colourVersion) return; // a newer colouring is on its way
    colourShown = spec;
    if (spec === null && renderer.classTable === null) return; // by density already: nothing to redraw
    renderer.setColouring(spec === null ? null : classTable(spec.kind), classes[shownQuery] ?? null);
    updateLegend();
  },
});

/**
 * Write what is on screen in the fragment. After a cancel, "all" is dropped (a reload must not
 * restart what the user stopped: it shows the dataset with nothing running), while polygons
 * stay, being on screen, marked `cancelled`: a reload draws them and queries nothing until
 * one is edited or drawn.
 */
function writeUrl() {
  const polygons = mode === 'within' ? tool.polygons : [];
  const hash = encodeState({
    dataset: dataset?.name,
    polygons,
    all: mode === 'all' && !stopped,
    cancelled: mode === 'within' && stopped,
    colour: colourBy.chosen,
  });
  // replaceState: the link always describes the picture, without a history entry per click.
  history.replaceState(null, '', hash || location.pathname + location.search);
}

function setRunning(isRunning) {
  controls.cancel.disabled = !isRunning;
}

/** Start streaming every point ('all') or the points inside the drawn polygons ('within'). */
function query(kind) {
  if (!dataset) return;
  const startedAt = performance.now();
  mode = kind;
  stopped = false;
  writeUrl();
  const polygons = tool.polygons.length;
  const request =
    kind === 'all'
      ? { url: pointsPath(dataset.name), method: 'GET' }
      : { url: pointsPath(dataset.name, 'within'), method: 'POST', body: JSON.stringify(queryGeometry(tool.polygons)) };
  const label =
    kind === 'all' ? 'Streaming every point…' : `Streaming the points inside ${polygons === 1 ? 'the polygon' : `${polygons} polygons`}…`;
  // The picture there stays until the new answer brings points (or ends with none): a refusal,
  // an error before any point, keeps it.
  let fresh = false;
  const replacePicture = () => {
    if (fresh) return;
    fresh = true;
    shownQuery = current.id;
    pointQuery.shown(current.id);
    renderer.clear();
    markSelection();
  };
  status.start(label, startedAt);
  status.notice('');
  countSelection();
  details.clear(); // a new query: the point shown may not be among its points
  const current = { finished: null, id: 0 };
  running = current;
  setRunning(true);
  current.id = pointQuery.run(request, {
    onStart: (total, transport) => {
      status.setTotal(total);
      status.setTransport(transport);
    },
    onPoints: (xy, count, bodyBytes, { classes, version, spec }) => {
      replacePicture();
      renderer.add(xy, count, classes);
      if (spec && version === colourVersion) colourShown = spec; // learnt from the points (no statistics from the API)
      updateLegend(); // the points' scale from their first batch on (a no-op when it shows already)
      status.add(count, bodyBytes);
    },
    onFinish: (result) => {
      if (result.outcome === 'end') replacePicture();
      renderer.streamEnded();
      current.finished = result;
      status.streamEnded();
      settle();
    },
  });
}

/** Report the running query as over once it has finished and its last point is on the canvas. */
function settle() {
  if (running === null || running.finished === null || renderer.busy) return;
  const result = running.finished;
  running = null;
  setRunning(false);
  status.finish(result, performance.now());
}

/** Stop the running query: its stream if still open, and in any case its claim on the status. */
function cancel() {
  // After the stream's end the query still runs until its last points are drawn; Cancel
  // ends it then too (the points held are still drawn, as after a cancel mid-stream).
  if (running === null) return;
  pointQuery.abort();
  renderer.streamEnded();
  const received = status.received;
  running = null;
  setRunning(false);
  status.finish({ outcome: 'aborted', received }, performance.now());
  stopped = true;
  writeUrl();
}

function showNothing() {
  pointQuery.abort();
  running = null;
  setRunning(false);
  mode = 'none';
  countSelection();
  details.clear();
  forgetPoints();
  renderer.clear();
  markSelection();
  status.idle(HINT);
  status.notice('');
  writeUrl();
}

function firstReady() {
  return datasets.find((d) => d.status === 'ready') ?? datasets[0];
}

/**
 * Switch to a dataset and show what the link asks for: polygons, every point, or nothing yet.
 * `notices` are things to say about the link (shown until the next query); an unknown name
 * falls back to the first ready dataset, without the link's query (it was meant for another).
 */
function choose(name, { polygons = [], all = false, cancelled = false, colour } = {}, notices = []) {
  let entry = datasets.find((d) => d.name === name);
  if (!entry) {
    entry = firstReady();
    notices = [`No dataset “${name}”; showing “${entry.title || entry.name}”.`, ...notices];
    polygons = [];
    all = false;
  }
  pointQuery.abort();
  running = null;
  setRunning(false);
  dataset = entry;
  controls.dataset.value = entry.name;
  panel.show(entry);
  view.setBounds(entry.bounds, entry.geometry);
  basemap.show(entry.geometry);
  renderer.setPointSize(pointSizeFor(entry.count));
  renderer.clear();
  forgetPoints();
  details.clear();
  // The link's colouring (null: density), else the one chosen, if this dataset has that property.
  colourBy.load(entry, colour === undefined ? colourBy.chosen : colour, { announce: typeof colour === 'string' });
  overview.show(entry, view);
  tool.setPolygons(polygons, entry.geometry);
  if (entry.status !== 'ready') {
    mode = 'none';
    status.idle(notReadyText(entry));
    countSelection();
    writeUrl();
  } else if (polygons.length > 0 && cancelled) {
    // The link was written after a cancel: the polygons, and nothing running (see writeUrl).
    mode = 'within';
    stopped = true;
    status.idle('The query of these polygons was cancelled: edit one, or draw another, to run it again.');
    countSelection(); // counting is cheap: the polygons show how many points they hold
    writeUrl();
  } else if (polygons.length > 0) query('within');
  else if (all) query('all');
  else showNothing();
  markSelection();
  status.notice(notices.join(' '));
}

/** Apply the URL fragment: on load, and when a pasted link changes only the fragment. */
function applyUrl() {
  const state = decodeState(location.hash);
  const name = state.dataset ?? firstReady()?.name;
  const notices =
    state.unreadable > 0
      ? [`${state.unreadable} polygon${state.unreadable === 1 ? '' : 's'} in the link could not be read.`]
      : [];
  if (name) choose(name, state, notices);
}

/** Say why the chosen dataset cannot be queried: its import and its progress, or its failure. */
function notReadyText(entry) {
  if (entry.status === 'failed') return `This dataset failed to import: ${entry.status_message || 'no reason given'}.`;
  return `This dataset is ${importText(entry) || entry.status}; it opens by itself when ready.`;
}

/** Return the list of /api/datasets; throw an Error saying, in words, why it could not be had. */
async function fetchDatasets() {
  let response;
  try {
    response = await fetch('/api/datasets', { cache: 'no-store' });
  } catch (err) {
    throw new Error(`The server could not be reached (${err.message}).`);
  }
  if (!response.ok) throw new Error(`The datasets could not be listed (HTTP ${response.status}).`);
  return response.json();
}

/**
 * Put the datasets in the picker, each labelled with its import ("importing 42%") or failure.
 * The same names relabel the options in place (an open picker stays open); every option can be
 * picked: one not ready shows its progress or failure, and opens by itself once ready.
 */
function showOptions(list) {
  const options = [...controls.dataset.options];
  const same = options.length === list.length && options.every((o, i) => o.value === list[i].name);
  if (!same) {
    controls.dataset.replaceChildren(...list.map((d) => new Option(optionLabel(d), d.name)));
    if (dataset) controls.dataset.value = dataset.name;
    return;
  }
  list.forEach((d, i) => {
    const label = optionLabel(d);
    if (options[i].text !== label) options[i].text = label;
  });
}

/**
 * A new list from the watcher: relabel the picker and the panel; open the chosen dataset once
 * it turns ready. A ready dataset being imported again stays as it is (its query too) until the
 * new points are published: then an idle picture is redrawn, a query's is said to be of the
 * previous points.
 */
function follow(list) {
  const before = dataset;
  datasets = list;
  showOptions(list);
  const entry = before && list.find((d) => d.name === before.name);
  if (!entry) return; // deleted meanwhile: what is on screen stays until another is picked
  dataset = entry;
  panel.show(entry);
  if (entry.status !== 'ready') {
    if (running === null) status.idle(notReadyText(entry));
  } else if (before.status !== 'ready') {
    choose(entry.name, { polygons: tool.polygons });
  } else if (before.importing && !entry.importing && !entry.status_message) {
    if (mode === 'none' && running === null) choose(entry.name);
    else {
      overview.show(entry, view); // the context is of the new points at once
      colourBy.load(entry, colourBy.chosen); // and so are the colouring's ranges and top values
      status.notice(`“${entry.title || entry.name}” was imported again: this picture is of its previous points; query again for the new ones.`);
    }
  }
}

const watcher = new DatasetWatcher(fetchDatasets, follow);

async function loadDatasets() {
  status.idle('Loading the datasets…');
  try {
    datasets = await fetchDatasets();
  } catch (err) {
    status.finish({ outcome: 'refused', received: 0, message: err.message }, performance.now());
    return;
  }
  showOptions(datasets);
  if (datasets.length === 0) {
    status.idle('No datasets yet: create one in the admin or with `manage.py generate_points`.');
    return;
  }
  applyUrl();
  watcher.watch(datasets);
}

controls.dataset.addEventListener('change', () => choose(controls.dataset.value));
controls.showAll.addEventListener('click', () => {
  tool.setPolygons([], dataset?.geometry ?? 'planar');
  query('all');
});
controls.clear.addEventListener('click', () => tool.clear());
controls.cancel.addEventListener('click', cancel);
controls.resetView.addEventListener('click', () => view.reset());
window.addEventListener('hashchange', applyUrl);

// The focus ring is for finding the plot with the keyboard: once it is used with the mouse (and
// then maybe keys like Enter), it shows no ring until the focus leaves and comes back.
plotRoot.addEventListener('pointerdown', () => plotRoot.classList.add('pointer-focused'));
plotRoot.addEventListener('blur', () => plotRoot.classList.remove('pointer-focused'));

plotRoot.addEventListener('keydown', (event) => {
  if (tool.key(event)) {
    event.preventDefault();
    return;
  }
  const pan = 0.1;
  const actions = {
    '+': () => view.zoomBy(1.5),
    '=': () => view.zoomBy(1.5),
    '-': () => view.zoomBy(1 / 1.5),
    0: () => view.reset(),
    ArrowLeft: () => view.panBy(pan, 0),
    ArrowRight: () => view.panBy(-pan, 0),
    ArrowUp: () => view.panBy(0, pan),
    ArrowDown: () => view.panBy(0, -pan),
    Escape: () => cancel(),
  };
  const action = actions[event.key];
  if (action) {
    event.preventDefault();
    action();
  }
});

// Inspection hooks for the browser tests and the console: where a data point is on screen,
// and the canvas pixel drawn there.
/** Return the index in the renderer's device pixels of a data point, or -1 when it is off the canvas. */
function devicePixel([x, y]) {
  const { width, height } = renderer.canvas;
  const px = Math.floor(view.x(x) * renderer.dpr);
  const py = Math.floor(view.y(y) * renderer.dpr);
  return px >= 0 && py >= 0 && px < width && py < height ? py * width + px : -1;
}

window.pointsite = {
  toClient: (point) => view.toClient(point),
  // The canvas pixel at a data point, whatever shows there (a point, the overview under them).
  canvasPixelAt: (point) => {
    const at = devicePixel(point);
    if (at < 0) return [0, 0, 0, 0];
    const { width } = renderer.canvas;
    return Array.from(renderer.context.getImageData(at % width, Math.floor(at / width), 1, 1).data);
  },
  // The canvas pixel at a data point where a point is drawn, [0, 0, 0, 0] where none is (the
  // overview shows there: overviewPixelAt).
  pixelAt: (point) => {
    const at = devicePixel(point);
    return at < 0 || renderer.counts[at] === 0 ? [0, 0, 0, 0] : window.pointsite.canvasPixelAt(point);
  },
  // The overview's pixel at a data point (what shows under the points there), and what the
  // overview holds: {whole, detail} grids' bbox and size, how many it fetched, and when (performance.now())
  // the whole one was first drawn.
  overviewPixelAt: (point) => {
    const at = devicePixel(point);
    return at < 0 ? [0, 0, 0, 0] : Array.from(new Uint8Array(renderer.background.buffer, 4 * at, 4));
  },
  overview: () => {
    const describe = (held) => held && { bbox: held.bbox, width: held.width, height: held.height, most: held.most };
    return {
      whole: describe(overview.whole),
      detail: describe(overview.detail),
      requests: overview.requests,
      drawnAt: overview.drawnAt,
    };
  },
  // The colour of `count` points in a pixel on a scale up to `scaleMax`, and the points' scale now.
  densityRgba: (count, scaleMax) => densityRgba(count, scaleMax),
  scaleMax: () => renderer.scaleMax,
  polygons: () => tool.polygons.map((ring) => ring.map((p) => [...p])),
  // True while the page polls the dataset list (some import queued or running).
  watching: () => watcher.active,
  // The ring being drawn (its vertices as clicked, snapped), and the text the copy buttons last
  // put on the clipboard.
  draft: () => tool.draft.map((p) => [...p]),
  copied: () => drawingTools.copied,
  // Every point the page holds, as [x, y] pairs in arrival order (for small test datasets).
  points: () => renderer.batches.flatMap(({ xy, count }) => Array.from({ length: count }, (_, i) => [xy[2 * i], xy[2 * i + 1]])),
  // True while held points are not all on the canvas at the current view.
  drawing: () => renderer.busy,
  // Draw at most `batches` batches a frame (0 holds the drawing, null lifts the limit): lets a
  // test look at the page mid-redraw or between a stream's end and its last point drawn.
  limitDrawing: (batches) => {
    renderer.batchesPerFrame = batches ?? Infinity;
    renderer.schedule();
  },
  // The polygons' counts shown ({state, total, polygons, message}, or null), and how many count
  // requests were sent and how many of superseded selections aborted.
  counts: () => ({ shown: selectionCount.counts, requests: selectionCount.requests, aborted: selectionCount.aborted }),
  // What Export in `format` requests now ({method, url, body}; null with nothing to export).
  exportTarget: (format) => exportMenu.target(format),
  // The point shown in the details panel ({index, id, x, y, properties, distance}, or null).
  pickedPoint: () => details.point,
  // The colouring shown (its spec as resolved, or null), the RGBA of class `cls` under it, and
  // the class drawn last at a data point (null where no point is, or by density).
  colouring: () => (renderer.classTable === null ? null : colourShown),
  classRgba: (cls) => (colourShown === null ? null : classRgba(colourShown.kind, cls)),
  classAt: (point) => {
    const at = devicePixel(point);
    return at < 0 || renderer.counts[at] === 0 || renderer.classTable === null ? null : renderer.classes[at];
  },
};

loadDatasets();
