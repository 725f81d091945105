/**
 * Leases: what running gantry operations rely on, written down in the store so that `prune`
 * keeps it. A lease is a file `leases/<pid>-<random>`: its first line is the time it began (ms),
 * each further line a digest the operation holds. `prune` keeps every blob written since the
 * oldest live lease began (a writer has not named it yet) and every blob a live lease holds (a
 * blob found in the store and reused may be older than any lease: containerd leases such blobs
 * the same way). A digest is added under the store's lock, so a prune either finished before the
 * hold (and the operation then sees the blob missing and fetches it) or starts after it and keeps
 * the blob. Leases of dead processes are removed by the next command that takes the lock.
 *
 * The lease of the running operation travels in AsyncLocalStorage, so the layout's writers (pull,
 * load, put, builds) hold what they reuse without a lease being threaded through every call. While
 * one operation runs alone (every CLI command), its lease is simply the process's: Node 20's
 * AsyncLocalStorage installs promise hooks that cost every await (~20 ms CPU of a no-change build),
 * so it is only made when a second lease starts while the first runs. The first operation's code
 * then still sees its lease (its async context has no store); code outside any lease sees it too,
 * which only makes prune keep more while it runs.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { randomBytes } from 'node:crypto';
import { appendFile, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { IoOptions } from '../errors.js';
import { isDigest } from '../oci/digest.js';
import type { Digest } from '../oci/types.js';
import { mkdirp } from '../util/fs.js';
import { withFileLock } from './lock.js';

/** Whether a process is alive (EPERM: alive, another user's). */
export function pidAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The pid a store file is named after (`<pid>-<random>`), or NaN. */
export function ownerPid(name: string): number {
  const m = /^(\d+)-/.exec(name);
  return m ? Number(m[1]) : Number.NaN;
}

export class Lease {
  readonly path: string;
  readonly storeDir: string;
  readonly #lockPath: string;
  readonly #held = new Set<Digest>();

  constructor(storeDir: string, path: string, lockPath: string) {
    this.storeDir = storeDir;
    this.path = path;
    this.#lockPath = lockPath;
  }

  /** Records `digests` as used by this operation; a prune that starts later keeps them. */
  async hold(digests: readonly Digest[], options: IoOptions = {}): Promise<void> {
    const fresh = [...new Set(digests)].filter((d) => !this.#held.has(d) && isDigest(d));
    if (fresh.length === 0) return;
    await withFileLock(this.#lockPath, () => appendFile(this.path, `${fresh.join('\n')}\n`), options);
    for (const d of fresh) this.#held.add(d);
  }

  /** The digests held so far (for tests and diagnostics). */
  get held(): ReadonlySet<Digest> {
    return this.#held;
  }
}

/** Made when a second lease starts while another runs (see the module's comment). */
let current: AsyncLocalStorage<Lease> | undefined;
/** The lease that started while no other ran: the lease of every async context without a store. */
let sole: Lease | undefined;

/** The lease of the operation running in this async context for the store at `storeDir`, if any. */
export function currentLease(storeDir: string): Lease | undefined {
  const lease = current?.getStore() ?? sole;
  return lease?.storeDir === storeDir ? lease : undefined;
}

/** Whether leases travel in AsyncLocalStorage (for tests: only once two leases overlapped). */
export function leaseContextTracked(): boolean {
  return current !== undefined;
}

/** Runs `fn` under a new lease in `leaseDir` (removed when `fn` settles). */
export async function withLease<T>(
  storeDir: string,
  leaseDir: string,
  lockPath: string,
  fn: (lease: Lease) => Promise<T>,
): Promise<T> {
  await mkdirp(leaseDir);
  const lease = new Lease(storeDir, join(leaseDir, `${process.pid}-${randomBytes(4).toString('hex')}`), lockPath);
  await writeFile(lease.path, `${Date.now()}\n`);
  try {
    if (sole === undefined && current === undefined) {
      sole = lease;
      try {
        return await fn(lease);
      } finally {
        sole = undefined;
      }
    }
    current ??= new AsyncLocalStorage<Lease>();
    return await current.run(lease, () => fn(lease));
  } finally {
    await rm(lease.path, { force: true });
  }
}

export interface LiveLeases {
  /** When the oldest live lease began (less a second of clock slack); undefined without leases. */
  readonly since: number | undefined;
  /** Every digest a live lease holds. */
  readonly held: ReadonlySet<Digest>;
}

/** Reads the live leases, removing those of dead processes. Call under the store's lock. */
export async function liveLeases(leaseDir: string): Promise<LiveLeases> {
  let since: number | undefined;
  const held = new Set<Digest>();
  for (const name of await readdir(leaseDir).catch(() => [] as string[])) {
    const path = join(leaseDir, name);
    if (!pidAlive(ownerPid(name))) {
      await rm(path, { force: true });
      continue;
    }
    const lines = (await readFile(path, 'utf8').catch(() => '')).split('\n');
    const started = Number.parseInt(lines[0] ?? '', 10);
    // A lease being written has no time yet: keep everything to be safe.
    const t = Number.isNaN(started) ? 0 : started - 1000;
    if (since === undefined || t < since) since = t;
    for (const line of lines.slice(1)) if (isDigest(line)) held.add(line);
  }
  return { since, held };
}
