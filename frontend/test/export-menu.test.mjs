// Tests of what the Export menu requests and says (frontend/src/export-menu.js).

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { EXPORT_FORMATS, exportError, exportTarget, holdsText } from '../src/export-menu.js';
import { queryGeometry } from '../src/query-geometry.js';

const square = [[0, 0], [10, 0], [10, 10], [0, 10]];

test('every point is a GET of the stream as a download', () => {
  assert.deepEqual(exportTarget({ name: 'grid', mode: 'all', rings: [], format: 'csv' }), {
    method: 'GET',
    url: '/api/datasets/grid/points?format=csv&download=1',
    body: null,
  });
});

test('polygons are a POST of their GeoJSON, the body the stream is asked with', () => {
  const target = exportTarget({ name: 'my data', mode: 'within', rings: [square], format: 'geojson' });
  assert.equal(target.method, 'POST');
  assert.equal(target.url, '/api/datasets/my%20data/points/within?format=geojson&download=1');
  assert.equal(target.body, JSON.stringify(queryGeometry([square])));
});

test('the menu offers the four formats the API writes', () => {
  assert.deepEqual(
    EXPORT_FORMATS.map((f) => f.format),
    ['csv', 'geojson', 'ndjson', 'arrow'],
  );
});

test('the menu says how many points the file will hold', () => {
  assert.equal(holdsText(1), 'The file will hold 1 point.');
  assert.equal(holdsText(949316), 'The file will hold 949,316 points.');
  assert.equal(holdsText(undefined), 'Counting the points…');
  assert.equal(holdsText(null), 'The points could not be counted.');
});

test('an export frame with the API’s error says it; an empty one (a download) says nothing', () => {
  assert.equal(exportError('{"error": "no dataset named \'gone\'"}'), "no dataset named 'gone'");
  assert.equal(exportError(''), '');
  assert.equal(exportError('  \n'), '');
  assert.equal(exportError('<h1>Bad gateway</h1>'), 'the server answered with something other than a file');
});
