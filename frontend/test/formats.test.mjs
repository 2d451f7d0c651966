// Tests of the format choice (point-query.js) and the transfer figure (status-panel.js): `node --test frontend/test/`.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { DEFAULT_FORMAT, formatFromSearch } from '../src/point-query.js';
import { formatTransfer, transferLabel } from '../src/status-panel.js';

describe('formatFromSearch', () => {
  test('Arrow unless the page query asks for NDJSON', () => {
    assert.equal(DEFAULT_FORMAT, 'arrow');
    assert.equal(formatFromSearch(''), 'arrow');
    assert.equal(formatFromSearch('?format=ndjson'), 'ndjson');
    assert.equal(formatFromSearch('?x=1&format=arrow'), 'arrow');
  });

  test('an unknown format falls back to the default', () => {
    assert.equal(formatFromSearch('?format=csv'), 'arrow');
    assert.equal(formatFromSearch('?format='), 'arrow');
  });
});

describe('the transfer figure', () => {
  test('bytes per point and MB/s of the bytes over the time', () => {
    assert.equal(formatTransfer({ bytes: 16_200_000, points: 1_000_000, ms: 2000 }), '16.2 B/point · 8.1 MB/s');
  });

  test('says when the bytes are the decoded ones', () => {
    assert.equal(formatTransfer({ bytes: 38_000, points: 1000, ms: 10, decoded: true }), '38.0 B/point · 3.8 MB/s (decoded)');
  });

  test('without points it gives the size; without bytes nothing', () => {
    assert.equal(formatTransfer({ bytes: 1500, points: 0, ms: 1 }), '1.5 kB · 1.5 MB/s');
    assert.equal(formatTransfer({ bytes: 0, points: 0, ms: 5 }), '');
  });

  test('the label names the format and the coding', () => {
    assert.equal(transferLabel('arrow', 'zstd'), 'Transfer · Arrow, zstd');
    assert.equal(transferLabel('ndjson', 'identity'), 'Transfer · NDJSON, identity');
    assert.equal(transferLabel('', ''), 'Transfer');
  });
});
