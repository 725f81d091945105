// Leases travel with the operation that took them (src/store/leases.ts). A lone operation (every
// CLI command) needs no AsyncLocalStorage (Node 20's promise hooks cost every await); overlapping
// ones still each hold their own digests. Pinned with the real store: what each lease file holds.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Digest } from '../../src/oci/types.js';
import { currentLease, leaseContextTracked } from '../../src/store/leases.js';
import { Store } from '../../src/store/store.js';
import { withTempDir } from '../registry/client/helpers.js';

const digest = (c: string) => `sha256:${c.repeat(64)}` as Digest;

/** The digests a lease file holds (every line after the first, its start time). */
async function heldIn(path: string): Promise<string[]> {
  return (await readFile(path, 'utf8')).split('\n').slice(1).filter(Boolean).sort();
}

test('leases: a lone operation holds through its lease without AsyncLocalStorage; overlapping operations (and one nested in another) each hold their own digests; a store without a lease holds nothing', async () => {
  await withTempDir(async (dir) => {
    const store = await Store.open({ dir });
    const other = await Store.open({ dir: `${dir}/other` });
    await store.hold([digest('0')]);
    assert.equal(currentLease(store.dir), undefined, 'no operation runs: no lease');
    // A lone operation, as every CLI command runs: its lease is found after awaits, no hooks made.
    const alone = await store.lease(async (lease) => {
      await sleep(1);
      await store.hold([digest('a')]);
      assert.equal(currentLease(other.dir), undefined, 'another store has no lease');
      return { path: lease.path, text: await heldIn(lease.path) };
    });
    assert.deepEqual(alone.text, [digest('a')]);
    assert.equal(leaseContextTracked(), false, 'a lone operation made AsyncLocalStorage');
    assert.equal(currentLease(store.dir), undefined, 'the lease ends with its operation');

    // Two operations overlapping: the first started alone, the second while it runs.
    let release!: () => void;
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    let started!: () => void;
    const firstStarted = new Promise<void>((resolve) => {
      started = resolve;
    });
    const first = store.lease(async (lease) => {
      started();
      await gate;
      await store.hold([digest('b')]);
      return heldIn(lease.path);
    });
    await firstStarted;
    const second = store.lease(async (lease) => {
      await sleep(1);
      await store.hold([digest('c')]);
      // Nested in the second: its own lease, then the second's again.
      const nested = await store.lease(async (inner) => {
        await store.hold([digest('d')]);
        return heldIn(inner.path);
      });
      await store.hold([digest('e')]);
      release();
      return { nested, mine: await heldIn(lease.path) };
    });
    const [a, b] = await Promise.all([first, second]);
    assert.ok(leaseContextTracked(), 'overlapping leases need AsyncLocalStorage');
    assert.deepEqual(a, [digest('b')], 'the first operation holds its own digests only');
    assert.deepEqual(b.mine, [digest('c'), digest('e')], 'the second operation holds its own digests only');
    assert.deepEqual(b.nested, [digest('d')], 'a nested operation holds its own');
    assert.equal(currentLease(store.dir), undefined);
  });
});
