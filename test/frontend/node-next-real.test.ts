// A real Next.js app: `next build` (next 15, output: 'standalone') run on the host once per
// machine (test/harness/next-app.ts), then `gantry build --build-on host`: Next is detected from
// the dependency and next.config, the image is the real standalone output at /app with
// .next/static and public/ beside server.js, no dependency layer, `node server.js` on 3000; Next's
// own server runs in the sandbox and serves the prerendered page and a public file.
// node-next.test.ts pins the layout rules (workspace members too) on a prepared .next.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { fixturesDir } from '../harness/fixtures.js';
import { withImageRoot } from '../harness/image-root.js';
import { NEXT_GREETING, NEXT_VERSION, nextApp } from '../harness/next-app.js';
import { nodeBaseImage } from '../harness/node-base.js';
import { rawConfig, readTree, withTempDir } from './helpers.js';
import { nodeBuild, nodeWorld, runAndFetch } from './node-helpers.js';

test(`node: a real Next.js ${NEXT_VERSION} standalone build (next build on the host) becomes an image whose Next server answers`, {
  timeout: 600_000,
}, async () => {
  const app = await nextApp();
  const world = await nodeWorld();
  try {
    await withTempDir(async (tmp) => {
      const env = await world.env(tmp);
      const store = join(tmp, 'store');
      const r = await nodeBuild(['--build-on', 'host', '-t', 'next-real:1', app], { store, env });
      assert.equal(r.code, 0, r.stderr);
      assert.equal(
        r.steps.some((s) => s.name.startsWith('install dependencies')),
        false,
        'a dependency install ran: the standalone output brings its own node_modules',
      );
      const cfg = await rawConfig(store, 'next-real:1');
      assert.deepEqual(cfg.config.Entrypoint, ['node', 'server.js']);
      assert.equal(cfg.config.WorkingDir, '/app');
      assert.deepEqual(Object.keys(cfg.config.ExposedPorts ?? {}), ['3000/tcp']);
      // The base's layers (a cached fixture) are extracted once per machine, not once per run.
      const base = await nodeBaseImage();
      const sharedLayers = {
        dir: join(fixturesDir(), 'layer-cache'),
        shared: (digest: string) => existsSync(join(base.layoutDir, 'blobs', ...digest.split(':'))),
      };
      await withImageRoot(
        store,
        'next-real:1',
        async (root) => {
          const tree = await readTree(join(root, 'app'));
          for (const p of [
            'server.js',
            '.next/BUILD_ID',
            '.next/server/pages/index.html',
            'node_modules/next/package.json',
            'node_modules/react/package.json',
            'public/logo.txt',
          ])
            assert.ok(tree.has(p), `${p} missing`);
          assert.ok(
            [...tree.keys()].some((p) => p.startsWith('.next/static/chunks/')),
            '.next/static was not put beside server.js',
          );
          for (const p of ['pages/index.js', 'next.config.js', '.next/standalone', '.next/cache'])
            assert.equal(tree.has(p), false, `${p} shipped`);
          const page = await runAndFetch(root, cfg);
          assert.match(page, new RegExp(NEXT_GREETING), 'the page does not show what pages/index.js renders');
          assert.equal(await runAndFetch(root, cfg, { path: '/logo.txt' }), 'logo\n');
        },
        { sharedLayers },
      );
    });
  } finally {
    await world.stop();
  }
});
