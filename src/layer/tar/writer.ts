/**
 * The tar writer: turns entries into a deterministic POSIX tar stream (ustar headers, a PAX
 * header only where a field does not fit, no atime/ctime), ending with two zero blocks. It is
 * pull-based: the next header or body chunk is produced only when the consumer asks for it, so
 * a slow consumer never makes the writer open or read ahead.
 */
import { Readable } from 'node:stream';
import { GantryError, InvalidContentError, type IoOptions, throwIfAborted } from '../../errors.js';
import { BLOCK_SIZE, encodeHeader, type HeaderFields } from './header.js';
import { encodePax, type PaxRecord } from './pax.js';
import type { FileOpener, TarEntry, TarEntryType, TarInput } from './types.js';

const TYPEFLAG: Readonly<Record<TarEntryType, string>> = {
  file: '0',
  hardlink: '1',
  symlink: '2',
  char: '3',
  block: '4',
  directory: '5',
  fifo: '6',
};

const ZEROS = Buffer.alloc(2 * BLOCK_SIZE);
const CHUNK = 64 * 1024;

/** The buffer tarChunks reads file bodies into: a whole small file (the walk's SMALL_FILE, 1 MiB, + 1). */
const SCRATCH = 1024 * 1024 + 1;

function padding(size: number): Buffer | undefined {
  const rest = size % BLOCK_SIZE;
  return rest === 0 ? undefined : ZEROS.subarray(0, BLOCK_SIZE - rest);
}

function badEntry(entry: TarEntry, reason: string): InvalidContentError {
  return new InvalidContentError('TAR_BAD_ENTRY', `cannot write tar entry ${JSON.stringify(entry.path)}: ${reason}`, {
    phase: 'layer',
    suggestion: 'this is a bug in the code that produced the entry; please report it',
  });
}

function validate(entry: TarEntry): void {
  if (!(entry.type in TYPEFLAG)) throw badEntry(entry, `unknown type ${JSON.stringify(entry.type)}`);
  if (entry.path === '' || entry.path.includes('\0')) throw badEntry(entry, 'empty path or NUL in path');
  if (entry.path.endsWith('/')) throw badEntry(entry, 'paths carry no trailing "/"');
  for (const [name, value] of [
    ['mode', entry.mode],
    ['uid', entry.uid],
    ['gid', entry.gid],
    ['size', entry.size],
  ] as const) {
    if (!Number.isSafeInteger(value) || value < 0) throw badEntry(entry, `${name} must be a non-negative integer`);
  }
  if (!Number.isFinite(entry.mtime)) throw badEntry(entry, 'mtime must be a finite number');
  if (entry.type !== 'file' && entry.size !== 0) throw badEntry(entry, `a ${entry.type} has no content`);
  if ((entry.type === 'symlink' || entry.type === 'hardlink') && !entry.linkname) {
    throw badEntry(entry, `a ${entry.type} needs a linkname`);
  }
}

/** A deterministic name for the PAX header of `path` (readers ignore it; old readers extract it). */
function paxHeaderName(path: string): string {
  const base = path.slice(path.lastIndexOf('/') + 1).replace(/[^\x20-\x7e]/g, '_');
  return `PaxHeaders/${base}`.slice(0, 100);
}

/** The header blocks (PAX header and data if needed, then ustar) for one entry. */
function entryHeader(entry: TarEntry): Buffer {
  validate(entry);
  const fields: HeaderFields = {
    name: entry.type === 'directory' ? `${entry.path}/` : entry.path,
    mode: entry.mode,
    uid: entry.uid,
    gid: entry.gid,
    size: entry.type === 'file' ? entry.size : 0,
    mtime: entry.mtime,
    typeflag: TYPEFLAG[entry.type],
    linkname: entry.type === 'symlink' || entry.type === 'hardlink' ? (entry.linkname ?? '') : '',
    uname: entry.uname ?? '',
    gname: entry.gname ?? '',
    devmajor: entry.devmajor ?? 0,
    devminor: entry.devminor ?? 0,
  };
  const { block, pax } = encodeHeader(fields);
  const records: PaxRecord[] = [...pax];
  if (entry.xattrs) {
    for (const name of Object.keys(entry.xattrs).sort()) {
      records.push([`SCHILY.xattr.${name}`, entry.xattrs[name] as Buffer]);
    }
  }
  if (records.length === 0) return block;
  const data = encodePax(records);
  const paxHeader = encodeHeader({
    name: paxHeaderName(entry.path),
    mode: 0o644,
    uid: 0,
    gid: 0,
    size: data.length,
    mtime: 0,
    typeflag: 'x',
    linkname: '',
    uname: '',
    gname: '',
    devmajor: 0,
    devminor: 0,
  }).block;
  const pad = padding(data.length);
  return Buffer.concat(pad ? [paxHeader, data, pad, block] : [paxHeader, data, block]);
}

function sizeChanged(entry: TarEntry, got: string): GantryError {
  return new GantryError(
    'TAR_SIZE_MISMATCH',
    `${JSON.stringify(entry.path)} should have ${entry.size} bytes but ${got}`,
    {
      phase: 'layer',
      suggestion:
        'the file changed while it was being read; make sure nothing writes to the source tree during the build',
    },
  );
}

/** A body that can read into the writer's scratch buffer (the walk's fileOpener). */
function borrowable(body: TarInput['body']): body is Extract<TarInput['body'], () => unknown> & FileOpener {
  return typeof body === 'function' && typeof (body as Partial<FileOpener>).readInto === 'function';
}

async function* fileBody(
  input: TarInput,
  signal: AbortSignal | undefined,
  scratch: Buffer | undefined,
): AsyncGenerator<Buffer> {
  const { entry, body, observe } = input;
  if (body === undefined) {
    if (entry.size !== 0) throw badEntry(entry, 'a file with content needs a body');
    return;
  }
  if (Buffer.isBuffer(body)) {
    if (body.length !== entry.size) throw sizeChanged(entry, `the buffer has ${body.length}`);
    observe?.(body);
    for (let off = 0; off < body.length; off += CHUNK) yield body.subarray(off, off + CHUNK);
  } else if (scratch && borrowable(body)) {
    let seen = 0;
    for await (const chunk of body.readInto(scratch)) {
      seen += chunk.length;
      if (seen > entry.size) throw sizeChanged(entry, 'it grew while being read');
      observe?.(chunk);
      yield chunk;
      throwIfAborted(signal);
    }
    if (seen !== entry.size) throw sizeChanged(entry, `only ${seen} could be read`);
  } else {
    const source = await body();
    let seen = 0;
    try {
      for await (const chunk of source) {
        const buf = typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer);
        seen += buf.length;
        if (seen > entry.size) throw sizeChanged(entry, 'it grew while being read');
        if (buf.length > 0) {
          observe?.(buf);
          yield buf;
        }
        throwIfAborted(signal);
      }
    } finally {
      source.destroy();
    }
    if (seen !== entry.size) throw sizeChanged(entry, `only ${seen} could be read`);
  }
  const pad = padding(entry.size);
  if (pad) yield pad;
}

async function* generate(
  entries: Iterable<TarInput> | AsyncIterable<TarInput>,
  signal: AbortSignal | undefined,
  scratch?: Buffer,
): AsyncGenerator<Buffer> {
  throwIfAborted(signal);
  for await (const input of entries) {
    throwIfAborted(signal);
    yield entryHeader(input.entry);
    if (input.entry.type === 'file') yield* fileBody(input, signal, scratch);
  }
  yield ZEROS;
}

/** A deterministic tar stream (ustar + PAX where needed), ends with two zero blocks, respects backpressure. */
export function tarStream(entries: Iterable<TarInput> | AsyncIterable<TarInput>, options: IoOptions = {}): Readable {
  return Readable.from(generate(entries, options.signal), { objectMode: false, highWaterMark: CHUNK });
}

/**
 * The same tar as tarStream, as chunks that are only lent: a chunk may be a view of one buffer
 * the writer reads every file of the walk into, overwritten as soon as the next chunk is asked
 * for. For a consumer that is done with each chunk (hashed, copied) before it asks for the next.
 */
export function tarChunks(
  entries: Iterable<TarInput> | AsyncIterable<TarInput>,
  options: IoOptions = {},
): AsyncGenerator<Buffer> {
  return generate(entries, options.signal, Buffer.allocUnsafeSlow(SCRATCH));
}
