// The Node.js front end with a native addon: better-sqlite3 has no reachable prebuilt binary
// here (GitHub is not reachable), so `npm ci` in the base compiles it with node-gyp against the
// base's own Node headers (nodejs.org is not reachable either), for the target platform. The
// compiled addon is in the dependency layer and the app answers with SQLite's version.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { rawConfig, repoRoot, withTempDir } from './helpers.js';
import { HOST_CA, nodeBuild, nodeWorld, runAndFetch } from './node-helpers.js';

const example = join(repoRoot, 'examples', 'node-native');
/** What node:20 (not slim) adds that node-gyp needs. */
export const COMPILERS = ['python3', 'make', 'g++'];

test('node: a native addon (better-sqlite3) is compiled in the base for the target platform, and the app answers', {
  timeout: 1_500_000,
}, async () => {
  const world = await nodeWorld({ include: COMPILERS });
  try {
    await withTempDir(async (tmp) => {
      const env = await world.env(tmp);
      const store = join(tmp, 'store');
      const rootfs = join(tmp, 'rootfs');
      const r = await nodeBuild(['--ca-cert', HOST_CA, '-t', 'native:1', '-o', `type=local,dest=${rootfs}`, example], {
        store,
        env,
      });
      assert.equal(r.code, 0, r.stderr.slice(-4000));
      const addon = join(rootfs, 'app', 'node_modules', 'better-sqlite3', 'build', 'Release', 'better_sqlite3.node');
      assert.ok(existsSync(addon), 'the compiled addon is in the image');
      const cfg = await rawConfig(store, 'native:1');
      const body = await runAndFetch(rootfs, cfg);
      assert.match(body, /^sqlite 3\.\d+\.\d+ on x64, visits 1\n$/);
    });
  } finally {
    await world.stop();
  }
});
