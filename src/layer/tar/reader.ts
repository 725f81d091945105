/**
 * The tar reader: a pull-based parser over a byte stream. It reads a header only when the
 * consumer asks for the next entry and a body chunk only when the consumer reads the body, so
 * backpressure flows straight back to the source. Metadata headers (PAX x/g, GNU L/K) are folded
 * into the entry they describe by `EntryAssembler`, a small explicit state machine.
 *
 * Liberal in what it reads, as containerd and GNU tar are: a stream that ends cleanly after a
 * complete last entry (without its padding or the end-of-archive blocks, as umoci writes them) is
 * a whole archive, since the blob's digest is verified anyway; GNU sparse files (old GNU and PAX
 * 0.1/1.0) are expanded into plain files. A stream that ends inside a header or a body is not.
 */
import { Readable } from 'node:stream';
import { InvalidContentError, type IoOptions, throwIfAborted } from '../../errors.js';
import { BLOCK_SIZE, type DecodedHeader, decodeHeader } from './header.js';
import { decodePax } from './pax.js';
import {
  type BodyRun,
  badSparse,
  oldGnuSparse,
  oldGnuSparseExtension,
  paxSparse,
  readPax1Map,
  type SparseInfo,
  type SparseSegment,
  sparseRuns,
} from './sparse.js';
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
    suggestion: 'recreate the archive without multi-volume entries',
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

  /**
   * A header block; null at a clean end of stream, or when the stream ends inside what can only
   * be end-of-archive zeros. Throws when it ends part-way through a real header.
   */
  async readHeader(): Promise<Buffer | null> {
    while (this.#length < BLOCK_SIZE) {
      if (!(await this.#fill())) {
        if (this.#chunks.every((c) => c.every((b) => b === 0))) return null;
        throw truncated();
      }
    }
    return this.readExact(BLOCK_SIZE);
  }

  /** Skips up to n bytes of padding; the stream may end inside it (after a complete entry). */
  async skipPadding(n: number): Promise<void> {
    let left = n;
    while (left > 0) {
      const got = await this.readSome(left);
      if (got === null) return;
      left -= got.length;
    }
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

/**
 * The content of one entry: runs of archive bytes and (for sparse files) holes of zeros. `finish`
 * skips whatever archive bytes the consumer left unread.
 */
class EntryBody extends Readable {
  readonly #source: ByteSource;
  readonly #runs: { kind: BodyRun['kind']; size: number }[];
  #pending: Promise<void> | undefined;

  constructor(source: ByteSource, runs: readonly BodyRun[]) {
    super({ highWaterMark: CHUNK });
    this.#source = source;
    this.#runs = runs.filter((r) => r.size > 0).map((r) => ({ ...r }));
    if (this.#runs.length === 0) this.push(null);
  }

  #consumed(n: number): void {
    const run = this.#runs[0] as { size: number };
    run.size -= n;
    if (run.size === 0) this.#runs.shift();
  }

  override _read(): void {
    const run = this.#runs[0];
    if (run === undefined || this.#pending) return;
    if (run.kind === 'zero') {
      const n = Math.min(run.size, CHUNK);
      this.#consumed(n);
      this.push(Buffer.alloc(n));
      if (this.#runs.length === 0) this.push(null);
      return;
    }
    const step = this.#source.readSome(Math.min(run.size, CHUNK)).then(
      (buf) => {
        this.#pending = undefined;
        if (buf === null) {
          this.destroy(truncated());
          return;
        }
        this.#consumed(buf.length);
        const last = this.#runs.length === 0;
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
    const left = this.#runs.reduce((n, r) => (r.kind === 'data' ? n + r.size : n), 0);
    this.#runs.length = 0;
    if (!this.destroyed) this.destroy();
    if (left > 0) await this.#source.skip(left);
  }
}

/** What a header turned out to be, and how many data bytes follow it in the archive. */
type HeaderOutcome =
  | { readonly kind: 'meta' }
  | { readonly kind: 'skip'; readonly dataSize: number }
  | {
      readonly kind: 'entry';
      readonly entry: TarEntry;
      readonly dataSize: number;
      /** A sparse file: entry.size is its real size, dataSize what the archive stores. */
      readonly sparse?: SparseInfo;
    };

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

  /**
   * The entry a real header describes (or a skip), with the size of the data after it.
   * `oldSparse` is the map an old GNU sparse header ('S') and its extension blocks carried.
   */
  entry(header: DecodedHeader, oldSparse?: SparseInfo): Exclude<HeaderOutcome, { kind: 'meta' }> {
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
    if (header.typeflag === 'M') throw unsupported('GNU multi-volume continuation');
    if (header.typeflag === 'S' && oldSparse === undefined) throw badSparse('an old GNU sparse header without its map');
    const sparse = oldSparse ?? paxSparse((key) => pax.get(key)?.toString('utf8'), dataSize);

    const rawPath = sparse?.name ?? pax.get('path')?.toString('utf8') ?? longName ?? header.name;
    const { path, slash } = stripPath(rawPath);
    // POSIX: unknown type letters are read as regular files.
    let type: TarEntryType = TYPES[header.typeflag] ?? 'file';
    if (type === 'file' && slash && sparse === undefined) type = 'directory';

    const uname = pax.get('uname')?.toString('utf8') ?? header.uname;
    const gname = pax.get('gname')?.toString('utf8') ?? header.gname;
    const size = type === 'file' ? (sparse?.realSize ?? dataSize) : 0;
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
    const entry = { ...base, ...extra };
    return sparse && type === 'file' ? { kind: 'entry', entry, dataSize, sparse } : { kind: 'entry', entry, dataSize };
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
  const block = await source.readHeader();
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
  if (header.typeflag === 'S') {
    const first = oldGnuSparse(block);
    const map: SparseSegment[] = [...first.map];
    for (let extended = first.extended; extended; ) {
      const ext = await source.readExact(BLOCK_SIZE);
      if (ext === null) throw truncated();
      const next = oldGnuSparseExtension(ext);
      map.push(...next.map);
      extended = next.extended;
      if (map.length > 1 << 20) throw unsupported('a sparse map of more than a million segments');
    }
    return assembler.entry(header, { realSize: first.realSize, map });
  }
  return assembler.entry(header);
}

/** The runs of a file entry's body; reads a PAX 1.0 sparse map from the data first. */
async function bodyRuns(
  source: ByteSource,
  outcome: Extract<HeaderOutcome, { kind: 'entry' }>,
): Promise<{ runs: BodyRun[]; stored: number }> {
  const { sparse, dataSize } = outcome;
  if (sparse === undefined) return { runs: [{ kind: 'data', size: dataSize }], stored: dataSize };
  let map = sparse.map;
  let stored = dataSize;
  if (map === undefined) {
    const read = await readPax1Map(async () => {
      const block = await source.readExact(BLOCK_SIZE);
      if (block === null) throw truncated();
      return block;
    }, dataSize);
    map = read.map;
    stored = dataSize - read.bytes;
  }
  return { runs: sparseRuns(map, sparse.realSize, stored), stored };
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
        if (outcome.kind === 'entry') yield { entry: outcome.entry, body: new EntryBody(bytes, []) };
        await bytes.skip(dataSize);
        await bytes.skipPadding(padded(dataSize) - dataSize);
        continue;
      }
      const { runs } = await bodyRuns(bytes, outcome);
      const body = new EntryBody(bytes, runs);
      yield { entry: outcome.entry, body };
      await body.finish();
      // The last entry's padding may be cut short (umoci): the data itself was complete.
      await bytes.skipPadding(padded(dataSize) - dataSize);
    }
    // Trailing zero blocks and record padding are read so a digest check upstream sees the end.
    await bytes.drain();
    finished = true;
  } finally {
    if (!finished) await bytes.close();
  }
}
