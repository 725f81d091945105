// The store lock: mutual exclusion inside one process and across a dead owner.
import assert from 'node:assert/strict';
import { readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { withFileLock } from '../../src/store/lock.js';
import { withTempDir } from '../cli/helpers.js';

test('withFileLock serializes critical sections', async () => {
  await withTempDir(async (dir) => {
    const lock = join(dir, 'l.lock');
    let inside = 0;
    let most = 0;
    await Promise.all(
      Array.from({ length: 8 }, () =>
        withFileLock(lock, async () => {
          inside += 1;
          most = Math.max(most, inside);
          await sleep(5);
          inside -= 1;
        }),
      ),
    );
    assert.equal(most, 1);
    assert.deepEqual(await readdir(dir), []);
  });
});

test('a lock left by a dead process is taken over', async () => {
  await withTempDir(async (dir) => {
    const lock = join(dir, 'l.lock');
    // pid 2^22+1 is above the default pid_max, so no such process exists.
    await writeFile(lock, String(4194305));
    const got = await withFileLock(lock, async () => 'ran', { timeoutMs: 5000 });
    assert.equal(got, 'ran');
  });
});

test('a lock held by a live process times out with a clear error', async () => {
  await withTempDir(async (dir) => {
    const lock = join(dir, 'l.lock');
    await writeFile(lock, String(process.ppid));
    await assert.rejects(
      withFileLock(lock, async () => 'never', { timeoutMs: 300 }),
      (err: Error & { code?: string }) =>
        err.code === 'STORE_LOCKED' && /locked by another gantry process/.test(err.message),
    );
  });
});
