// Issue 8 item 3: `prune` during `pull` deleted blobs the pull reused (a blob already present was
// skipped by an existence check without being leased), the pull exited 0, and pulling again did not
// repair the store (the manifest was present, so everything was skipped). Pinned here against the
// real registry: every reused blob is held by the operation's lease, a pull fetches what is
// missing, and it fails rather than report success with a blob missing.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFile, rm, utimes } from 'node:fs/promises';
import { after, before, describe, test } from 'node:test';
import { OciLayout } from '../../src/oci/layout.js';
import { parseManifest } from '../../src/oci/parse.js';
import type { Descriptor, Digest } from '../../src/oci/types.js';
import type { Reference } from '../../src/reference/index.js';
import { pullToLayout } from '../../src/registry/ops/pull.js';
import { pushImage } from '../../src/registry/ops/push.js';
import { Store } from '../../src/store/store.js';
import { type BusyboxImage, busyboxImage } from '../harness/fixtures.js';
import { startRegistry, type TestRegistry } from '../harness/registry.js';
import { clientFor, withTempDir } from '../registry/client/helpers.js';

const REF_NAME = 'org.opencontainers.image.ref.name';
const amd64 = { os: 'linux', architecture: 'amd64' } as const;

let fixture: BusyboxImage;
let reg: TestRegistry;
let ref: Reference;

before(async () => {
  fixture = await busyboxImage();
  reg = await startRegistry({ mode: 'http' });
  const layout = await OciLayout.open(fixture.layoutDir);
  const entry = (await layout.readIndex()).manifests.find((d) => d.annotations?.[REF_NAME] === fixture.tag);
  assert.ok(entry);
  ref = { registry: reg.host, repository: 'lease/busybox', tag: 'v1' };
  await pushImage(clientFor(reg).client, ref, await layout.imageIndex(entry));
});
after(async () => {
  await reg?.stop();
});

/** Every blob the image names (manifest, config, layers). */
async function blobsOf(store: Store, desc: Descriptor): Promise<Descriptor[]> {
  const manifest = parseManifest(await store.layout.readBlob(desc));
  return [desc, manifest.config, ...manifest.layers];
}

/** Re-hashes every blob: present, and its bytes are its digest. */
async function assertWhole(store: Store, blobs: readonly Descriptor[]): Promise<void> {
  for (const d of blobs) {
    const bytes = await readFile(store.layout.blobPath(d.digest));
    assert.equal(`sha256:${createHash('sha256').update(bytes).digest('hex')}`, d.digest, `${d.digest} re-hashes`);
  }
}

/** Makes every blob look a day old, older than any lease (what prune's time rule keeps). */
async function age(store: Store, digests: readonly Digest[]): Promise<void> {
  const old = new Date(Date.now() - 86_400_000);
  for (const d of digests) await utimes(store.layout.blobPath(d), old, old);
}

describe('pull and prune', () => {
  test('pulling an image whose store lost a blob fetches the blob again', async () => {
    await withTempDir(async (dir) => {
      const store = await Store.open({ dir });
      const { client } = clientFor(reg);
      const desc = await store.lease(() => pullToLayout(client, ref, store.layout, { platform: amd64 }));
      await store.tag(desc, ['busybox:lease']);
      const blobs = await blobsOf(store, desc);
      const layer = blobs[2];
      assert.ok(layer);
      await rm(store.layout.blobPath(layer.digest));
      const again = await store.lease(() => pullToLayout(client, ref, store.layout, { platform: amd64 }));
      assert.equal(again.digest, desc.digest);
      await assertWhole(store, blobs);
    });
  });

  test('a prune between a pull that reuses every blob and its naming removes none of them', async () => {
    await withTempDir(async (dir) => {
      const store = await Store.open({ dir });
      const { client } = clientFor(reg);
      const first = await store.lease(() => pullToLayout(client, ref, store.layout, { platform: amd64 }));
      const blobs = await blobsOf(store, first);
      // Nothing names the image any more, and its blobs predate any lease: only a hold keeps them.
      await age(
        store,
        blobs.map((b) => b.digest),
      );
      await store.lease(async (lease) => {
        const desc = await pullToLayout(client, ref, store.layout, { platform: amd64 });
        for (const b of blobs) assert.ok(lease.held.has(b.digest), `the pull holds ${b.digest}`);
        const pruned = await store.prune();
        assert.equal(pruned.blobs, 0, 'prune removed nothing the running pull relies on');
        await store.tag(desc, ['busybox:raced']);
      });
      await assertWhole(store, blobs);
      // Once the lease is over and the name gone, the same blobs are prunable again.
      await store.remove('busybox:raced');
      await age(
        store,
        blobs.map((b) => b.digest),
      );
      assert.equal((await store.prune()).blobs, blobs.length);
    });
  });

  test('a prune while a pull is fetching keeps the blobs the pull found present', async () => {
    await withTempDir(async (dir) => {
      const store = await Store.open({ dir });
      const { client } = clientFor(reg);
      const first = await store.lease(() => pullToLayout(client, ref, store.layout, { platform: amd64 }));
      const blobs = await blobsOf(store, first);
      await age(
        store,
        blobs.map((b) => b.digest),
      );
      // The config is missing, so the pull fetches it; the prune runs from inside that fetch (the
      // client's progress hook fires when the download starts), after the layer was found present.
      const config = blobs[1];
      assert.ok(config);
      await rm(store.layout.blobPath(config.digest));
      let pruning: Promise<unknown> | undefined;
      const racing = clientFor(reg);
      const sink = racing.events;
      sink.push = (...events) => {
        for (const e of events) if (e.type === 'start' && e.id.includes(config.digest)) pruning ??= store.prune();
        return Array.prototype.push.apply(sink, events);
      };
      await store.lease(async () => {
        const desc = await pullToLayout(racing.client, ref, store.layout, { platform: amd64 });
        assert.ok(pruning, 'the prune ran during the pull');
        await pruning;
        await store.tag(desc, ['busybox:during']);
      });
      await assertWhole(store, blobs);
    });
  });
});
