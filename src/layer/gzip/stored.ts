/**
 * Incompressible data: zlib at level 6 searches random bytes (compressed files, media, encrypted
 * blobs) for matches at ~35 MB/s per core and then emits them as stored blocks anyway. This
 * module finds, from the bytes alone, the 64 KiB segments of a block that deflate cannot shrink,
 * and writes them as stored deflate blocks at memory speed instead; the other segments are
 * deflated as before. The decision depends only on the block's bytes and the window before it,
 * never on timing or core count, so the same tar still gives the same blob everywhere.
 */
import { endianness } from 'node:os';

/** Segments are classified one by one; part of the output format, so a constant. */
export const SEGMENT_SIZE = 64 * 1024;

/** deflate's window: a match can reach this far back, into the previous segment or block. */
const WINDOW = 32 * 1024;

/** A stored deflate block holds at most this many bytes (LEN is 16 bits). */
const STORED_MAX = 0xffff;

/**
 * A segment is stored only when its byte histogram is this close to uniform, as Pearson's
 * chi-square (256 * sum(count^2) / n - n, exact in integers), and no repeated 8-byte string is
 * seen within deflate's window. Uniform random bytes score 255 ± 23; a score of X means Huffman
 * coding could save about X / (16 ln 2) bytes of the segment, so at most ~46 bytes here.
 */
const MAX_CHI_SQUARE = 512;

/** The first bytes of a segment, judged first with a looser bound: most segments stop there. */
const SAMPLE = 4096;
const MAX_SAMPLE_CHI_SQUARE = 1024;

/** Segments shorter than this (the end of a layer) are left to zlib: too few bytes to judge. */
const MIN_SEGMENT = 32 * 1024;

/** Anchor table: 4096 slots of the last position and hash of an 8-byte string at an anchor. */
const TABLE_BITS = 12;

/** Anchors are the positions whose last 4 bytes hash to 0 in their top 6 bits: 1 in 64 on average. */
const ANCHOR_SHIFT = 26;
const ANCHOR_MIX = 0x9e3779b1 | 0;
/** Mixing constants of an anchor's key, a 32-bit hash of its last 8 bytes. */
const KEY_LOW = 0x85ebca77 | 0;
const KEY_HIGH = 0xc2b2ae3d | 0;
const KEY_XOR = 0x27d4eb2f;

/** Words are read in the host's byte order: the four-byte loop runs on little-endian hosts only. */
const LITTLE_ENDIAN = endianness() === 'LE';

/** A 32-bit hash of the 8 bytes ending at `i` (the last 4 of them are `low`). */
function anchorKey(buffer: Uint8Array, i: number, low: number): number {
  const high =
    ((buffer[i - 7] as number) << 24) |
    ((buffer[i - 6] as number) << 16) |
    ((buffer[i - 5] as number) << 8) |
    (buffer[i - 4] as number);
  return Math.imul(low, KEY_LOW) ^ Math.imul(high ^ KEY_XOR, KEY_HIGH);
}

/** True when the histogram of `n` bytes is as flat as random bytes' (integer arithmetic only). */
function flat(histogram: Uint32Array, n: number, limit: number): boolean {
  let squares = 0;
  for (let i = 0; i < 256; i++) {
    const c = histogram[i] as number;
    squares += c * c;
  }
  // 256 * squares < 2^41 and n * n < 2^32: exact in doubles, so the same on every machine.
  return 256 * squares - n * n < limit * n;
}

/**
 * Which segments of `data` (the bytes at `dataOffset`, `length` long, in `buffer`, with the
 * `dictionaryLength` bytes before them as deflate's window) to store: one flag per segment,
 * or undefined when every segment is left to zlib.
 *
 * One pass over the window and the data: a byte histogram per segment, and content-defined
 * anchors (positions picked by the bytes, so a repeated string gets the same anchors in both
 * copies) whose 8-byte strings are looked up among the anchors of the last 32 KiB. A repeat
 * marks its segment as compressible: deflate would find it.
 */
export function storedSegments(
  buffer: Uint8Array,
  dataOffset: number,
  dictionaryLength: number,
  length: number,
): Uint8Array | undefined {
  const segments = Math.ceil(length / SEGMENT_SIZE);
  const positions = new Int32Array(1 << TABLE_BITS).fill(-2 * WINDOW);
  const hashes = new Int32Array(1 << TABLE_BITS);
  const histogram = new Uint32Array(256);
  const start = dataOffset - dictionaryLength;
  let flags: Uint8Array | undefined;
  /** The last 4 bytes seen, the first at the top. */
  let low = 0;
  /** Where the anchor scan stopped: the anchors of the 32 KiB before it are in the table. */
  let scanned = start;
  for (let segment = 0; segment < segments; segment++) {
    const from = dataOffset + segment * SEGMENT_SIZE;
    const to = Math.min(from + SEGMENT_SIZE, dataOffset + length);
    const n = to - from;
    if (n < MIN_SEGMENT) continue;
    // Text and most binaries fail on their first 4 KiB: they cost one small histogram.
    histogram.fill(0);
    for (let i = from; i < from + SAMPLE; i++)
      histogram[buffer[i] as number] = (histogram[buffer[i] as number] as number) + 1;
    if (!flat(histogram, SAMPLE, MAX_SAMPLE_CHI_SQUARE)) continue;
    // The window before the segment, anchors only (from where the last scan stopped, if recent),
    // so repeats reaching back into it are seen.
    const back = Math.max(start, from - WINDOW, scanned);
    if (back !== scanned) low = 0;
    for (let i = back; i < from; i++) {
      low = (low << 8) | (buffer[i] as number);
      if (Math.imul(low, ANCHOR_MIX) >>> ANCHOR_SHIFT === 0 && i >= start + 7) {
        const key = anchorKey(buffer, i, low);
        const slot = key >>> (32 - TABLE_BITS);
        hashes[slot] = key;
        positions[slot] = i;
      }
    }
    histogram.fill(0);
    let repeated = false;
    /** Records the anchor ending at `i`; true when its string was seen within the window. */
    const anchor = (i: number, last4: number): boolean => {
      const key = anchorKey(buffer, i, last4);
      const slot = key >>> (32 - TABLE_BITS);
      const seen = hashes[slot] === key && i - (positions[slot] as number) <= WINDOW;
      hashes[slot] = key;
      positions[slot] = i;
      return seen;
    };
    let i = from;
    if (LITTLE_ENDIAN && ((buffer.byteOffset + from) & 3) === 0 && from >= start + 7) {
      // Four bytes per load (the same bytes, histogram and anchors as the loop below): ~1.4x faster.
      const words = new Uint32Array(buffer.buffer, buffer.byteOffset + from, n >>> 2);
      for (let w = 0; w < words.length; w++, i += 4) {
        const word = words[w] as number;
        const b0 = word & 0xff;
        const b1 = (word >>> 8) & 0xff;
        const b2 = (word >>> 16) & 0xff;
        const b3 = word >>> 24;
        histogram[b0] = (histogram[b0] as number) + 1;
        histogram[b1] = (histogram[b1] as number) + 1;
        histogram[b2] = (histogram[b2] as number) + 1;
        histogram[b3] = (histogram[b3] as number) + 1;
        const l0 = (low << 8) | b0;
        const l1 = (l0 << 8) | b1;
        const l2 = (l1 << 8) | b2;
        low = (l2 << 8) | b3;
        if (Math.imul(l0, ANCHOR_MIX) >>> ANCHOR_SHIFT === 0 && anchor(i, l0)) repeated = true;
        if (Math.imul(l1, ANCHOR_MIX) >>> ANCHOR_SHIFT === 0 && anchor(i + 1, l1)) repeated = true;
        if (Math.imul(l2, ANCHOR_MIX) >>> ANCHOR_SHIFT === 0 && anchor(i + 2, l2)) repeated = true;
        if (Math.imul(low, ANCHOR_MIX) >>> ANCHOR_SHIFT === 0 && anchor(i + 3, low)) repeated = true;
      }
    }
    for (; i < to; i++) {
      const b = buffer[i] as number;
      histogram[b] = (histogram[b] as number) + 1;
      low = (low << 8) | b;
      if (Math.imul(low, ANCHOR_MIX) >>> ANCHOR_SHIFT === 0 && i >= start + 7 && anchor(i, low)) repeated = true;
    }
    scanned = to;
    if (!repeated && flat(histogram, n, MAX_CHI_SQUARE)) {
      flags ??= new Uint8Array(segments);
      flags[segment] = 1;
    }
  }
  return flags;
}

/** Bytes that storedBlocks writes for `length` bytes. */
export function storedSize(length: number): number {
  return length + 5 * Math.max(1, Math.ceil(length / STORED_MAX));
}

/**
 * Writes `data` as stored deflate blocks into `out` at `at`, starting on a byte boundary (as a
 * sync flush leaves the stream); the last block has BFINAL set when `final`. Returns the end.
 */
export function storedBlocks(data: Uint8Array, final: boolean, out: Uint8Array, at: number): number {
  let pos = at;
  let offset = 0;
  do {
    const n = Math.min(STORED_MAX, data.length - offset);
    const lastBlock = offset + n === data.length;
    out[pos] = final && lastBlock ? 1 : 0;
    out[pos + 1] = n & 0xff;
    out[pos + 2] = n >>> 8;
    out[pos + 3] = ~n & 0xff;
    out[pos + 4] = (~n >>> 8) & 0xff;
    out.set(data.subarray(offset, offset + n), pos + 5);
    pos += 5 + n;
    offset += n;
  } while (offset < data.length);
  return pos;
}
