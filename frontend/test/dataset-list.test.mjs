// Tests of the dataset list's words and its watcher (frontend/src/dataset-list.js).

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { changing, DatasetWatcher, importText, optionLabel } from '../src/dataset-list.js';

const ready = { name: 'grid', title: 'Grid', status: 'ready', importing: false, job: '', progress: 1 };

test('each state of a dataset in the picker', () => {
  assert.equal(optionLabel(ready), 'Grid');
  assert.equal(optionLabel({ ...ready, title: '' }), 'grid');
  assert.equal(optionLabel({ ...ready, status: 'importing', importing: true, job: 'queued', progress: 0 }), 'Grid (queued)');
  assert.equal(optionLabel({ ...ready, status: 'importing', importing: true, job: 'running', progress: 0.4261 }), 'Grid (importing 42%)');
  assert.equal(optionLabel({ ...ready, importing: true, job: 'running', progress: 0.07 }), 'Grid (re-importing 7%)');
  assert.equal(optionLabel({ ...ready, importing: true, job: 'queued', progress: 0 }), 'Grid (re-import queued)');
  assert.equal(optionLabel({ ...ready, status: 'failed', status_message: 'bad row' }), 'Grid (failed)');
  assert.equal(importText(ready), '');
});

test('the list changes by itself while some import is queued or running', () => {
  assert.equal(changing([ready]), false);
  assert.equal(changing([ready, { ...ready, status: 'failed' }]), false);
  assert.equal(changing([ready, { ...ready, importing: true }]), true);
  assert.equal(changing([{ ...ready, status: 'importing' }]), true);
});

/** A document stand-in: only what the watcher uses (hidden, visibilitychange). */
class FakeDocument extends EventTarget {
  hidden = false;
  show(hidden) {
    this.hidden = hidden;
    this.dispatchEvent(new Event('visibilitychange'));
  }
}

const tick = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

test('the watcher polls while an import runs, stops after, and waits while the tab is hidden', async () => {
  const doc = new FakeDocument();
  const importing = { ...ready, status: 'importing', importing: true, job: 'running', progress: 0.5 };
  const answers = [[importing], [importing], [ready]];
  let polls = 0;
  const seen = [];
  const watcher = new DatasetWatcher(
    async () => answers[Math.min(polls++, answers.length - 1)],
    (list) => seen.push(list[0].status),
    { every: 5, doc },
  );
  watcher.watch([ready]);
  await tick(30);
  assert.equal(polls, 0, 'nothing importing: no poll');
  watcher.watch([importing]);
  doc.show(true);
  await tick(30);
  assert.equal(polls, 0, 'hidden: no poll');
  doc.show(false); // the poll that fell due runs at once
  await tick(60);
  assert.deepEqual(seen, ['importing', 'importing', 'ready']);
  assert.equal(polls, 3, 'the import is over: no more polls');
});

test('a failed poll is tried again, the page keeps its list', async () => {
  const doc = new FakeDocument();
  let polls = 0;
  const seen = [];
  const watcher = new DatasetWatcher(
    async () => {
      polls += 1;
      if (polls === 1) throw new Error('offline');
      return [ready];
    },
    (list) => seen.push(list.length),
    { every: 5, doc },
  );
  watcher.watch([{ ...ready, importing: true }]);
  await tick(60);
  assert.equal(polls, 2);
  assert.deepEqual(seen, [1]);
});
