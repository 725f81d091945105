/**
 * Pure encoding and decoding of 512-byte tar header blocks: POSIX ustar for writing; ustar,
 * old GNU and v7 for reading. Numbers that overflow their octal field are written in GNU
 * base-256, and the encoder reports every field that did not fit so the writer can add a PAX
 * record for it (POSIX readers ignore base-256; GNU readers ignore nothing).
 */
import { InvalidContentError } from '../../errors.js';
import type { PaxRecord } from './pax.js';

export const BLOCK_SIZE = 512;

/** Field offsets and widths of the ustar header. */
const F = {
  name: [0, 100],
  mode: [100, 8],
  uid: [108, 8],
  gid: [116, 8],
  size: [124, 12],
  mtime: [136, 12],
  chksum: [148, 8],
  typeflag: [156, 1],
  linkname: [157, 100],
  magic: [257, 6],
  version: [263, 2],
  uname: [265, 32],
  gname: [297, 32],
  devmajor: [329, 8],
  devminor: [337, 8],
  prefix: [345, 155],
} as const;

export interface HeaderFields {
  /** The name as stored: a directory keeps its trailing '/'. */
  readonly name: string;
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
  readonly size: number;
  readonly mtime: number;
  /** One character: '0' file, '1' hardlink, '2' symlink, '3' char, '4' block, '5' dir, '6' fifo, 'x', 'g', ... */
  readonly typeflag: string;
  readonly linkname: string;
  readonly uname: string;
  readonly gname: string;
  readonly devmajor: number;
  readonly devminor: number;
}

export interface EncodedHeader {
  readonly block: Buffer;
  /** Records a PAX header must carry because their fields did not fit in `block`. */
  readonly pax: readonly PaxRecord[];
}

export type HeaderFormat = 'ustar' | 'gnu' | 'v7';

export interface DecodedHeader extends HeaderFields {
  readonly format: HeaderFormat;
}

function badHeader(reason: string): InvalidContentError {
  return new InvalidContentError('TAR_BAD_HEADER', `invalid tar header: ${reason}`, {
    phase: 'layer',
    suggestion: 'the archive is corrupt, truncated or not a tar file; recreate or re-download it',
  });
}

/** Largest value an octal field of `width` bytes holds (width-1 digits plus a NUL). */
export function octalMax(width: number): number {
  return 8 ** (width - 1) - 1;
}

/** GNU base-256: a set high bit, then big-endian two's complement in the remaining bits. */
export function encodeBase256(value: number, width: number): Buffer {
  const out = Buffer.alloc(width);
  let v = BigInt(value);
  const negative = v < 0n;
  if (negative) v = (1n << BigInt(8 * width)) + v;
  for (let i = width - 1; i >= 0; i--) {
    out[i] = Number(v & 0xffn);
    v >>= 8n;
  }
  out[0] = negative ? 0xff : (out[0] as number) | 0x80;
  return out;
}

function decodeBase256(field: Buffer): number {
  const negative = field[0] === 0xff;
  let v = BigInt((field[0] as number) & (negative ? 0xff : 0x7f));
  for (let i = 1; i < field.length; i++) v = (v << 8n) | BigInt(field[i] as number);
  if (negative) v -= 1n << BigInt(8 * field.length);
  if (v > BigInt(Number.MAX_SAFE_INTEGER) || v < BigInt(Number.MIN_SAFE_INTEGER)) {
    throw badHeader('a base-256 number is too large');
  }
  return Number(v);
}

function writeOctal(block: Buffer, [off, width]: readonly [number, number], value: number): void {
  block.write(value.toString(8).padStart(width - 1, '0'), off, width - 1, 'ascii');
  block[off + width - 1] = 0;
}

/** Writes a number, in base-256 when octal overflows; returns false when it did not fit octal. */
function writeNumber(block: Buffer, field: readonly [number, number], value: number): boolean {
  if (Number.isInteger(value) && value >= 0 && value <= octalMax(field[1])) {
    writeOctal(block, field, value);
    return true;
  }
  encodeBase256(Math.floor(value), field[1]).copy(block, field[0]);
  return false;
}

/** A numeric header field (octal or base-256) at `[offset, width]`. */
export function readNumber(block: Buffer, [off, width]: readonly [number, number]): number {
  const field = block.subarray(off, off + width);
  if ((field[0] as number) & 0x80) return decodeBase256(field);
  let text = field.toString('latin1');
  const nul = text.indexOf('\0');
  if (nul >= 0) text = text.slice(0, nul);
  text = text.trim();
  if (text === '') return 0;
  if (!/^[0-7]+$/.test(text)) throw badHeader(`bad number ${JSON.stringify(text)}`);
  return Number.parseInt(text, 8);
}

function readString(block: Buffer, [off, width]: readonly [number, number]): string {
  const field = block.subarray(off, off + width);
  const nul = field.indexOf(0);
  return field.toString('utf8', 0, nul < 0 ? width : nul);
}

function isAscii(s: string): boolean {
  return /^[\x01-\x7f]*$/.test(s);
}

/** Splits a long name at a '/' into ustar prefix (<=155 bytes) and name (<=100 bytes). */
function splitName(bytes: Buffer): { prefix: Buffer; name: Buffer } | undefined {
  const [, nameWidth] = F.name;
  const [, prefixWidth] = F.prefix;
  // The longest name part that fits keeps the prefix short; the slash itself is not stored.
  for (let i = Math.max(0, bytes.length - nameWidth - 1); i < bytes.length - 1; i++) {
    if (bytes[i] !== 0x2f) continue;
    if (i > prefixWidth) return undefined;
    if (i === 0) continue;
    return { prefix: bytes.subarray(0, i), name: bytes.subarray(i + 1) };
  }
  return undefined;
}

function checksum(block: Buffer): { unsigned: number; signed: number } {
  let unsigned = 0;
  let signed = 0;
  for (let i = 0; i < BLOCK_SIZE; i++) {
    const b = i >= F.chksum[0] && i < F.chksum[0] + F.chksum[1] ? 0x20 : (block[i] as number);
    unsigned += b;
    signed += b > 127 ? b - 256 : b;
  }
  return { unsigned, signed };
}

/** Encodes one ustar header; fields that did not fit are returned as PAX records. */
export function encodeHeader(h: HeaderFields): EncodedHeader {
  const block = Buffer.alloc(BLOCK_SIZE);
  const pax: PaxRecord[] = [];

  const nameBytes = Buffer.from(h.name, 'utf8');
  if (nameBytes.length <= F.name[1] && isAscii(h.name)) {
    nameBytes.copy(block, F.name[0]);
  } else {
    const split = isAscii(h.name) ? splitName(nameBytes) : undefined;
    if (split) {
      split.name.copy(block, F.name[0]);
      split.prefix.copy(block, F.prefix[0]);
    } else {
      nameBytes.copy(block, F.name[0], 0, Math.min(nameBytes.length, F.name[1]));
      pax.push(['path', h.name]);
    }
  }

  const linkBytes = Buffer.from(h.linkname, 'utf8');
  linkBytes.copy(block, F.linkname[0], 0, Math.min(linkBytes.length, F.linkname[1]));
  if (linkBytes.length > F.linkname[1] || !isAscii(h.linkname)) pax.push(['linkpath', h.linkname]);

  writeOctal(block, F.mode, h.mode & 0o7777);
  if (!writeNumber(block, F.uid, h.uid)) pax.push(['uid', String(h.uid)]);
  if (!writeNumber(block, F.gid, h.gid)) pax.push(['gid', String(h.gid)]);
  if (!writeNumber(block, F.size, h.size)) pax.push(['size', String(h.size)]);
  if (!writeNumber(block, F.mtime, h.mtime)) pax.push(['mtime', formatSeconds(h.mtime)]);
  writeNumber(block, F.devmajor, h.devmajor);
  writeNumber(block, F.devminor, h.devminor);

  block.write(h.typeflag, F.typeflag[0], 1, 'ascii');
  block.write('ustar\0', F.magic[0], 6, 'ascii');
  block.write('00', F.version[0], 2, 'ascii');
  for (const [key, field] of [
    ['uname', F.uname],
    ['gname', F.gname],
  ] as const) {
    const value = h[key];
    const bytes = Buffer.from(value, 'utf8');
    if (bytes.length < field[1] && isAscii(value)) bytes.copy(block, field[0]);
    else pax.push([key, value]);
  }

  const sum = checksum(block).unsigned;
  block.write(`${sum.toString(8).padStart(6, '0')}\0 `, F.chksum[0], 8, 'ascii');
  return { block, pax };
}

/** Decimal seconds without exponent notation; integers stay integers. */
export function formatSeconds(seconds: number): string {
  if (Number.isInteger(seconds)) return String(seconds);
  return seconds.toFixed(9).replace(/0+$/, '');
}

export function isZeroBlock(block: Buffer): boolean {
  for (let i = 0; i < BLOCK_SIZE; i++) if (block[i] !== 0) return false;
  return true;
}

/** Decodes one header block; null for an all-zero block (end of archive). */
export function decodeHeader(block: Buffer): DecodedHeader | null {
  if (block.length !== BLOCK_SIZE) throw badHeader(`a header is ${BLOCK_SIZE} bytes, got ${block.length}`);
  if (isZeroBlock(block)) return null;
  const stored = readNumber(block, F.chksum);
  const sum = checksum(block);
  if (stored !== sum.unsigned && stored !== sum.signed) throw badHeader('checksum mismatch');

  const magic = block.toString('latin1', F.magic[0], F.magic[0] + 8);
  const format: HeaderFormat = magic === 'ustar  \0' ? 'gnu' : magic.startsWith('ustar') ? 'ustar' : 'v7';
  let name = readString(block, F.name);
  // Old GNU headers reuse the prefix area for atime/ctime/sparse data; only ustar has a prefix.
  if (format === 'ustar') {
    const prefix = readString(block, F.prefix);
    if (prefix !== '') name = `${prefix}/${name}`;
  }
  const typeflag = block[F.typeflag[0]] === 0 ? '0' : block.toString('latin1', F.typeflag[0], F.typeflag[0] + 1);
  const v7 = format === 'v7';
  return {
    format,
    name,
    mode: readNumber(block, F.mode) & 0o7777,
    uid: readNumber(block, F.uid),
    gid: readNumber(block, F.gid),
    size: readNumber(block, F.size),
    mtime: readNumber(block, F.mtime),
    typeflag,
    linkname: readString(block, F.linkname),
    uname: v7 ? '' : readString(block, F.uname),
    gname: v7 ? '' : readString(block, F.gname),
    devmajor: v7 ? 0 : readNumber(block, F.devmajor),
    devminor: v7 ? 0 : readNumber(block, F.devminor),
  };
}
