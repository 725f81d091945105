// The registry client against the real distribution registry (2.8) on loopback: manifests,
// blobs in every upload mode, mounts, pagination, referrers through the tag schema, deletes, and
// faults from a loopback proxy (dropped connections, ignored Range, 413, tampered bytes).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { GantryError } from '../../../src/errors.js';
import { digestOf } from '../../../src/oci/digest.js';
import { drainsTo } from '../../../src/oci/stream.js';
import { type Descriptor, MediaType } from '../../../src/oci/types.js';
import { referrersTag } from '../../../src/registry/client/referrers.js';
import { SMALL_BLOB_SIZE } from '../../../src/registry/client/upload.js';
import { pushReferrer } from '../../../src/registry/ops/referrer.js';
import { dropAfterBytes, rejectLargeBodies, startFaultProxy } from '../../harness/proxy.js';
import { registryRequest, startRegistry, type TestRegistry } from '../../harness/registry.js';
import { clientFor, opener, randomBlob, readAll, startProxy, viaProxy } from './helpers.js';

const MiB = 1024 * 1024;

function code(err: unknown): string | undefined {
  return GantryError.is(err) ? err.code : undefined;
}

/** A tiny OCI image: one random layer and a config, pushed as blobs; returns the manifest bytes. */
async function pushTinyImage(
  client: ReturnType<typeof clientFor>['client'],
  repo: { registry: string; repository: string },
  seed: string,
): Promise<{ manifest: Buffer; desc: Descriptor }> {
  const layer = randomBlob(1000);
  const config = Buffer.from(
    JSON.stringify({
      architecture: 'amd64',
      os: 'linux',
      rootfs: { type: 'layers', diff_ids: [digestOf(seed)] },
    }),
  );
  const configDesc = { mediaType: MediaType.OciConfig, digest: digestOf(config), size: config.byteLength };
  await client.pushBlob(repo, { ...layer.desc, mediaType: MediaType.OciLayerGzip }, opener(layer.bytes));
  await client.pushBlob(repo, configDesc, opener(config));
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MediaType.OciManifest,
      config: configDesc,
      layers: [{ ...layer.desc, mediaType: MediaType.OciLayerGzip }],
    }),
  );
  return {
    manifest,
    desc: { mediaType: MediaType.OciManifest, digest: digestOf(manifest), size: manifest.byteLength },
  };
}

describe('registry client (http registry)', () => {
  let reg: TestRegistry;
  before(async () => {
    reg = await startRegistry({ mode: 'http' });
  });
  after(async () => {
    await reg?.stop();
  });

  test('ping, then blobs in all three upload modes read back verified', async () => {
    const { client } = clientFor(reg);
    await client.ping(reg.host);
    const repo = { registry: reg.host, repository: 'blobs/modes' };
    for (const size of [0, 1000, SMALL_BLOB_SIZE, SMALL_BLOB_SIZE + 1, 3 * MiB]) {
      const { bytes, desc } = randomBlob(size);
      assert.equal(await client.blobSize(repo, desc.digest), undefined);
      assert.equal(await client.pushBlob(repo, desc, opener(bytes)), 'uploaded', `size ${size}`);
      assert.equal(await client.blobSize(repo, desc.digest), size);
      assert.equal(await client.pushBlob(repo, desc, opener(bytes)), 'exists');
      assert.deepEqual(await readAll(await client.openBlob(repo, desc)), bytes);
    }
  });

  test('a source that is not what its descriptor says is refused before the registry stores it', async () => {
    const { client } = clientFor(reg);
    const repo = { registry: reg.host, repository: 'blobs/wrong' };
    for (const size of [1000, 2 * MiB]) {
      const { desc } = randomBlob(size);
      const other = randomBlob(size).bytes;
      const err = await client.pushBlob(repo, desc, opener(other)).catch((e: unknown) => e);
      assert.equal(code(err), 'DIGEST_MISMATCH', String(err));
      assert.equal(await client.blobSize(repo, desc.digest), undefined);
    }
  });

  test('chunked upload with chunkSize: PATCHes of 1 MiB with Content-Range, then PUT', async () => {
    const proxy = await startProxy(reg);
    try {
      const { client } = clientFor(viaProxy(reg, proxy), { chunkSize: MiB, plainHttp: [proxy.host] });
      const repo = { registry: proxy.host, repository: 'blobs/chunked' };
      const { bytes, desc } = randomBlob(5 * MiB + 123);
      assert.equal(await client.pushBlob(repo, desc, opener(bytes)), 'uploaded');
      const patches = proxy.requests.filter((r) => r.method === 'PATCH');
      assert.deepEqual(
        patches.map((r) => r.headers['content-range']),
        ['0-1048575', '1048576-2097151', '2097152-3145727', '3145728-4194303', '4194304-5242879', '5242880-5243002'],
      );
      assert.ok(patches.every((r) => r.bodyBytes <= MiB));
      const put = proxy.requests.filter((r) => r.method === 'PUT');
      assert.equal(put.length, 1);
      assert.match(put[0]?.path ?? '', /[?&]digest=sha256%3A[0-9a-f]{64}$/);
      assert.deepEqual(await readAll(await client.openBlob(repo, desc)), bytes);
    } finally {
      await proxy.close();
    }
  });

  test('413 to a large body: the upload falls back to smaller chunks and succeeds', async () => {
    const limit = 700 * 1024;
    const proxy = await startProxy(reg, {
      intercept: (req) =>
        Number(req.headers['content-length'] ?? 0) > limit
          ? { status: 413, body: 'Request Entity Too Large' }
          : undefined,
    });
    try {
      const { client } = clientFor(viaProxy(reg, proxy), { plainHttp: [proxy.host] });
      const repo = { registry: proxy.host, repository: 'blobs/too-large' };
      for (const size of [900 * 1024, 3 * MiB]) {
        const { bytes, desc } = randomBlob(size);
        assert.equal(await client.pushBlob(repo, desc, opener(bytes)), 'uploaded', `size ${size}`);
        assert.deepEqual(await readAll(await client.openBlob(repo, desc)), bytes);
      }
      assert.ok(
        proxy.requests.some((r) => r.status === 413),
        'the proxy refused something',
      );
      assert.ok(proxy.requests.some((r) => r.method === 'PATCH' && r.headers['content-range'] !== undefined));
    } finally {
      await proxy.close();
    }
  });

  test('413 that no chunk size cures ends in TOO_LARGE with a suggestion', async () => {
    const proxy = await startProxy(reg, {
      intercept: (req) => (req.method === 'PATCH' || req.method === 'PUT' ? { status: 413 } : undefined),
    });
    try {
      const { client } = clientFor(viaProxy(reg, proxy), { plainHttp: [proxy.host] });
      const { bytes, desc } = randomBlob(2 * MiB);
      const err = await client
        .pushBlob({ registry: proxy.host, repository: 'blobs/never' }, desc, opener(bytes))
        .catch((e: unknown) => e);
      assert.equal(code(err), 'TOO_LARGE', String(err));
      assert.match((err as GantryError).oneLine(), /too large.*--chunk-size/);
    } finally {
      await proxy.close();
    }
  });

  test('through the harness fault proxy: bodies over 16 KiB refused, a download dropped twice', async () => {
    const proxy = await startFaultProxy({
      upstream: reg.url,
      rules: [
        { name: 'big', method: 'PATCH', path: /\/blobs\/uploads\//, action: rejectLargeBodies(16 * 1024) },
        { name: 'big-put', method: 'PUT', path: /\/blobs\/uploads\//, action: rejectLargeBodies(16 * 1024) },
        { name: 'drop', method: 'GET', path: /\/blobs\/sha256:/, action: dropAfterBytes(100_000, 2) },
      ],
    });
    try {
      const { client } = clientFor(viaProxy(reg, proxy), { plainHttp: [proxy.host] });
      const repo = { registry: proxy.host, repository: 'blobs/harness-proxy' };
      for (const size of [200 * 1024, 2 * MiB]) {
        const { bytes, desc } = randomBlob(size);
        assert.equal(await client.pushBlob(repo, desc, opener(bytes)), 'uploaded', `size ${size}`);
        assert.deepEqual(await readAll(await client.openBlob(repo, desc)), bytes);
      }
      assert.ok(proxy.stats.rule('big').faults >= 1);
      assert.ok(proxy.stats.rule('big-put').faults >= 1);
      assert.equal(proxy.stats.rule('drop').faults, 2);
    } finally {
      await proxy.stop();
    }
  });

  test('an upload cut mid-body or refused with 503s starts a new session and succeeds', async () => {
    let patches = 0;
    let posts = 0;
    const proxy = await startProxy(reg, {
      intercept: (req) => (req.method === 'POST' && posts++ === 0 ? { status: 503, body: 'busy' } : undefined),
      cutRequestAfter: (seen) => (seen.method === 'PATCH' && patches++ === 0 ? 300_000 : undefined),
    });
    try {
      const { client } = clientFor(viaProxy(reg, proxy), { plainHttp: [proxy.host] });
      const repo = { registry: proxy.host, repository: 'blobs/retried' };
      const { bytes, desc } = randomBlob(2 * MiB);
      assert.equal(await client.pushBlob(repo, desc, opener(bytes)), 'uploaded');
      assert.deepEqual(await readAll(await client.openBlob(repo, desc)), bytes);
      const sessions = proxy.requests.filter((r) => r.method === 'POST').map((r) => r.status);
      // 503 (attempt 1), a PATCH cut after 300 kB (attempt 2), a clean upload (attempt 3).
      assert.deepEqual(sessions, [503, 202, 202]);
      assert.equal(proxy.requests.filter((r) => r.method === 'PATCH').length, 2);
    } finally {
      await proxy.close();
    }
  });

  test('uploads give up after three sessions that fail for temporary reasons', async () => {
    const proxy = await startProxy(reg, {
      intercept: (req) => (req.method === 'POST' ? { status: 503, body: 'busy' } : undefined),
    });
    try {
      const { client } = clientFor(viaProxy(reg, proxy), { plainHttp: [proxy.host] });
      const { bytes, desc } = randomBlob(1000);
      const err = await client
        .pushBlob({ registry: proxy.host, repository: 'blobs/down' }, desc, opener(bytes))
        .catch((e: unknown) => e);
      assert.equal(code(err), 'REGISTRY_UNAVAILABLE', String(err));
      assert.match((err as GantryError).oneLine(), /unavailable \(HTTP 503.*retry later/);
      assert.equal(proxy.requests.filter((r) => r.method === 'POST').length, 3);
    } finally {
      await proxy.close();
    }
  });

  test('429 with Retry-After on a manifest: retried, then served', async () => {
    let limited = 0;
    const proxy = await startProxy(reg, {
      intercept: (req) =>
        req.method === 'GET' && req.url?.includes('/manifests/') && limited++ < 2
          ? { status: 429, headers: { 'retry-after': '0' }, body: '{"errors":[{"code":"TOOMANYREQUESTS"}]}' }
          : undefined,
    });
    try {
      const { client } = clientFor(viaProxy(reg, proxy), { plainHttp: [proxy.host] });
      const repo = { registry: proxy.host, repository: 'manifests/limited' };
      const { manifest, desc } = await pushTinyImage(client, repo, 'limited');
      await client.putManifest(repo, 'v1', manifest, MediaType.OciManifest);
      assert.deepEqual((await client.getManifest({ ...repo, tag: 'v1' })).descriptor, desc);
      assert.equal(limited, 3);
    } finally {
      await proxy.close();
    }
  });

  test('a blob download cut mid-body resumes with Range; the consumer sees one verified stream', async () => {
    const repo = { registry: reg.host, repository: 'blobs/resume' };
    const { bytes, desc } = randomBlob(3 * MiB + 17);
    await clientFor(reg).client.pushBlob(repo, desc, opener(bytes));
    let cuts = 0;
    const proxy = await startProxy(reg, {
      plan: (seen, status) =>
        seen.method === 'GET' && seen.path.includes('/blobs/') && status < 300 && cuts++ < 2
          ? { cutAfter: 1_000_000 + cuts }
          : undefined,
    });
    try {
      const { client } = clientFor(viaProxy(reg, proxy), { plainHttp: [proxy.host] });
      const got = await readAll(await client.openBlob({ ...repo, registry: proxy.host }, desc));
      assert.equal(digestOf(got), desc.digest);
      const gets = proxy.requests.filter((r) => r.method === 'GET' && r.path.includes('/blobs/'));
      assert.equal(gets.length, 3);
      assert.equal(gets[0]?.headers.range, undefined);
      assert.equal(gets[1]?.headers.range, 'bytes=1000001-');
      assert.equal(gets[2]?.headers.range, 'bytes=2000003-');
      assert.equal(gets[2]?.status, 206);
    } finally {
      await proxy.close();
    }
  });

  test('a server that ignores Range when resuming: the bytes already read are skipped', async () => {
    const repo = { registry: reg.host, repository: 'blobs/norange' };
    const { bytes, desc } = randomBlob(2 * MiB);
    await clientFor(reg).client.pushBlob(repo, desc, opener(bytes));
    let cut = false;
    const proxy = await startProxy(reg, {
      rewriteHeaders: (h) => {
        const { range: _r, ...rest } = h;
        return rest;
      },
      plan: (seen) => {
        if (seen.method !== 'GET' || !seen.path.includes('/blobs/') || cut) return undefined;
        cut = true;
        return { cutAfter: 777_777 };
      },
    });
    try {
      const { client } = clientFor(viaProxy(reg, proxy), { plainHttp: [proxy.host] });
      const got = await readAll(await client.openBlob({ ...repo, registry: proxy.host }, desc));
      assert.deepEqual(got, bytes);
      const gets = proxy.requests.filter((r) => r.method === 'GET' && r.path.includes('/blobs/'));
      assert.deepEqual(
        gets.map((r) => r.status),
        [200, 200],
      );
    } finally {
      await proxy.close();
    }
  });

  test('a connection that keeps dropping fails after the resume limit, with a clear error', async () => {
    const repo = { registry: reg.host, repository: 'blobs/flaky' };
    const { bytes, desc } = randomBlob(MiB);
    await clientFor(reg).client.pushBlob(repo, desc, opener(bytes));
    const proxy = await startProxy(reg, {
      plan: (seen) => (seen.method === 'GET' && seen.path.includes('/blobs/') ? { cutAfter: 1000 } : undefined),
    });
    try {
      const { client } = clientFor(viaProxy(reg, proxy), { plainHttp: [proxy.host] });
      const stream = await client.openBlob({ ...repo, registry: proxy.host }, desc);
      const err = await readAll(stream).catch((e: unknown) => e);
      assert.ok(GantryError.is(err), String(err));
      assert.ok(['CONNECTION_FAILED', 'CONNECTION_DROPPED'].includes(code(err) ?? ''), String(err));
      // The first request and five resumes, each making progress by 1000 bytes.
      assert.equal(proxy.requests.filter((r) => r.method === 'GET' && r.path.includes('/blobs/')).length, 6);
    } finally {
      await proxy.close();
    }
  });

  test('a tampered blob fails with DIGEST_MISMATCH at the end of the stream', async () => {
    const repo = { registry: reg.host, repository: 'blobs/tampered' };
    const { bytes, desc } = randomBlob(300_000);
    await clientFor(reg).client.pushBlob(repo, desc, opener(bytes));
    const proxy = await startProxy(reg, {
      plan: (seen) => (seen.method === 'GET' && seen.path.includes('/blobs/') ? { flipAt: 1234 } : undefined),
    });
    try {
      const { client } = clientFor(viaProxy(reg, proxy), { plainHttp: [proxy.host] });
      const err = await readAll(await client.openBlob({ ...repo, registry: proxy.host }, desc)).catch(
        (e: unknown) => e,
      );
      assert.equal(code(err), 'DIGEST_MISMATCH', String(err));
    } finally {
      await proxy.close();
    }
  });

  test('a blob taken through drainTo (as a pull writes it) resumes after cuts and is checked', async () => {
    const repo = { registry: reg.host, repository: 'blobs/drain' };
    const { bytes, desc } = randomBlob(3 * MiB + 5);
    await clientFor(reg).client.pushBlob(repo, desc, opener(bytes));
    let cuts = 0;
    const proxy = await startProxy(reg, {
      plan: (seen, status) =>
        seen.method === 'GET' && seen.path.includes('/blobs/') && status < 300 && cuts++ < 2
          ? { cutAfter: 900_000 + cuts }
          : undefined,
    });
    try {
      const { client } = clientFor(viaProxy(reg, proxy), { plainHttp: [proxy.host] });
      const stream = await client.openBlob({ ...repo, registry: proxy.host }, desc);
      assert.ok(drainsTo(stream));
      const pieces: Buffer[] = [];
      // Each piece is valid only during the call: a sink that keeps it must copy it.
      await stream.drainTo((piece) => {
        pieces.push(Buffer.from(piece));
      });
      assert.deepEqual(Buffer.concat(pieces), bytes);
      const gets = proxy.requests.filter((r) => r.method === 'GET' && r.path.includes('/blobs/'));
      assert.deepEqual(
        gets.map((r) => r.headers.range),
        [undefined, 'bytes=900001-', 'bytes=1800003-'],
      );

      // Tampered bytes: drainTo rejects with DIGEST_MISMATCH at the end.
      const flipping = await startProxy(reg, {
        plan: (seen) => (seen.method === 'GET' && seen.path.includes('/blobs/') ? { flipAt: 4321 } : undefined),
      });
      try {
        const other = clientFor(viaProxy(reg, flipping), { plainHttp: [flipping.host] }).client;
        const tampered = await other.openBlob({ ...repo, registry: flipping.host }, desc);
        assert.ok(drainsTo(tampered));
        const err = await tampered.drainTo(() => {}).catch((e: unknown) => e);
        assert.equal(code(err), 'DIGEST_MISMATCH', String(err));
      } finally {
        await flipping.close();
      }
    } finally {
      await proxy.close();
    }
  });

  test('a sink that fails ends the download with its own error: no resume, no other request', async () => {
    const repo = { registry: reg.host, repository: 'blobs/sinkfail' };
    const { bytes, desc } = randomBlob(2 * MiB);
    await clientFor(reg).client.pushBlob(repo, desc, opener(bytes));
    const proxy = await startProxy(reg);
    try {
      const { client } = clientFor(viaProxy(reg, proxy), { plainHttp: [proxy.host] });
      const stream = await client.openBlob({ ...repo, registry: proxy.host }, desc);
      assert.ok(drainsTo(stream));
      let seen = 0;
      const full = Object.assign(new Error('no space left on device'), { code: 'ENOSPC' });
      const err = await stream
        .drainTo((piece) => {
          seen += piece.byteLength;
          if (seen > 100_000) throw full;
        })
        .catch((e: unknown) => e);
      assert.equal(err, full);
      await new Promise((r) => setTimeout(r, 300));
      assert.equal(proxy.requests.filter((r) => r.method === 'GET' && r.path.includes('/blobs/')).length, 1);
    } finally {
      await proxy.close();
    }
  });

  test('manifests: put by tag and digest, get (verified), head, missing tag message, delete', async () => {
    const { client } = clientFor(reg);
    const repo = { registry: reg.host, repository: 'manifests/app' };
    const { manifest, desc } = await pushTinyImage(client, repo, 'm1');
    const put = await client.putManifest(repo, 'v1', manifest, MediaType.OciManifest);
    assert.deepEqual(put, desc);
    const got = await client.getManifest({ ...repo, tag: 'v1' });
    assert.deepEqual(got.bytes, manifest);
    assert.deepEqual(got.descriptor, desc);
    assert.deepEqual(await client.headManifest({ ...repo, tag: 'v1' }), desc);
    assert.deepEqual((await client.getManifest({ ...repo, digest: desc.digest })).bytes, manifest);
    assert.equal(await client.headManifest({ ...repo, tag: 'nope' }), undefined);

    const missing = await client.getManifest({ ...repo, tag: 'nope' }).catch((e: unknown) => e);
    assert.equal(code(missing), 'MANIFEST_UNKNOWN', String(missing));
    assert.match((missing as GantryError).oneLine(), /not found in manifests\/app on .*gantry tags/);
    const noRepo = await client.tags({ registry: reg.host, repository: 'no/such' }).catch((e: unknown) => e);
    assert.equal(code(noRepo), 'NAME_UNKNOWN', String(noRepo));
    assert.match((noRepo as GantryError).oneLine(), /repository no\/such not found on .*check the repository name/);

    await client.deleteManifest({ ...repo, tag: 'v1' });
    assert.equal(await client.headManifest({ ...repo, digest: desc.digest }), undefined);
    const gone = await client.deleteManifest({ ...repo, tag: 'v1' }).catch((e: unknown) => e);
    assert.equal(code(gone), 'MANIFEST_UNKNOWN', String(gone));
  });

  test('a manifest whose bytes do not match the digest asked for is refused', async () => {
    const { client } = clientFor(reg);
    const repo = { registry: reg.host, repository: 'manifests/tampered' };
    const { manifest, desc } = await pushTinyImage(client, repo, 'm2');
    await client.putManifest(repo, 'v1', manifest, MediaType.OciManifest);
    const proxy = await startProxy(reg, {
      // Flip a byte inside a digest string, so the document stays JSON.
      plan: (seen) =>
        seen.method === 'GET' && seen.path.includes('/manifests/')
          ? { flipAt: manifest.indexOf('sha256:') + 10 }
          : undefined,
    });
    try {
      const { client: viaP } = clientFor(viaProxy(reg, proxy), { plainHttp: [proxy.host] });
      const preg = { ...repo, registry: proxy.host };
      for (const ref of [
        { ...preg, digest: desc.digest },
        { ...preg, tag: 'v1' },
      ]) {
        const err = await viaP.getManifest(ref).catch((e: unknown) => e);
        assert.equal(code(err), 'DIGEST_MISMATCH', String(err));
      }
    } finally {
      await proxy.close();
    }
  });

  test('cross-repository mount: the second repository gets the blob without its bytes', async () => {
    const proxy = await startProxy(reg);
    try {
      const { client } = clientFor(viaProxy(reg, proxy), { plainHttp: [proxy.host] });
      const a = { registry: proxy.host, repository: 'mount/a' };
      const b = { registry: proxy.host, repository: 'mount/b' };
      const { bytes, desc } = randomBlob(2 * MiB);
      assert.equal(await client.pushBlob(a, desc, opener(bytes)), 'uploaded');
      const before = proxy.bytesUp();
      assert.equal(await client.pushBlob(b, desc, opener(bytes), { mountFrom: 'mount/a' }), 'mounted');
      assert.equal(proxy.bytesUp() - before, 0);
      assert.equal(await client.pushBlob(b, desc, opener(bytes), { mountFrom: 'mount/a' }), 'exists');
      assert.equal(await client.blobSize(b, desc.digest), desc.size);
      // A mount from a repository without the blob falls back to an upload.
      const other = randomBlob(1000);
      assert.equal(await client.pushBlob(b, other.desc, opener(other.bytes), { mountFrom: 'mount/a' }), 'uploaded');
    } finally {
      await proxy.close();
    }
  });

  test("catalog follows the registry's Link pagination", async () => {
    const proxy = await startProxy(reg);
    try {
      const { client } = clientFor(viaProxy(reg, proxy), { plainHttp: [proxy.host] });
      for (const name of ['paged/x', 'paged/y', 'paged/z']) {
        await pushTinyImage(client, { registry: proxy.host, repository: name }, name);
      }
      const first = proxy.requests.length;
      const catalog = await client.catalog(proxy.host, { pageSize: 1 });
      for (const name of ['paged/x', 'paged/y', 'paged/z']) assert.ok(catalog.includes(name), catalog.join());
      assert.deepEqual([...catalog].sort(), catalog);
      assert.equal(new Set(catalog).size, catalog.length);
      const pages = proxy.requests.slice(first).filter((r) => r.path.startsWith('/v2/_catalog'));
      // One page per repository, and a last one without a Link.
      assert.ok(pages.length >= 3, `${pages.length} pages`);
      assert.ok(pages.slice(1).every((r) => /[?&]last=/.test(r.path)));
    } finally {
      await proxy.close();
    }
  });

  test('tags follow Link pagination (n=2 over 5 tags)', async () => {
    // distribution 2.8 ignores n for tags (pagination came in 3.0), so the proxy pages the real
    // registry's list the way the distribution spec says: sorted, n per page, Link to the next.
    const proxy = await startProxy(reg, {
      intercept: async (req) => {
        const url = new URL(req.url ?? '/', 'http://x');
        if (!url.pathname.endsWith('/tags/list') || !url.searchParams.has('n')) return undefined;
        const full = await registryRequest(reg, url.pathname);
        const doc = JSON.parse(full.body.toString('utf8')) as { name: string; tags: string[] };
        const sorted = [...doc.tags].sort();
        const n = Number(url.searchParams.get('n'));
        const last = url.searchParams.get('last');
        const from = last === null ? 0 : sorted.findIndex((t) => t > last);
        const page = from < 0 ? [] : sorted.slice(from, from + n);
        const more = from >= 0 && from + n < sorted.length;
        const next = `${url.pathname}?n=${n}&last=${encodeURIComponent(page[page.length - 1] ?? '')}`;
        return {
          status: 200,
          headers: { 'content-type': 'application/json', ...(more ? { link: `<${next}>; rel="next"` } : {}) },
          body: JSON.stringify({ name: doc.name, tags: page }),
        };
      },
    });
    try {
      const { client } = clientFor(viaProxy(reg, proxy), { plainHttp: [proxy.host] });
      const repo = { registry: proxy.host, repository: 'paged/app' };
      const { manifest } = await pushTinyImage(client, repo, 'paged');
      const tags = ['a', 'b', 'c', 'd', 'e'];
      for (const t of [...tags].reverse()) await client.putManifest(repo, t, manifest, MediaType.OciManifest);
      const first = proxy.requests.length;
      assert.deepEqual(await client.tags(repo, { pageSize: 2 }), tags);
      const pages = proxy.requests.slice(first).filter((r) => r.path.includes('/tags/list'));
      assert.deepEqual(
        pages.map((r) => r.path),
        ['/v2/paged/app/tags/list?n=2', '/v2/paged/app/tags/list?n=2&last=b', '/v2/paged/app/tags/list?n=2&last=d'],
      );
      // Without n, the registry's one page.
      assert.deepEqual((await client.tags(repo)).sort(), tags);
    } finally {
      await proxy.close();
    }
  });

  test('referrers on a registry without the API: pushed through the tag schema, listed and filtered', async () => {
    const { client } = clientFor(reg);
    const repo = { registry: reg.host, repository: 'refs/app' };
    const subject = await pushTinyImage(client, repo, 'subject');
    await client.putManifest(repo, 'v1', subject.manifest, MediaType.OciManifest);
    assert.deepEqual(await client.referrers(repo, subject.desc.digest), []);

    const empty = Buffer.from('{}');
    const emptyDesc = { mediaType: MediaType.OciEmpty, digest: digestOf(empty), size: 2 };
    const artifact = (type: string, note: string) =>
      Buffer.from(
        JSON.stringify({
          schemaVersion: 2,
          mediaType: MediaType.OciManifest,
          artifactType: type,
          config: emptyDesc,
          layers: [emptyDesc],
          subject: subject.desc,
          annotations: { 'org.example.note': note },
        }),
      );
    const sbom = artifact('application/vnd.example.sbom', 'one');
    const sig = artifact('application/vnd.example.sig', 'two');
    for (const manifest of [sbom, sig, sbom]) {
      await pushReferrer(client, repo, {
        manifest,
        mediaType: MediaType.OciManifest,
        subject: subject.desc,
        blobs: [{ desc: emptyDesc, open: opener(empty) }],
      });
    }
    const all = await client.referrers(repo, subject.desc.digest);
    assert.deepEqual(
      all.map((d) => [d.digest, d.artifactType, d.annotations?.['org.example.note']]),
      [
        [digestOf(sbom), 'application/vnd.example.sbom', 'one'],
        [digestOf(sig), 'application/vnd.example.sig', 'two'],
      ],
    );
    const sigs = await client.referrers(repo, subject.desc.digest, { artifactType: 'application/vnd.example.sig' });
    assert.deepEqual(
      sigs.map((d) => d.digest),
      [digestOf(sig)],
    );
    // The fallback index is where other tools look for it.
    const tagged = await client.getManifest({ ...repo, tag: referrersTag(subject.desc.digest) });
    assert.equal(tagged.descriptor.mediaType, MediaType.OciIndex);

    const wrong = await pushReferrer(client, repo, {
      manifest: sbom,
      mediaType: MediaType.OciManifest,
      subject: { ...subject.desc, digest: digestOf('other') },
    }).catch((e: unknown) => e);
    assert.equal(code(wrong), 'SUBJECT_MISMATCH');
  });
});
