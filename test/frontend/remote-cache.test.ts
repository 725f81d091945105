// --cache-to / --cache-from: the build cache shared between two machines (two stores) through the
// loopback registry (behind the counting proxy) or an OCI layout directory. The second machine
// runs no RUN step, builds the same digest, and downloads only the layers it exports.
import assert from 'node:assert/strict';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { type FaultProxy, startFaultProxy } from '../harness/proxy.js';
import { startRegistry, type TestRegistry } from '../harness/registry.js';
import { type BuildReport, buildJson, busyboxStore, gantry, withTempDir, writeTree } from './helpers.js';

function digestOf(r: BuildReport, name: string): string {
  const line = r.stdout.split('\n').find((l) => l.startsWith(`${name}@`));
  assert.ok(line, `${name} printed: ${r.stdout}`);
  return line.slice(name.length + 1);
}

function runSteps(r: BuildReport) {
  return r.steps.filter((s) => / RUN /.test(s.name));
}

/** Bytes of layer blobs the proxy served, by digest. */
function blobGets(proxy: FaultProxy): Map<string, number> {
  const out = new Map<string, number>();
  for (const e of proxy.stats.log) {
    const m = /\/blobs\/(sha256:[a-f0-9]{64})/.exec(e.target);
    if (e.method === 'GET' && m) out.set(m[1] as string, (out.get(m[1] as string) ?? 0) + e.responseBytes);
  }
  return out;
}

async function manifestOf(registry: TestRegistry, repo: string, tag: string) {
  const res = await fetch(`${registry.url}/v2/${repo}/manifests/${tag}`, {
    headers: { accept: 'application/vnd.oci.image.manifest.v1+json' },
  });
  assert.equal(res.status, 200);
  return (await res.json()) as { layers: { digest: string; size: number }[]; config: { digest: string } };
}

test('remote cache: a fresh store with --cache-from runs no RUN step and fetches only exported layers', async () => {
  const registry = await startRegistry({ mode: 'http' });
  const proxy = await startFaultProxy({ upstream: registry.url });
  try {
    await withTempDir(async (tmp) => {
      const storeA = await busyboxStore(join(tmp, 'a'));
      const reg = proxy.host;
      const pushed = await gantry(['--plain-http', 'push', 'busybox:1', `${reg}/lib/busybox:1`], { store: storeA });
      assert.equal(pushed.code, 0, pushed.stderr);
      const ctx = join(tmp, 'ctx');
      await writeTree(ctx, {
        Dockerfile: [
          `FROM ${reg}/lib/busybox:1 AS builder`,
          'RUN echo built > /built.txt',
          `FROM ${reg}/lib/busybox:1`,
          'COPY --from=builder /built.txt /built.txt',
          'RUN cat /built.txt > /copy.txt',
          'RUN echo final > /final.txt',
          '',
        ].join('\n'),
      });
      const cacheRef = `${reg}/cache/app:max`;
      const a = await buildJson(
        [ctx, '--plain-http', '-t', `${reg}/app/a:1`, '--push', '--cache-to', `type=registry,ref=${cacheRef},mode=max`],
        { store: storeA },
      );
      assert.equal(a.code, 0, a.stderr);
      assert.equal(runSteps(a).length, 3);
      assert.ok(runSteps(a).every((s) => !s.cached));
      const digestA = digestOf(a, `${reg}/app/a:1`);
      const cache = await manifestOf(registry, 'cache/app', 'max');
      const image = await manifestOf(registry, 'app/a', '1');
      // mode=max keeps the builder stage's layer too.
      assert.equal(cache.layers.length, image.layers.length - 1 + 1);
      const imageLayers = new Set(image.layers.map((l) => l.digest));
      const intermediate = cache.layers.filter((l) => !imageLayers.has(l.digest));
      assert.equal(intermediate.length, 1, 'the builder stage layer is only in the cache');

      // Machine B pushes: every layer is mounted or already there, none is downloaded.
      proxy.stats.reset();
      const b = await buildJson(
        [ctx, '--plain-http', '-t', `${reg}/app/b:1`, '--push', '--cache-from', `type=registry,ref=${cacheRef}`],
        { store: join(tmp, 'b', 'store') },
      );
      assert.equal(b.code, 0, b.stderr);
      assert.equal(runSteps(b).length, 3);
      for (const s of b.steps) assert.ok(s.cached, `${s.name} is cached on the second machine`);
      assert.equal(digestOf(b, `${reg}/app/b:1`), digestA);
      const layerBytes = [...blobGets(proxy)].filter(
        ([d]) => cache.layers.some((l) => l.digest === d) || imageLayers.has(d),
      );
      assert.deepEqual(layerBytes, [], 'no layer downloaded for a push');
      // Nor for its SBOM (on by default for a push): the base (no SBOM of its own) and the cache's
      // layers are not in B's store, so the SBOM marks them unknown, with one note.
      const notes = b.events.filter((e) => e.type === 'warning' && e.code === 'SBOM_BASE_UNKNOWN');
      assert.equal(notes.length, 1, b.stderr);
      assert.match(
        notes[0]?.message ?? '',
        new RegExp(`lib/busybox:1 .* and ${image.layers.length - 1} layers of the build cache`),
      );

      // Machine C stores the image: it downloads exactly the image's layers, never the builder's.
      proxy.stats.reset();
      const c = await buildJson([ctx, '--plain-http', '-t', 'app:c', '--cache-from', cacheRef], {
        store: join(tmp, 'c', 'store'),
      });
      assert.equal(c.code, 0, c.stderr);
      for (const s of c.steps) assert.ok(s.cached, `${s.name} is cached on the third machine`);
      assert.equal(digestOf(c, 'docker.io/library/app:c'), digestA);
      const gets = blobGets(proxy);
      for (const l of image.layers) assert.equal(gets.get(l.digest), l.size, `layer ${l.digest} fetched once`);
      assert.equal(gets.get(intermediate[0]?.digest ?? ''), undefined, 'the builder layer is not downloaded');

      // mode=min (the default) keeps only the image's layers.
      const min = await gantry(
        ['--plain-http', 'build', ctx, '-t', 'app:min', '--cache-to', `type=registry,ref=${reg}/cache/app:min`],
        { store: storeA },
      );
      assert.equal(min.code, 0, min.stderr);
      const minCache = await manifestOf(registry, 'cache/app', 'min');
      assert.ok(minCache.layers.every((l) => imageLayers.has(l.digest)));
      assert.equal(minCache.layers.length, image.layers.length - 1);

      // A foreign manifest (an image, not a cache) is ignored with one warning: a full build.
      const d = await buildJson([ctx, '--plain-http', '-t', 'app:d', '--cache-from', `${reg}/lib/busybox:1`], {
        store: join(tmp, 'd', 'store'),
      });
      assert.equal(d.code, 0, d.stderr);
      const warnings = d.events.filter((e) => e.type === 'warning' && /cache .* ignored/.test(e.message ?? ''));
      assert.equal(warnings.length, 1, d.stderr);
      assert.ok(runSteps(d).every((s) => !s.cached));
    });
  } finally {
    await proxy.stop();
    await registry.stop();
  }
});

test('local cache: type=local dest and src; a changed layer gives one warning and its step runs; a corrupt config is ignored', async () => {
  await withTempDir(async (tmp) => {
    const storeA = await busyboxStore(join(tmp, 'a'));
    const storeB = await busyboxStore(join(tmp, 'b'));
    const ctx = join(tmp, 'ctx');
    await writeTree(ctx, {
      Dockerfile: ['FROM busybox:1', 'RUN echo one > /one', 'RUN echo two > /two', ''].join('\n'),
    });
    const dir = join(tmp, 'cache');
    const a = await buildJson([ctx, '-t', 'app:1', '--cache-to', `type=local,dest=${dir}`], { store: storeA });
    assert.equal(a.code, 0, a.stderr);
    const b = await buildJson([ctx, '-t', 'app:1', '--cache-from', `type=local,src=${dir}`], { store: storeB });
    assert.equal(b.code, 0, b.stderr);
    assert.equal(runSteps(b).length, 2);
    for (const s of runSteps(b)) assert.ok(s.cached, `${s.name} is cached from the directory`);
    assert.equal(digestOf(b, 'docker.io/library/app:1'), digestOf(a, 'docker.io/library/app:1'));

    // One byte of a layer changes: the manifest and config still name the old digest. -t keeps the
    // image in the store, so every layer is fetched; the changed one fails verification, its step runs.
    const index = JSON.parse(await readFile(join(dir, 'index.json'), 'utf8')) as { manifests: { digest: string }[] };
    const manifestPath = join(dir, 'blobs', 'sha256', (index.manifests[0]?.digest ?? '').slice(7));
    const layer = (JSON.parse(await readFile(manifestPath, 'utf8')) as { layers: { digest: string }[] }).layers[0]
      ?.digest;
    const layerPath = join(dir, 'blobs', 'sha256', (layer ?? '').slice(7));
    const good = await readFile(layerPath);
    const bad = Buffer.from(good);
    bad.writeUInt8(bad.readUInt8(bad.length >> 1) ^ 0xff, bad.length >> 1);
    await writeFile(layerPath, bad);
    const storeD = await busyboxStore(join(tmp, 'd'));
    const d = await buildJson([ctx, '-t', 'app:1', '--cache-from', `type=local,src=${dir}`], { store: storeD });
    assert.equal(d.code, 0, d.stderr);
    const corrupt = d.events.filter((e) => e.type === 'warning' && e.code === 'CACHE_LAYER_CORRUPT');
    assert.equal(corrupt.length, 1, d.stderr);
    assert.match(corrupt[0]?.message ?? '', new RegExp(`layer ${layer} does not match its digest`));
    assert.ok(
      runSteps(d).some((s) => !s.cached && s.done),
      `the step of the changed layer ran: ${JSON.stringify(runSteps(d))}`,
    );
    assert.equal((await gantry(['inspect', 'store:app:1'], { store: storeD })).code, 0);
    await writeFile(layerPath, good);

    // Change the config blob's bytes: its digest no longer verifies, the cache is not trusted.
    const manifest = JSON.parse(await readFile(manifestPath, 'utf8')) as { config: { digest: string } };
    const configPath = join(dir, 'blobs', 'sha256', manifest.config.digest.slice(7));
    const config = JSON.parse(await readFile(configPath, 'utf8')) as { records: { key: string }[] };
    assert.ok(config.records.length >= 2);
    await writeFile(configPath, JSON.stringify({ ...config, records: [...config.records].reverse() }));
    const storeC = await busyboxStore(join(tmp, 'c'));
    const c = await buildJson([ctx, '-t', 'app:1', '--cache-from', `type=local,src=${dir}`], { store: storeC });
    assert.equal(c.code, 0, c.stderr);
    const warnings = c.events.filter((e) => e.type === 'warning' && /ignored/.test(e.message ?? ''));
    assert.equal(warnings.length, 1, c.stderr);
    assert.ok(
      runSteps(c).every((s) => !s.cached),
      'every RUN runs',
    );
    assert.ok((await readdir(dir)).includes('index.json'));

    // Bad specs are usage errors before any work.
    for (const bad of ['type=s3,bucket=x', 'type=local', 'type=registry,mode=max', 'type=registry,ref=a,mode=huge']) {
      const r = await gantry(['build', ctx, '--cache-to', bad], { store: storeA });
      assert.equal(r.code, 2, `${bad}: ${r.stderr}`);
    }
  });
});
