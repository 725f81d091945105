// Issue 9: registries.conf's unqualified-search-registries was read but not applied. A short name
// now means the one listed registry (as in containers/image); with several, reads try them in
// order and writes refuse to guess; with none, docker.io. `gantry info` says what was read.
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { startRegistry } from '../harness/registry.js';
import { gantry, isolatedHome, repoRoot, tool, withTempDir } from './helpers.js';

const example = join(repoRoot, 'examples', 'hello');

test('unqualified-search-registries: one entry takes short names; several are tried in order for reads, refused for writes', async () => {
  const registry = await startRegistry({ mode: 'http' });
  try {
    await withTempDir(async (tmp) => {
      const r = registry.host;
      const conf = join(tmp, 'registries.conf');
      const env = { ...(await isolatedHome(tmp)), CONTAINERS_REGISTRIES_CONF: conf };
      const store = join(tmp, 'store');
      await writeFile(conf, `unqualified-search-registries = ["${r}"]\n`);
      assert.equal((await gantry(['build', example, '-t', 'hello:dev'], { store, env })).code, 0);

      const pushed = await gantry(['push', 'hello:dev', 'team/hello:1'], { store, env });
      assert.equal(pushed.code, 0, pushed.stderr);
      assert.match(pushed.stdout, new RegExp(`^${r}/team/hello:1@sha256:[0-9a-f]{64}$`, 'm'));
      await tool('skopeo', ['inspect', '--tls-verify=false', `docker://${r}/team/hello:1`]);
      const pulled = await gantry(['pull', 'team/hello:1'], { store: join(tmp, 'store2'), env });
      assert.equal(pulled.code, 0, pulled.stderr);
      assert.match(
        (await gantry(['images'], { store: join(tmp, 'store2'), env })).stdout,
        new RegExp(`${r}/team/hello`),
      );

      // Two entries, the first one refusing connections: reads go on to the second.
      await writeFile(conf, `unqualified-search-registries = ["127.0.0.1:1", "${r}"]\n`);
      const again = await gantry(['pull', 'team/hello:1'], { store: join(tmp, 'store3'), env });
      assert.equal(again.code, 0, again.stderr);
      const digest = await gantry(['digest', 'team/hello:1'], { store, env });
      assert.equal(digest.code, 0, digest.stderr);
      assert.equal(digest.stdout.trim(), pushed.stdout.trim().split('@')[1]);
      const tags = await gantry(['tags', 'team/hello'], { store, env });
      assert.equal(tags.code, 0, tags.stderr);
      assert.match(tags.stdout, /^1$/m);
      // Writes: a short name with two candidates is a usage error naming both; nothing is pushed.
      const ambiguous = await gantry(['push', 'hello:dev', 'team/hello:2'], { store, env });
      assert.equal(ambiguous.code, 2, ambiguous.stderr);
      assert.match(ambiguous.stderr, new RegExp(`short name .*127\\.0\\.0\\.1:1, ${r}.*push`));
      const del = await gantry(['delete', 'team/hello:1'], { store, env });
      assert.equal(del.code, 2, del.stderr);
      // Nowhere to be found: every registry tried is named.
      const missing = await gantry(['pull', 'team/nothing:1'], { store, env });
      assert.equal(missing.code === 0, false);
      assert.match(missing.stderr, /127\.0\.0\.1:1: .*;/);

      const info = await gantry(['info'], { store, env });
      assert.equal(info.code, 0, info.stderr);
      assert.match(info.stdout, new RegExp(`registry config read: .*${conf.replaceAll('/', '\\/')}`));
      assert.match(info.stdout, new RegExp(`short names: +127\\.0\\.0\\.1:1, ${r}`));
    });
  } finally {
    await registry.stop();
  }
});

test('with no search list a short name is docker.io, and gantry info says so', async () => {
  await withTempDir(async (tmp) => {
    const env = { ...(await isolatedHome(tmp)), CONTAINERS_REGISTRIES_CONF: '' };
    const info = await gantry(['info'], { store: join(tmp, 'store'), env });
    assert.equal(info.code, 0, info.stderr);
    assert.match(info.stdout, /short names: +docker\.io$/m);
  });
});
