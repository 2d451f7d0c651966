/** Read a pointsite NDJSON stream: join lines split across chunks, parse them into typed arrays, say how it ended. */

// The stream format (see points/ndjson.py): one JSON object per line; a point line has "pt";
// the last line is {"end":true,"count":N} or, when the server failed mid-stream,
// {"error":"...","count":N}. A stream that stops without either of them was cut.
//
// Lines are split on the newline byte before any decoding: UTF-8 never uses that byte inside
// a multi-byte character, so a character cut between two chunks is whole again once its line
// is. The server's plain point lines, {"id":7,"pt":[x,y]}, are read straight from the bytes
// (JSON.parse per line was the limit at millions of points); any other line goes through
// JSON.parse, so the format stays strict JSON either way — its text sliced from its chunk's,
// decoded once, when the chunk is all ASCII, else decoded alone by TextDecoder.

const NEWLINE = 10;
const CR = 13;
const [QUOTE, COMMA, MINUS, PLUS, DOT, ZERO, NINE, LBRACKET, RBRACKET, RBRACE, LOWER_E, UPPER_E, SPACE, TAB] = [
  34, 44, 45, 43, 46, 48, 57, 91, 93, 125, 101, 69, 32, 9,
];
const ID_PREFIX = Uint8Array.from('{"id":', (c) => c.charCodeAt(0));
const PT_PREFIX = Uint8Array.from(',"pt":[', (c) => c.charCodeAt(0));
// Powers of ten that are exact doubles: mantissa / 10^k with both exact is correctly rounded.
const EXACT_POWERS = Array.from({ length: 23 }, (_, k) => Number(`1e${k}`));

// The batches are shared with the Arrow reader; tests and older callers import them from here.
export { PointBatches } from './point-batches.js';

// scanNumber's second result: the value of the number it read.
let scanned = 0;

/**
 * Read a JSON number in bytes[i..]; return the index after it, or -1 if it is not one there.
 *
 * Up to 2^53 in the digits and 10^±22 in scale the result is the correctly rounded double;
 * beyond (17 significant digits, as random doubles print) it can be an ulp or two off, which
 * cannot move a pixel, so points are drawn from it. Far exponents go through Number() exactly.
 */
export function scanNumber(bytes, i) {
  const start = i;
  let b = bytes[i];
  const negative = b === MINUS;
  if (negative) b = bytes[++i];
  if (b === ZERO) {
    b = bytes[++i];
    if (b >= ZERO && b <= NINE) return -1; // JSON allows no leading zeros
  } else if (!(b > ZERO && b <= NINE)) return -1;
  let mantissa = 0;
  let scale = 0;
  while (b >= ZERO && b <= NINE) {
    mantissa = mantissa * 10 + (b - ZERO);
    b = bytes[++i];
  }
  if (b === DOT) {
    b = bytes[++i];
    if (!(b >= ZERO && b <= NINE)) return -1;
    while (b >= ZERO && b <= NINE) {
      mantissa = mantissa * 10 + (b - ZERO);
      scale -= 1;
      b = bytes[++i];
    }
  }
  if (b === LOWER_E || b === UPPER_E) {
    b = bytes[++i];
    let sign = 1;
    if (b === MINUS || b === PLUS) {
      if (b === MINUS) sign = -1;
      b = bytes[++i];
    }
    if (!(b >= ZERO && b <= NINE)) return -1;
    let exponent = 0;
    while (b >= ZERO && b <= NINE) {
      exponent = exponent * 10 + (b - ZERO);
      b = bytes[++i];
    }
    scale += sign * exponent;
  }
  // Past 2^53 the digit loop rounds at each step: fine for up to 21 digits (a few ulps).
  if (scale >= -22 && scale <= 22 && mantissa < 1e21) {
    const value = scale < 0 ? mantissa / EXACT_POWERS[-scale] : mantissa * EXACT_POWERS[scale];
    scanned = negative ? -value : value;
  } else {
    let text = '';
    for (let j = start; j < i; j += 1) text += String.fromCharCode(bytes[j]);
    scanned = Number(text);
  }
  return i;
}

/** Return the index after `prefix` if bytes[i..] starts with it, else -1. */
function expect(bytes, i, prefix) {
  for (let k = 0; k < prefix.length; k += 1) if (bytes[i + k] !== prefix[k]) return -1;
  return i + prefix.length;
}

/** Raised for a line that breaks the format; `line` counts from 1 over the whole stream. */
export class MalformedLine extends Error {
  constructor(line, detail) {
    super(`line ${line}: ${detail}`);
    this.line = line;
  }
}

/** Follows the lines of one stream: points into `batches`, then the end or error line. */
export class PointLineParser {
  /** `columns`, if given (an NdjsonColumns of point-columns.js), keeps each point's id and properties. */
  constructor(batches, columns = null) {
    this.batches = batches;
    this.columns = columns;
    this.decoder = new TextDecoder('utf-8', { fatal: true });
    this.lines = 0;
    this.received = 0;
    this.last = null; // the end or error line, once seen
    // The block being read (see block()): its bytes, where it starts and ends, and its text once
    // decoded — null until a line needs it, false when it is not all ASCII.
    this.blockBytes = null;
    this.blockStart = 0;
    this.blockEnd = 0;
    this.blockText = null;
  }

  /** Read the newline-separated lines in bytes[start..end) (a block of whole lines). */
  block(bytes, start, end) {
    this.blockBytes = bytes;
    this.blockStart = start;
    this.blockEnd = end;
    this.blockText = null;
    try {
      while (start < end) {
        let stop = bytes.indexOf(NEWLINE, start);
        if (stop < 0 || stop > end) stop = end;
        this.line(bytes, start, stop);
        start = stop + 1;
      }
    } finally {
      this.blockBytes = null;
      this.blockText = null;
    }
  }

  /**
   * Return the text of bytes[start..end). Within a block that is all ASCII, a slice of the
   * block's text decoded once: a TextDecoder call per line cost more than its JSON.parse (lines
   * with properties). Elsewhere (a line across chunks, UTF-8 beyond ASCII, bytes that are not
   * UTF-8) the line is decoded alone, so a bad byte is still named by its line.
   */
  text(bytes, start, end) {
    if (bytes === this.blockBytes && this.blockText !== false) {
      if (this.blockText === null) {
        let text = false;
        try {
          text = this.decoder.decode(bytes.subarray(this.blockStart, this.blockEnd));
        } catch {
          // not UTF-8 somewhere: each line is decoded alone, and the bad one says so
        }
        // As long as the bytes, only if every character is one byte: ASCII.
        this.blockText = text !== false && text.length === this.blockEnd - this.blockStart ? text : false;
      }
      if (this.blockText !== false) return this.blockText.substring(start - this.blockStart, end - this.blockStart);
    }
    return this.decoder.decode(bytes.subarray(start, end));
  }

  /** Read one line, bytes[start..end) without its newline. */
  line(bytes, start, end) {
    this.lines += 1;
    if (bytes[end - 1] === CR) end -= 1;
    if (this.last === null && this.plainPoint(bytes, start, end)) {
      this.received += 1;
      return;
    }
    let blank = true;
    for (let i = start; i < end && blank; i += 1) blank = bytes[i] === SPACE || bytes[i] === TAB;
    if (blank) return;
    let value;
    try {
      value = JSON.parse(this.text(bytes, start, end));
    } catch (err) {
      throw new MalformedLine(this.lines, `not JSON (${err.message})`);
    }
    if (this.last !== null) throw new MalformedLine(this.lines, 'a line came after the last line');
    const isObject = value !== null && typeof value === 'object';
    if (isObject && Array.isArray(value.pt)) {
      const [x, y] = value.pt;
      if (value.pt.length !== 2 || typeof x !== 'number' || typeof y !== 'number') {
        throw new MalformedLine(this.lines, '"pt" is not two numbers');
      }
      // Kept before the push: a full batch is handed over (and coloured) inside it.
      this.columns?.addLine(value, x, y);
      this.batches.push(x, y);
      this.received += 1;
    } else if (isObject && (value.end === true || typeof value.error === 'string')) {
      this.last = value;
    } else {
      throw new MalformedLine(this.lines, `neither a point, an end line nor an error line: ${JSON.stringify(value).slice(0, 80)}`);
    }
  }

  /** Read {"id":<integer>,"pt":[<number>,<number>]} straight from the bytes; false if the line is anything else. */
  plainPoint(bytes, start, end) {
    let i = expect(bytes, start, ID_PREFIX);
    if (i < 0) return false;
    const negativeId = bytes[i] === MINUS;
    if (negativeId) i += 1;
    const idStart = i;
    let id = 0;
    while (bytes[i] >= ZERO && bytes[i] <= NINE) {
      id = id * 10 + (bytes[i] - ZERO);
      i += 1;
    }
    if (i === idStart || (bytes[idStart] === ZERO && i > idStart + 1)) return false;
    // Past 15 digits the sum above may round otherwise than JSON.parse: such lines take its path.
    if (i - idStart > 15) return false;
    i = expect(bytes, i, PT_PREFIX);
    if (i < 0) return false;
    i = scanNumber(bytes, i);
    if (i < 0 || bytes[i] !== COMMA) return false;
    const x = scanned;
    i = scanNumber(bytes, i + 1);
    if (i < 0 || bytes[i] !== RBRACKET || bytes[i + 1] !== RBRACE || i + 2 !== end) return false;
    this.columns?.addPlain(negativeId ? -id : id, x, scanned);
    this.batches.push(x, scanned);
    return true;
  }

  /** Return how the stream ended once its bytes are over: end, error (the server's), invalid or cut. */
  outcome() {
    const { received, last } = this;
    if (last === null) {
      return { outcome: 'cut', received, message: `the stream was cut after ${received} points (no end line)` };
    }
    if (typeof last.error === 'string') {
      return { outcome: 'error', received, message: last.error };
    }
    if (last.count !== received) {
      return { outcome: 'invalid', received, message: `the end line says ${last.count} points but ${received} arrived` };
    }
    return { outcome: 'end', received };
  }
}

/** Return the concatenation of byte arrays. */
function concat(pieces) {
  if (pieces.length === 1) return pieces[0];
  const out = new Uint8Array(pieces.reduce((n, piece) => n + piece.length, 0));
  let at = 0;
  for (const piece of pieces) {
    out.set(piece, at);
    at += piece.length;
  }
  return out;
}

/**
 * Read a point stream to its end, putting the points into `batches` (a PointBatches).
 *
 * Resolve (never reject) with `{outcome, received, message?}` where outcome is `end`, `error`
 * (the server's error line; message is its words), `invalid` (not our format), `cut` (no last
 * line, or the connection failed) or `aborted` (`signal` fired). The caller flushes `batches`.
 * `onBytes(n)`, if given, hears of each chunk's size as it is read (the worker counts bytes);
 * `columns`, if given (an NdjsonColumns), keeps each point's id and properties.
 */
export async function readPointStream(body, { batches, signal, onBytes, columns = null } = {}) {
  const reader = body.getReader();
  const parser = new PointLineParser(batches, columns);
  let pending = []; // pieces of a line whose newline has not come yet
  const aborted = () => ({ outcome: 'aborted', received: parser.received });
  // A signal not tied to the body (fetch ties it; tests may not) still has to stop the read.
  const stop = () => reader.cancel().catch(() => {});
  if (signal?.aborted) {
    await stop();
    return aborted();
  }
  signal?.addEventListener('abort', stop, { once: true });
  try {
    for (;;) {
      let chunk;
      try {
        chunk = await reader.read();
      } catch (err) {
        if (signal?.aborted) return aborted();
        // A connection lost after the last line still delivered the whole answer.
        if (parser.last !== null) return parser.outcome();
        return { outcome: 'cut', received: parser.received, message: `the connection failed after ${parser.received} points (${err.message})` };
      }
      if (signal?.aborted) return aborted();
      if (chunk.done) break;
      const bytes = chunk.value;
      onBytes?.(bytes.length);
      const first = bytes.indexOf(NEWLINE);
      if (first < 0) {
        pending.push(bytes);
        continue;
      }
      // The line that straddles chunks is joined alone; the rest is read where it lies.
      if (pending.length > 0) {
        pending.push(bytes.subarray(0, first));
        const line = concat(pending);
        parser.line(line, 0, line.length);
        pending = [];
      } else {
        parser.line(bytes, 0, first);
      }
      const last = bytes.lastIndexOf(NEWLINE);
      parser.block(bytes, first + 1, last);
      if (last + 1 < bytes.length) pending.push(bytes.slice(last + 1));
      batches.tick();
    }
    // The last line may lack its newline: it counts if it is whole; a torn one means the
    // stream was cut in the middle of a line.
    if (pending.length > 0) {
      const line = concat(pending);
      try {
        parser.line(line, 0, line.length);
      } catch (err) {
        if (parser.last !== null) throw err;
        return { outcome: 'cut', received: parser.received, message: `the stream was cut after ${parser.received} points (in the middle of a line)` };
      }
    }
    return parser.outcome();
  } catch (err) {
    if (signal?.aborted) return aborted();
    await stop();
    return { outcome: 'invalid', received: parser.received, message: err.message };
  } finally {
    signal?.removeEventListener('abort', stop);
  }
}
