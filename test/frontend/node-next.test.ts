// Next.js standalone output (`output: 'standalone'`) built on the host: a prepared .next (no
// `next build` here, which would need the next package and a minute) becomes the image as Next
// lays it out: .next/standalone at /app, .next/static beside server.js, public/ from the sources,
// no dependency layer (the standalone output holds the node_modules Next traced), `node server.js`
// on 3000 with HOSTNAME=0.0.0.0; the image runs and serves the static file and public/. The same
// app as a workspace member: .next/standalone/<member>/server.js, static and public beside it.
import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { withImageRoot } from '../harness/image-root.js';
import { rawConfig, readTree, withTempDir } from './helpers.js';
import { nodeBuild as buildJson, nodeWorld, runAndFetch } from './node-helpers.js';

test('node: a Next.js standalone build ships .next/standalone with .next/static and public/, no dependency layer, and answers; as a workspace member too', {
  timeout: 300_000,
}, async () => {
  const world = await nodeWorld();
  try {
    await withTempDir(async (tmp) => {
      const env = await world.env(tmp);
      const store = await world.seed(join(tmp, 'store'));
      // Next.js standalone output built on the host (a prepared .next, no `next build` here): the
      // image is .next/standalone at /app with .next/static and public/ beside server.js.
      const web = join(tmp, 'web');
      const server = [
        "const { readFileSync } = require('node:fs');",
        "const { join } = require('node:path');",
        "const read = (p) => readFileSync(join(__dirname, p), 'utf8');",
        "require('node:http').createServer((_, res) => res.end([read('.next/static/chunks/main.js'), read('public/logo.txt'), process.env.HOSTNAME].join(' '))).listen(Number(process.env.PORT), process.env.HOSTNAME);",
      ].join('\n');
      const webFiles: Record<string, string> = {
        'package.json': JSON.stringify({
          name: 'web',
          scripts: { build: 'next build' },
          dependencies: { next: '15.1.0' },
        }),
        'next.config.js': "module.exports = { output: 'standalone' };\n",
        'public/logo.txt': 'logo',
        'pages/index.js': 'export default () => null;\n',
        '.next/standalone/server.js': server,
        '.next/standalone/package.json': '{}',
        '.next/static/chunks/main.js': 'chunk',
        '.next/cache/big.pack': 'cache',
      };
      const writeTree = async (dir: string, files: Record<string, string>) => {
        for (const [p, body] of Object.entries(files)) {
          await mkdir(join(dir, p, '..'), { recursive: true });
          await writeFile(join(dir, p), body);
        }
      };
      await writeTree(web, webFiles);
      const nx = await buildJson(['--build-on', 'host', '-t', 'web:1', web], { store, env });
      assert.equal(nx.code, 0, nx.stderr);
      assert.equal(
        nx.steps.some((s) => s.name.startsWith('install dependencies')),
        false,
        'a dependency install ran',
      );
      const webCfg = await rawConfig(store, 'web:1');
      assert.deepEqual(webCfg.config.Entrypoint, ['node', 'server.js']);
      assert.deepEqual(Object.keys(webCfg.config.ExposedPorts ?? {}), ['3000/tcp']);
      await withImageRoot(store, 'web:1', async (root) => {
        const webTree = await readTree(join(root, 'app'));
        for (const p of ['server.js', '.next/static/chunks/main.js', 'public/logo.txt'])
          assert.ok(webTree.has(p), `${p} missing`);
        for (const p of ['pages/index.js', '.next/cache', '.next/standalone'])
          assert.equal(webTree.has(p), false, `${p} shipped`);
        assert.equal(await runAndFetch(root, webCfg), 'chunk logo 0.0.0.0');
      });

      // The same app as a member of an npm workspace (apps/web): Next traces from the workspace
      // root, so server.js is at .next/standalone/apps/web/; static and public go beside it.
      const mono = join(tmp, 'mono');
      const member = Object.fromEntries(
        Object.entries(webFiles)
          .filter(([p]) => !p.startsWith('.next/standalone/'))
          .map(([p, body]) => [`apps/web/${p}`, p === 'package.json' ? body.replace('"web"', '"@mono/web"') : body]),
      );
      await writeTree(mono, {
        'package.json': JSON.stringify({ name: 'mono', private: true, workspaces: ['apps/*'] }),
        'package-lock.json': JSON.stringify({ name: 'mono', lockfileVersion: 3, packages: {} }),
        ...member,
        'apps/web/.next/standalone/apps/web/server.js': server,
        'apps/web/.next/standalone/apps/web/package.json': '{}',
        'apps/web/.next/standalone/node_modules/next/package.json': '{}',
      });
      const ws = await buildJson(['--build-on', 'host', '--workspace', '@mono/web', '-t', 'mono:1', mono], {
        store,
        env,
      });
      assert.equal(ws.code, 0, ws.stderr);
      const monoCfg = await rawConfig(store, 'mono:1');
      assert.equal(monoCfg.config.WorkingDir, '/app/apps/web');
      assert.deepEqual(monoCfg.config.Entrypoint, ['node', 'server.js']);
      await withImageRoot(store, 'mono:1', async (root) => {
        const tree = await readTree(join(root, 'app'));
        for (const p of [
          'apps/web/server.js',
          'apps/web/.next/static/chunks/main.js',
          'apps/web/public/logo.txt',
          'node_modules/next/package.json',
        ])
          assert.ok(tree.has(p), `${p} missing`);
        for (const p of ['apps/web/pages/index.js', 'apps/web/.next/cache', 'apps/web/.next/standalone', '.next'])
          assert.equal(tree.has(p), false, `${p} shipped`);
        assert.equal(await runAndFetch(root, monoCfg), 'chunk logo 0.0.0.0');
      });
    });
  } finally {
    await world.stop();
  }
});
