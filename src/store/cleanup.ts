/**
 * What dead gantry processes leave in the store: partial blobs in `blobs/.tmp/`, layers being
 * written in `ingest/`, lease files, temp files of atomic writes (`index.json`, cache records),
 * and half-extracted layers of the layer cache. Every such name carries its owner's pid; what
 * belongs to a process that is gone is removed. Run under the store's lock by every command that
 * takes it, and by `prune`. Mounts and snapshots of killed builds are the build engine's, not
 * swept here (`prune --build-cache` drops them).
 */
import { readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { ownerPid, pidAlive } from './leases.js';

export interface SweepResult {
  /** Paths removed. */
  readonly removed: readonly string[];
}

/** `.NAME.tmp-PID-hex` / `NAME.tmp-PID-hex` (atomic writes), `.tmp-PID-xxxx` and `NAME.rm-PID-ms` (layer cache). */
function tempOwner(name: string): number {
  const m = /\.tmp-(\d+)-[0-9A-Za-z]+$/.exec(name) ?? /^\.tmp-(\d+)-/.exec(name) ?? /\.rm-(\d+)-\d+$/.exec(name);
  return m ? Number(m[1]) : Number.NaN;
}

async function names(dir: string): Promise<string[]> {
  return readdir(dir).catch(() => [] as string[]);
}

/** Removes the leftovers of dead processes under the store at `dir`. */
export async function sweepDeadLeftovers(dir: string): Promise<SweepResult> {
  const removed: string[] = [];
  const drop = async (path: string): Promise<void> => {
    await rm(path, { recursive: true, force: true });
    removed.push(path);
  };
  // Named `<pid>-<random>`.
  for (const sub of [join(dir, 'blobs', '.tmp'), join(dir, 'ingest'), join(dir, 'leases')]) {
    for (const name of await names(sub)) {
      const pid = ownerPid(name);
      if (!Number.isNaN(pid) && !pidAlive(pid)) await drop(join(sub, name));
    }
  }
  // Temp names of atomic writes and of the layer cache.
  const tempDirs = [dir, join(dir, 'cache', 'records')];
  for (const form of await names(join(dir, 'cache', 'layers'))) {
    for (const algorithm of await names(join(dir, 'cache', 'layers', form))) {
      tempDirs.push(join(dir, 'cache', 'layers', form, algorithm));
    }
  }
  for (const sub of tempDirs) {
    for (const name of await names(sub)) {
      const pid = tempOwner(name);
      if (!Number.isNaN(pid) && !pidAlive(pid)) await drop(join(sub, name));
    }
  }
  return { removed };
}
