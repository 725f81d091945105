// Next.js standalone output (`output: 'standalone'`) built on the host: a prepared .next (no
// `next build` here, which would need the next package and a minute) becomes the image as Next
// lays it out: .next/standalone at /app, .next/static beside server.js, public/ from the sources,
// no dependency layer (the standalone output holds the node_modules Next traced), `node server.js`
// on 3000 with HOSTNAME=0.0.0.0; the image runs and serves the static file and public/.
import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { rawConfig, readTree, withTempDir } from './helpers.js';
import { nodeBuild as buildJson, nodeWorld, runAndFetch } from './node-helpers.js';

test('node: a Next.js standalone build ships .next/standalone with .next/static and public/, no dependency layer, and answers', {
  timeout: 300_000,
}, async () => {
  const world = await nodeWorld();
  try {
    await withTempDir(async (tmp) => {
      const env = await world.env(tmp);
      const store = join(tmp, 'store');
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
      for (const [p, body] of Object.entries(webFiles)) {
        await mkdir(join(web, p, '..'), { recursive: true });
        await writeFile(join(web, p), body);
      }
      const webRoot = join(tmp, 'rootfs-next');
      const nx = await buildJson(['--build-on', 'host', '-o', `type=local,dest=${webRoot}`, web], { store, env });
      assert.equal(nx.code, 0, nx.stderr);
      assert.equal(
        nx.steps.some((s) => s.name.startsWith('install dependencies')),
        false,
        'a dependency install ran',
      );
      const webTree = await readTree(join(webRoot, 'app'));
      for (const p of ['server.js', '.next/static/chunks/main.js', 'public/logo.txt'])
        assert.ok(webTree.has(p), `${p} missing`);
      for (const p of ['pages/index.js', '.next/cache', '.next/standalone'])
        assert.equal(webTree.has(p), false, `${p} shipped`);
      const nxTag = await buildJson(['--build-on', 'host', '-t', 'web:1', web], { store, env });
      assert.equal(nxTag.code, 0, nxTag.stderr);
      const webCfg = await rawConfig(store, 'web:1');
      assert.deepEqual(webCfg.config.Entrypoint, ['node', 'server.js']);
      assert.deepEqual(Object.keys(webCfg.config.ExposedPorts ?? {}), ['3000/tcp']);
      assert.equal(await runAndFetch(webRoot, webCfg), 'chunk logo 0.0.0.0');
    });
  } finally {
    await world.stop();
  }
});
