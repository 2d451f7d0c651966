/** The admin's dataset preview: stream every point into a small plot, with the page's own worker and renderer. */

import { PointQuery } from './point-query.js';
import { PointRenderer } from './point-renderer.js';

const WIDTH = 520;
const HEIGHT = 340;
const PAD = 8;

function start(root) {
  const bounds = root.dataset.bounds.split(',').map(Number);
  const canvas = document.createElement('canvas');
  canvas.className = 'dataset-preview-canvas';
  canvas.style.width = `${WIDTH}px`;
  canvas.style.height = `${HEIGHT}px`;
  canvas.style.border = '1px solid var(--hairline-color, #ccc)';
  canvas.setAttribute('role', 'img');
  canvas.setAttribute('aria-label', `plot of the points of ${root.dataset.dataset}`);
  const status = document.createElement('p');
  status.className = 'dataset-preview-status';
  status.dataset.state = 'streaming';
  status.dataset.received = '0';
  status.textContent = 'Streaming the points…';
  root.append(canvas, status);

  const renderer = new PointRenderer(canvas, {
    onDrawn: () => {
      if (status.dataset.state === 'done-pending') {
        status.dataset.state = 'done';
      }
    },
  });
  const dpr = window.devicePixelRatio || 1;
  renderer.resize(WIDTH, HEIGHT, dpr);
  renderer.setPointSize(Number(root.dataset.count) > 200000 ? 1 : 2);
  // One data unit the same length on both axes, y pointing up, the bounds fitted inside.
  const [minX, minY, maxX, maxY] = bounds;
  const k = Math.min((WIDTH - 2 * PAD) / Math.max(maxX - minX, 1e-12), (HEIGHT - 2 * PAD) / Math.max(maxY - minY, 1e-12));
  const ox = (WIDTH - k * (maxX + minX)) / 2;
  const oy = (HEIGHT + k * (maxY + minY)) / 2;
  renderer.setTransform(k, ox, -k, oy);

  const query = new PointQuery(new URL('./point-worker.js', import.meta.url));
  let received = 0;
  query.run(
    { url: root.dataset.pointsUrl, method: 'GET' },
    {
      onStart: () => {},
      onPoints: (xy, count) => {
        renderer.add(xy, count);
        received += count;
        status.dataset.received = String(received);
        status.textContent = `${received.toLocaleString('en-US')} points…`;
      },
      onFinish: (result) => {
        if (result.outcome === 'end') {
          status.textContent = `${result.received.toLocaleString('en-US')} points drawn.`;
          status.dataset.received = String(result.received);
          status.dataset.state = renderer.busy ? 'done-pending' : 'done';
        } else {
          status.dataset.state = 'error';
          status.textContent = `The preview stopped: ${result.message || result.outcome}.`;
        }
      },
    },
  );
}

for (const root of document.querySelectorAll('#dataset-preview')) start(root);
