/**
 * The build cache index: one small JSON record per step, named by the step's cache key, under
 * `<store>/cache/records/`. A record names the layer the step produced (or that it produced
 * none); the layer blob itself lives in the store. A record whose blob is gone is a miss.
 */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { IoOptions } from '../errors.js';
import type { Descriptor, Digest } from '../oci/types.js';
import { writeFileAtomic } from '../util/fs.js';
import type { Store } from './store.js';

export interface CacheRecord {
  /** The layer the step added; absent when the step changed no file. */
  readonly layer?: { readonly descriptor: Descriptor; readonly diffID: Digest };
}

export class BuildCache {
  readonly dir: string;
  readonly #store: Store;

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
