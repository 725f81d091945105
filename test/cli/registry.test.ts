// The registry verbs end to end through the real binary, against the real distribution registry
// on loopback (plain HTTP, TLS with certs.d, basic auth, token auth), checked with skopeo.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { copyFile, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { busyboxImage } from '../harness/fixtures.js';
import { rejectLargeBodies, startFaultProxy, status } from '../harness/proxy.js';
import { startRegistry } from '../harness/registry.js';
import { gantry, isolatedHome, repoRoot, tool, withTempDir } from './helpers.js';

const example = join(repoRoot, 'examples', 'hello');

test('push, pull, digest, inspect, tags, catalog, copy and delete against a plain HTTP registry', async () => {
  const registry = await startRegistry({ mode: 'http' });
  try {
    await withTempDir(async (tmp) => {
      const env = await isolatedHome(tmp);
      const store = join(tmp, 'store');
      const r = registry.host;
      assert.equal((await gantry(['build', example, '-t', 'hello:dev'], { store, env })).code, 0);
      const pushed = await gantry(['push', 'hello:dev', `${r}/team/hello:1`, '--progress=plain'], { store, env });
      assert.equal(pushed.code, 0, pushed.stderr);
      const digest = pushed.stdout.trim().split('@')[1] ?? '';
      assert.match(digest, /^sha256:[0-9a-f]{64}$/);
      const sk = JSON.parse(await tool('skopeo', ['inspect', '--tls-verify=false', `docker://${r}/team/hello:1`])) as {
        Digest: string;
      };
      assert.equal(sk.Digest, digest);

      const d = await gantry(['digest', `${r}/team/hello:1`], { store, env });
      assert.equal(d.stdout.trim(), digest);
      const inspect = JSON.parse((await gantry(['inspect', `${r}/team/hello:1`], { store, env })).stdout) as {
        Digest: string;
        Platform: string;
        Layers: unknown[];
      };
      assert.equal(inspect.Digest, digest);
      assert.equal(inspect.Platform, 'linux/amd64');
      assert.equal(inspect.Layers.length, 1);
      const raw = (await gantry(['inspect', '--raw', `${r}/team/hello:1`], { store, env })).stdout;
      assert.match(raw, /"schemaVersion":2/);

      // Pagination: more tags than one page of the registry's default.
      for (const t of ['2', '3', '4', '5'])
        assert.equal((await gantry(['push', 'hello:dev', `${r}/team/hello:${t}`], { store, env })).code, 0);
      const tags = await gantry(['tags', `${r}/team/hello`], { store, env });
      assert.deepEqual(tags.stdout.trim().split('\n').sort(), ['1', '2', '3', '4', '5']);
      const cat = await gantry(['catalog', r], { store, env });
      assert.match(cat.stdout, /^team\/hello$/m);

      // Pull into a fresh store; the layer digests are the pushed ones.
      const other = join(tmp, 'other');
      const pulled = await gantry(['pull', `${r}/team/hello:1`], { store: other, env });
      assert.equal(pulled.code, 0, pulled.stderr);
      const images = await gantry(['images'], { store: other, env });
      assert.match(images.stdout, new RegExp(`^${r.replace('.', '\\.')}/team/hello\\s+1`, 'm'));

      // Copy registry to registry (same registry: the layer is mounted), and to files.
      const c = await gantry(['copy', `${r}/team/hello:1`, `${r}/copied/hello:1`], { store, env });
      assert.equal(c.code, 0, c.stderr);
      assert.equal(c.stdout.trim().split('@')[1], digest);
      const ociDir = join(tmp, 'layout');
      assert.equal((await gantry(['copy', `${r}/team/hello:1`, `oci:${ociDir}:v1`], { store, env })).code, 0);
      await tool('umoci', ['stat', '--image', `${ociDir}:v1`]);
      const arch = join(tmp, 'a.tar');
      assert.equal(
        (await gantry(['copy', `${r}/team/hello:1`, `docker-archive:${arch}:hello:v1`], { store, env })).code,
        0,
      );
      const fromArchive = JSON.parse(await tool('skopeo', ['inspect', `docker-archive:${arch}`])) as {
        Layers: string[];
      };
      assert.equal(fromArchive.Layers.length, 1);
      // ... and back from a file to the registry.
      const back = await gantry(['copy', `oci:${ociDir}:v1`, `${r}/back/hello:1`], { store, env });
      assert.equal(back.code, 0, back.stderr);
      assert.equal(back.stdout.trim().split('@')[1], digest);

      // Delete, then the tag is gone.
      const del = await gantry(['delete', `${r}/copied/hello:1`], { store, env });
      assert.equal(del.code, 0, del.stderr);
      const gone = await gantry(['digest', `${r}/copied/hello:1`], { store, env });
      assert.notEqual(gone.code, 0);
    });
  } finally {
    await registry.stop();
  }
});

test('what skopeo pushes, gantry pulls (multi-platform: --platform, --all-platforms, a missing platform)', async () => {
  const registry = await startRegistry({ mode: 'http' });
  try {
    const fixture = await busyboxImage();
    await tool('skopeo', [
      'copy',
      '--all',
      '--dest-tls-verify=false',
      `oci:${fixture.layoutDir}:busybox`,
      `docker://${registry.host}/busybox:1`,
    ]);
    await withTempDir(async (tmp) => {
      const env = await isolatedHome(tmp);
      const store = join(tmp, 'store');
      const arm = await gantry(['pull', '--platform', 'linux/arm64', `${registry.host}/busybox:1`], { store, env });
      assert.equal(arm.code, 0, arm.stderr);
      assert.equal(arm.stdout.trim().split('@')[1], fixture.manifests[1]?.digest);
      const all = await gantry(['pull', '--all-platforms', `${registry.host}/busybox:1`], {
        store: join(tmp, 's2'),
        env,
      });
      assert.equal(all.code, 0, all.stderr);
      assert.equal(all.stdout.trim().split('@')[1], fixture.indexDigest);
      const listed = await gantry(['images'], { store: join(tmp, 's2'), env });
      assert.match(listed.stdout, /linux\/amd64,linux\/arm64/);
      const none = await gantry(['pull', '--platform', 'linux/riscv64', `${registry.host}/busybox:1`], { store, env });
      assert.equal(none.code, 1);
      assert.match(none.stderr, /linux\/amd64/);
      assert.match(none.stderr, /linux\/arm64/);
      const missing = await gantry(['pull', `${registry.host}/nope:1`], { store, env });
      assert.equal(missing.code, 1);
      assert.equal(missing.stderr.trim().split('\n').length, 1, missing.stderr);
      assert.match(missing.stderr, /not found/);
    });
  } finally {
    await registry.stop();
  }
});

test('build --push and --output type=registry push the result', async () => {
  const registry = await startRegistry({ mode: 'http' });
  try {
    await withTempDir(async (tmp) => {
      const env = await isolatedHome(tmp);
      const store = join(tmp, 'store');
      const r = await gantry(
        ['build', example, '-t', `${registry.host}/app:1`, '--push', '--platform', 'linux/amd64,linux/arm64'],
        { store, env },
      );
      assert.equal(r.code, 0, r.stderr);
      const raw = JSON.parse(
        await tool('skopeo', ['inspect', '--raw', '--tls-verify=false', `docker://${registry.host}/app:1`]),
      ) as {
        manifests: unknown[];
      };
      assert.equal(raw.manifests.length, 2);
      // As with buildx, a pushed image is not put into the store unless --load asks for it.
      assert.doesNotMatch((await gantry(['images'], { store, env })).stdout, /\/app\s/);
      const loaded = await gantry(['build', example, '-t', `${registry.host}/app:3`, '--push', '--load'], {
        store,
        env,
      });
      assert.equal(loaded.code, 0, loaded.stderr);
      assert.match((await gantry(['images'], { store, env })).stdout, /\/app\s+3/);
      const o = await gantry(['build', example, '-o', `type=registry,name=${registry.host}/app:2`], { store, env });
      assert.equal(o.code, 0, o.stderr);
      await tool('skopeo', ['inspect', '--tls-verify=false', `docker://${registry.host}/app:2`]);
      const noName = await gantry(['build', example, '--push'], { store, env });
      assert.equal(noName.code, 2);
      assert.match(noName.stderr, /nothing to push to/);
    });
  } finally {
    await registry.stop();
  }
});

test('TLS: the CA from certs.d is trusted, a missing CA is a clear error, --insecure skips verification', async () => {
  const registry = await startRegistry({ mode: 'tls' });
  try {
    await withTempDir(async (tmp) => {
      const env = await isolatedHome(tmp);
      const store = join(tmp, 'store');
      assert.equal((await gantry(['build', example, '-t', 'hello:tls'], { store, env })).code, 0);
      const dest = `${registry.host}/tls/hello:1`;
      const refused = await gantry(['push', 'hello:tls', dest], { store, env });
      assert.equal(refused.code, 4, refused.stderr);
      assert.match(refused.stderr, /certs\.d|--insecure/);
      const insecure = await gantry(['push', '--insecure', 'hello:tls', dest], { store, env });
      assert.equal(insecure.code, 0, insecure.stderr);
      const certs = join(env.HOME as string, '.docker', 'certs.d', registry.host);
      await mkdir(certs, { recursive: true });
      await copyFile(registry.caFile as string, join(certs, 'ca.crt'));
      const trusted = await gantry(['digest', dest], { store, env });
      assert.equal(trusted.code, 0, trusted.stderr);
    });
  } finally {
    await registry.stop();
  }
});

test('basic auth: anonymous is told to log in, login verifies and stores, logout removes', async () => {
  const registry = await startRegistry({ mode: 'tls-basic' });
  try {
    await withTempDir(async (tmp) => {
      const env = await isolatedHome(tmp);
      const certs = join(env.HOME as string, '.docker', 'certs.d', registry.host);
      await mkdir(certs, { recursive: true });
      await copyFile(registry.caFile as string, join(certs, 'ca.crt'));
      const store = join(tmp, 'store');
      assert.equal((await gantry(['build', example, '-t', 'hello:auth'], { store, env })).code, 0);
      const dest = `${registry.host}/private/hello:1`;
      const anon = await gantry(['push', 'hello:auth', dest], { store, env });
      assert.equal(anon.code, 3, anon.stderr);
      assert.match(
        anon.stderr,
        new RegExp(`login required for ${registry.host.replace('.', '\\.')}: run gantry login`),
      );
      const wrong = await gantry(['login', registry.host, '-u', registry.username as string, '--password-stdin'], {
        store,
        env,
        input: 'wrong\n',
      });
      assert.equal(wrong.code, 3, wrong.stderr);
      await assert.rejects(readFile(join(env.DOCKER_CONFIG as string, 'config.json'), 'utf8'));
      const ok = await gantry(['login', registry.host, '-u', registry.username as string, '--password-stdin'], {
        store,
        env,
        input: `${registry.password}\n`,
      });
      assert.equal(ok.code, 0, ok.stderr);
      const config = JSON.parse(await readFile(join(env.DOCKER_CONFIG as string, 'config.json'), 'utf8')) as {
        auths: Record<string, unknown>;
      };
      assert.ok(config.auths[registry.host]);
      const pushed = await gantry(['push', 'hello:auth', dest], { store, env });
      assert.equal(pushed.code, 0, pushed.stderr);
      // Credentials from the environment work too, without a login.
      const env2: NodeJS.ProcessEnv = {
        ...(await isolatedHome(join(tmp, 'h2'))),
        GANTRY_USERNAME: registry.username,
        GANTRY_PASSWORD: registry.password,
      };
      await mkdir(join(env2.HOME as string, '.docker', 'certs.d', registry.host), { recursive: true });
      await copyFile(
        registry.caFile as string,
        join(env2.HOME as string, '.docker', 'certs.d', registry.host, 'ca.crt'),
      );
      assert.equal((await gantry(['digest', dest], { store, env: env2 })).code, 0);
      const out = await gantry(['logout', registry.host], { store, env });
      assert.equal(out.code, 0, out.stderr);
      const after = await gantry(['digest', dest], { store, env });
      assert.equal(after.code, 3, after.stderr);
      assert.match(after.stderr, /login required/);
    });
  } finally {
    await registry.stop();
  }
});

test('token auth (the Gitea-like setup): login, push, and a private repository refused to anonymous pulls', async () => {
  const registry = await startRegistry({ mode: 'token', tls: false });
  try {
    await withTempDir(async (tmp) => {
      const env = await isolatedHome(tmp);
      const store = join(tmp, 'store');
      assert.equal((await gantry(['build', example, '-t', 'hello:tok'], { store, env })).code, 0);
      const dest = `${registry.host}/gitea-admin/hello:1`;
      const login = await gantry(['login', registry.host, '-u', registry.username as string, '--password-stdin'], {
        store,
        env,
        input: `${registry.password}\n`,
      });
      assert.equal(login.code, 0, login.stderr);
      const pushed = await gantry(['push', 'hello:tok', dest], { store, env });
      assert.equal(pushed.code, 0, pushed.stderr);
      const anon = await gantry(['pull', dest], { store: join(tmp, 's2'), env: await isolatedHome(join(tmp, 'anon')) });
      assert.equal(anon.code, 3, anon.stderr);
      assert.match(anon.stderr, /login required|denied/);
    });
  } finally {
    await registry.stop();
  }
});

test('registries.toml mirrors are tried before the upstream for pulls', async () => {
  const mirror = await startRegistry({ mode: 'http' });
  try {
    await withTempDir(async (tmp) => {
      const env = await isolatedHome(tmp);
      const store = join(tmp, 'store');
      assert.equal((await gantry(['build', example, '-t', 'hello:m'], { store, env })).code, 0);
      assert.equal((await gantry(['push', 'hello:m', `${mirror.host}/library/hello:1`], { store, env })).code, 0);
      // The upstream is a port nobody listens on: only the mirror can answer.
      const upstream = '127.0.0.1:9';
      await mkdir(join(env.XDG_CONFIG_HOME as string, 'gantry'), { recursive: true });
      await writeFile(
        join(env.XDG_CONFIG_HOME as string, 'gantry', 'registries.toml'),
        `[registry."${upstream}"]\nmirrors = ["${mirror.host}"]\n`,
      );
      const pulled = await gantry(['pull', `${upstream}/library/hello:1`], { store: join(tmp, 's2'), env });
      assert.equal(pulled.code, 0, pulled.stderr);
    });
  } finally {
    await mirror.stop();
  }
});

test('faults through a loopback proxy: 413 falls back to chunks, --chunk-size chunks, 503 bursts and 429 are retried', async () => {
  const registry = await startRegistry({ mode: 'http' });
  const proxy = await startFaultProxy({
    upstream: registry.url,
    rules: [{ name: 'big', path: /\/blobs\/uploads\//, action: rejectLargeBodies(1024 * 1024) }],
  });
  try {
    await withTempDir(async (tmp) => {
      const env = await isolatedHome(tmp);
      const store = join(tmp, 'store');
      const src = join(tmp, 'src');
      await mkdir(src);
      await writeFile(join(src, 'noise.bin'), randomBytes(2 * 1024 * 1024));
      assert.equal((await gantry(['build', src, '-t', 'noise:1'], { store, env })).code, 0);
      // The proxy answers a TLS probe with nothing, so say plain HTTP as a user of such a proxy would.
      // The registry (through the proxy) refuses large bodies: the push goes on in chunks.
      const auto = await gantry(['--plain-http', 'push', 'noise:1', `${proxy.host}/noise/auto:1`], { store, env });
      assert.equal(auto.code, 0, auto.stderr);
      assert.ok(proxy.stats.rule('big').faults >= 1, 'the large body was refused once');
      // An explicit chunk size: several PATCHes, none refused. The store remembers that noise/auto
      // holds the blobs and would mount them from there: forget it, so the layer goes up again.
      await rm(join(store, 'cache', 'blob-locations.json'));
      proxy.stats.reset();
      proxy.setRules([]);
      const chunked = await gantry(
        ['--plain-http', '--chunk-size', '256K', 'push', 'noise:1', `${proxy.host}/noise/chunked:1`],
        { store, env },
      );
      assert.equal(chunked.code, 0, chunked.stderr);
      assert.ok(proxy.stats.matching({ method: 'PATCH' }).requests >= 8, 'the layer went up in 256 KiB chunks');
      const sk = JSON.parse(
        await tool('skopeo', ['inspect', '--tls-verify=false', `docker://${registry.host}/noise/chunked:1`]),
      ) as { Digest: string };
      assert.equal(sk.Digest, chunked.stdout.trim().split('@')[1]);
      // A burst of 503s and a 429 with Retry-After on manifest reads: retried, then fine.
      proxy.setRules([
        { name: 'busy', method: 'GET', path: /\/manifests\//, action: status(503, {}, 3) },
        { name: 'slow', method: 'HEAD', path: /\/manifests\//, action: status(429, { 'retry-after': '1' }, 1) },
      ]);
      const pulled = await gantry(['--plain-http', 'pull', `${proxy.host}/noise/chunked:1`], {
        store: join(tmp, 's2'),
        env,
      });
      assert.equal(pulled.code, 0, pulled.stderr);
      assert.equal(proxy.stats.rule('busy').faults, 3);
      const digest = await gantry(['--plain-http', 'digest', `${proxy.host}/noise/chunked:1`], { store, env });
      assert.equal(digest.code, 0, digest.stderr);
      assert.equal(proxy.stats.rule('slow').faults, 1);
      // A bad --chunk-size is a usage error.
      const bad = await gantry(['--chunk-size', 'lots', 'push', 'noise:1', `${proxy.host}/x:1`], { store, env });
      assert.equal(bad.code, 2);
      assert.match(bad.stderr, /invalid --chunk-size/);
    });
  } finally {
    await proxy.stop();
    await registry.stop();
  }
});
