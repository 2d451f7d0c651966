// Tests of the URL fragment state (frontend/src/url-state.js).

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { decodeState, encodeState } from '../src/url-state.js';

test('polygons survive a round trip exactly', () => {
  const polygons = [
    [[0.1, 0.2], [30.000001, -4], [1e-7, 12345.678]],
    [[-180, -85.5], [179.99, 0], [0, 89.123456789]],
  ];
  const hash = encodeState({ dataset: 'grid', polygons });
  assert.equal(hash, '#dataset=grid&polygon=0.1,0.2;30.000001,-4;1e-7,12345.678&polygon=-180,-85.5;179.99,0;0,89.123456789');
  assert.deepEqual(decodeState(hash), { dataset: 'grid', polygons, all: false, cancelled: false, colour: null, unreadable: 0 });
});

test('"show all" and odd dataset names', () => {
  const hash = encodeState({ dataset: 'my data/2024 & co', all: true });
  assert.deepEqual(decodeState(hash), { dataset: 'my data/2024 & co', polygons: [], all: true, cancelled: false, colour: null, unreadable: 0 });
});

test('nothing chosen gives an empty fragment', () => {
  assert.equal(encodeState({}), '');
  assert.deepEqual(decodeState(''), { dataset: null, polygons: [], all: false, cancelled: false, colour: null, unreadable: 0 });
});

test('polygons that make no sense are left out', () => {
  const state = decodeState('#dataset=a&polygon=1,2;3,4&polygon=1,2;x,4;5,6&polygon=1,2,3;4,5;6,7&polygon=0,0;1,0;1,1');
  assert.deepEqual(state.polygons, [[[0, 0], [1, 0], [1, 1]]]);
  assert.equal(state.unreadable, 3);
});

test('polygons that cannot be read are counted, so the page can say so', () => {
  const good = 'polygon=0,0;1,0;1,1';
  const cases = {
    'polygon=abc': 1, // no numbers at all
    'polygon=1,1;2,2': 1, // too few vertices
    'polygon=1e400,1;2,2;3,1': 1, // a number too large for a double
    'polygon=1,;2,2;3,1': 1, // a number missing
    'polygon=': 1,
    [`${good}&polygon=abc&polygon=1,1;2,2`]: 2,
    [good]: 0,
  };
  for (const [fragment, unreadable] of Object.entries(cases)) {
    const state = decodeState(`#dataset=grid&${fragment}`);
    assert.equal(state.unreadable, unreadable, fragment);
    assert.equal(state.polygons.length, fragment.split('&').length - unreadable, fragment);
  }
});

test('a cancelled polygon query keeps its polygons, marked cancelled; "all" is never so marked', () => {
  const polygons = [[[0, 0], [1, 0], [1, 1]]];
  const hash = encodeState({ dataset: 'grid', polygons, cancelled: true });
  assert.equal(hash, '#dataset=grid&polygon=0,0;1,0;1,1&cancelled');
  assert.deepEqual(decodeState(hash), { dataset: 'grid', polygons, all: false, cancelled: true, colour: null, unreadable: 0 });
  // Without polygons the mark means nothing: it is neither written nor read.
  assert.equal(encodeState({ dataset: 'grid', cancelled: true }), '#dataset=grid');
  assert.equal(decodeState('#dataset=grid&all&cancelled').cancelled, false);
  assert.equal(decodeState('#dataset=grid&all&cancelled').all, true);
});

test('the property the points are coloured by survives a round trip', () => {
  const hash = encodeState({ dataset: 'grid', all: true, colour: 'kind & co' });
  assert.equal(hash, '#dataset=grid&all&colour=kind%20%26%20co');
  assert.equal(decodeState(hash).colour, 'kind & co');
  assert.equal(decodeState('#dataset=grid').colour, null);
});
