// Push, pull and copy of whole images against the real distribution registry, read back by
// independent tools: what gantry pushes, skopeo inspects with the same digest; what skopeo pushes,
// gantry pulls into a layout that umoci and skopeo read. Also: platform selection, mounts between
// repositories (no layer bytes move), registry-to-registry copies, faults while pulling.
import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { GantryError } from '../../../src/errors.js';
import type { ImageIndex } from '../../../src/oci/image.js';
import { OciLayout } from '../../../src/oci/layout.js';
import { parseIndex, parseManifest } from '../../../src/oci/parse.js';
import { resolvePlatform } from '../../../src/oci/partial.js';
import { type Descriptor, MediaType } from '../../../src/oci/types.js';
import type { Reference } from '../../../src/reference/index.js';
import { copyImage } from '../../../src/registry/ops/copy.js';
import { pullToLayout } from '../../../src/registry/ops/pull.js';
import { pushImage } from '../../../src/registry/ops/push.js';
import { RemoteImage, RemoteIndex, remoteImage } from '../../../src/registry/remote.js';
import type { ProgressEvent } from '../../../src/util/progress.js';
import { type BusyboxImage, busyboxImage } from '../../harness/fixtures.js';
import { rejectLargeBodies, startFaultProxy } from '../../harness/proxy.js';
import { type RegistryMode, registryRequest, startRegistry, type TestRegistry } from '../../harness/registry.js';
import { skopeoCopy, skopeoInspect, skopeoInspectRaw, transportFor, umociStat } from '../../harness/validate.js';
import { clientFor, clientForMany, startProxy, viaProxy, withTempDir } from '../client/helpers.js';

const REF_NAME = 'org.opencontainers.image.ref.name';

async function fixtureIndex(fixture: BusyboxImage): Promise<ImageIndex> {
  const layout = await OciLayout.open(fixture.layoutDir);
  const entry = (await layout.readIndex()).manifests.find((d) => d.annotations?.[REF_NAME] === fixture.tag);
  assert.ok(entry, 'the fixture names busybox');
  return layout.imageIndex(entry);
}

/** Names `desc` in the layout's index.json, so skopeo and umoci can find it by `tag`. */
async function nameIt(layout: OciLayout, desc: Descriptor, tag: string): Promise<void> {
  const index = await layout.readIndex();
  await layout.writeIndex({
    ...index,
    manifests: [
      ...index.manifests.filter((d) => d.annotations?.[REF_NAME] !== tag),
      { ...desc, annotations: { [REF_NAME]: tag } },
    ],
  });
}

async function blobFiles(dir: string): Promise<string[]> {
  return (await readdir(join(dir, 'blobs', 'sha256'))).sort();
}

function code(err: unknown): string | undefined {
  return GantryError.is(err) ? err.code : undefined;
}

/** Blobs in flight at most, from start/done/error events. */
function maxInFlight(events: readonly ProgressEvent[]): number {
  let now = 0;
  let max = 0;
  for (const e of events) {
    if (e.type === 'start') max = Math.max(max, ++now);
    else if (e.type === 'done' || e.type === 'error') now--;
  }
  return max;
}

function doneDetails(events: readonly ProgressEvent[]): string[] {
  return events.flatMap((e) => (e.type === 'done' && e.detail !== undefined ? [e.detail] : []));
}

let fixture: BusyboxImage;
before(async () => {
  fixture = await busyboxImage();
});

for (const mode of ['http', 'tls', 'tls-basic', 'token'] as const satisfies readonly RegistryMode[]) {
  describe(`push and pull the busybox index (${mode})`, () => {
    let reg: TestRegistry;
    before(async () => {
      reg = await startRegistry({ mode });
    });
    after(async () => {
      await reg?.stop();
    });

    test('gantry pushes, skopeo reads the same digests; a second push uploads nothing', async () => {
      const { client, events } = clientFor(reg, { concurrency: 2 });
      const ref: Reference = { registry: reg.host, repository: 'fixtures/busybox', tag: 'v1' };
      const desc = await pushImage(client, ref, await fixtureIndex(fixture), { tags: ['latest'] });
      assert.equal(desc.digest, fixture.indexDigest);
      assert.equal(desc.mediaType, MediaType.OciIndex);
      for (const tag of ['v1', 'latest']) {
        const raw = await skopeoInspectRaw(`docker://${reg.host}/fixtures/busybox:${tag}`, transportFor(reg));
        assert.equal(raw.digest, fixture.indexDigest);
      }
      // skopeo resolves the index to the host's image and reports the index digest.
      const inspected = await skopeoInspect(`docker://${reg.host}/fixtures/busybox:v1`, transportFor(reg));
      assert.equal(inspected.Digest, fixture.indexDigest);
      assert.equal(inspected.Os, 'linux');
      // Two platforms, each one layer and one config: four blobs, every one uploaded once.
      const uploads = doneDetails(events).filter((d) => d === 'uploaded');
      assert.equal(uploads.length, 4);
      assert.ok(maxInFlight(events) <= 2, `at most 2 blobs at once, saw ${maxInFlight(events)}`);
      assert.ok(events.some((e) => e.type === 'progress' && e.unit === 'bytes' && e.current === e.total));

      events.length = 0;
      const again = await pushImage(client, { ...ref, tag: 'v2' }, await fixtureIndex(fixture));
      assert.equal(again.digest, fixture.indexDigest);
      assert.deepEqual(
        events.filter((e) => e.type === 'done' && e.detail === 'uploaded'),
        [],
      );
    });

    test('skopeo pushes, gantry pulls every platform into a layout that umoci and skopeo read', async () => {
      const { client, events } = clientFor(reg);
      await skopeoCopy(`oci:${fixture.layoutDir}:busybox`, `docker://${reg.host}/skopeo/busybox:v1`, {
        all: true,
        dest: transportFor(reg),
      });
      await withTempDir(async (dir) => {
        const layout = await OciLayout.init(join(dir, 'layout'));
        const ref: Reference = { registry: reg.host, repository: 'skopeo/busybox', tag: 'v1' };
        const desc = await pullToLayout(client, ref, layout, { allPlatforms: true });
        assert.equal(desc.digest, fixture.indexDigest);
        await nameIt(layout, desc, 'busybox');
        assert.deepEqual(await blobFiles(layout.dir), await blobFiles(fixture.layoutDir));
        for (const platform of ['linux/amd64', 'linux/arm64']) {
          const stat = await umociStat(layout.dir, 'busybox', { platform });
          assert.equal(stat.history.length, 1);
        }
        const raw = await skopeoInspectRaw(`oci:${layout.dir}:busybox`);
        assert.equal(raw.digest, fixture.indexDigest);

        // Pulled again: nothing is downloaded.
        events.length = 0;
        await pullToLayout(client, ref, layout, { allPlatforms: true });
        assert.deepEqual(
          events.filter((e) => e.type === 'done' && !e.cached),
          [],
        );
      });
    });
  });
}

describe('pull, copy and faults (http registry)', () => {
  let reg: TestRegistry;
  before(async () => {
    reg = await startRegistry({ mode: 'http' });
    const { client } = clientFor(reg);
    await pushImage(client, { registry: reg.host, repository: 'base/busybox', tag: 'v1' }, await fixtureIndex(fixture));
  });
  after(async () => {
    await reg?.stop();
  });

  test('one platform out of an index: only its blobs land in the layout', async () => {
    const { client } = clientFor(reg);
    const arm64 = fixture.manifests.find((m) => m.platform === 'linux/arm64');
    await withTempDir(async (dir) => {
      const layout = await OciLayout.init(dir);
      const ref: Reference = { registry: reg.host, repository: 'base/busybox', tag: 'v1' };
      const desc = await pullToLayout(client, ref, layout, { platform: { os: 'linux', architecture: 'arm64' } });
      assert.equal(desc.digest, arm64?.digest);
      const manifest = parseManifest(await layout.readBlob(desc));
      const want = [desc.digest, manifest.config.digest, ...manifest.layers.map((l) => l.digest)]
        .map((d) => d.slice('sha256:'.length))
        .sort();
      assert.deepEqual(await blobFiles(dir), want);
      await nameIt(layout, desc, 'arm64');
      const stat = await umociStat(dir, 'arm64');
      assert.equal(stat.history[0]?.layer?.digest, manifest.layers[0]?.digest);
    });
  });

  test('a platform the index does not have: PLATFORM_NOT_FOUND listing the ones it has', async () => {
    const { client } = clientFor(reg);
    await withTempDir(async (dir) => {
      const layout = await OciLayout.init(dir);
      const err = await pullToLayout(client, { registry: reg.host, repository: 'base/busybox', tag: 'v1' }, layout, {
        platform: { os: 'linux', architecture: 's390x' },
      }).catch((e: unknown) => e);
      assert.equal(code(err), 'PLATFORM_NOT_FOUND', String(err));
      assert.match((err as GantryError).oneLine(), /linux\/s390x.*available: linux\/amd64, linux\/arm64.*--platform/);
      assert.deepEqual(await blobFiles(dir), []);
    });
  });

  test('remoteImage is lazy: an index, children fetched as manifests, layers carrying their repository', async () => {
    const { client } = clientFor(reg);
    const item = await remoteImage(client, { registry: reg.host, repository: 'base/busybox', tag: 'v1' });
    assert.ok(item instanceof RemoteIndex);
    assert.equal(await item.digest(), fixture.indexDigest);
    const child = fixture.manifests[0];
    assert.ok(child);
    const image = await item.image(child.digest);
    assert.ok(image instanceof RemoteImage);
    const [layer] = await image.layers();
    assert.ok(layer);
    assert.deepEqual((layer as unknown as { source: unknown }).source, {
      registry: reg.host,
      repository: 'base/busybox',
    });
    assert.equal((await image.configFile()).os, 'linux');
  });

  test('copy within one registry mounts every blob: no layer bytes are uploaded', async () => {
    const proxy = await startProxy(reg);
    try {
      const { client, events } = clientFor(viaProxy(reg, proxy), { plainHttp: [proxy.host] });
      const src: Reference = { registry: proxy.host, repository: 'base/busybox', tag: 'v1' };
      const dst: Reference = { registry: proxy.host, repository: 'copies/busybox', tag: 'v1' };
      const desc = await copyImage(client, src, dst, { allPlatforms: true });
      assert.equal(desc.digest, fixture.indexDigest);
      const details = doneDetails(events);
      assert.equal(details.length, 4);
      assert.ok(
        details.every((d) => d === 'mounted from base/busybox'),
        details.join(),
      );
      // Only manifests travel: no blob was downloaded or uploaded.
      const blobBodies = proxy.requests.filter(
        (r) => r.path.includes('/blobs/') && (r.bodyBytes > 0 || r.responseBytes > 0),
      );
      assert.deepEqual(
        blobBodies.map((r) => `${r.method} ${r.path}`),
        [],
      );
      const raw = await skopeoInspectRaw(`docker://${reg.host}/copies/busybox:v1`, transportFor(reg));
      assert.equal(raw.digest, fixture.indexDigest);
    } finally {
      await proxy.close();
    }
  });

  test('copy of one platform between two registries (http to tls)', async () => {
    const other = await startRegistry({ mode: 'tls' });
    try {
      const client = clientForMany([reg, other]);
      const src: Reference = { registry: reg.host, repository: 'base/busybox', tag: 'v1' };
      const dst: Reference = { registry: other.host, repository: 'mirror/busybox', tag: 'arm64' };
      const desc = await copyImage(client, src, dst, { platform: { os: 'linux', architecture: 'arm64' } });
      assert.equal(desc.digest, fixture.manifests.find((m) => m.platform === 'linux/arm64')?.digest);
      const inspected = await skopeoInspectRaw(`docker://${other.host}/mirror/busybox:arm64`, transportFor(other));
      assert.equal(inspected.digest, desc.digest);
      const config = await skopeoInspect(`docker://${other.host}/mirror/busybox:arm64`, transportFor(other));
      assert.equal(config.Architecture, 'arm64');
    } finally {
      await other.stop();
    }
  });

  test('copy between two plain-HTTP registries: a cut source resumes, a tampered one fails and no manifest lands', async () => {
    // Both ends plain HTTP: each layer goes from the download's read buffer to the upload (drainTo).
    const other = await startRegistry({ mode: 'http' });
    let cuts = 0;
    const amd64 = fixture.manifests.find((m) => m.platform === 'linux/amd64');
    const layout0 = await OciLayout.open(fixture.layoutDir);
    const layerDigest = parseManifest(await layout0.readBlob({ digest: amd64?.digest ?? '' })).layers[0]?.digest ?? '';
    const proxy = await startProxy(reg, {
      plan: (seen, status, headers) => {
        if (seen.method !== 'GET' || !seen.path.includes('/blobs/') || status !== 200) return undefined;
        if (seen.path.includes('tampered') && seen.path.endsWith(layerDigest)) return { flipAt: 4096 };
        return Number(headers['content-length']) > 100_000 && cuts++ === 0 ? { cutAfter: 60_000 } : undefined;
      },
    });
    try {
      const client = clientForMany([viaProxy(reg, proxy), other]);
      const src: Reference = { registry: proxy.host, repository: 'base/busybox', tag: 'v1' };
      const desc = await copyImage(
        client,
        src,
        { registry: other.host, repository: 'mirror/all', tag: 'v1' },
        {
          allPlatforms: true,
        },
      );
      assert.equal(desc.digest, fixture.indexDigest);
      assert.ok(proxy.requests.some((r) => r.headers.range === 'bytes=60000-'));
      await withTempDir(async (dir) => {
        await skopeoCopy(`docker://${other.host}/mirror/all:v1`, `oci:${dir}:all`, {
          src: transportFor(other),
          all: true,
        });
        assert.deepEqual(await blobFiles(dir), await blobFiles(fixture.layoutDir));
      });

      // A destination that refuses the first large upload body (413 while the drained layer is on
      // its way): the copy goes on in chunks, from a fresh read of the source.
      const strict = await startFaultProxy({
        upstream: other.url,
        rules: [{ name: 'big', method: 'PATCH', path: /\/blobs\/uploads\//, action: rejectLargeBodies(100_000, 1) }],
      });
      try {
        const viaStrict = clientForMany([viaProxy(reg, proxy), viaProxy(other, strict)]);
        // Every platform: one busybox layer is over 1 MiB, so it goes out as a PATCH (drained).
        const all = await copyImage(
          viaStrict,
          src,
          { registry: strict.host, repository: 'mirror/strict', tag: 'v1' },
          { allPlatforms: true },
        );
        assert.equal(all.digest, fixture.indexDigest);
        assert.equal(strict.stats.rule('big').faults, 1, 'the 413 was served');
        const inspected = await skopeoInspectRaw(`docker://${other.host}/mirror/strict:v1`, transportFor(other));
        assert.equal(inspected.digest, all.digest);
      } finally {
        await strict.stop();
      }

      // The same layer, flipped on the way from another repository: refused before any manifest.
      await copyImage(
        clientFor(reg).client,
        { registry: reg.host, repository: 'base/busybox', tag: 'v1' },
        {
          registry: reg.host,
          repository: 'tampered/busybox',
          tag: 'v1',
        },
      );
      const err = await copyImage(
        client,
        { registry: proxy.host, repository: 'tampered/busybox', tag: 'v1' },
        { registry: other.host, repository: 'mirror/tampered', tag: 'v1' },
        { platform: { os: 'linux', architecture: 'amd64' } },
      ).catch((e: unknown) => e);
      assert.equal(code(err), 'DIGEST_MISMATCH', String(err));
      const head = await registryRequest(other, '/v2/mirror/tampered/manifests/v1', { method: 'HEAD' });
      assert.equal(head.status, 404);
      const blob = await registryRequest(other, `/v2/mirror/tampered/blobs/${layerDigest}`, { method: 'HEAD' });
      assert.equal(blob.status, 404);
    } finally {
      await proxy.close();
      await other.stop();
    }
  });

  test('a layer download cut mid-body resumes; the pull completes with verified blobs', async () => {
    let cuts = 0;
    const proxy = await startProxy(reg, {
      // The first layer (configs are smaller than the cut) breaks off after 50000 bytes.
      plan: (seen, status, headers) =>
        seen.method === 'GET' &&
        seen.path.includes('/blobs/') &&
        status === 200 &&
        Number(headers['content-length']) > 100_000 &&
        cuts++ === 0
          ? { cutAfter: 50_000 }
          : undefined,
    });
    try {
      const { client } = clientFor(viaProxy(reg, proxy), { plainHttp: [proxy.host] });
      await withTempDir(async (dir) => {
        const layout = await OciLayout.init(dir);
        const ref: Reference = { registry: proxy.host, repository: 'base/busybox', tag: 'v1' };
        const desc = await pullToLayout(client, ref, layout, { allPlatforms: true });
        assert.equal(desc.digest, fixture.indexDigest);
        assert.deepEqual(await blobFiles(dir), await blobFiles(fixture.layoutDir));
        assert.ok(proxy.requests.some((r) => r.headers.range === 'bytes=50000-'));
        await nameIt(layout, desc, 'busybox');
        await umociStat(dir, 'busybox', { platform: 'linux/amd64' });
      });
    } finally {
      await proxy.close();
    }
  });

  test('a tampered layer is refused and nothing of it lands in the layout', async () => {
    const amd64 = fixture.manifests.find((m) => m.platform === 'linux/amd64');
    const layout0 = await OciLayout.open(fixture.layoutDir);
    const layerDigest = parseManifest(await layout0.readBlob({ digest: amd64?.digest ?? '' })).layers[0]?.digest ?? '';
    const proxy = await startProxy(reg, {
      plan: (seen) => (seen.method === 'GET' && seen.path.endsWith(layerDigest) ? { flipAt: 4096 } : undefined),
    });
    try {
      const { client } = clientFor(viaProxy(reg, proxy), { plainHttp: [proxy.host] });
      await withTempDir(async (dir) => {
        const layout = await OciLayout.init(dir);
        const ref: Reference = { registry: proxy.host, repository: 'base/busybox', tag: 'v1' };
        const err = await pullToLayout(client, ref, layout, { platform: { os: 'linux', architecture: 'amd64' } }).catch(
          (e: unknown) => e,
        );
        assert.equal(code(err), 'DIGEST_MISMATCH', String(err));
        assert.equal(await layout.hasBlob(layerDigest), false);
        assert.equal(await layout.hasBlob(amd64?.digest ?? ''), false, 'no manifest without its blobs');
        assert.deepEqual(await readdir(layout.tempDir).catch(() => []), []);
      });
    } finally {
      await proxy.close();
    }
  });

  test('Docker media types: skopeo pushes a v2s2 manifest list, gantry pulls it as it is', async () => {
    const { client } = clientFor(reg);
    await skopeoCopy(`oci:${fixture.layoutDir}:busybox`, `docker://${reg.host}/docker/busybox:v1`, {
      all: true,
      format: 'v2s2',
      dest: transportFor(reg),
    });
    const pushed = await skopeoInspectRaw(`docker://${reg.host}/docker/busybox:v1`, transportFor(reg));
    await withTempDir(async (dir) => {
      const layout = await OciLayout.init(dir);
      const desc = await pullToLayout(client, { registry: reg.host, repository: 'docker/busybox', tag: 'v1' }, layout, {
        allPlatforms: true,
      });
      assert.equal(desc.mediaType, MediaType.DockerManifestList);
      assert.equal(desc.digest, pushed.digest);
      const index = parseIndex(await layout.readBlob(desc));
      assert.ok(index.manifests.every((m) => m.mediaType === MediaType.DockerManifest));
      // And back: pushing the pulled list to another repository keeps every digest.
      const back = await pushImage(
        client,
        { registry: reg.host, repository: 'docker/again', tag: 'v1' },
        await layout.imageIndex(desc),
      );
      assert.equal(back.digest, pushed.digest);
      const again = await skopeoInspectRaw(`docker://${reg.host}/docker/again:v1`, transportFor(reg));
      assert.equal(again.digest, pushed.digest);
    });
  });
});

describe('token auth (docker token spec)', () => {
  let reg: TestRegistry;
  before(async () => {
    reg = await startRegistry({
      mode: 'token',
      users: [
        { username: 'gantry', password: 'gantry-pw', access: { '*': ['*'], 'registry:catalog': ['*'] } },
        { username: 'reader', password: 'reader-pw', access: { '*': ['pull'] } },
      ],
    });
  });
  after(async () => {
    await reg?.stop();
  });

  test('push asks for pull,push; a mount also asks for pull on the source repository', async () => {
    const ts = reg.tokenServer ?? assert.fail('token mode has a token server');
    const { client, events } = clientFor(reg);
    const src: Reference = { registry: reg.host, repository: 'team/base', tag: 'v1' };
    await pushImage(client, src, await fixtureIndex(fixture));
    assert.ok(ts.requests.some((r) => r.scopes.includes('repository:team/base:pull,push') && r.status === 200));
    ts.clearRequests();
    events.length = 0;
    const desc = await copyImage(client, src, { ...src, repository: 'team/app' }, { allPlatforms: true });
    assert.equal(desc.digest, fixture.indexDigest);
    assert.ok(doneDetails(events).every((d) => d === 'mounted from team/base'));
    const scopes = ts.requests.flatMap((r) => r.scopes);
    assert.ok(scopes.includes('repository:team/app:pull,push'), scopes.join(' '));
    assert.ok(scopes.includes('repository:team/base:pull'), scopes.join(' '));
    assert.ok(ts.requests.every((r) => r.credentials !== 'none'));
    const raw = await skopeoInspectRaw(`docker://${reg.host}/team/app:v1`, transportFor(reg));
    assert.equal(raw.digest, fixture.indexDigest);

    await withTempDir(async (dir) => {
      const layout = await OciLayout.init(dir);
      const pulled = await pullToLayout(client, { ...src, repository: 'team/app' }, layout, { allPlatforms: true });
      assert.equal(pulled.digest, fixture.indexDigest);
    });
    await client.deleteManifest({ registry: reg.host, repository: 'team/app', digest: fixture.indexDigest });
    assert.equal(await client.headManifest({ registry: reg.host, repository: 'team/app', tag: 'v1' }), undefined);
  });

  test('a user who may push the destination but not read the source: no mount, an upload', async () => {
    const ts = reg.tokenServer ?? assert.fail('token mode has a token server');
    ts.update({
      users: [
        { username: 'gantry', password: 'gantry-pw', access: { '*': ['*'], 'registry:catalog': ['*'] } },
        { username: 'reader', password: 'reader-pw', access: { '*': ['pull'] } },
        { username: 'writer', password: 'writer-pw', access: { 'mine/*': ['pull', 'push'] } },
      ],
    });
    const { client: admin } = clientFor(reg);
    const { client: writer, events } = clientFor({ ...reg, username: 'writer', password: 'writer-pw' });
    const src: Reference = { registry: reg.host, repository: 'team/base', tag: 'v1' };
    const image = await resolvePlatform((await remoteImage(admin, src)) as RemoteIndex, {
      os: 'linux',
      architecture: 'amd64',
    });
    // The image's layers say they live in team/base, which writer may not read.
    const desc = await pushImage(writer, { registry: reg.host, repository: 'mine/app', tag: 'v1' }, image);
    assert.equal(desc.digest, fixture.manifests.find((m) => m.platform === 'linux/amd64')?.digest);
    assert.deepEqual(doneDetails(events), ['uploaded', 'uploaded']);
  });

  test('a user who may only pull gets a denial that says what to do', async () => {
    const { client } = clientFor({ ...reg, username: 'reader', password: 'reader-pw' });
    const src: Reference = { registry: reg.host, repository: 'team/base', tag: 'v1' };
    const item = await remoteImage(client, src);
    assert.ok(item instanceof RemoteIndex);
    const err = await pushImage(client, { ...src, repository: 'team/forbidden' }, item).catch((e: unknown) => e);
    assert.ok(GantryError.is(err), String(err));
    assert.ok(['DENIED', 'UNAUTHORIZED'].includes(err.code), err.oneLine());
    assert.match(err.oneLine(), /access to team\/forbidden on 127\.0\.0\.1:\d+ denied: .*may push/);
  });
});
