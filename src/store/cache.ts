/**
 * The build cache index: one small JSON record per step, named by the step's cache key, under
 * `<store>/cache/records/`. A record names the layer the step produced (or that it produced
 * none); the layer blob itself lives in the store. A record whose blob is gone is a miss.
 */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { IoOptions } from '../errors.js';
import type { Layer } from '../oci/image.js';
import type { Descriptor, Digest } from '../oci/types.js';
import { writeFileAtomic } from '../util/fs.js';
import type { Store } from './store.js';

export interface CacheRecord {
  /** The layer the step added; absent when the step changed no file. */
  readonly layer?: { readonly descriptor: Descriptor; readonly diffID: Digest };
}

/**
 * A record read from an imported cache (`--cache-from`): the layer is not in the store, only
 * reachable through `open`, which fetches it (verified) the first time its content is needed.
 */
export interface ImportedRecord {
  readonly layer?: { readonly descriptor: Descriptor; readonly diffID: Digest; readonly open: Layer };
}

export class BuildCache {
  readonly dir: string;
  readonly #store: Store;
  readonly #imported = new Map<string, ImportedRecord>();

  constructor(store: Store) {
    this.#store = store;
    this.dir = join(store.dir, 'cache', 'records');
  }

  #path(key: string): string {
    return join(this.dir, `${key.replace(/^sha256:/, '')}.json`);
  }

  async get(key: string, options: IoOptions = {}): Promise<CacheRecord | undefined> {
    let record: CacheRecord;
    try {
      record = JSON.parse(await readFile(this.#path(key), { encoding: 'utf8', signal: options.signal })) as CacheRecord;
    } catch {
      return undefined; // absent or unreadable: a miss, rebuilt and rewritten
    }
    if (record.layer && !(await this.#store.layout.hasBlob(record.layer.descriptor.digest))) return undefined;
    return record;
  }

  /** Adds records of an imported cache; the first import that has a key keeps it. */
  import(records: ReadonlyMap<string, ImportedRecord>): void {
    for (const [key, record] of records) if (!this.#imported.has(key)) this.#imported.set(key, record);
  }

  /** The imported record of `key`, asked after a local miss. */
  imported(key: string): ImportedRecord | undefined {
    return this.#imported.get(key);
  }

  async put(key: string, record: CacheRecord, options: IoOptions = {}): Promise<void> {
    await writeFileAtomic(this.#path(key), JSON.stringify(record), options);
  }

  /** Digests of every blob a record keeps alive (prune marks them). */
  async referencedBlobs(): Promise<Digest[]> {
    const out: Digest[] = [];
    for (const name of await readdir(this.dir).catch(() => [] as string[])) {
      if (!name.endsWith('.json')) continue;
      try {
        const record = JSON.parse(await readFile(join(this.dir, name), 'utf8')) as CacheRecord;
        if (record.layer) out.push(record.layer.descriptor.digest);
      } catch {
        // a torn record is ignored here and rewritten by the next build
      }
    }
    return out;
  }
}
