/**
 * What dead gantry processes leave behind, and its removal. In the store: partial blobs in
 * `blobs/.tmp/`, layers being written in `ingest/`, lease files, temp files of atomic writes
 * (`index.json`, cache records), half-extracted layers of the layer cache, and the build engine's
 * step roots in `cache/snapshots/` (overlay mounts with their upper directories, walk copies). In
 * the OS temp dir: the executor's run directories (`gantry-run-*`) and scratch mounts
 * (`gantry-tmpfs-*`, `gantry-heredoc-*`), and the staging directories of ADD and sources (`gantry-add-*`, `gantry-url-*`, `gantry-src-*`). Every such name carries its owner's pid (the engine's also the owner's start
 * time, so a reused pid does not keep them); what belongs to a process that is gone is removed,
 * its mounts unmounted first (lazily when busy). Run under the store's lock by every command that
 * takes it, and by `prune`.
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { ownerPid, pidAlive } from './leases.js';

export interface SweepResult {
  /** Paths removed. */
  readonly removed: readonly string[];
}

/** A process's start time in clock ticks since boot (/proc/PID/stat field 22), or undefined off Linux. */
export function processStart(pid: number | 'self'): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may hold spaces and parentheses: count from its closing one.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return fields[19];
  } catch {
    return undefined;
  }
}

let selfTag: string | undefined;

/** `<pid>-<start>`: names a directory this process owns, for the sweep of a later command. */
export function ownerTag(): string {
  selfTag ??= `${process.pid}-${processStart('self') ?? '0'}`;
  return selfTag;
}

/** Whether the process that made `<pid>-<start>` is still running (the same process, not a reuse of its pid). */
export function ownerAlive(pid: number, start: string): boolean {
  if (!pidAlive(pid)) return false;
  const now = processStart(pid);
  return now === undefined || start === '0' || now === start;
}

/** `.NAME.tmp-PID-hex` / `NAME.tmp-PID-hex` (atomic writes), `.tmp-PID-xxxx` and `NAME.rm-PID-ms` (layer cache). */
function tempOwner(name: string): number {
  const m = /\.tmp-(\d+)-[0-9A-Za-z]+$/.exec(name) ?? /^\.tmp-(\d+)-/.exec(name) ?? /\.rm-(\d+)-\d+$/.exec(name);
  return m ? Number(m[1]) : Number.NaN;
}

/** Step roots in `cache/snapshots/`: `overlay-PID-START-xxxxxx`, `walk-…`, `overlay-probe-…`. */
const SNAPSHOT_NAME = /^(?:overlay|walk|overlay-probe)-(\d+)-(\d+)-/;
/** The executor's directories in the OS temp dir. */
const TEMP_NAME = /^gantry-(?:run|tmpfs|heredoc|add|url|src)-(\d+)-(\d+)-/;

async function names(dir: string): Promise<string[]> {
  return readdir(dir).catch(() => [] as string[]);
}

/** Mount points in this mount namespace, deepest first (octal escapes of mountinfo decoded). */
async function mountPoints(): Promise<string[]> {
  const text = await readFile('/proc/self/mountinfo', 'utf8').catch(() => '');
  const points = text
    .split('\n')
    .map((line) => line.split(' ')[4])
    .filter((p): p is string => p !== undefined && p !== '')
    .map((p) => p.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(Number.parseInt(o, 8))));
  return points.sort((a, b) => b.length - a.length);
}

function umount(args: readonly string[]): Promise<boolean> {
  return new Promise((done) => execFile('umount', [...args], (err) => done(!err)));
}

/** Unmounts everything at or below `dir` (lazily when busy), then removes it. */
export async function removeMounted(dir: string): Promise<void> {
  const root = resolve(dir);
  for (const point of await mountPoints()) {
    if (point === root || point.startsWith(`${root}/`)) {
      if (!(await umount([point]))) await umount(['-l', point]);
    }
  }
  await rm(root, { recursive: true, force: true });
}

/** Removes the leftovers of dead processes under the store at `dir` (and in the OS temp dir). */
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
  // Step roots and executor directories: their mounts go first.
  const owned: [string, RegExp][] = [
    [join(dir, 'cache', 'snapshots'), SNAPSHOT_NAME],
    [tmpdir(), TEMP_NAME],
  ];
  for (const [sub, pattern] of owned) {
    for (const name of await names(sub)) {
      const m = pattern.exec(name);
      if (m && !ownerAlive(Number(m[1]), m[2] as string)) {
        await removeMounted(join(sub, name));
        removed.push(join(sub, name));
      }
    }
  }
  return { removed };
}
