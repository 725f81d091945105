// The library functions on their own, without the CLI: what `gantry build`, `pull`, `login` and
// the store commands decide (outputs, push, naming, mirror fallback, login verification) now
// lives in src/api, so it is pinned here against the real registry on loopback.
import assert from 'node:assert/strict';
import { access, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import {
  build,
  copy,
  createSession,
  digest,
  GantryError,
  images,
  inspect,
  login,
  logout,
  prune,
  pull,
  rmi,
} from '../../src/index.js';
import { repoRoot, withTempDir } from '../cli/helpers.js';
import { startRegistry } from '../harness/registry.js';
import { skopeoInspect } from '../harness/validate.js';

const example = join(repoRoot, 'examples', 'hello');

/** Each test gets its own HOME: no login or registries.toml of the machine is read or written. */
async function isolate(tmp: string): Promise<void> {
  const home = join(tmp, 'home');
  await mkdir(home, { recursive: true });
  Object.assign(process.env, {
    HOME: home,
    DOCKER_CONFIG: join(home, '.docker'),
    XDG_CONFIG_HOME: join(home, '.config'),
    REGISTRY_AUTH_FILE: join(home, 'auth.json'),
  });
  for (const v of ['GANTRY_CONFIG', 'GANTRY_USERNAME', 'GANTRY_PASSWORD', 'REGISTRY_USERNAME', 'REGISTRY_PASSWORD']) {
    delete process.env[v];
  }
}

async function exists(path: string): Promise<boolean> {
  return access(path).then(
    () => true,
    () => false,
  );
}

test('build() names a directory build in the store; images, rmi and prune see it', async () => {
  await withTempDir(async (tmp) => {
    await isolate(tmp);
    const store = join(tmp, 'store');
    const events: string[] = [];
    const outcome = await build({
      context: example,
      store,
      tags: ['hello:lib'],
      cmd: ['cat', '/hello.txt'],
      progress: (e) => {
        if (e.type === 'start') events.push(e.name);
      },
    });
    assert.equal(outcome.frontend, 'directory');
    assert.equal(outcome.stored, true);
    assert.deepEqual(outcome.names, ['docker.io/library/hello:lib']);
    assert.ok(
      events.some((n) => n.startsWith('naming docker.io/library/hello:lib')),
      events.join('\n'),
    );
    const listed = await images({ store });
    assert.deepEqual(
      listed.map((i) => [i.name, i.digest]),
      [['docker.io/library/hello:lib', outcome.digest]],
    );
    assert.equal((await rmi('hello:lib', { store })).length, 1);
    assert.deepEqual(await images({ store }), []);
    assert.ok((await prune({ store })).blobs > 0);
  });
});

test('build() with outputs and no name writes the files only; iidfile and metadata file say the digest', async () => {
  await withTempDir(async (tmp) => {
    await isolate(tmp);
    const store = join(tmp, 'store');
    const outcome = await build({
      context: example,
      store,
      outputs: [`type=oci,dest=${join(tmp, 'out.tar')}`, { type: 'local', dest: join(tmp, 'rootfs') }],
      iidfile: join(tmp, 'iid'),
      metadataFile: join(tmp, 'meta.json'),
    });
    assert.equal(outcome.stored, false);
    assert.equal(outcome.outputs.length, 2);
    assert.equal(await readFile(join(tmp, 'iid'), 'utf8'), outcome.digest);
    const meta = JSON.parse(await readFile(join(tmp, 'meta.json'), 'utf8')) as Record<string, unknown>;
    assert.equal(meta['containerimage.digest'], outcome.digest);
    assert.equal(
      await readFile(join(tmp, 'rootfs', 'hello.txt'), 'utf8'),
      await readFile(join(example, 'hello.txt'), 'utf8'),
    );
    assert.ok(await exists(join(tmp, 'out.tar')));
    assert.deepEqual(await images({ store }), []);
  });
});

test('bad build options are USAGE errors thrown before the store is opened', async () => {
  await withTempDir(async (tmp) => {
    await isolate(tmp);
    const store = join(tmp, 'store');
    await assert.rejects(build({ context: example, store, push: true }), (err: unknown) => {
      assert.ok(GantryError.is(err));
      assert.equal(err.code, 'USAGE');
      assert.equal(err.phase, 'usage');
      assert.equal(err.message, 'nothing to push to: the image has no name');
      return true;
    });
    await assert.rejects(
      build({
        context: join(repoRoot, 'examples', 'site'),
        store,
        workdir: '/app',
        dockerfile: join(repoRoot, 'examples', 'site', 'Dockerfile'),
      }),
      /--workdir is for directory builds/,
    );
    await assert.rejects(build({ context: example, store, outputs: ['type=nosuch,dest=x'] }), {
      code: 'INVALID_OUTPUT',
    });
    assert.equal(await exists(store), false, 'the store was created by a refused build');
  });
});

test('build({ push }) pushes to the tags and leaves the store alone; copy and inspect read it back', async () => {
  const registry = await startRegistry({ mode: 'http' });
  try {
    await withTempDir(async (tmp) => {
      await isolate(tmp);
      const session = createSession({ store: join(tmp, 'store'), registry: { plainHttp: true } });
      const ref = `${registry.host}/lib/hello:1`;
      const outcome = await build({ context: example, session, tags: [ref], push: true });
      assert.deepEqual(outcome.pushed, [{ name: ref, digest: outcome.digest }]);
      assert.equal(outcome.stored, false);
      assert.deepEqual(await images({ session }), []);
      assert.equal(await digest(ref, { session }), outcome.digest);
      assert.equal((await skopeoInspect(`docker://${ref}`, { tlsVerify: false })).Digest, outcome.digest);
      const copied = await copy(ref, `oci:${join(tmp, 'layout')}:v1`, { session });
      assert.equal(copied.digest, outcome.digest);
      // A later call on the same session gets the registry's progress events of its own transfer.
      const events: string[] = [];
      const pulled = await pull(ref, { session, progress: (e) => events.push(e.type) });
      assert.equal(pulled.digest, outcome.digest);
      assert.ok(events.includes('start'), `pull saw no progress events: ${events.join(',')}`);
      const seen = await inspect(`oci:${join(tmp, 'layout')}:v1`, { session });
      assert.equal(seen.Digest, outcome.digest);
      assert.equal(seen.Layers?.length, 1);
    });
  } finally {
    await registry.stop();
  }
});

test('pull() passes over a mirror that lacks the image and takes it from the upstream', async () => {
  const upstream = await startRegistry({ mode: 'http' });
  const mirror = await startRegistry({ mode: 'http' });
  try {
    await withTempDir(async (tmp) => {
      await isolate(tmp);
      const ref = `${upstream.host}/lib/hello:2`;
      const pushed = await build({ context: example, store: join(tmp, 'store'), tags: [ref], push: true });
      const config = join(tmp, 'registries.toml');
      await writeFile(config, `[registry."${upstream.host}"]\nmirrors = ["${mirror.host}"]\n`);
      const store = join(tmp, 'store2');
      const pulled = await pull(ref, { store, registry: { configFile: config } });
      assert.equal(pulled.digest, pushed.digest);
      assert.equal(pulled.reference, ref);
      // The mirror was asked first.
      assert.match(mirror.logTail(), /\/v2\/lib\/hello\/manifests\/2/);
      assert.deepEqual(
        (await images({ store })).map((i) => i.name),
        [ref],
      );
    });
  } finally {
    await mirror.stop();
    await upstream.stop();
  }
});

test('login() checks the credential against the registry before storing it; logout removes it', async () => {
  const registry = await startRegistry({ mode: 'token', tls: false });
  try {
    await withTempDir(async (tmp) => {
      await isolate(tmp);
      const configJson = join(process.env.DOCKER_CONFIG as string, 'config.json');
      const username = registry.username as string;
      await assert.rejects(login(registry.host, { username, password: 'wrong' }), (err: unknown) => {
        assert.ok(GantryError.is(err));
        assert.equal(err.code, 'UNAUTHORIZED');
        return true;
      });
      assert.equal(await exists(configJson), false, 'a refused login was stored');
      const done = await login(`http://${registry.host}/`, { username, password: registry.password as string });
      assert.equal(done.registry, registry.host);
      assert.deepEqual(done.storedIn, { kind: 'file', path: configJson });
      assert.match(await readFile(configJson, 'utf8'), new RegExp(registry.host.replaceAll('.', '\\.')));
      assert.deepEqual(await logout(registry.host), { registry: registry.host, removed: true });
      assert.deepEqual(await logout(registry.host), { registry: registry.host, removed: false });
    });
  } finally {
    await registry.stop();
  }
});
