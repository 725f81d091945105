// The Node.js front end end to end on the Express example: `gantry build` on a directory with a
// package.json and no Dockerfile resolves node:20-slim through the docker.io mirror, installs
// the production dependencies with the base's own npm in the sandbox (the npm registry reached
// through this machine's TLS-intercepting proxy, whose CA only --ca-cert hands in), ships the app
// files without tests, .env, .git or the host's node_modules, and the image answers HTTP as the
// non-root `node` user. A source change reuses the dependency layer; the same source gives the
// same digest in another store; no credential or CA reaches a layer, the config or the history.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { cp, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { withImageRoot } from '../harness/image-root.js';
import { shelllessNodeImage } from '../harness/node-base.js';
import { gantry, rawConfig, readTree, repoRoot, withTempDir } from './helpers.js';
import { nodeBuild as buildJson, execText, HOST_CA, nodeWorld, runAndFetch, storeBytes } from './node-helpers.js';

const example = join(repoRoot, 'examples', 'node-express');
const TOKEN = 'npm_SECRETTOKEN0123456789abcdef';

test('node: the Express example builds, runs as node and answers; a source change reuses the dependency layer; same source, same digest; no secret in the image', {
  timeout: 600_000,
}, async () => {
  const world = await nodeWorld();
  try {
    await withTempDir(async (tmp) => {
      const env = { ...(await world.env(tmp)), GANTRY_TEST_NPM_TOKEN: TOKEN };
      const app = join(tmp, 'app');
      await cp(example, app, { recursive: true });
      // What must never ship: a .env, VCS data, the host's node_modules, tests, and the .npmrc
      // whose token (from the environment) the install may use.
      await writeFile(join(app, '.env'), 'DATABASE_PASSWORD=hunter2\n');
      await mkdir(join(app, '.git'));
      await writeFile(join(app, '.git', 'HEAD'), 'ref: refs/heads/main\n');
      await mkdir(join(app, 'node_modules', 'host-only'), { recursive: true });
      await writeFile(join(app, 'node_modules', 'host-only', 'index.js'), 'wrong platform\n');
      await writeFile(
        join(app, '.npmrc'),
        // npm expands ${VAR} itself: gantry hands it the variable, as a secret.
        [
          '@private:registry=https://npm.example.invalid/',
          '//npm.example.invalid/:_authToken=$' + '{GANTRY_TEST_NPM_TOKEN}',
          '',
        ].join('\n'),
      );
      // A CA of our own beside the host's bundle: its PEM lines are in no public bundle (the node
      // binary embeds the public roots), so finding one in a blob would be a leak.
      const ownCa = join(tmp, 'own-ca.pem');
      await execText('openssl', [
        'req',
        '-x509',
        '-newkey',
        'rsa:2048',
        '-nodes',
        '-keyout',
        join(tmp, 'own-ca.key'),
        '-out',
        ownCa,
        '-days',
        '2',
        '-subj',
        '/CN=gantry node test CA',
      ]);
      const store = await world.seed(join(tmp, 'store'));
      const args = ['--ca-cert', HOST_CA, '--ca-cert', ownCa, '-t', 'express:1', app];
      const first = await buildJson(args, { store, env });
      assert.equal(first.code, 0, first.stderr);
      const install = first.steps.find((s) => s.name.startsWith('install dependencies'));
      assert.ok(install, 'an install step ran');
      assert.match(install.name, /npm ci --omit=dev/);

      const cfg = await rawConfig(store, 'express:1');
      assert.deepEqual(cfg.config.Entrypoint, ['node', 'server.js']);
      assert.equal(cfg.config.WorkingDir, '/app');
      assert.equal(cfg.config.User, 'node');
      assert.ok(cfg.config.Env?.includes('NODE_ENV=production'));
      assert.deepEqual(Object.keys(cfg.config.ExposedPorts ?? {}), ['3000/tcp']);
      assert.equal(cfg.rootfs.diff_ids.length, 4, 'two base layers, dependencies, app files');

      // The image's root from the store (its layers stacked as a RUN step sees them).
      await withImageRoot(store, 'express:1', async (rootfs) => {
        const tree = await readTree(join(rootfs, 'app'));
        assert.ok(tree.has('server.js') && tree.has('package.json') && tree.has('node_modules/express/package.json'));
        for (const never of ['.env', '.git', '.npmrc', 'test', 'test/server.test.js', 'node_modules/host-only'])
          assert.equal(tree.has(never), false, `${never} shipped`);
        assert.equal(tree.has('package-lock.json'), true, 'the lockfile ships with the app files');
        const body = await runAndFetch(rootfs, cfg);
        assert.equal(body, 'hello from express (NODE_ENV=production)\n');
      });

      // No credential and no CA in any blob (layers, config, history, manifests).
      const bytes = await storeBytes(store);
      assert.equal(bytes.includes(TOKEN), false, 'the npm token leaked into the store');
      assert.equal(bytes.includes('npm.example.invalid'), false, 'the .npmrc leaked into the store');
      const caLine = (await readFile(ownCa, 'utf8')).split('\n')[5] as string;
      assert.ok(caLine.length > 60);
      assert.equal(bytes.includes(caLine), false, 'the CA bundle leaked into the store');

      // A one-file change: the dependency layer is reused (no install runs), only the app layer changes.
      await writeFile(
        join(app, 'server.js'),
        (await readFile(join(app, 'server.js'), 'utf8')).replace('hello from', 'hi from'),
      );
      const second = await buildJson(args, { store, env });
      assert.equal(second.code, 0, second.stderr);
      const reinstall = second.steps.find((s) => s.name.startsWith('install dependencies'));
      assert.equal(reinstall?.cached, true, 'the dependency layer was rebuilt for a source change');
      const cfg2 = await rawConfig(store, 'express:1');
      assert.deepEqual(cfg2.rootfs.diff_ids.slice(0, 3), cfg.rootfs.diff_ids.slice(0, 3));
      assert.notEqual(cfg2.rootfs.diff_ids[3], cfg.rootfs.diff_ids[3]);

      // The same source in a fresh store (a fresh install): the same digest.
      const digestOf = (stdout: string) => /@(sha256:[0-9a-f]{64})/.exec(stdout)?.[1];
      const again = await buildJson(args, { store: await world.seed(join(tmp, 'store2')), env });
      assert.equal(again.code, 0, again.stderr);
      assert.ok(digestOf(second.stdout));
      assert.equal(digestOf(again.stdout), digestOf(second.stdout));

      // A distroless-style base (node in /nodejs/bin, no shell, no npm): the install runs in the
      // node:20-slim tools image (here: the same cached step), its node_modules layer is copied
      // onto the shell-less base, and the entrypoint names the base's node by its path.
      const shellless = await shelllessNodeImage();
      const distroless = `${world.registry.host}/distroless/nodejs20:latest`;
      const pushed = await gantry(['copy', `oci:${shellless.layoutDir}:node`, distroless], { env });
      assert.equal(pushed.code, 0, pushed.stderr);
      const dl = await buildJson([...args.slice(0, 4), '--from', distroless, '-t', 'express:distroless', app], {
        store,
        env,
      });
      assert.equal(dl.code, 0, dl.stderr);
      assert.equal(dl.steps.find((s) => s.name.startsWith('install dependencies'))?.cached, true);
      const dlCfg = await rawConfig(store, 'express:distroless');
      assert.deepEqual(dlCfg.config.Entrypoint, ['/nodejs/bin/node', 'server.js']);
      assert.equal(dlCfg.config.User, '65532:65532');
      await withImageRoot(store, 'express:distroless', async (slim) => {
        for (const never of ['bin/sh', 'usr/bin/sh', 'usr/local/bin/npm', 'usr/local/lib/node_modules'])
          assert.equal(existsSync(join(slim, never)), false, `${never} is in the distroless image`);
        assert.ok(existsSync(join(slim, 'app', 'node_modules', 'express', 'package.json')));
        assert.equal(await runAndFetch(slim, dlCfg), 'hi from express (NODE_ENV=production)\n');
      });
    });
  } finally {
    await world.stop();
  }
});
