/**
 * Pure encoding and decoding of PAX extended header records (POSIX.1-2001 `pax` format):
 * `"<len> <key>=<value>\n"`, where `<len>` counts the whole record including its own digits.
 * Values are bytes: paths are UTF-8, SCHILY.xattr values are binary.
 */
import { InvalidContentError } from '../../errors.js';

export type PaxRecord = readonly [key: string, value: Buffer | string];

/** The record with its self-inclusive length prefix. */
function encodeRecord(key: string, value: Buffer | string): Buffer {
  const body = Buffer.concat([Buffer.from(` ${key}=`, 'utf8'), Buffer.from(value), Buffer.from('\n')]);
  // The length counts its own digits, so grow it until it is stable (at most one step per digit).
  let len = body.length + 1;
  while (String(len).length + body.length !== len) len = String(len).length + body.length;
  return Buffer.concat([Buffer.from(String(len), 'ascii'), body]);
}

/** Records in the order given: callers order them, so output is deterministic. */
export function encodePax(records: Iterable<PaxRecord>): Buffer {
  const parts: Buffer[] = [];
  for (const [key, value] of records) {
    if (key.length === 0 || key.includes('=') || key.includes('\n')) {
      throw new InvalidContentError('TAR_BAD_PAX', `invalid PAX record key ${JSON.stringify(key)}`, {
        phase: 'layer',
        suggestion: 'PAX keys may not be empty or contain "=" or a newline',
      });
    }
    parts.push(encodeRecord(key, value));
  }
  return Buffer.concat(parts);
}

function badPax(reason: string): InvalidContentError {
  return new InvalidContentError('TAR_BAD_PAX', `malformed PAX extended header: ${reason}`, {
    phase: 'layer',
    suggestion: 'the archive is corrupt or was written by a broken tool; recreate it',
  });
}

/** Parses PAX records; a later record for the same key wins, as POSIX says. */
export function decodePax(data: Buffer): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  let pos = 0;
  while (pos < data.length) {
    // Writers pad the header block with NULs; anything after them is not a record.
    if (data[pos] === 0) break;
    const space = data.indexOf(0x20, pos);
    if (space < 0 || space - pos > 20) throw badPax(`no length at offset ${pos}`);
    const lenText = data.toString('ascii', pos, space);
    if (!/^[0-9]+$/.test(lenText)) throw badPax(`bad length ${JSON.stringify(lenText)}`);
    const len = Number(lenText);
    const end = pos + len;
    if (len <= space - pos + 1 || end > data.length || data[end - 1] !== 0x0a) {
      throw badPax(`record at offset ${pos} has a bad length`);
    }
    const eq = data.indexOf(0x3d, space + 1);
    if (eq < 0 || eq >= end - 1) throw badPax(`record at offset ${pos} has no "="`);
    const key = data.toString('utf8', space + 1, eq);
    if (key.length === 0) throw badPax(`record at offset ${pos} has an empty key`);
    out.set(key, Buffer.from(data.subarray(eq + 1, end - 1)));
    pos = end;
  }
  return out;
}
