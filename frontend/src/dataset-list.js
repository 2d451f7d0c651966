/** The datasets as the page lists them: each one's import in words, and a watcher that polls the list while one runs. */

/** Return the import in progress in words ('' when none): "queued", "importing 42%", "re-importing 42%". */
export function importText(dataset) {
  if (!dataset.importing && dataset.status !== 'importing') return '';
  // A ready dataset being imported again serves its previous points meanwhile: a re-import.
  const again = dataset.status === 'ready' ? 're-' : '';
  if (dataset.job === 'queued') return again ? 're-import queued' : 'queued';
  return `${again}importing ${Math.floor((dataset.progress ?? 0) * 100)}%`;
}

/** Return the dataset's label in the picker: its title, with its import or its failure in brackets. */
export function optionLabel(dataset) {
  const title = dataset.title || dataset.name;
  const state = importText(dataset) || (dataset.status === 'failed' ? 'failed' : '');
  return state ? `${title} (${state})` : title;
}

/** Return whether the list changes by itself: some dataset has an import queued or running. */
export function changing(datasets) {
  return datasets.some((d) => d.importing || d.status === 'importing');
}

/**
 * Polls the dataset list every `every` ms while some import runs (`watch(list)` after each
 * listing starts or stops it), and hands each new list to `onList`. A hidden tab is not polled:
 * the poll due meanwhile runs when the tab shows again. A failed poll is tried again later;
 * the page keeps what it had.
 */
export class DatasetWatcher {
  constructor(load, onList, { every = 1500, doc = globalThis.document } = {}) {
    this.load = load;
    this.onList = onList;
    this.every = every;
    this.doc = doc;
    this.timer = null;
    this.due = false; // a poll fell due while the tab was hidden
    this.active = false;
    doc?.addEventListener('visibilitychange', () => {
      if (!doc.hidden && this.due) {
        this.due = false;
        this.poll();
      }
    });
  }

  /** Follow `datasets`: poll again later if some import runs, else stop. */
  watch(datasets) {
    this.active = changing(datasets);
    clearTimeout(this.timer);
    this.timer = null;
    if (this.active) this.timer = setTimeout(() => this.fire(), this.every);
  }

  /** The poll is due: run it now, or when the tab shows again. */
  fire() {
    this.timer = null;
    if (this.doc?.hidden) this.due = true;
    else this.poll();
  }

  async poll() {
    let datasets;
    try {
      datasets = await this.load();
    } catch {
      // The server out of reach for a moment: the page keeps its list and asks again later.
      if (this.active) this.timer = setTimeout(() => this.fire(), this.every);
      return;
    }
    this.onList(datasets);
    this.watch(datasets);
  }
}
