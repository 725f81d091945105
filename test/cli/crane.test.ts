// The crane-style verbs (issue 9) end to end through the real binary, against the real
// distribution registry on loopback behind the counting proxy (to pin that a verb moved no base
// blob), read back with skopeo and umoci.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, open, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { busyboxImage } from '../harness/fixtures.js';
import { type FaultProxy, startFaultProxy } from '../harness/proxy.js';
import { startRegistry, type TestRegistry } from '../harness/registry.js';
import { skopeoCopy, skopeoInspect, skopeoInspectConfig, skopeoInspectRaw, umociUnpack } from '../harness/validate.js';
import { gantry, gantryBin, isolatedHome, type Result, tool, withTempDir } from './helpers.js';

const plain = { tlsVerify: false } as const;

/** Runs gantry with stdout going to `file` (binary-safe), as a shell redirection would. */
async function gantryToFile(args: readonly string[], file: string, env: NodeJS.ProcessEnv): Promise<Result> {
  const fh = await open(file, 'w');
  try {
    return await new Promise((resolveRun, reject) => {
      const child = spawn(process.execPath, [gantryBin, ...args], {
        env: { ...process.env, ...env },
        stdio: ['ignore', fh.fd, 'pipe'],
      });
      let stderr = '';
      child.stderr?.on('data', (c: Buffer) => {
        stderr += c.toString();
      });
      child.on('error', reject);
      child.on('close', (code) => resolveRun({ code, stdout: '', stderr }));
    });
  } finally {
    await fh.close();
  }
}

function digestOf(stdout: string): string {
  const d = stdout.trim().split('@').at(-1) ?? '';
  assert.match(d, /^sha256:[0-9a-f]{64}$/, `no digest in ${JSON.stringify(stdout)}`);
  return d;
}

/** Cross-repository mount requests for blob `digest` (the colon may be percent-encoded). */
function mounts(proxy: FaultProxy, digest: string): number {
  const hex = digest.slice(7);
  return proxy.stats.matching({ method: 'POST', target: new RegExp(`mount=sha256(:|%3A)${hex}`, 'i') }).requests;
}

/** Bytes of blob `digest` the registry sent through the proxy (GETs of that blob). */
function blobBytesSent(proxy: FaultProxy, digest: string): number {
  return proxy.stats.matching({ method: 'GET', target: new RegExp(`/blobs/${digest}`) }).responseBytes;
}

async function tarList(file: string): Promise<string[]> {
  return (await tool('tar', ['-tf', file]))
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => l.replace(/\/$/, ''))
    .sort();
}

interface Setup {
  readonly registry: TestRegistry;
  readonly proxy: FaultProxy;
  readonly env: NodeJS.ProcessEnv;
  readonly tmp: string;
  /** `HOST/base/bb:amd64`: the linux/amd64 busybox image. */
  readonly base: string;
  readonly baseLayer: string;
  /** Runs gantry through the proxy (plain HTTP). */
  g(args: readonly string[]): Promise<Result>;
}

async function withRegistry(fn: (s: Setup) => Promise<void>): Promise<void> {
  const registry = await startRegistry({ mode: 'http' });
  const proxy = await startFaultProxy({ upstream: registry.url });
  try {
    await withTempDir(async (tmp) => {
      const env = await isolatedHome(tmp);
      const store = join(tmp, 'store');
      const g = (args: readonly string[]) => gantry(['--plain-http', ...args], { env, store });
      const bb = await busyboxImage();
      const base = `${proxy.host}/base/bb:amd64`;
      const pushed = await g(['copy', '--platform', 'linux/amd64', `oci:${bb.layoutDir}:busybox`, base]);
      assert.equal(pushed.code, 0, pushed.stderr);
      const baseLayer = (await skopeoInspect(`docker://${base}`, plain)).Layers[0] as string;
      await fn({ registry, proxy, env: { ...env, GANTRY_STORE: store }, tmp, base, baseLayer, g });
    });
  } finally {
    await proxy.stop();
    await registry.stop();
  }
}

test('append, tag and mutate write only manifests and configs: no base blob is downloaded', async (t) => {
  await withRegistry(async ({ proxy, tmp, base, baseLayer, g }) => {
    const r = proxy.host;
    const dir = join(tmp, 'add');
    await mkdir(join(dir, 'etc'), { recursive: true });
    await writeFile(join(dir, 'etc', 'hello.txt'), 'hello from append\n');
    // A whiteout in a tar written by GNU tar: the second layer deletes the first one's file.
    const wh = join(tmp, 'wh');
    await mkdir(join(wh, 'etc'), { recursive: true });
    await writeFile(join(wh, 'etc', '.wh.hello.txt'), '');
    await writeFile(join(wh, 'etc', 'kept.txt'), 'kept\n');
    await tool('tar', ['-C', wh, '-czf', join(tmp, 'wh.tar.gz'), 'etc']);

    proxy.stats.reset();
    const appended = await g(['append', '-b', base, '-f', dir, '-t', `${r}/app/one:1`, '--progress=plain']);
    assert.equal(appended.code, 0, appended.stderr);
    const appendedDigest = digestOf(appended.stdout);
    assert.equal(blobBytesSent(proxy, baseLayer), 0, 'append downloaded the base layer');
    const moved = proxy.stats.total;
    t.diagnostic(
      `append on busybox: ${moved.requests} requests, ${moved.requestBytes} B up, ${moved.responseBytes} B down`,
    );
    // The base layer came by a cross-repository mount, not an upload.
    assert.ok(mounts(proxy, baseLayer) > 0, 'the base layer was not mounted');
    const sk = await skopeoInspect(`docker://${r}/app/one:1`, plain);
    assert.equal(sk.Digest, appendedDigest);
    assert.equal(sk.Layers.length, 2);
    assert.equal(sk.Layers[0], baseLayer);

    // umoci reads the result and sees the appended file over busybox.
    const layout = join(tmp, 'layout');
    await skopeoCopy(`docker://${r}/app/one:1`, `oci:${layout}:one`, { src: plain });
    const { rootfs } = await umociUnpack(layout, 'one', join(tmp, 'bundle'));
    assert.equal(await readFile(join(rootfs, 'etc', 'hello.txt'), 'utf8'), 'hello from append\n');
    assert.ok((await stat(join(rootfs, 'bin', 'busybox'))).isFile());

    // A second layer from a gzip tar, pushed as a bare tag of the base's repository.
    const two = await g(['append', '-b', `${r}/app/one:1`, '-f', join(tmp, 'wh.tar.gz'), '-t', '2']);
    assert.equal(two.code, 0, two.stderr);
    assert.match(two.stdout, new RegExp(`^${r}/app/one:2@sha256:`));
    assert.equal((await skopeoInspect(`docker://${r}/app/one:2`, plain)).Layers.length, 3);

    // tag: the same manifest under a new tag, no blob read.
    proxy.stats.reset();
    const tagged = await g(['tag', `${r}/app/one:1`, 'v1']);
    assert.equal(tagged.code, 0, tagged.stderr);
    assert.equal(tagged.stdout.trim(), `${r}/app/one:v1@${appendedDigest}`);
    assert.equal(proxy.stats.matching({ target: /\/blobs\// }).requests, 0);
    assert.equal((await skopeoInspect(`docker://${r}/app/one:v1`, plain)).Digest, appendedDigest);

    // mutate: config and annotations, pushed under another tag; the layers are the same blobs.
    proxy.stats.reset();
    const mutated = await g([
      'mutate',
      `${r}/app/one:1`,
      '--entrypoint',
      '/bin/sh,-c',
      '--cmd',
      '["echo hi"]',
      '-e',
      'FOO=bar',
      '-e',
      'PATH=/opt/bin:/bin',
      '-l',
      'org.example.team=crane',
      '-a',
      'org.opencontainers.image.source=https://example.invalid/app',
      '--user',
      '1000:1000',
      '-w',
      '/work',
      '--exposed-ports',
      '8080,53/udp',
      '-t',
      'mutated',
    ]);
    assert.equal(mutated.code, 0, mutated.stderr);
    assert.equal(blobBytesSent(proxy, baseLayer), 0, 'mutate downloaded a layer');
    const config = (await skopeoInspectConfig(`docker://${r}/app/one:mutated`, plain)) as {
      config: Record<string, unknown>;
      rootfs: { diff_ids: string[] };
    };
    assert.deepEqual(config.config.Entrypoint, ['/bin/sh', '-c']);
    assert.deepEqual(config.config.Cmd, ['echo hi']);
    assert.deepEqual(config.config.Env, ['PATH=/opt/bin:/bin', 'FOO=bar']);
    assert.deepEqual(config.config.Labels, { 'org.example.team': 'crane' });
    assert.equal(config.config.User, '1000:1000');
    assert.equal(config.config.WorkingDir, '/work');
    assert.deepEqual(config.config.ExposedPorts, { '8080/tcp': {}, '53/udp': {} });
    const raw = (await skopeoInspectRaw(`docker://${r}/app/one:mutated`, plain)).json as {
      annotations: Record<string, string>;
      layers: { digest: string }[];
    };
    assert.equal(raw.annotations['org.opencontainers.image.source'], 'https://example.invalid/app');
    assert.deepEqual(
      raw.layers.map((l) => l.digest),
      sk.Layers,
    );
    // --set-platform, pushed by digest to the same repository when no -t is given.
    const plat = await g(['mutate', `${r}/app/one:1`, '--set-platform', 'linux/arm64/v8']);
    assert.equal(plat.code, 0, plat.stderr);
    assert.match(plat.stdout, new RegExp(`^${r}/app/one@sha256:`));
    const platConfig = (await skopeoInspectConfig(`docker://${plat.stdout.trim()}`, plain)) as Record<string, string>;
    assert.equal(platConfig.architecture, 'arm64');
    assert.equal(platConfig.variant, 'v8');

    // An index: annotations only.
    const bb = await busyboxImage();
    assert.equal((await g(['copy', `oci:${bb.layoutDir}:busybox`, `${r}/base/multi:1`])).code, 0);
    const refused = await g(['mutate', `${r}/base/multi:1`, '--cmd', 'sh']);
    assert.equal(refused.code, 2, refused.stderr);
    assert.match(refused.stderr, /only its annotations can be changed/);
    const annotated = await g(['mutate', `${r}/base/multi:1`, '-a', 'org.example.note=index', '-t', 'noted']);
    assert.equal(annotated.code, 0, annotated.stderr);
    const idx = (await skopeoInspectRaw(`docker://${r}/base/multi:noted`, plain)).json as {
      annotations: Record<string, string>;
      manifests: unknown[];
    };
    assert.equal(idx.annotations['org.example.note'], 'index');
    assert.equal(idx.manifests.length, 2);
  });
});

test('append refuses a tar whose names escape the root (a ../ entry written by python tarfile) and pushes nothing', async () => {
  await withRegistry(async ({ proxy, tmp, base, g }) => {
    const evil = join(tmp, 'evil.tar');
    await tool('python3', [
      '-c',
      'import io,sys,tarfile\nt=tarfile.open(sys.argv[1],"w")\ni=tarfile.TarInfo("../escaped")\ni.size=1\nt.addfile(i,io.BytesIO(b"x"))\nt.close()',
      evil,
    ]);
    const res = await g(['append', '-b', base, '-f', evil, '-t', `${proxy.host}/app/evil:1`]);
    assert.equal(res.code, 1);
    assert.match(res.stderr, /refusing "\.\.\/escaped"/);
    assert.equal(res.stderr.trim().split('\n').length, 1, res.stderr);
    const head = await g(['digest', `${proxy.host}/app/evil:1`]);
    assert.notEqual(head.code, 0, 'the refused image was pushed');
  });
});

test('export writes the flattened filesystem (whiteouts applied) and flatten pushes it as one layer', async () => {
  await withRegistry(async ({ proxy, tmp, base, baseLayer, env, g }) => {
    const r = proxy.host;
    const dir = join(tmp, 'add');
    await mkdir(join(dir, 'etc'), { recursive: true });
    await writeFile(join(dir, 'etc', 'hello.txt'), 'hello\n');
    await writeFile(join(dir, 'etc', 'kept.txt'), 'v1\n');
    const wh = join(tmp, 'wh');
    await mkdir(join(wh, 'etc'), { recursive: true });
    await writeFile(join(wh, 'etc', '.wh.hello.txt'), '');
    await writeFile(join(wh, 'etc', 'kept.txt'), 'v2\n');
    await tool('tar', ['-C', wh, '-cf', join(tmp, 'wh.tar'), 'etc']);
    const app = `${r}/app/layers:1`;
    const a = await g(['append', '-b', base, '-f', dir, '-f', join(tmp, 'wh.tar'), '-t', app]);
    assert.equal(a.code, 0, a.stderr);

    const out = join(tmp, 'fs.tar');
    const exported = await gantryToFile(['--plain-http', 'export', app, '-'], out, env);
    assert.equal(exported.code, 0, exported.stderr);
    const names = await tarList(out);
    assert.ok(names.includes('bin/busybox'), 'busybox is missing from the export');
    assert.ok(names.includes('etc/kept.txt'));
    assert.ok(!names.includes('etc/hello.txt'), 'the whiteout was not applied');
    assert.ok(!names.some((n) => n.includes('.wh.')), 'a whiteout marker was exported');
    assert.equal(await tool('tar', ['-xOf', out, 'etc/kept.txt']), 'v2\n');
    // To a file, from the store too (any location).
    const toFile = join(tmp, 'fs2.tar');
    assert.equal((await g(['export', app, toFile])).code, 0);
    assert.deepEqual(await tarList(toFile), names);

    proxy.stats.reset();
    const flat = await g(['flatten', app, '-t', 'flat']);
    assert.equal(flat.code, 0, flat.stderr);
    // Flatten must read the layers: the counter the other verbs are held to zero by sees it.
    assert.ok(blobBytesSent(proxy, baseLayer) > 0);
    assert.match(flat.stdout, new RegExp(`^${r}/app/layers:flat@sha256:`));
    const sk = await skopeoInspect(`docker://${r}/app/layers:flat`, plain);
    assert.equal(sk.Layers.length, 1);
    const flatFs = join(tmp, 'flat.tar');
    assert.equal((await g(['export', `${r}/app/layers:flat`, flatFs])).code, 0);
    assert.deepEqual(await tarList(flatFs), names);
    const history = ((await skopeoInspectConfig(`docker://${r}/app/layers:flat`, plain)) as { history: unknown[] })
      .history;
    assert.equal(history.length, 1);
  });
});

test('export refuses a layer entry that climbs out of the root (UNSAFE_PATH) and leaves no file', async () => {
  await withTempDir(async (tmp) => {
    const env = await isolatedHome(tmp);
    const evil = join(tmp, 'evil.tar');
    await tool('python3', [
      '-c',
      'import io,sys,tarfile\nt=tarfile.open(sys.argv[1],"w")\ni=tarfile.TarInfo("a/../../etc/passwd")\ni.size=1\nt.addfile(i,io.BytesIO(b"x"))\nt.close()',
      evil,
    ]);
    // An OCI layout whose only layer is that tar, as another tool could have written it.
    const layout = join(tmp, 'layout');
    const body = await readFile(evil);
    const digest = `sha256:${createHash('sha256').update(body).digest('hex')}`;
    const config = Buffer.from(
      JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [digest] } }),
    );
    const configDigest = `sha256:${createHash('sha256').update(config).digest('hex')}`;
    const manifest = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: configDigest, size: config.length },
        layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest, size: body.length }],
      }),
    );
    const manifestDigest = `sha256:${createHash('sha256').update(manifest).digest('hex')}`;
    await mkdir(join(layout, 'blobs', 'sha256'), { recursive: true });
    for (const [d, b] of [
      [digest, body],
      [configDigest, config],
      [manifestDigest, manifest],
    ] as const) {
      await writeFile(join(layout, 'blobs', 'sha256', d.slice(7)), b);
    }
    await writeFile(join(layout, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
    await writeFile(
      join(layout, 'index.json'),
      JSON.stringify({
        schemaVersion: 2,
        manifests: [
          {
            mediaType: 'application/vnd.oci.image.manifest.v1+json',
            digest: manifestDigest,
            size: manifest.length,
            annotations: { 'org.opencontainers.image.ref.name': 'evil' },
          },
        ],
      }),
    );
    const out = join(tmp, 'out');
    await mkdir(out);
    const res = await gantry(['export', `oci:${layout}:evil`, join(out, 'fs.tar')], { env });
    assert.equal(res.code, 1);
    assert.match(res.stderr, /refusing "a\/\.\.\/\.\.\/etc\/passwd"/);
    assert.deepEqual(await readdir(out), []);
  });
});

test('rebase swaps the base layers by mount (nothing downloaded) and refuses an image not on the old base', async () => {
  await withRegistry(async ({ proxy, tmp, base, baseLayer, g }) => {
    const r = proxy.host;
    const dir = join(tmp, 'app');
    await mkdir(dir);
    await writeFile(join(dir, 'app.txt'), 'app\n');
    const nb = join(tmp, 'newbase');
    await mkdir(join(nb, 'etc'), { recursive: true });
    await writeFile(join(nb, 'etc', 'os-release'), 'ID=newbase\n');
    assert.equal((await g(['append', '-b', base, '-f', dir, '-t', `${r}/app/svc:1`])).code, 0);
    const newBase = await g(['append', '-f', nb, '--platform', 'linux/amd64', '-t', `${r}/base/new:1`]);
    assert.equal(newBase.code, 0, newBase.stderr);
    const newLayer = (await skopeoInspect(`docker://${r}/base/new:1`, plain)).Layers[0] as string;
    const appLayer = (await skopeoInspect(`docker://${r}/app/svc:1`, plain)).Layers[1] as string;

    proxy.stats.reset();
    const rebased = await g([
      'rebase',
      `${r}/app/svc:1`,
      '--old-base',
      base,
      '--new-base',
      `${r}/base/new:1`,
      '-t',
      '2',
    ]);
    assert.equal(rebased.code, 0, rebased.stderr);
    for (const d of [baseLayer, newLayer, appLayer]) assert.equal(blobBytesSent(proxy, d), 0, `rebase downloaded ${d}`);
    assert.ok(mounts(proxy, newLayer) > 0, 'the new base layer was not mounted');
    const sk = await skopeoInspect(`docker://${r}/app/svc:2`, plain);
    assert.deepEqual(sk.Layers, [newLayer, appLayer]);
    const raw = (await skopeoInspectRaw(`docker://${r}/app/svc:2`, plain)).json as {
      annotations: Record<string, string>;
    };
    assert.equal(raw.annotations['org.opencontainers.image.base.name'], `${r}/base/new:1`);
    // What skopeo copies is whole: every blob is in the repository.
    await skopeoCopy(`docker://${r}/app/svc:2`, `oci:${join(tmp, 'rebased')}:x`, { src: plain });

    // The bases from the annotations: svc:2 says it is on base/new:1; a newer base/new:1 replaces it.
    await writeFile(join(nb, 'etc', 'os-release'), 'ID=newbase\nVERSION=2\n');
    assert.equal((await g(['append', '-f', nb, '--platform', 'linux/amd64', '-t', `${r}/base/new:1`])).code, 0);
    const newer = (await skopeoInspect(`docker://${r}/base/new:1`, plain)).Layers[0] as string;
    assert.notEqual(newer, newLayer);
    const again = await g(['rebase', `${r}/app/svc:2`, '-t', '2b']);
    assert.equal(again.code, 0, again.stderr);
    assert.deepEqual((await skopeoInspect(`docker://${r}/app/svc:2b`, plain)).Layers, [newer, appLayer]);
    const unannotated = await g(['rebase', `${r}/app/svc:1`]);
    assert.equal(unannotated.code, 2);
    assert.match(unannotated.stderr, /does not say which base it was built on/);

    // Old base that is not under the image: refused, nothing pushed.
    const wrong = await g(['rebase', `${r}/app/svc:1`, '--old_base', `${r}/base/new:1`, '--new_base', base, '-t', '3']);
    assert.equal(wrong.code, 1);
    assert.match(wrong.stderr, /is not based on .*base\/new:1.*give as --old-base/);
    assert.notEqual((await g(['digest', `${r}/app/svc:3`])).code, 0);
  });
});

test('index create and append assemble a multi-platform index from per-platform images without moving layers', async () => {
  await withRegistry(async ({ proxy, tmp, base, baseLayer, g }) => {
    const r = proxy.host;
    const bb = await busyboxImage();
    const arm = `${r}/base/bb-arm:1`;
    assert.equal((await g(['copy', '--platform', 'linux/arm64', `oci:${bb.layoutDir}:busybox`, arm])).code, 0);
    const armLayer = (await skopeoInspect(`docker://${arm}`, plain)).Layers[0] as string;

    proxy.stats.reset();
    const created = await g(['index', 'create', '-t', `${r}/multi/bb:1`, '-m', base, '-m', arm]);
    assert.equal(created.code, 0, created.stderr);
    assert.equal(
      blobBytesSent(proxy, baseLayer) + blobBytesSent(proxy, armLayer),
      0,
      'index create downloaded a layer',
    );
    const idx = (await skopeoInspectRaw(`docker://${r}/multi/bb:1`, plain)).json as {
      mediaType: string;
      manifests: { platform: { os: string; architecture: string } }[];
    };
    assert.equal(idx.mediaType, 'application/vnd.oci.image.index.v1+json');
    assert.deepEqual(
      idx.manifests.map((m) => `${m.platform.os}/${m.platform.architecture}`),
      ['linux/amd64', 'linux/arm64'],
    );
    await skopeoCopy(`docker://${r}/multi/bb:1`, `oci:${join(tmp, 'all')}:x`, { src: plain, all: true });

    // append: a third image (same platform as the first is allowed, as in crane).
    const dir = join(tmp, 'add');
    await mkdir(dir);
    await writeFile(join(dir, 'x'), 'x');
    assert.equal((await g(['append', '-b', base, '-f', dir, '-t', `${r}/app/x:1`])).code, 0);
    const appended = await g(['index', 'append', '-b', `${r}/multi/bb:1`, '-m', `${r}/app/x:1`]);
    assert.equal(appended.code, 0, appended.stderr);
    assert.match(appended.stdout, new RegExp(`^${r}/multi/bb:1@sha256:`));
    const after = (await skopeoInspectRaw(`docker://${r}/multi/bb:1`, plain)).json as { manifests: unknown[] };
    assert.equal(after.manifests.length, 3);
  });
});

test('validate and blob verify every byte: a corrupted blob fails naming it, --fast only checks presence', async () => {
  await withRegistry(async ({ registry, proxy, tmp, base, baseLayer, env, g }) => {
    const r = proxy.host;
    const ok = await g(['validate', base]);
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stdout, /^PASS: /);
    // A store name: what `gantry pull` put there is checked blob by blob as well.
    assert.equal((await g(['pull', base])).code, 0);
    const inStore = await g(['validate', `store:${base}`]);
    assert.equal(inStore.code, 0, inStore.stderr);
    assert.match(inStore.stdout, /^PASS: store:.* \(3 manifests and blobs\)/);
    assert.equal((await g(['validate', '--fast', `${r}/base/bb:amd64`])).code, 0);

    const repo = `${r}/base/bb`;
    const blobFile = join(tmp, 'layer.bin');
    const got = await gantryToFile(['--plain-http', 'blob', `${repo}@${baseLayer}`], blobFile, env);
    assert.equal(got.code, 0, got.stderr);
    assert.equal(
      `sha256:${createHash('sha256')
        .update(await readFile(blobFile))
        .digest('hex')}`,
      baseLayer,
    );

    // Corrupt the layer in the registry's storage (same size, other bytes).
    const data = join(
      registry.storageDir,
      'docker/registry/v2/blobs/sha256',
      baseLayer.slice(7, 9),
      baseLayer.slice(7),
      'data',
    );
    const original = await readFile(data);
    const bad = Buffer.from(original);
    bad[bad.length - 100] = (bad[bad.length - 100] ?? 0) ^ 0xff;
    await writeFile(data, bad);

    const failed = await g(['validate', base]);
    assert.equal(failed.code, 1, failed.stderr);
    assert.match(failed.stdout, new RegExp(`^FAIL: layer 1 of sha256:\\w+ ${baseLayer}: `, 'm'));
    assert.match(failed.stderr, new RegExp(`first: layer 1 of .* ${baseLayer}`));
    assert.equal((await g(['validate', '--fast', base])).code, 0, '--fast reads no blob, so it cannot see this');
    const badBlob = await gantryToFile(['--plain-http', 'blob', `${repo}@${baseLayer}`], blobFile, env);
    assert.equal(badBlob.code, 1);
    assert.match(badBlob.stderr, /digest mismatch/);

    // An OCI layout with a blob missing: --fast names it.
    const layout = join(tmp, 'layout');
    await writeFile(data, original);
    await skopeoCopy(`docker://${base}`, `oci:${layout}:bb`, { src: plain });
    await rm(join(layout, 'blobs', 'sha256', baseLayer.slice(7)));
    const missing = await g(['validate', '--fast', `oci:${layout}:bb`]);
    assert.equal(missing.code, 1);
    assert.match(missing.stdout, new RegExp(`FAIL: layer 1 of .* ${baseLayer}: missing`));
  });
});

test('the crane verbs: usage errors exit 2 with one line', async () => {
  await withTempDir(async (tmp) => {
    const env = await isolatedHome(tmp);
    const cases: [string[], RegExp][] = [
      [['append', '-b', 'localhost:1/x:1'], /needs a layer/],
      [['append', '-f', tmp], /needs -t REF or -o FILE/],
      [['mutate'], /takes one image/],
      [['tag', 'localhost:1/x:1'], /takes REF and NEWTAG/],
      [['tag', 'localhost:1/x:1', 'other/repo:2'], /is not a tag/],
      [['blob', 'localhost:1/x:1'], /names no blob/],
      [['rebase', '--old-base', 'localhost:1/b:1'], /needs an image/],
      [['index'], /needs create or append/],
      [['index', 'merge'], /unknown index command/],
      [['index', 'create', '-m', 'localhost:1/x:1'], /needs -t REF/],
      [['validate', 'docker-archive:/nonexistent.tar'], /validate reads registries/],
      [['flatten', '--tagg', 'x', 'localhost:1/x:1'], /did you mean --tag/],
    ];
    for (const [args, message] of cases) {
      const res = await gantry(args, { env });
      assert.equal(res.code, 2, `${args.join(' ')}: ${res.stderr}`);
      assert.match(res.stderr, message, args.join(' '));
      assert.equal(res.stderr.trim().split('\n').length, 1, res.stderr);
    }
  });
});

test('export and blob refuse a terminal stdout', async () => {
  const { run } = await import('../../src/cli/main.js');
  const { PassThrough } = await import('node:stream');
  const tty = Object.assign(new PassThrough(), { isTTY: true });
  const err = new PassThrough();
  let stderr = '';
  err.on('data', (c: Buffer) => {
    stderr += c.toString();
  });
  const signal = new AbortController().signal;
  assert.equal(await run(['export', 'localhost:1/x:1'], { stdout: tty, stderr: err, signal }), 2);
  assert.match(stderr, /refusing to write a tar to a terminal/);
  assert.equal(await run(['blob', `localhost:1/x@sha256:${'0'.repeat(64)}`], { stdout: tty, stderr: err, signal }), 2);
  assert.match(stderr, /refusing to write a blob to a terminal/);
});
