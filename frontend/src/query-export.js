/** The query as text to take elsewhere: its GeoJSON, or a ready `curl` command that runs it. */

/** Return `text` quoted for a POSIX shell: in single quotes, each ' written as '\'' . */
export function shellQuote(text) {
  return `'${text.replace(/'/g, "'\\''")}'`;
}

/** Return the path of a dataset's points stream, or of its `endpoint` under it (within, count). */
export function pointsPath(dataset, endpoint = '') {
  const base = `/api/datasets/${encodeURIComponent(dataset)}/points`;
  return endpoint ? `${base}/${endpoint}` : base;
}

/** Return the absolute URL of a dataset's points/within query. */
export function withinUrl(origin, dataset) {
  return `${origin}${pointsPath(dataset, 'within')}`;
}

/**
 * Return the curl command that POSTs `body` (the GeoJSON text) to `url`. With `token`, the
 * server wants a bearer token: the command reads it from $POINTS_API_TOKEN (the page never
 * holds it), in double quotes so the shell expands it.
 */
export function curlCommand(url, body, { token = false } = {}) {
  const auth = token ? ' -H "Authorization: Bearer $POINTS_API_TOKEN"' : '';
  return `curl ${shellQuote(url)} -H 'Content-Type: application/json'${auth} --data ${shellQuote(body)}`;
}

/**
 * Put `text` on the clipboard and return true if it got there: the Clipboard API where the page
 * is a secure context (https, localhost), else a selected textarea and the older copy command.
 */
export async function copyText(text) {
  if (navigator.clipboard && window.isSecureContext) {
    try {
      await navigator.clipboard.writeText(text);
      return true;
    } catch {
      // Refused (no permission, the page not focused): the selection below may still work.
    }
  }
  const area = document.createElement('textarea');
  area.value = text;
  area.setAttribute('readonly', '');
  Object.assign(area.style, { position: 'fixed', top: '0', left: '0', opacity: '0' });
  document.body.append(area);
  area.select();
  let copied = false;
  try {
    copied = document.execCommand('copy');
  } finally {
    area.remove();
  }
  return copied;
}
