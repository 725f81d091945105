// The blob-location cache: a push of blobs that no source repository names (an OCI layout, the
// store) mounts them from a repository of the same registry where gantry saw them before, in a
// later process too (the cache lives in the store); a stale hint falls back to an upload.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { ImageIndex } from '../../../src/oci/image.js';
import { OciLayout } from '../../../src/oci/layout.js';
import type { Reference } from '../../../src/reference/index.js';
import { pushImage, pushState } from '../../../src/registry/ops/push.js';
import { BlobLocations } from '../../../src/store/blob-locations.js';
import type { ProgressEvent } from '../../../src/util/progress.js';
import { type BusyboxImage, busyboxImage } from '../../harness/fixtures.js';
import { startRegistry, type TestRegistry } from '../../harness/registry.js';
import { clientFor, startProxy, viaProxy, withTempDir } from '../client/helpers.js';

let fixture: BusyboxImage;
let reg: TestRegistry;
before(async () => {
  fixture = await busyboxImage();
  reg = await startRegistry({ mode: 'http' });
});
after(async () => {
  await reg?.stop();
});

async function fixtureIndex(): Promise<ImageIndex> {
  const layout = await OciLayout.open(fixture.layoutDir);
  const entry = (await layout.readIndex()).manifests.find(
    (d) => d.annotations?.['org.opencontainers.image.ref.name'] === fixture.tag,
  );
  assert.ok(entry);
  return layout.imageIndex(entry);
}

function details(events: readonly ProgressEvent[]): string[] {
  return events.flatMap((e) => (e.type === 'done' && e.detail !== undefined ? [e.detail] : []));
}

test('a blob seen in another repository of the registry is mounted, in a later process too; a stale hint uploads', async () => {
  const proxy = await startProxy(reg);
  try {
    await withTempDir(async (storeDir) => {
      const target = viaProxy(reg, proxy);
      const first = clientFor(target, { blobLocations: new BlobLocations(storeDir) });
      const a: Reference = { registry: proxy.host, repository: 'loc/a', tag: 'v1' };
      await pushImage(first.client, a, await fixtureIndex());
      assert.deepEqual(details(first.events), ['uploaded', 'uploaded', 'uploaded', 'uploaded']);

      // A new cache object over the same store directory: what the first push saved.
      const second = clientFor(target, { blobLocations: new BlobLocations(storeDir) });
      proxy.requests.length = 0;
      const desc = await pushImage(second.client, { ...a, repository: 'loc/b' }, await fixtureIndex());
      assert.equal(desc.digest, fixture.indexDigest);
      assert.deepEqual(details(second.events), Array(4).fill('mounted from loc/a'));
      const blobBytes = proxy.requests.filter((r) => r.path.includes('/blobs/') && r.bodyBytes > 0);
      assert.deepEqual(
        blobBytes.map((r) => `${r.method} ${r.path}`),
        [],
      );

      // A hint the registry cannot honour (the repository never had the blobs): the mount request
      // opens an upload session instead, and the blobs are uploaded.
      const stale = new BlobLocations(`${storeDir}/other`);
      const index = await fixtureIndex();
      for (const child of (await index.indexManifest()).manifests) {
        const m = await (await index.image(child.digest)).manifest();
        for (const d of [m.config, ...m.layers]) {
          stale.record({ registry: proxy.host, repository: 'loc/nothing' }, d.digest);
        }
      }
      await stale.flush();
      const third = clientFor(target, { blobLocations: new BlobLocations(`${storeDir}/other`) });
      await pushImage(third.client, { ...a, repository: 'loc/c' }, await fixtureIndex());
      assert.deepEqual(details(third.events), ['uploaded', 'uploaded', 'uploaded', 'uploaded']);
    });
  } finally {
    await proxy.close();
  }
});

test('a push of what a tag already names is one HEAD: no blob checks, no manifest PUT; a new tag of it is one PUT more', async () => {
  const proxy = await startProxy(reg);
  try {
    const target = viaProxy(reg, proxy);
    const ref: Reference = { registry: proxy.host, repository: 'same/app', tag: 'v1' };
    const first = clientFor(target);
    await pushImage(first.client, ref, await fixtureIndex());
    const calls = () => proxy.requests.filter((r) => r.path !== '/v2/').map((r) => `${r.method} ${r.path}`);
    proxy.requests.length = 0;
    const again = clientFor(target);
    const desc = await pushImage(again.client, ref, await fixtureIndex());
    assert.equal(desc.digest, fixture.indexDigest);
    assert.deepEqual(calls(), ['HEAD /v2/same/app/manifests/v1']);
    assert.deepEqual(details(again.events), [], 'a blob was looked at');

    proxy.requests.length = 0;
    const tagged = clientFor(target);
    await pushImage(tagged.client, ref, await fixtureIndex(), { tags: ['v2'] });
    assert.deepEqual(calls(), [
      'HEAD /v2/same/app/manifests/v1',
      'HEAD /v2/same/app/manifests/v2',
      'PUT /v2/same/app/manifests/v2',
    ]);
  } finally {
    await proxy.close();
  }
});

test('pushState asks the tag and the digest together, once; a push given it asks nothing again: a new tag of an image the repository has is one PUT, a new image its full push', async () => {
  const proxy = await startProxy(reg);
  try {
    const target = viaProxy(reg, proxy);
    const calls = () => proxy.requests.filter((r) => r.path !== '/v2/').map((r) => `${r.method} ${r.path}`);
    const image = await fixtureIndex();
    const digest = await image.digest();
    const fresh = { registry: proxy.host, repository: 'state/app', tag: 'v1' };
    const c = clientFor(target);
    const none = await pushState(c.client, fresh, digest);
    assert.deepEqual({ named: [...none.named], present: none.present }, { named: [], present: false });
    assert.deepEqual(calls().sort(), [`HEAD /v2/state/app/manifests/${digest}`, 'HEAD /v2/state/app/manifests/v1']);
    proxy.requests.length = 0;
    await pushImage(c.client, fresh, image, { state: none });
    assert.ok(
      !calls().some((x) => x === 'HEAD /v2/state/app/manifests/v1' || x === `HEAD /v2/state/app/manifests/${digest}`),
      'asked again',
    );
    assert.ok(calls().includes('PUT /v2/state/app/manifests/v1'));

    proxy.requests.length = 0;
    const other = { ...fresh, tag: 'v2' };
    const have = await pushState(c.client, other, digest);
    assert.deepEqual({ named: [...have.named], present: have.present }, { named: [], present: true });
    await pushImage(c.client, other, image, { state: have });
    assert.deepEqual(calls().slice(0, 2).sort(), [
      `HEAD /v2/state/app/manifests/${digest}`,
      'HEAD /v2/state/app/manifests/v2',
    ]);
    assert.deepEqual(calls().slice(2), ['PUT /v2/state/app/manifests/v2']);
    proxy.requests.length = 0;
    const same = await pushState(c.client, other, digest);
    assert.deepEqual({ named: [...same.named], present: same.present }, { named: ['v2'], present: true });
    assert.deepEqual(calls().sort(), [`HEAD /v2/state/app/manifests/${digest}`, 'HEAD /v2/state/app/manifests/v2']);
  } finally {
    await proxy.close();
  }
});
