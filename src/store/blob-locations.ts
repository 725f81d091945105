/**
 * The blob-location cache of the store: which repositories of which registries held a blob when
 * gantry last pushed, found, mounted or pulled it, kept in `<store>/cache/blob-locations.json`.
 * A push asks it before uploading, so a blob that another repository of the destination registry
 * holds is mounted rather than sent again (containers/image keeps the same hints in its blob info
 * cache). Hints only: a stale one costs a mount the registry turns into an upload. Concurrent
 * processes merge what they recorded into what is on disk when they save, so few hints are lost
 * and none is torn.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Digest } from '../oci/types.js';
import { writeFileAtomic } from '../util/fs.js';

const FILE = 'blob-locations.json';
const VERSION = 1;
/** Repositories kept per blob, most recent first. */
const PER_BLOB = 8;
/** Blobs kept; the ones recorded longest ago are dropped first. */
const MAX_BLOBS = 20_000;

type Entries = Map<string, string[]>;

async function load(file: string): Promise<Entries> {
  const out: Entries = new Map();
  try {
    const parsed = JSON.parse(await readFile(file, 'utf8')) as { version?: unknown; blobs?: unknown };
    if (parsed.version !== VERSION || typeof parsed.blobs !== 'object' || parsed.blobs === null) return out;
    for (const [digest, where] of Object.entries(parsed.blobs as Record<string, unknown>)) {
      if (!Array.isArray(where)) continue;
      out.set(
        digest,
        where.filter((w): w is string => typeof w === 'string'),
      );
    }
  } catch {
    // Missing or unreadable: no hints, and the next save replaces it.
  }
  return out;
}

function place(entries: Entries, digest: string, where: string): void {
  const list = (entries.get(digest) ?? []).filter((w) => w !== where);
  list.unshift(where);
  // Re-inserted at the end of the map: the most recently recorded blobs are the last dropped.
  entries.delete(digest);
  entries.set(digest, list.slice(0, PER_BLOB));
}

/** A repository on a registry (the registry client's Repo, which the store does not import). */
interface Repo {
  readonly registry: string;
  readonly repository: string;
}

/** The registry client's BlobLocationCache, kept in the store. */
export class BlobLocations {
  readonly file: string;
  #entries: Promise<Entries> | undefined;
  /** Recorded since the last save, in order: [digest, "registry/repository"]. */
  #pending: [string, string][] = [];

  constructor(storeDir: string) {
    this.file = join(storeDir, 'cache', FILE);
  }

  #loaded(): Promise<Entries> {
    this.#entries ??= load(this.file);
    return this.#entries;
  }

  async candidates(registry: string, digest: Digest): Promise<readonly string[]> {
    const entries = await this.#loaded();
    const prefix = `${registry}/`;
    const seen = [...this.#pending.filter(([d]) => d === digest).map(([, w]) => w)].reverse();
    return [...new Set([...seen, ...(entries.get(digest) ?? [])])]
      .filter((w) => w.startsWith(prefix))
      .map((w) => w.slice(prefix.length));
  }

  record(repo: Repo, digest: Digest): void {
    this.#pending.push([digest, `${repo.registry}/${repo.repository}`]);
  }

  async flush(): Promise<void> {
    if (this.#pending.length === 0) return;
    const pending = this.#pending;
    this.#pending = [];
    // What another process saved meanwhile, with ours on top.
    const entries = await load(this.file);
    for (const [digest, where] of pending) place(entries, digest, where);
    while (entries.size > MAX_BLOBS) {
      const oldest = entries.keys().next().value as string;
      entries.delete(oldest);
    }
    this.#entries = Promise.resolve(entries);
    await writeFileAtomic(this.file, JSON.stringify({ version: VERSION, blobs: Object.fromEntries(entries) }));
  }
}
