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
      if (d.status === 'importing' && d.stalled) {
        // The import died: say so and stop asking; a reload would only show the same.
        cell.dataset.status = 'stalled';
        cell.textContent = 'stalled (the import stopped; delete or import again)';
      } else if (d.status === 'importing') {
        cell.textContent = `importing ${Math.floor(d.progress * 100)}%`;
      } else {
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
