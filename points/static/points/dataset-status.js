// Keep the admin's dataset status up to date while imports run, without a manual reload.
const script = document.currentScript || document.querySelector('script[data-status-url]');
const statusUrl = script?.dataset.statusUrl;

function importing() {
  return [...document.querySelectorAll('.dataset-status[data-status="importing"]')];
}

async function poll() {
  const cells = importing();
  if (!statusUrl || cells.length === 0) return;
  const ids = cells.map((cell) => cell.dataset.id).join(',');
  try {
    const response = await fetch(`${statusUrl}?ids=${ids}`, { credentials: 'same-origin' });
    const { datasets } = await response.json();
    let finished = false;
    for (const d of datasets) {
      const cell = document.querySelector(`.dataset-status[data-id="${d.id}"]`);
      if (!cell) continue;
      if (d.job) {
        // Queued or running (a replacement runs while the dataset stays ready): show how far.
        cell.textContent = d.label;
      } else {
        // Finished, failed or stopped: the counts, bounds, message and preview changed.
        finished = true;
      }
    }
    // A finished import changes counts, bounds and the preview: show the page as it now is.
    if (finished) { window.location.reload(); return; }
  } catch (error) {
    // The next poll tries again; a failed poll must not stop the page.
  }
  setTimeout(poll, 1000);
}

setTimeout(poll, 1000);
