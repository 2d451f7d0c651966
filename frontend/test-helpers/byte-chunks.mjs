/** Byte streams for the reader tests and the reader bench: bodies made of given chunks, cut at random. */

/** Return a ReadableStream that yields the given byte chunks, then closes. */
export function streamOf(chunks) {
  let i = 0;
  return new ReadableStream({
    pull(controller) {
      if (i < chunks.length) controller.enqueue(chunks[i++]);
      else controller.close();
    },
  });
}

/** Return a small seeded random generator (mulberry32), so a failing split can be replayed. */
export function random(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Return `bytes` cut at random places into chunks of 1 to `maxSize` bytes. */
export function splitRandomly(bytes, rand, maxSize) {
  const chunks = [];
  for (let at = 0; at < bytes.length; ) {
    const size = 1 + Math.floor(rand() * maxSize);
    chunks.push(bytes.slice(at, at + size));
    at += size;
  }
  return chunks;
}
