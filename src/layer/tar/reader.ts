/**
 * The tar reader: a pull-based parser over a byte stream. It reads a header only when the
 * consumer asks for the next entry and a body chunk only when the consumer reads the body, so
 * backpressure flows straight back to the source. Metadata headers (PAX x/g, GNU L/K) are folded
 * into the entry they describe by `EntryAssembler`, a small explicit state machine.
 */
import { Readable } from 'node:stream';
import { InvalidContentError, type IoOptions, throwIfAborted } from '../../errors.js';
import { BLOCK_SIZE, type DecodedHeader, decodeHeader } from './header.js';
import { decodePax } from './pax.js';
import type { TarEntry, TarEntryType } from './types.js';

const CHUNK = 64 * 1024;
/**
 * PAX and GNU long-name bodies are held in memory; anything bigger than this is refused, as Go's
 * archive/tar (and so containerd) refuses special headers over 1 MiB.
 */
export const MAX_META = 1024 * 1024;

function truncated(): InvalidContentError {
  return new InvalidContentError('TAR_TRUNCATED', 'tar stream ended in the middle of an entry', {
    phase: 'layer',
    suggestion: 'the archive is incomplete; download or create it again',
  });
}

function unsupported(what: string): InvalidContentError {
  return new InvalidContentError('TAR_UNSUPPORTED', `unsupported tar feature: ${what}`, {
    phase: 'layer',
    suggestion: 'recreate the archive without sparse or multi-volume entries (e.g. GNU tar without --sparse)',
  });
}

/**
 * Exact-size and bounded reads over an async iterator of chunks. Chunks are kept in a list and
 * joined once per read, so an n-byte read costs O(n) whatever the chunk size (joining on every
 * chunk made large PAX headers cost quadratic CPU: issue 8 item 11).
 */
class ByteSource {
  readonly #it: AsyncIterator<unknown>;
  readonly #signal: AbortSignal | undefined;
  readonly #chunks: Buffer[] = [];
  #length = 0;
  #ended = false;

  constructor(source: Readable, signal: AbortSignal | undefined) {
    this.#it = source[Symbol.asyncIterator]();
    this.#signal = signal;
  }

  async #fill(): Promise<boolean> {
    throwIfAborted(this.#signal);
    if (this.#ended) return false;
    const next = await this.#it.next();
    if (next.done) {
      this.#ended = true;
      return false;
    }
    const value = next.value;
    // Sources may yield strings or plain Uint8Arrays (web streams); the parser needs Buffers.
    const chunk = Buffer.isBuffer(value) ? value : Buffer.from(value as Uint8Array | string);
    if (chunk.length > 0) {
      this.#chunks.push(chunk);
      this.#length += chunk.length;
    }
    return true;
  }

  /** Takes `n` buffered bytes (n <= #length): a view when one chunk holds them, else one copy. */
  #take(n: number): Buffer {
    const first = this.#chunks[0] as Buffer;
    if (first.length >= n) {
      this.#length -= n;
      if (first.length === n) this.#chunks.shift();
      else this.#chunks[0] = first.subarray(n);
      return first.subarray(0, n);
    }
    const parts: Buffer[] = [];
    let left = n;
    while (left > 0) {
      const c = this.#chunks[0] as Buffer;
      if (c.length <= left) {
        parts.push(c);
        this.#chunks.shift();
        left -= c.length;
      } else {
        parts.push(c.subarray(0, left));
        this.#chunks[0] = c.subarray(left);
        left = 0;
      }
    }
    this.#length -= n;
    return Buffer.concat(parts, n);
  }

  /** Exactly n bytes; null at a clean end of stream; throws when the stream ends part-way. */
  async readExact(n: number): Promise<Buffer | null> {
    while (this.#length < n) {
      if (!(await this.#fill())) {
        if (this.#length === 0) return null;
        throw truncated();
      }
    }
    return n === 0 ? Buffer.alloc(0) : this.#take(n);
  }

  /** Between 1 and max bytes, without copying; null at end of stream. */
  async readSome(max: number): Promise<Buffer | null> {
    while (this.#length === 0) if (!(await this.#fill())) return null;
    const first = this.#chunks[0] as Buffer;
    return this.#take(Math.min(max, first.length));
  }

  async skip(n: number): Promise<void> {
    let left = n;
    while (left > 0) {
      const got = await this.readSome(Math.min(left, CHUNK));
      if (got === null) throw truncated();
      left -= got.length;
    }
  }

  async drain(): Promise<void> {
    this.#chunks.length = 0;
    this.#length = 0;
    while (await this.#fill()) {
      this.#chunks.length = 0;
      this.#length = 0;
    }
  }

  async close(): Promise<void> {
    await this.#it.return?.();
  }
}

/** The content of one entry; `finish` skips whatever the consumer left unread. */
class EntryBody extends Readable {
  readonly #source: ByteSource;
  #remaining: number;
  #pending: Promise<void> | undefined;

  constructor(source: ByteSource, size: number) {
    super({ highWaterMark: CHUNK });
    this.#source = source;
    this.#remaining = size;
    if (size === 0) this.push(null);
  }

  override _read(): void {
    if (this.#remaining === 0 || this.#pending) return;
    const step = this.#source.readSome(Math.min(this.#remaining, CHUNK)).then(
      (buf) => {
        this.#pending = undefined;
        if (buf === null) {
          this.destroy(truncated());
          return;
        }
        this.#remaining -= buf.length;
        const last = this.#remaining === 0;
        this.push(buf);
        if (last) this.push(null);
      },
      (err: unknown) => {
        this.#pending = undefined;
        this.destroy(err as Error);
      },
    );
    this.#pending = step;
  }

  /** Waits for an in-flight read, then skips the unread rest of the body in the source. */
  async finish(): Promise<void> {
    while (this.#pending) await this.#pending;
    if (this.errored) throw this.errored;
    if (this.#remaining > 0) {
      const left = this.#remaining;
      this.#remaining = 0;
      if (!this.destroyed) this.destroy();
      await this.#source.skip(left);
    }
  }
}

/** What a header turned out to be, and how many data bytes follow it in the archive. */
type HeaderOutcome =
  | { readonly kind: 'meta' }
  | { readonly kind: 'skip'; readonly dataSize: number }
  | { readonly kind: 'entry'; readonly entry: TarEntry; readonly dataSize: number };

function stripPath(raw: string): { path: string; slash: boolean } {
  if (/^\/+$/.test(raw)) return { path: '/', slash: true };
  const slash = raw.endsWith('/');
  let path = raw.replace(/\/+$/, '');
  while (path.startsWith('./')) path = path.slice(2);
  if (path === '' || path === '.') path = '.';
  return { path, slash };
}

function stripLink(raw: string): string {
  let link = raw;
  while (link.startsWith('./') && link.length > 2) link = link.slice(2);
  return link;
}

const TYPES: Readonly<Record<string, TarEntryType>> = {
  '0': 'file',
  '7': 'file',
  '1': 'hardlink',
  '2': 'symlink',
  '3': 'char',
  '4': 'block',
  '5': 'directory',
  '6': 'fifo',
  D: 'directory',
};

function paxNumber(value: Buffer, key: string): number {
  const text = value.toString('utf8');
  if (!/^-?[0-9]+(\.[0-9]*)?$/.test(text)) {
    throw new InvalidContentError('TAR_BAD_PAX', `PAX ${key} is not a number: ${JSON.stringify(text)}`, {
      phase: 'layer',
      suggestion: 'the archive is corrupt; recreate it',
    });
  }
  return Number(text);
}

/**
 * Folds metadata headers into the next real entry. States: idle, or holding a pending PAX
 * record set and/or GNU long name/link; global PAX records persist until overridden.
 */
export class EntryAssembler {
  readonly #global = new Map<string, Buffer>();
  #pax: Map<string, Buffer> | undefined;
  #longName: string | undefined;
  #longLink: string | undefined;

  /** True when the header's data is metadata that must be read and passed to `meta`. */
  static isMeta(header: DecodedHeader): boolean {
    return header.typeflag === 'x' || header.typeflag === 'g' || header.typeflag === 'L' || header.typeflag === 'K';
  }

  meta(header: DecodedHeader, data: Buffer): void {
    switch (header.typeflag) {
      case 'x':
        this.#pax = new Map([...(this.#pax ?? []), ...decodePax(data)]);
        break;
      case 'g':
        for (const [key, value] of decodePax(data)) {
          if (value.length === 0) this.#global.delete(key);
          else this.#global.set(key, value);
        }
        break;
      case 'L':
        this.#longName = cString(data);
        break;
      case 'K':
        this.#longLink = cString(data);
        break;
    }
  }

  /** The entry a real header describes (or a skip), with the size of the data after it. */
  entry(header: DecodedHeader): Exclude<HeaderOutcome, { kind: 'meta' }> {
    const pax = new Map(this.#global);
    for (const [key, value] of this.#pax ?? []) {
      if (value.length === 0) pax.delete(key);
      else pax.set(key, value);
    }
    const longName = this.#longName;
    const longLink = this.#longLink;
    this.#pax = undefined;
    this.#longName = undefined;
    this.#longLink = undefined;

    const num = (key: string, fallback: number): number => {
      const v = pax.get(key);
      return v === undefined ? fallback : paxNumber(v, key);
    };
    // The data area is what the header (or its PAX size) says, even for entries that carry no
    // content for us (hardlinks with data, GNU dumpdirs): it is skipped to stay aligned.
    const dataSize = num('size', header.size);
    if (header.typeflag === 'V' || header.typeflag === 'N') return { kind: 'skip', dataSize };
    if (header.typeflag === 'S') throw unsupported('GNU sparse file');
    if (header.typeflag === 'M') throw unsupported('GNU multi-volume continuation');
    for (const key of pax.keys()) if (key.startsWith('GNU.sparse.')) throw unsupported('PAX sparse file');

    const rawPath = pax.get('path')?.toString('utf8') ?? longName ?? header.name;
    const { path, slash } = stripPath(rawPath);
    // POSIX: unknown type letters are read as regular files.
    let type: TarEntryType = TYPES[header.typeflag] ?? 'file';
    if (type === 'file' && slash) type = 'directory';

    const uname = pax.get('uname')?.toString('utf8') ?? header.uname;
    const gname = pax.get('gname')?.toString('utf8') ?? header.gname;
    const size = type === 'file' ? dataSize : 0;
    const base: TarEntry = {
      path,
      type,
      mode: header.mode & 0o7777,
      uid: num('uid', header.uid),
      gid: num('gid', header.gid),
      mtime: num('mtime', header.mtime),
      size,
    };
    const extra: {
      uname?: string;
      gname?: string;
      linkname?: string;
      devmajor?: number;
      devminor?: number;
      xattrs?: Record<string, Buffer>;
    } = {};
    if (uname) extra.uname = uname;
    if (gname) extra.gname = gname;
    if (type === 'symlink' || type === 'hardlink') {
      const raw = pax.get('linkpath')?.toString('utf8') ?? longLink ?? header.linkname;
      extra.linkname = type === 'hardlink' ? stripLink(raw) : raw;
    }
    if (type === 'char' || type === 'block') {
      extra.devmajor = num('SCHILY.devmajor', header.devmajor);
      extra.devminor = num('SCHILY.devminor', header.devminor);
    }
    const xattrs: Record<string, Buffer> = {};
    let hasXattrs = false;
    for (const [key, value] of pax) {
      if (key.startsWith('SCHILY.xattr.')) {
        xattrs[key.slice('SCHILY.xattr.'.length)] = value;
        hasXattrs = true;
      } else if (key.startsWith('LIBARCHIVE.xattr.')) {
        xattrs[decodeURIComponent(key.slice('LIBARCHIVE.xattr.'.length))] = Buffer.from(
          value.toString('ascii'),
          'base64',
        );
        hasXattrs = true;
      }
    }
    if (hasXattrs) extra.xattrs = xattrs;
    return { kind: 'entry', entry: { ...base, ...extra }, dataSize };
  }
}

function cString(data: Buffer): string {
  const nul = data.indexOf(0);
  return data.toString('utf8', 0, nul < 0 ? data.length : nul);
}

function padded(size: number): number {
  return Math.ceil(size / BLOCK_SIZE) * BLOCK_SIZE;
}

async function nextHeader(source: ByteSource, assembler: EntryAssembler): Promise<HeaderOutcome | null> {
  const block = await source.readExact(BLOCK_SIZE);
  if (block === null) return null;
  const header = decodeHeader(block);
  if (header === null) return null;
  if (EntryAssembler.isMeta(header)) {
    if (header.size > MAX_META) {
      const kind = header.typeflag === 'x' || header.typeflag === 'g' ? 'PAX header' : 'GNU long name';
      throw new InvalidContentError(
        'TAR_HEADER_TOO_LARGE',
        `tar ${kind} of ${header.size} bytes is over the limit of ${MAX_META} bytes`,
        { phase: 'layer', suggestion: 'the archive is malformed or hostile; do not use it' },
      );
    }
    const data = await source.readExact(padded(header.size));
    if (data === null) throw truncated();
    assembler.meta(header, data.subarray(0, header.size));
    return { kind: 'meta' };
  }
  return assembler.entry(header);
}

/** Parses a tar stream (ustar, PAX x/g, GNU L/K). Each body must be consumed or is drained when the next entry is requested. */
export async function* readTar(
  source: Readable,
  options: IoOptions = {},
): AsyncGenerator<{ entry: TarEntry; body: Readable }> {
  const bytes = new ByteSource(source, options.signal);
  const assembler = new EntryAssembler();
  let finished = false;
  try {
    for (;;) {
      throwIfAborted(options.signal);
      const outcome = await nextHeader(bytes, assembler);
      if (outcome === null) break;
      if (outcome.kind === 'meta') continue;
      const { dataSize } = outcome;
      if (outcome.kind === 'skip' || outcome.entry.type !== 'file') {
        if (outcome.kind === 'entry') yield { entry: outcome.entry, body: new EntryBody(bytes, 0) };
        await bytes.skip(padded(dataSize));
        continue;
      }
      const body = new EntryBody(bytes, dataSize);
      yield { entry: outcome.entry, body };
      await body.finish();
      await bytes.skip(padded(dataSize) - dataSize);
    }
    // Trailing zero blocks and record padding are read so a digest check upstream sees the end.
    await bytes.drain();
    finished = true;
  } finally {
    if (!finished) await bytes.close();
  }
}
