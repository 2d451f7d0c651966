/**
 * The admin's dataset preview: the dataset's overview (a density grid of one cell per device pixel,
 * `GET …/overview`), drawn from white to the points' colour on a log scale. One small JSON request,
 * whatever the dataset's size (it used to stream every point: 290 MB for 5M).
 */

const WIDTH = 520;
const HEIGHT = 340;
const PAD = 8;
const COLOR = [31, 102, 170];

/** Return the bbox holding `bounds` with the aspect of a w x h box (one data unit alike on both axes). */
export function fittedBBox([minX, minY, maxX, maxY], w, h) {
  const spanX = Math.max(maxX - minX, 1e-9);
  const spanY = Math.max(maxY - minY, 1e-9);
  const perPixel = Math.max(spanX / w, spanY / h);
  const cx = (minX + maxX) / 2;
  const cy = (minY + maxY) / 2;
  return [cx - (perPixel * w) / 2, cy - (perPixel * h) / 2, cx + (perPixel * w) / 2, cy + (perPixel * h) / 2];
}

/** Paint a grid's counts (row 0 at the lowest y) into RGBA pixels, log-scaled up to the largest count. */
export function paint(counts, width, height, pixels) {
  let most = 0;
  for (const c of counts) if (c > most) most = c;
  const scale = most > 0 ? 1 / Math.log1p(most) : 0;
  for (let row = 0; row < height; row += 1) {
    const line = height - 1 - row; // canvas rows run downwards
    for (let col = 0; col < width; col += 1) {
      const c = counts[row * width + col];
      const at = (line * width + col) * 4;
      if (c === 0) {
        pixels[at + 3] = 0;
        continue;
      }
      const t = 0.35 + 0.65 * Math.log1p(c) * scale; // the densest cells are the points' colour
      pixels[at] = Math.round(255 + (COLOR[0] - 255) * t);
      pixels[at + 1] = Math.round(255 + (COLOR[1] - 255) * t);
      pixels[at + 2] = Math.round(255 + (COLOR[2] - 255) * t);
      pixels[at + 3] = 255;
    }
  }
  return most;
}

async function start(root) {
  const bounds = root.dataset.bounds.split(',').map(Number);
  const dpr = window.devicePixelRatio || 1;
  const w = Math.min(2048, Math.round((WIDTH - 2 * PAD) * dpr));
  const h = Math.min(2048, Math.round((HEIGHT - 2 * PAD) * dpr));
  const canvas = document.createElement('canvas');
  canvas.className = 'dataset-preview-canvas';
  canvas.width = w;
  canvas.height = h;
  canvas.style.width = `${WIDTH - 2 * PAD}px`;
  canvas.style.height = `${HEIGHT - 2 * PAD}px`;
  canvas.style.padding = `${PAD}px`;
  canvas.style.border = '1px solid var(--hairline-color, #ccc)';
  canvas.setAttribute('role', 'img');
  canvas.setAttribute('aria-label', `density of the points of ${root.dataset.dataset}`);
  const status = document.createElement('p');
  status.className = 'dataset-preview-status';
  status.dataset.state = 'loading';
  status.dataset.received = '0';
  status.textContent = 'Counting the points…';
  root.append(canvas, status);

  const bbox = fittedBBox(bounds, w, h);
  const url = `${root.dataset.overviewUrl}?width=${w}&height=${h}&bbox=${bbox.join(',')}`;
  try {
    const response = await fetch(url, { headers: { Accept: 'application/json' } });
    const doc = await response.json();
    if (!response.ok) throw new Error(doc.error || `HTTP ${response.status}`);
    const image = canvas.getContext('2d').createImageData(w, h);
    const most = paint(doc.counts, doc.width, doc.height, image.data);
    canvas.getContext('2d').putImageData(image, 0, 0);
    let total = 0;
    for (const c of doc.counts) total += c;
    status.dataset.received = String(total);
    status.dataset.state = 'done';
    status.textContent = `${total.toLocaleString('en-US')} points; up to ${most.toLocaleString('en-US')} in one pixel.`;
  } catch (error) {
    status.dataset.state = 'error';
    status.textContent = `The preview failed: ${error.message}.`;
  }
}

if (typeof document !== "undefined") {
  for (const root of document.querySelectorAll("#dataset-preview")) start(root);
}
