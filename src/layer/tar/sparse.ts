/**
 * Sparse files as GNU tar writes them: the old GNU form (typeflag 'S', a map of data segments in
 * the header and in extension blocks after it) and the PAX forms (0.1: `GNU.sparse.map`; 1.0: the
 * map at the start of the data). Only the data segments are stored; reading expands the holes
 * into zeros, so the entry is a plain file of its real size.
 */
import { InvalidContentError } from '../../errors.js';
import { BLOCK_SIZE, readNumber } from './header.js';

export interface SparseSegment {
  readonly offset: number;
  readonly size: number;
}

/** One stretch of an entry's content: bytes from the archive, or a hole of zeros. */
export type BodyRun =
  | { readonly kind: 'data'; readonly size: number }
  | { readonly kind: 'zero'; readonly size: number };

/** What a sparse header said; a PAX 1.0 map is still in the data (`map` undefined). */
export interface SparseInfo {
  readonly realSize: number;
  readonly map?: readonly SparseSegment[];
  readonly name?: string;
}

/** Bounds the map a hostile header can make us hold. */
const MAX_SEGMENTS = 1 << 20;

export function badSparse(reason: string): InvalidContentError {
  return new InvalidContentError('TAR_BAD_SPARSE', `bad sparse file map: ${reason}`, {
    phase: 'layer',
    suggestion: 'the archive is corrupt; recreate it',
  });
}

/** Old GNU header: four segments at 386, isextended at 482, realsize at 483. */
export function oldGnuSparse(block: Buffer): { map: SparseSegment[]; extended: boolean; realSize: number } {
  return {
    map: segmentsAt(block, 386, 4),
    extended: block[482] !== 0,
    realSize: readNumber(block, [483, 12]),
  };
}

/** Old GNU extension block: 21 segments, isextended at 504. */
export function oldGnuSparseExtension(block: Buffer): { map: SparseSegment[]; extended: boolean } {
  return { map: segmentsAt(block, 0, 21), extended: block[504] !== 0 };
}

function segmentsAt(block: Buffer, at: number, count: number): SparseSegment[] {
  const out: SparseSegment[] = [];
  for (let i = 0; i < count; i++) {
    const off = at + i * 24;
    if (block[off] === 0) break; // an empty slot ends the list
    out.push({ offset: readNumber(block, [off, 12]), size: readNumber(block, [off + 12, 12]) });
  }
  return out;
}

function decimal(text: string, what: string): number {
  if (!/^[0-9]+$/.test(text)) throw badSparse(`${what} is not a number: ${JSON.stringify(text.slice(0, 40))}`);
  return Number(text);
}

/** The sparse description in PAX records, or undefined when the entry is not sparse. */
export function paxSparse(get: (key: string) => string | undefined, headerSize: number): SparseInfo | undefined {
  const major = get('GNU.sparse.major');
  const minor = get('GNU.sparse.minor');
  const mapText = get('GNU.sparse.map');
  const realText = get('GNU.sparse.realsize') ?? get('GNU.sparse.size');
  if (major === undefined && mapText === undefined && realText === undefined) {
    if (get('GNU.sparse.offset') !== undefined || get('GNU.sparse.numbytes') !== undefined) {
      throw badSparse('PAX sparse format 0.0 is not supported');
    }
    return undefined;
  }
  const realSize = realText === undefined ? headerSize : decimal(realText, 'GNU.sparse.realsize');
  const name = get('GNU.sparse.name');
  const base = name === undefined ? { realSize } : { realSize, name };
  if (major === '1' && minor === '0') return base; // the map is at the start of the data
  if (mapText === undefined) throw badSparse('no GNU.sparse.map');
  const numbers = mapText === '' ? [] : mapText.split(',').map((n) => decimal(n, 'GNU.sparse.map'));
  if (numbers.length % 2 !== 0 || numbers.length / 2 > MAX_SEGMENTS) throw badSparse('odd or oversized map');
  const map: SparseSegment[] = [];
  for (let i = 0; i < numbers.length; i += 2)
    map.push({ offset: numbers[i] as number, size: numbers[i + 1] as number });
  return { ...base, map };
}

/**
 * Reads a PAX 1.0 map (decimal lines: count, then offset and size per segment) from the start of
 * the data, a block at a time. Returns the map and how many bytes (whole blocks) it took.
 */
export async function readPax1Map(
  readBlock: () => Promise<Buffer>,
  maxBytes: number,
): Promise<{ map: SparseSegment[]; bytes: number }> {
  let text = '';
  let bytes = 0;
  const lines: string[] = [];
  let wanted: number | undefined;
  while (wanted === undefined || lines.length < wanted) {
    if (bytes >= maxBytes) throw badSparse('map larger than the entry');
    text += (await readBlock()).toString('latin1');
    bytes += BLOCK_SIZE;
    const parts = text.split('\n');
    text = parts.pop() as string;
    for (const p of parts) {
      if (wanted === undefined) {
        const count = decimal(p, 'segment count');
        if (count > MAX_SEGMENTS) throw badSparse('too many segments');
        wanted = count * 2;
      } else if (lines.length < wanted) lines.push(p);
    }
  }
  const map: SparseSegment[] = [];
  for (let i = 0; i < lines.length; i += 2) {
    map.push({ offset: decimal(lines[i] as string, 'offset'), size: decimal(lines[i + 1] as string, 'size') });
  }
  return { map, bytes };
}

/** The runs that rebuild the real content from the stored segments; checks the map adds up. */
export function sparseRuns(map: readonly SparseSegment[], realSize: number, stored: number): BodyRun[] {
  const runs: BodyRun[] = [];
  let pos = 0;
  let data = 0;
  for (const { offset, size } of map) {
    if (offset < pos) throw badSparse('segments overlap or are out of order');
    if (offset > pos) runs.push({ kind: 'zero', size: offset - pos });
    if (size > 0) runs.push({ kind: 'data', size });
    pos = offset + size;
    data += size;
  }
  if (pos > realSize) throw badSparse('a segment ends after the real size');
  if (data !== stored) throw badSparse(`segments hold ${data} bytes, the archive stores ${stored}`);
  if (realSize > pos) runs.push({ kind: 'zero', size: realSize - pos });
  return runs;
}
