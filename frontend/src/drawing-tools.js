/**
 * Wire the drawing tools of the toolbar: Polygon / Rectangle / Select (a click shows a point's
 * details: point-details.js), loading polygons from a GeoJSON
 * file (picker or a drop on the plot), and copying the query as GeoJSON or as a curl command.
 */

import { parsePolygonFile } from './polygon-file.js';
import { queryGeometry } from './query-geometry.js';
import { copyText, curlCommand, withinUrl } from './query-export.js';

const $ = (selector) => document.querySelector(selector);

export class DrawingTools {
  /**
   * `tool` is the PolygonTool; `plot` the element files are dropped on; `dataset()` returns the
   * dataset entry in view (or null); `onRefuse(message)` shows why a file was not loaded.
   */
  constructor(tool, plot, { dataset, onRefuse }) {
    this.tool = tool;
    this.dataset = dataset;
    this.onRefuse = onRefuse;
    this.copied = ''; // the text last put on the clipboard (a test hook reads it)
    this.tokenRequired = plot.dataset.tokenRequired === 'true';
    this.plot = plot;
    this.modes = { polygon: $('#tool-polygon'), rectangle: $('#tool-rectangle'), select: $('#tool-select') };
    this.file = $('#polygon-file');
    this.copyButtons = { geojson: $('#copy-geojson'), curl: $('#copy-curl') };
    this.message = $('#tools-message');
    for (const [mode, button] of Object.entries(this.modes)) button.addEventListener('click', () => this.setMode(mode));
    $('#load-file').addEventListener('click', () => this.file.click());
    this.file.addEventListener('change', () => {
      if (this.file.files.length > 0) this.load(this.file.files[0]);
      this.file.value = ''; // the same file picked again is read again
    });
    plot.addEventListener('dragover', (event) => {
      if (!event.dataTransfer?.types.includes('Files')) return;
      event.preventDefault(); // without it the browser opens the file instead of dropping it here
      event.dataTransfer.dropEffect = 'copy';
      plot.classList.add('drop-target');
    });
    plot.addEventListener('dragleave', () => plot.classList.remove('drop-target'));
    plot.addEventListener('drop', (event) => {
      plot.classList.remove('drop-target');
      const file = event.dataTransfer?.files[0];
      if (!file) return;
      event.preventDefault();
      this.load(file);
    });
    this.copyButtons.geojson.addEventListener('click', () => this.copy('geojson'));
    this.copyButtons.curl.addEventListener('click', () => this.copy('curl'));
    this.setMode('polygon');
  }

  /** Draw by clicks ('polygon'), by dragging a box ('rectangle'), or pick points ('select'); the pressed button says which. */
  setMode(mode) {
    this.tool.setMode(mode);
    this.mode = mode;
    this.plot.dataset.tool = mode; // the plot's cursor
    for (const [name, button] of Object.entries(this.modes)) button.setAttribute('aria-pressed', String(name === mode));
    this.say('');
  }

  /** Read a GeoJSON file and add its polygons, or say (in the server's words) why not. */
  async load(file) {
    const entry = this.dataset();
    if (!entry) return;
    let text;
    try {
      text = await file.text();
    } catch (err) {
      this.onRefuse(`${file.name} could not be read: ${err.message}`);
      return;
    }
    const read = parsePolygonFile(text, { kind: entry.geometry, maxVertices: this.tool.maxVertices });
    if (read.error) {
      this.onRefuse(`${file.name} not loaded: ${read.error}`);
      return;
    }
    if (this.tool.add(read.rings)) this.say(`Loaded ${read.rings.length} polygon${read.rings.length === 1 ? '' : 's'} from ${file.name}.`);
  }

  /** Return the query's body (the GeoJSON the page sends), as text. */
  body() {
    return JSON.stringify(queryGeometry(this.tool.polygons));
  }

  /** Put the query on the clipboard as GeoJSON or as a curl command, and say so. */
  async copy(kind) {
    const entry = this.dataset();
    if (!entry || this.tool.polygons.length === 0) {
      this.say('Draw a polygon first: there is no query to copy yet.');
      return;
    }
    const text = kind === 'geojson' ? this.body() : curlCommand(withinUrl(location.origin, entry.name), this.body(), { token: this.tokenRequired });
    this.copied = text;
    const done = await copyText(text);
    this.say(done ? `Copied the query as ${kind === 'geojson' ? 'GeoJSON' : 'a curl command'}.` : 'The clipboard refused the text.');
  }

  say(text) {
    this.message.textContent = text;
  }
}
