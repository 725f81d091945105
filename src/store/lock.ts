/**
 * Inter-process locking for the store. A lock is a file created with O_EXCL holding the owner's
 * pid; a lock whose owner is gone is stale and taken over. Waiting is bounded and abortable.
 */
import { open, readFile, rm, stat } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { GantryError, type IoOptions, throwIfAborted } from '../errors.js';

function alive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function tryAcquire(path: string): Promise<boolean> {
  try {
    const fh = await open(path, 'wx', 0o644);
    await fh.writeFile(String(process.pid));
    await fh.close();
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    return false;
  }
}

async function removeIfStale(path: string): Promise<void> {
  let owner: number;
  try {
    owner = Number.parseInt(await readFile(path, 'utf8'), 10);
  } catch {
    return; // vanished, or being written: try again
  }
  if (Number.isNaN(owner)) {
    // A lock file that stays empty for long is a crash between create and write.
    const st = await stat(path).catch(() => undefined);
    if (st && Date.now() - st.mtimeMs > 10_000) await rm(path, { force: true });
    return;
  }
  if (!alive(owner)) await rm(path, { force: true });
}

export interface LockOptions extends IoOptions {
  /** How long to wait for another process before giving up (ms). */
  readonly timeoutMs?: number;
}

/** Runs `fn` while holding the lock file at `path`. */
export async function withFileLock<T>(path: string, fn: () => Promise<T>, options: LockOptions = {}): Promise<T> {
  const deadline = Date.now() + (options.timeoutMs ?? 120_000);
  let delay = 5;
  while (!(await tryAcquire(path))) {
    throwIfAborted(options.signal);
    await removeIfStale(path);
    if (Date.now() > deadline) {
      throw new GantryError('STORE_LOCKED', `the store is locked by another gantry process (${path})`, {
        phase: 'store',
        suggestion: 'wait for the other gantry command to finish, or remove the lock file if no gantry is running',
      });
    }
    await sleep(delay + Math.floor(Math.random() * delay));
    delay = Math.min(delay * 2, 200);
  }
  try {
    return await fn();
  } finally {
    await rm(path, { force: true });
  }
}
