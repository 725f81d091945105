/**
 * CRC-32 (the gzip trailer's checksum) of a buffer, and the combination of two CRCs of adjacent
 * pieces into the CRC of their concatenation, so blocks can be checksummed in any thread and
 * joined in order. zlib.crc32 (Node >= 20.15) does the bulk work when it exists; a table-driven
 * fallback covers older Node 20 releases.
 */
import * as zlib from 'node:zlib';

/** The reflected CRC-32 polynomial (x^32 is implied). */
const POLY = 0xedb88320;
/** The polynomial 1 (x^0) in the reflected representation: the top bit. */
const X0 = 0x80000000;
/** x^8: appending one byte multiplies a CRC by x^8 modulo the polynomial. */
const X8 = X0 >>> 8;

type Crc32Function = (data: Uint8Array, initial?: number) => number;

const native = (zlib as unknown as { crc32?: Crc32Function }).crc32;

let table: Uint32Array | undefined;

function crcTable(): Uint32Array {
  if (table) return table;
  table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ POLY : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
}

/** The table-driven CRC-32, exported so tests can pin it against zlib's. */
export function crc32Portable(data: Uint8Array, initial = 0): number {
  const t = crcTable();
  let c = ~initial;
  for (let i = 0; i < data.length; i++) c = (t[(c ^ (data[i] as number)) & 0xff] as number) ^ (c >>> 8);
  return ~c >>> 0;
}

/** CRC-32 of `data`, continuing from `initial` (the CRC of the bytes before it). */
export function crc32(data: Uint8Array, initial = 0): number {
  return native ? native(data, initial) >>> 0 : crc32Portable(data, initial);
}

/** Product of two polynomials modulo the CRC polynomial, both in the reflected representation. */
function multiplyModulo(a: number, b: number): number {
  let product = 0;
  let term = b;
  // Walk a's coefficients from x^0 upwards while `term` runs through b*x^i.
  for (let bit = X0; bit !== 0; bit >>>= 1) {
    if (a & bit) product ^= term;
    term = term & 1 ? (term >>> 1) ^ POLY : term >>> 1;
  }
  return product >>> 0;
}

/** x^(8*bytes) modulo the CRC polynomial, by square-and-multiply; `bytes` may exceed 2^32. */
function shiftFactor(bytes: number): number {
  let result = X0;
  let square = X8;
  for (let n = bytes; n > 0; n = Math.floor(n / 2)) {
    if (n % 2 === 1) result = multiplyModulo(result, square);
    square = multiplyModulo(square, square);
  }
  return result;
}

/**
 * The CRC of A followed by B from crc(A), crc(B) and B's length. The pre- and post-conditioning
 * of CRC-32 cancel out in this form, so it is a shift of crc(A) past B's bytes, xored with crc(B).
 */
export function crc32Combine(crcA: number, crcB: number, lengthB: number): number {
  return (multiplyModulo(shiftFactor(lengthB), crcA) ^ crcB) >>> 0;
}

/** True when zlib has a native crc32 (else the portable loop is used). */
export function nativeCrc32(): boolean {
  return native !== undefined;
}
