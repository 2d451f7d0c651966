/**
 * The toolbar's Export menu: the current selection as a file, which the browser streams to disk
 * (a form GET for every point, a form POST for polygons, into a hidden frame; never a fetch held
 * in memory).
 */

import { pointsPath } from './query-export.js';
import { queryGeometry } from './query-geometry.js';
import { countUrl, readCount } from './selection-count.js';

export const EXPORT_FORMATS = [
  { format: 'csv', label: 'CSV' },
  { format: 'geojson', label: 'GeoJSON' },
  { format: 'ndjson', label: 'NDJSON' },
  { format: 'arrow', label: 'Arrow' },
];

// The frame form exports load into: a download leaves it blank; an error answer loads there
// rather than replacing the page (and, the API's answers being framed by none, shows nothing).
const FRAME = 'export-frame';

/**
 * Return what exporting the selection in `format` requests: {method, url, body}. `mode` is all
 * (GET every point: body null) or within (POST `rings` as the form field `geometry`: body is
 * that GeoJSON text); `name` the dataset's.
 */
export function exportTarget({ name, mode, rings, format }) {
  const query = `?format=${encodeURIComponent(format)}&download=1`;
  if (mode === 'all') return { method: 'GET', url: `${pointsPath(name)}${query}`, body: null };
  return { method: 'POST', url: `${pointsPath(name, 'within')}${query}`, body: JSON.stringify(queryGeometry(rings)) };
}

/** Return the menu's line on the file's size: "The file will hold 12,345 points." */
export function holdsText(count) {
  if (count === undefined) return 'Counting the points…';
  if (count === null) return 'The points could not be counted.';
  return `The file will hold ${new Intl.NumberFormat('en-US').format(count)} point${count === 1 ? '' : 's'}.`;
}

/** Return the error an export's answer shows in its frame (`{"error": "..."}`), or '' for none. */
export function exportError(text) {
  try {
    const parsed = JSON.parse(text);
    if (typeof parsed?.error === 'string') return parsed.error;
  } catch {
    // Not the API's JSON: said below.
  }
  return text.trim() ? 'the server answered with something other than a file' : '';
}

export class ExportMenu {
  /**
   * `root` is the <details> of the menu; `selection()` returns {name, mode, rings} (mode: none |
   * all | within); `count()` the number of points selected (undefined while counted, null when
   * unknown); `onError(message)` says why an export failed.
   */
  constructor(root, { selection, count, onError = () => {} }) {
    this.root = root;
    this.selection = selection;
    this.count = count;
    this.onError = onError;
    this.summary = root.querySelector('summary');
    this.holds = root.querySelector('.export-holds');
    this.items = root.querySelector('.export-items');
    this.shown = ''; // the request the items are built for
    this.sent = null; // the last export started: {name, method, url, body}
    this.failed = false; // the status says the last export failed
    this.frame = document.createElement('iframe');
    this.frame.name = FRAME;
    this.frame.hidden = true;
    this.frame.title = 'export';
    document.body.append(this.frame); // outside the menu: a closed <details> renders none of its content
    this.frame.addEventListener('load', () => this.loaded());
    // Disabled: the summary does not open the menu (a <summary> cannot be disabled itself).
    this.summary.addEventListener('click', (event) => {
      if (this.root.classList.contains('disabled')) event.preventDefault();
    });
    root.addEventListener('toggle', () => this.render());
    document.addEventListener('click', (event) => {
      if (root.open && !root.contains(event.target)) root.open = false;
    });
    root.addEventListener('keydown', (event) => {
      if (event.key !== 'Escape' || !root.open) return;
      event.stopPropagation();
      root.open = false;
      this.summary.focus();
    });
    this.render();
  }

  /** Return what exporting the selection in `format` requests, or null when nothing is selected. */
  target(format) {
    const { name, mode, rings } = this.selection();
    if (!name || mode === 'none') return null;
    return exportTarget({ name, mode, rings, format });
  }

  /** Redraw the menu for the selection now: its items, the count, disabled or not. */
  render() {
    const { name, mode } = this.selection();
    const disabled = !name || mode === 'none';
    this.root.classList.toggle('disabled', disabled);
    this.summary.setAttribute('aria-disabled', String(disabled));
    this.summary.title = disabled
      ? 'Nothing to export: draw a polygon or press “Show all” first.'
      : `Download ${mode === 'all' ? 'every point' : 'the points inside the polygons'} as a file.`;
    if (disabled) {
      this.root.open = false;
      this.items.replaceChildren();
      this.holds.textContent = '';
      this.shown = '';
      return;
    }
    this.holds.textContent = holdsText(this.count());
    const first = this.target(EXPORT_FORMATS[0].format);
    const key = `${first.method} ${first.url} ${first.body}`;
    if (key === this.shown) return; // the same items: a menu being used is not rebuilt under the pointer
    this.shown = key;
    this.items.replaceChildren(this.form(mode));
  }

  /**
   * Return the form that asks for the file, with a button per format, into the hidden frame (so
   * an answer that is not the file is seen and said): every point by GET (each button adds its
   * `format` to the query), the polygons by POST (each button its own action, the polygons in
   * the field `geometry`).
   */
  form(mode) {
    const form = document.createElement('form');
    form.target = FRAME;
    const list = document.createElement('ul');
    for (const { format, label } of EXPORT_FORMATS) {
      const button = document.createElement('button');
      button.type = 'submit';
      if (mode === 'all') {
        button.name = 'format';
        button.value = format;
      } else button.formAction = this.target(format).url;
      button.textContent = label;
      button.dataset.format = format;
      const item = document.createElement('li');
      item.append(button);
      list.append(item);
    }
    form.append(list);
    const field = document.createElement('input');
    field.type = 'hidden';
    if (mode === 'all') {
      // GET: the query is the form's fields in order, so the submitter's format=… comes first.
      form.method = 'get';
      form.action = pointsPath(this.selection().name);
      field.name = 'download';
      field.value = '1';
    } else {
      form.method = 'post';
      field.name = 'geometry';
      field.value = this.target(EXPORT_FORMATS[0].format).body;
    }
    form.append(field);
    form.addEventListener('submit', (event) => this.started(event.submitter?.dataset.format ?? EXPORT_FORMATS[0].format));
    return form;
  }

  /** An export in `format` began: the browser downloads it; the menu closes. */
  started(format) {
    if (this.failed) this.onError(''); // the last export's failure, not another notice
    this.failed = false;
    this.sent = { name: this.selection().name, ...this.target(format) };
    // After the click has done its work (a closed <details> still submits, but not in this task).
    setTimeout(() => {
      this.root.open = false;
    });
  }

  /**
   * The frame loaded: a download leaves it blank (and loads nothing); anything else is an
   * answer that is not the file. Its words are said when the frame can be read; else (the
   * browser refused to show it framed) the count of the same query says why the server refuses it.
   */
  async loaded() {
    const doc = this.frame.contentDocument; // null: the browser's own error page stands there
    if (doc?.URL === 'about:blank') return;
    // Chromium shows JSON in a <pre> (beside its pretty-print switch).
    const message = exportError((doc?.querySelector('pre') ?? doc?.body)?.textContent ?? '') || (await this.explain(this.sent));
    this.failed = true;
    this.onError(`Export failed: ${message}`);
  }

  /** Return why the server refuses the export `sent` ({name, method, body}): what its points/count answers. */
  async explain(sent) {
    if (!sent) return 'the server did not send the file';
    const init = sent.method === 'POST' ? { method: 'POST', body: sent.body, headers: { 'Content-Type': 'application/json' } } : {};
    try {
      const response = await fetch(countUrl(sent.name), init);
      const answer = readCount(response.status, await response.text());
      if (answer instanceof Error) return answer.message;
    } catch (err) {
      return `the server could not be reached (${err.message})`;
    }
    return 'the server did not send the file';
  }
}
