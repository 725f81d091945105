/**
 * The content checksum of what a COPY reads, for its cache key: how each source was resolved (its
 * kind, type, context path and target: a file source and a directory holding the same file write
 * the same entries, but ADD extracts only the former), then every entry the copy would write
 * (path, type, mode, link target, size, content digest; not owners, which COPY sets, nor mtimes),
 * in the copy's own order. File digests are remembered by (path, size, mtime, ctime, inode, device)
 * in a small JSON file, so a rebuild with nothing changed reads no file content.
 */
import type { Stats } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type IoOptions, throwIfAborted } from '../../errors.js';
import { hashRegularFile } from '../../layer/walk.js';
import { createDigester } from '../../oci/digest.js';
import type { Digest } from '../../oci/types.js';
import { writeFileAtomic } from '../../util/fs.js';
import { planEntries } from './copy.js';
import type { CopyPlan } from './sources.js';
import { unreadable } from './visibility.js';

const CACHE_FILE = 'file-hashes.json';
const CACHE_VERSION = 1;
/**
 * On save, entries not used in this session are kept up to this many in all; those used in this
 * session are all kept, however many: a tree of 1M files must find every file again on the next
 * build, not re-read 800k of them (as when this capped them too).
 */
const MAX_ENTRIES = 200_000;

/** [size, mtimeMs, ctimeMs, ino, dev, sha256 hex] */
type CacheRecord = [number, number, number, number, number, string];

export interface FileHashCacheOptions extends IoOptions {
  /**
   * A file changed this recently (ctime within the window before hashing started) is hashed but
   * not remembered: a write in the same timestamp tick would otherwise go unseen. Default 2000 ms;
   * 0 remembers every file.
   */
  readonly racyWindowMs?: number;
  /** See MAX_ENTRIES (tests set a small one). */
  readonly maxEntries?: number;
}

/** Content digests of files by stat identity, kept in `<dir>/file-hashes.json`. */
export class FileHashCache {
  readonly file: string;
  readonly #entries: Map<string, CacheRecord>;
  readonly #used = new Set<string>();
  readonly #racyWindowMs: number;
  readonly #maxEntries: number;
  #dirty = false;

  private constructor(file: string, entries: Map<string, CacheRecord>, options: FileHashCacheOptions, dirty: boolean) {
    this.file = file;
    this.#entries = entries;
    this.#racyWindowMs = options.racyWindowMs ?? 2000;
    this.#maxEntries = options.maxEntries ?? MAX_ENTRIES;
    this.#dirty = dirty;
  }

  /** Opens (or starts) the cache in `dir`; a missing or unreadable cache file starts empty. */
  static async open(dir: string, options: FileHashCacheOptions = {}): Promise<FileHashCache> {
    throwIfAborted(options.signal);
    const file = join(dir, CACHE_FILE);
    const entries = new Map<string, CacheRecord>();
    let corrupt = false;
    try {
      const parsed = JSON.parse(await readFile(file, 'utf8')) as { version?: unknown; entries?: unknown };
      if (parsed.version === CACHE_VERSION && typeof parsed.entries === 'object' && parsed.entries !== null) {
        for (const [path, rec] of Object.entries(parsed.entries as { [path: string]: unknown })) {
          if (Array.isArray(rec) && rec.length === 6 && typeof rec[5] === 'string' && /^[a-f0-9]{64}$/.test(rec[5])) {
            entries.set(path, rec as CacheRecord);
          }
        }
      }
    } catch (err) {
      // A cache is only an optimisation: start over rather than fail the build, and replace a
      // corrupt file on the next save.
      corrupt = (err as NodeJS.ErrnoException).code !== 'ENOENT';
    }
    return new FileHashCache(file, entries, options, corrupt);
  }

  /** Digests that can answer a lookup (paths only known as hashed are not counted). */
  get size(): number {
    let n = 0;
    for (const rec of this.#entries.values()) if (rec[0] >= 0) n++;
    return n;
  }

  /** Paths remembered, current or not: when 0, has() is false for every path. */
  get paths(): number {
    return this.#entries.size;
  }

  /**
   * Whether any digest is remembered for `abs`, current or not: a path the store has hashed
   * before may hold the same content again (a touch, a fresh checkout), a new one rarely does.
   */
  has(abs: string): boolean {
    return this.#entries.has(abs);
  }

  /** The remembered sha256 hex of `abs` if its stat identity is unchanged. */
  lookup(abs: string, stat: Stats): string | undefined {
    const rec = this.#entries.get(abs);
    if (
      rec === undefined ||
      rec[0] !== stat.size ||
      rec[1] !== stat.mtimeMs ||
      rec[2] !== stat.ctimeMs ||
      rec[3] !== stat.ino ||
      rec[4] !== stat.dev
    ) {
      return undefined;
    }
    this.#used.add(abs);
    return rec[5];
  }

  /** Remembers a digest computed from content read after `startedMs` (Date.now()). */
  record(abs: string, stat: Stats, hex: string, startedMs: number): void {
    this.#used.add(abs);
    const since = startedMs - this.#racyWindowMs;
    if (this.#racyWindowMs > 0 && (stat.ctimeMs >= since || stat.mtimeMs >= since)) {
      // The path is remembered as hashed (see has()), under a stat no file has (size -1).
      this.#entries.set(abs, [-1, 0, 0, 0, 0, hex]);
      this.#dirty = true;
      return;
    }
    this.#entries.set(abs, [stat.size, stat.mtimeMs, stat.ctimeMs, stat.ino, stat.dev, hex]);
    this.#dirty = true;
  }

  /** Writes the cache atomically if anything changed. */
  async save(options: IoOptions = {}): Promise<void> {
    if (!this.#dirty) return;
    let keys = [...this.#entries.keys()];
    if (keys.length > this.#maxEntries) {
      // Every entry used in this session stays; the others fill what room is left.
      const room = Math.max(0, this.#maxEntries - this.#used.size);
      const unused = keys.filter((k) => !this.#used.has(k)).slice(0, room);
      keys = [...keys.filter((k) => this.#used.has(k)), ...unused];
    }
    const entries: { [path: string]: CacheRecord } = {};
    for (const k of keys) entries[k] = this.#entries.get(k) as CacheRecord;
    await writeFileAtomic(this.file, JSON.stringify({ version: CACHE_VERSION, entries }), options);
    this.#dirty = false;
  }
}

export interface ChecksumOptions extends IoOptions {
  /** A cache shared across the steps of a build; saved by its owner. */
  readonly cache?: FileHashCache;
  /** A directory to open (and save) a cache in when no `cache` is given. */
  readonly cacheDir?: string;
  /** Called for each file whose content was read, with the bytes hashed. */
  readonly onFileHashed?: (abs: string, bytes: number) => void;
}

/** The file's sha256 and length; a file that cannot be opened or read is named by its context path. */
async function hashFile(
  abs: string,
  size: number,
  contextPath: string,
  signal: AbortSignal | undefined,
): Promise<{ hex: string; bytes: number }> {
  try {
    return await hashRegularFile(abs, size, signal);
  } catch (err) {
    if (typeof (err as NodeJS.ErrnoException).code === 'string' && (err as Error).name !== 'AbortError')
      throw unreadable(contextPath, err);
    throw err;
  }
}

/**
 * sha256 over what the plan reads, stable across runs and machines for the same content, names
 * and modes. Throws what the walk throws (unreadable files, conflicts).
 */
export async function checksumSources(plan: CopyPlan, options: ChecksumOptions = {}): Promise<Digest> {
  const { signal } = options;
  const cache =
    options.cache ??
    (options.cacheDir !== undefined ? await FileHashCache.open(options.cacheDir, { signal }) : undefined);
  const digester = createDigester('sha256');
  digester.update(Buffer.from('gantry copy checksum v2\n'));
  for (const e of plan.entries) {
    digester.update(Buffer.from(`${JSON.stringify(['source', e.kind, e.type, e.sourcePath, e.target])}\n`));
  }
  // Owners and mtimes are fixed so that only what the sources hold goes into the sum.
  for await (const planned of planEntries(plan, { mtime: 0, signal })) {
    throwIfAborted(signal);
    const e = planned.entry;
    let content: string | null = null;
    if (planned.abs !== undefined && planned.stat !== undefined) {
      content = cache?.lookup(planned.abs, planned.stat) ?? null;
      if (content === null) {
        const started = Date.now();
        const hashed = await hashFile(planned.abs, planned.stat.size, e.path, signal);
        content = hashed.hex;
        options.onFileHashed?.(planned.abs, hashed.bytes);
        cache?.record(planned.abs, planned.stat, content, started);
      }
    }
    const record = [
      e.path,
      e.type,
      e.mode,
      e.linkname ?? null,
      e.size,
      content,
      e.devmajor ?? null,
      e.devminor ?? null,
    ];
    digester.update(Buffer.from(`${JSON.stringify(record)}\n`));
  }
  if (options.cache === undefined && cache !== undefined) await cache.save({ signal });
  return digester.digest();
}
