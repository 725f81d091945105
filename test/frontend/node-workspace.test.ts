// The Node.js front end on a pnpm workspace: `--workspace @example/api` installs with the pnpm
// that `packageManager` names (from the npm registry, inside the base), only the member's
// production dependency closure (its workspace dependency and ms; not the tools member nor its
// left-pad), ships those members' files, and the image answers through the workspace link.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { withImageRoot } from '../harness/image-root.js';
import { rawConfig, repoRoot, withTempDir } from './helpers.js';
import { HOST_CA, nodeBuild, nodeWorld, runAndFetch } from './node-helpers.js';

const example = join(repoRoot, 'examples', 'node-pnpm-workspace');

test('node: a pnpm workspace member builds with only the members and packages it needs, and answers', {
  timeout: 900_000,
}, async () => {
  const world = await nodeWorld();
  try {
    await withTempDir(async (tmp) => {
      const env = await world.env(tmp);
      const store = await world.seed(join(tmp, 'store'));
      const r = await nodeBuild(['--workspace', '@example/api', '--ca-cert', HOST_CA, '-t', 'api:1', example], {
        store,
        env,
      });
      assert.equal(r.code, 0, r.stderr);
      const install = r.steps.find((s) => s.name.startsWith('install dependencies'));
      assert.match(
        install?.name ?? '',
        /pnpm@9\.15\.9 -- pnpm install --frozen-lockfile --prod --filter=@example\/api\.\.\./,
      );
      const cfg = await rawConfig(store, 'api:1');
      assert.equal(cfg.config.WorkingDir, '/app/packages/api');
      assert.deepEqual(cfg.config.Entrypoint, ['node', 'server.js']);
      await withImageRoot(store, 'api:1', async (rootfs) => {
        const app = join(rootfs, 'app');
        assert.ok(existsSync(join(app, 'packages', 'api', 'server.js')));
        assert.ok(existsSync(join(app, 'packages', 'greeting', 'index.js')), 'the workspace dependency ships');
        assert.equal(existsSync(join(app, 'packages', 'tools')), false, 'a member the api does not need shipped');
        const store_ = await readdir(join(app, 'node_modules', '.pnpm'));
        assert.ok(
          store_.some((d) => d.startsWith('ms@')),
          store_.join(' '),
        );
        assert.equal(
          store_.some((d) => d.startsWith('left-pad@')),
          false,
          'a dependency of another member was installed',
        );
        const body = await runAndFetch(rootfs, cfg);
        assert.equal(body, 'hello api from a pnpm workspace (a day is 86400000 ms)\n');
      });
    });
  } finally {
    await world.stop();
  }
});
