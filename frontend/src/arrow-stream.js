/** Read a pointsite Arrow IPC stream: copy its x/y columns into typed-array batches, say how it ended. */

// The stream format (see points/arrow.py): an Arrow IPC stream with one schema (id, x, y as
// float64, then the dataset's properties), record batches of points, then a batch with no rows
// whose custom metadata is {end: "true", count: "N"} or, when the server failed mid-stream,
// {error: "...", count: "N"}, then the end-of-stream marker. A stream whose last batch is
// neither marker was cut — also when it stops at a message boundary, which an Arrow reader
// takes for a short but whole stream.
//
// apache-arrow does the decoding; it is passed in (`RecordBatchReader`) rather than imported,
// because the browser loads it as a bundle from /static/vendor/arrow/ and node from the same
// bundle in frontend/build/: this module names no path. Only the x and y columns are read;
// property columns stay as the views Arrow makes over the message body, never decoded here:
// the record batches themselves are kept (`columns`, an ArrowColumns of point-columns.js) for
// a point's details and colouring, decoded only then.

/**
 * The body's chunks as the async iterable Arrow reads. A failing connection is kept in
 * `failure` and read as the end of the bytes, so Arrow stops and the caller words the outcome.
 * (Arrow copies a message body that is not 8-byte aligned in its chunk before viewing it as
 * float64 or int64, so chunks can be handed over as the network cut them.)
 */
class ChunkSource {
  constructor(reader, onBytes) {
    this.reader = reader;
    this.onBytes = onBytes;
    this.failure = null;
  }

  [Symbol.asyncIterator]() {
    return this;
  }

  async next() {
    let chunk;
    try {
      chunk = await this.reader.read();
    } catch (err) {
      this.failure = err;
      return { done: true, value: undefined };
    }
    if (!chunk.done) this.onBytes?.(chunk.value.length);
    return chunk;
  }

  // Arrow calls this when it is done with the bytes; the body itself is the caller's to cancel.
  async return() {
    return { done: true, value: undefined };
  }
}

/** Return the index of the float64 field `name` in the schema, or -1. */
function doubleField(schema, name) {
  return schema.fields.findIndex((field) => field.name === name && field.type.ArrayType === Float64Array);
}

/** Return 'end' or 'error' for a batch that is the stream's last marker, else null. */
function markerOf(batch) {
  const { metadata } = batch;
  if (metadata.get('end') === 'true') return 'end';
  if (metadata.has('error')) return 'error';
  return null;
}

/**
 * Read an Arrow point stream to its end, putting the points into `batches` (a PointBatches)
 * as each record batch arrives. `RecordBatchReader` is apache-arrow's.
 *
 * Resolve (never reject) with `{outcome, received, message?}` as readPointStream in
 * ndjson-stream.js does: `end` (the end batch, its count matching), `error` (the server's
 * error batch; message is its words), `invalid` (not our schema, a miscounted end, batches
 * after the end), `cut` (no end batch, a truncated message, bytes Arrow cannot decode, or the
 * connection failed) or `aborted` (`signal` fired). The caller flushes `batches`.
 * `onBytes(n)`, if given, hears of each chunk's size as it is read; `columns`, if given,
 * keeps each record batch of points before its points go into `batches`.
 */
export async function readArrowPointStream(body, { batches, signal, RecordBatchReader, onBytes, columns = null } = {}) {
  const reader = body.getReader();
  const chunks = new ChunkSource(reader, onBytes);
  let received = 0;
  let last = null; // the end or error batch's metadata, once seen
  const aborted = () => ({ outcome: 'aborted', received });
  // A signal not tied to the body (fetch ties it; tests may not) still has to stop the read.
  const stop = () => reader.cancel().catch(() => {});
  const invalid = async (message) => {
    await stop();
    return { outcome: 'invalid', received, message };
  };
  /** How the stream ended, once its bytes are over (or broke). */
  const outcome = (broken) => {
    if (last === null) {
      if (chunks.failure) {
        return { outcome: 'cut', received, message: `the connection failed after ${received} points (${chunks.failure.message})` };
      }
      const why = broken ? `in the middle of a message: ${broken.message}` : 'no end batch';
      return { outcome: 'cut', received, message: `the stream was cut after ${received} points (${why})` };
    }
    // Trouble after the end batch (a lost connection, a torn end-of-stream marker) cannot
    // take away what the end batch vouched for.
    if (last.has('error')) return { outcome: 'error', received, message: last.get('error') };
    const count = Number(last.get('count'));
    if (count !== received) {
      return { outcome: 'invalid', received, message: `the end batch says ${last.get('count')} points but ${received} arrived` };
    }
    return { outcome: 'end', received };
  };

  if (signal?.aborted) {
    await stop();
    return aborted();
  }
  signal?.addEventListener('abort', stop, { once: true });
  try {
    let arrow;
    try {
      arrow = await RecordBatchReader.from(chunks);
      await arrow.open();
    } catch (err) {
      if (signal?.aborted) return aborted();
      await stop();
      return outcome(err);
    }
    if (signal?.aborted) return aborted();
    if (!arrow.schema) return outcome(null); // not even a schema came
    const x = doubleField(arrow.schema, 'x');
    const y = doubleField(arrow.schema, 'y');
    if (x < 0 || y < 0) {
      const names = arrow.schema.fields.map((field) => `${field.name}: ${field.type}`).join(', ');
      return await invalid(`the stream has no float64 x and y columns (${names})`);
    }
    try {
      for await (const batch of arrow) {
        if (signal?.aborted) return aborted();
        const rows = batch.numRows;
        const marker = markerOf(batch);
        if (last !== null) {
          if (rows > 0) return await invalid(`a batch of ${rows} points came after the end batch`);
          continue;
        }
        if (marker !== null) {
          if (rows > 0) return await invalid(`the ${marker} batch holds ${rows} points`);
          last = batch.metadata;
          continue;
        }
        if (rows === 0) continue;
        const xs = batch.data.children[x];
        const ys = batch.data.children[y];
        if (xs.nullCount > 0 || ys.nullCount > 0) return await invalid('x or y has nulls');
        const xValues = xs.values.subarray(xs.offset);
        const yValues = ys.values.subarray(ys.offset);
        columns?.add(batch, xValues, yValues, rows);
        batches.pushColumns(xValues, yValues, 0, rows);
        received += rows;
        batches.tick();
      }
    } catch (err) {
      if (signal?.aborted) return aborted();
      await stop();
      return outcome(err);
    }
    if (signal?.aborted) return aborted();
    return outcome(null);
  } catch (err) {
    // A bug here, not in the bytes: say so rather than leave the query hanging.
    if (signal?.aborted) return aborted();
    await stop();
    return { outcome: 'invalid', received, message: err.message };
  } finally {
    signal?.removeEventListener('abort', stop);
  }
}
