/**
 * Atomic file writes: write to a temp name beside the target, fsync, rename. A failed or
 * interrupted write leaves no half-written target, and the temp file is removed on failure.
 */
import { randomBytes } from 'node:crypto';
import { createWriteStream, type Stats } from 'node:fs';
import { chmod, lstat, mkdir, open, readdir, rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { GantryError, type IoOptions } from '../errors.js';

/** A temp path in the same directory as `target` (same filesystem, so rename is atomic). */
export function tempPathFor(target: string): string {
  return join(dirname(target), `.${basename(target)}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`);
}

export interface AtomicWriteOptions extends IoOptions {
  /** File mode from the first byte (default 0644); 0600 for secrets. */
  readonly mode?: number;
  /** Mode of the parent directories it creates. */
  readonly dirMode?: number;
}

export async function writeFileAtomic(
  target: string,
  data: string | Uint8Array,
  options: AtomicWriteOptions = {},
): Promise<void> {
  await mkdirp(dirname(target), options.dirMode);
  const tmp = tempPathFor(target);
  try {
    const fh = await open(tmp, 'wx', options.mode ?? 0o644);
    try {
      await fh.writeFile(data, { signal: options.signal });
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, target);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
}

/** Streams `source` into `target` atomically. `source` may be a stream factory. */
export async function writeStreamAtomic(target: string, source: Readable, options: IoOptions = {}): Promise<void> {
  await mkdirp(dirname(target));
  const tmp = tempPathFor(target);
  try {
    await pipeline(source, createWriteStream(tmp, { mode: 0o644 }), { signal: options.signal });
    await rename(tmp, target);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
}

/**
 * `mkdir -p`, with `mode` for the directories it makes. Not Node's `mkdir(..., { recursive })`:
 * that never returns when a parent exists but refuses children with ENOENT (a directory of
 * /proc, for instance: `--store /proc/x/store` spun at full CPU, deaf to SIGTERM). Here parents
 * are made one at a time, and a path still missing after its parent was made is an error.
 */
export async function mkdirp(dir: string, mode?: number): Promise<void> {
  const options = mode === undefined ? undefined : { mode };
  try {
    await mkdir(dir, options);
    return;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EEXIST' && (await isDirectory(dir))) return;
    if (code !== 'ENOENT' || dirname(dir) === dir) throw err;
  }
  await mkdirp(dirname(dir), mode);
  try {
    await mkdir(dir, options);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST' && (await isDirectory(dir))) return;
    throw err;
  }
}

async function isDirectory(path: string): Promise<boolean> {
  return (await stat(path).catch(() => undefined))?.isDirectory() === true;
}

/**
 * `lstat`, or undefined when nothing is there. With `notDirIsMissing`, a path below a
 * non-directory (ENOTDIR) counts as missing too.
 */
export async function lstatOrUndefined(
  path: string,
  options: { readonly notDirIsMissing?: boolean } = {},
): Promise<Stats | undefined> {
  try {
    return await lstat(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || (options.notDirIsMissing === true && code === 'ENOTDIR')) return undefined;
    throw err;
  }
}

const privateDirs = new Map<string, Promise<void>>();

/**
 * Makes `dir` (with missing parents) and keeps it 0700, once per process and path: what lies
 * below (extracted image layers with their setuid files, snapshots, mounts) is then out of reach
 * of other local users, as containerd and buildah keep their roots. An existing directory with a
 * wider mode (a store made by an older gantry) is narrowed.
 */
export function ensurePrivateDir(dir: string): Promise<void> {
  let p = privateDirs.get(dir);
  if (!p) {
    p = (async () => {
      await mkdirp(dir, 0o700);
      const st = await lstat(dir);
      // A shared directory (sticky, like /tmp) is never ours to narrow.
      if (!st.isDirectory() || st.mode & 0o1000) {
        throw new GantryError('PRIVATE_DIR_SHARED', `${dir} is not a private directory gantry can own`, {
          phase: 'store',
          suggestion: 'use a store directory of its own, not a shared temp directory',
        });
      }
      if ((st.mode & 0o777) !== 0o700) await chmod(dir, 0o700);
    })();
    p.catch(() => privateDirs.delete(dir));
    privateDirs.set(dir, p);
  }
  return p;
}

/** Bytes of the regular files under `dir` (not following links); 0 when it does not exist. */
export async function du(dir: string): Promise<number> {
  let total = 0;
  for (const e of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
    const p = join(dir, e.name);
    if (e.isDirectory()) total += await du(p);
    else if (e.isFile()) total += (await stat(p).catch(() => ({ size: 0 }))).size;
  }
  return total;
}
