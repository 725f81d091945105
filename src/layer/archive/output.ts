/**
 * Atomic outputs for the archive writers: a file or a directory is produced under a temp name
 * beside its destination and renamed into place only when complete, so a failure or an abort
 * leaves neither a half-written destination nor a temp file behind.
 */
import { createWriteStream } from 'node:fs';
import { mkdir, readdir, rename, rm, rmdir, stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { AbortedError, GantryError, type IoOptions, throwIfAborted } from '../../errors.js';
import { mkdirp, tempPathFor } from '../../util/fs.js';

/** Rethrows `err`, as AbortedError when `signal` fired (pipeline reports a DOMException then). */
export function rethrowAbort(err: unknown, signal: AbortSignal | undefined): never {
  if (signal?.aborted && !(GantryError.is(err) && err.code === 'ABORTED')) {
    throw new AbortedError({ cause: signal.reason });
  }
  throw err;
}

/** Where an archive goes: a file path, or a stream (stdout for `dest=-`), which is written but not ended. */
export type ArchiveDest = string | Writable;

/**
 * Streams `source` into the file `dest` through a temp file beside it, or into the stream `dest`
 * (left open: it is the caller's, e.g. stdout).
 */
export async function writeFileOutput(dest: ArchiveDest, source: Readable, options: IoOptions = {}): Promise<void> {
  throwIfAborted(options.signal);
  if (typeof dest !== 'string') {
    try {
      await pipeline(source, dest, { signal: options.signal, end: false });
    } catch (err) {
      source.destroy();
      rethrowAbort(err, options.signal);
    }
    return;
  }
  if ((await stat(dest).catch(() => undefined))?.isDirectory()) {
    throw new GantryError('OUTPUT_IS_DIRECTORY', `${dest} is a directory, and this output is one file`, {
      phase: 'export',
      suggestion: 'give a file name as dest (or dest=- for stdout), or use a directory output (type=local)',
    });
  }
  await mkdirp(dirname(dest));
  const tmp = tempPathFor(dest);
  try {
    await pipeline(source, createWriteStream(tmp, { mode: 0o644 }), { signal: options.signal });
    throwIfAborted(options.signal);
    await rename(tmp, dest);
  } catch (err) {
    source.destroy();
    await rm(tmp, { force: true });
    rethrowAbort(err, options.signal);
  }
}

function outputExists(dest: string): GantryError {
  return new GantryError('OUTPUT_EXISTS', `${dest} exists and is not an empty directory`, {
    phase: 'export',
    suggestion: 'remove it or choose another destination',
  });
}

/** Fails early when `dest` is something a directory output must not replace. */
export async function checkDirectoryDest(dest: string): Promise<void> {
  let isDir: boolean;
  try {
    isDir = (await stat(dest)).isDirectory();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
  if (!isDir || (await readdir(dest)).length > 0) throw outputExists(dest);
}

/**
 * Fills a fresh temp directory beside `dest` with `fill`, then renames it to `dest`. `dest` must
 * not exist or be an empty directory (which is replaced).
 */
export async function writeDirectoryOutput(
  dest: ArchiveDest,
  fill: (dir: string) => Promise<void>,
  options: IoOptions = {},
): Promise<void> {
  throwIfAborted(options.signal);
  if (typeof dest !== 'string') {
    throw new GantryError('OUTPUT_NOT_A_STREAM', 'a directory output cannot be written to a stream', {
      phase: 'export',
      suggestion: 'give a directory as dest, or choose a tar output for dest=-',
    });
  }
  await checkDirectoryDest(dest);
  await mkdirp(dirname(dest));
  const tmp = tempPathFor(dest);
  try {
    await mkdir(tmp, { mode: 0o755 });
    await fill(tmp);
    throwIfAborted(options.signal);
    await checkDirectoryDest(dest);
    try {
      await rmdir(dest);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    await rename(tmp, dest);
  } catch (err) {
    await rm(tmp, { recursive: true, force: true });
    if (['ENOTEMPTY', 'EEXIST'].includes((err as NodeJS.ErrnoException).code ?? '')) throw outputExists(dest);
    rethrowAbort(err, options.signal);
  }
}
