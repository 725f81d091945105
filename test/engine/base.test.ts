// Registry bases kept in the store (src/engine/base.ts): a later build asks the registry only for
// the tag's digest, a moved tag is followed, a digest reference the store keeps asks nothing, and
// --no-cache fetches. Counted on the wire through a loopback proxy in front of a real registry.
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Solver } from '../../src/engine/solver/solver.js';
import type { Image } from '../../src/oci/image.js';
import { newImage, newIndex } from '../../src/oci/mutate.js';
import { hostPlatform } from '../../src/oci/platform.js';
import { parseReference } from '../../src/reference/index.js';
import { pushImage } from '../../src/registry/ops/push.js';
import { Store } from '../../src/store/store.js';
import { startRegistry, type TestRegistry } from '../harness/registry.js';
import { clientFor, startProxy, type TestProxy, viaProxy } from '../registry/client/helpers.js';

function image(env: string): Promise<Image> {
  return newImage({ platform: hostPlatform(), config: (cfg) => ({ ...cfg, config: { Env: [env] } }) });
}

describe('registry bases kept in the store', () => {
  let reg: TestRegistry;
  let proxy: TestProxy;
  let dir: string;
  before(async () => {
    reg = await startRegistry({ mode: 'http' });
    proxy = await startProxy(reg);
    dir = await mkdtemp(join(tmpdir(), 'gantry-base-'));
  });
  after(async () => {
    await proxy?.close();
    await reg?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  /** One build's resolution of `name` (a new solver and client: a new process), with the requests it made for the repository. */
  async function resolve(store: Store, name: string, options: { noCache?: boolean } = {}) {
    const { client } = clientFor(viaProxy(reg, proxy), { plainHttp: [proxy.host] });
    const solver = new Solver({ store, client: async () => client, ...options });
    const seen = proxy.requests.length;
    const base = await solver.image(name, hostPlatform());
    const env = (await base.configFile()).config?.Env;
    const repo = `/v2/${parseReference(name).repository}/`;
    const requests = proxy.requests
      .slice(seen)
      .filter((r) => r.path.startsWith(repo))
      .map((r) => `${r.method} ${r.path.slice(repo.length)}`);
    return { env, requests };
  }

  test('a no-change build HEADs the tag only; a moved tag is followed; --no-cache fetches', async () => {
    const store = await Store.open({ dir: join(dir, 'tag') });
    const { client } = clientFor(reg);
    const name = `${proxy.host}/bases/app:1`;
    await pushImage(client, parseReference(`${reg.host}/bases/app:1`), await image('V=1'));

    const cold = await resolve(store, name);
    assert.deepEqual(cold.env, ['V=1']);
    assert.equal(cold.requests.filter((r) => r.startsWith('HEAD')).length, 0, `cold: ${cold.requests}`);
    assert.equal(cold.requests.length, 2, `cold: manifest and config: ${cold.requests}`);

    const again = await resolve(store, name);
    assert.deepEqual(again.env, ['V=1']);
    assert.deepEqual(again.requests, ['HEAD manifests/1']);

    await pushImage(client, parseReference(`${reg.host}/bases/app:1`), await image('V=2'));
    const moved = await resolve(store, name);
    assert.deepEqual(moved.env, ['V=2'], 'the tag moved: the new base is used');
    assert.equal(moved.requests[0], 'HEAD manifests/1');
    assert.ok(
      moved.requests.some((r) => r.startsWith('GET blobs/')),
      `the new config is fetched: ${moved.requests}`,
    );
    assert.deepEqual((await resolve(store, name)).requests, ['HEAD manifests/1']);

    // A kept config that is not what it is named (a torn or changed file) is fetched again.
    const config = (await (await image('V=2')).manifest()).config.digest;
    await writeFile(store.layout.blobPath(config), '{}');
    const torn = await resolve(store, name);
    assert.deepEqual(torn.env, ['V=2']);
    assert.deepEqual(torn.requests, ['HEAD manifests/1', `GET blobs/${config}`]);

    const fresh = await resolve(store, name, { noCache: true });
    assert.deepEqual(fresh.env, ['V=2']);
    assert.ok(!fresh.requests.includes('HEAD manifests/1'), `--no-cache fetches: ${fresh.requests}`);
    assert.equal(fresh.requests.length, 2, `--no-cache: manifest and config: ${fresh.requests}`);
  });

  test('a digest reference the store keeps makes no request; an index and its child are kept too', async () => {
    const store = await Store.open({ dir: join(dir, 'digest') });
    const { client } = clientFor(reg);
    const single = await pushImage(client, parseReference(`${reg.host}/bases/pinned:1`), await image('P=1'));
    const name = `${proxy.host}/bases/pinned@${single.digest}`;
    assert.equal((await resolve(store, name)).requests.length, 2);
    const again = await resolve(store, name);
    assert.deepEqual(again.env, ['P=1']);
    assert.deepEqual(again.requests, []);

    const index = await newIndex([{ image: await image('I=1'), platform: hostPlatform() }]);
    await pushImage(client, parseReference(`${reg.host}/bases/multi:1`), index);
    const multi = `${proxy.host}/bases/multi:1`;
    assert.equal((await resolve(store, multi)).requests.length, 3, 'index, child manifest, config');
    const warm = await resolve(store, multi);
    assert.deepEqual(warm.env, ['I=1']);
    assert.deepEqual(warm.requests, ['HEAD manifests/1']);
  });
});
