// The Node.js front end on the Fastify + TypeScript example: the build script (tsc) runs in a
// build stage on the base with the devDependencies, only its output (dist/, the `files` field)
// ships beside the production dependencies, and `node dist/server.js` answers. `--build-on host`
// ships the host's dist/ instead and reuses the dependency layer. `--dry-run` explains the plan
// without building.
import assert from 'node:assert/strict';
import { cp, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { withImageRoot } from '../harness/image-root.js';
import { gantry, rawConfig, readTree, repoRoot, withTempDir } from './helpers.js';
import { HOST_CA, nodeBuild, nodeWorld, runAndFetch } from './node-helpers.js';

const example = join(repoRoot, 'examples', 'node-fastify-ts');

test('node: --dry-run prints the plan of the TypeScript example (base, layers, entrypoint, port, user) and builds nothing', async () => {
  await withTempDir(async (tmp) => {
    const store = join(tmp, 'store');
    const r = await gantry(['build', '--dry-run', example], { store });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^frontend: {3}node {2}\(package\.json makes it a Node\.js project\)$/m);
    assert.match(
      r.stdout,
      /^base: {7}node:20-slim {2}\(the default for node 20 \(engines\.node "20" in package\.json\)\)$/m,
    );
    assert.match(
      r.stdout,
      /^ {2}1\. dependencies: npm ci --omit=dev {2}\(production dependencies, from package-lock\.json, installed in the base\)$/m,
    );
    assert.match(r.stdout, /^ {2}2\. build output dist {2}\(built in a stage: npm ci, then npm run build\)$/m);
    // The files field ships package.json and README.md; dist/ is the build's layer.
    assert.match(r.stdout, /^ {2}3\. app files \/app \(2 files, [\d.]+ (?:B|KiB)\) {2}\("files" of package\.json\)$/m);
    assert.match(r.stdout, /^entrypoint: \["node","dist\/server\.js"\] {2}\("main" in package\.json\)$/m);
    assert.match(r.stdout, /^ports: {6}3000 {2}\(the port the code listens on\)$/m);
    assert.match(r.stdout, /^user: {7}node /m);
    assert.match(r.stdout, /^env: {8}NODE_ENV=production$/m);
    const v = await gantry(['build', '--dry-run', '-v', example], { store });
    assert.match(v.stdout, /^ {2}framework: Fastify -- "fastify" is a dependency and the source uses it$/m);
    assert.match(v.stdout, /^ {2}package-manager: npm -- package-lock\.json is there$/m);
  });
});

test('node: the TypeScript example is built in a stage, ships dist/ without devDependencies or sources, and answers; --build-on host ships the host output', {
  timeout: 600_000,
}, async () => {
  const world = await nodeWorld();
  try {
    await withTempDir(async (tmp) => {
      const env = await world.env(tmp);
      const app = join(tmp, 'app');
      await cp(example, app, { recursive: true });
      const store = await world.seed(join(tmp, 'store'));
      const r = await nodeBuild(['--ca-cert', HOST_CA, '-t', 'fastify:1', app], { store, env });
      assert.equal(r.code, 0, r.stderr);
      assert.ok(r.steps.some((s) => s.name.startsWith('build: .: npm run build') && s.done));
      const cfg = await rawConfig(store, 'fastify:1');
      assert.deepEqual(cfg.config.Entrypoint, ['node', 'dist/server.js']);
      assert.equal(cfg.rootfs.diff_ids.length, 5, 'two base layers, dependencies, build output, app files');
      await withImageRoot(store, 'fastify:1', async (rootfs) => {
        const tree = await readTree(join(rootfs, 'app'));
        assert.ok(tree.has('dist/server.js'), 'the build output ships');
        assert.ok(tree.has('node_modules/fastify/package.json'), 'the production dependencies ship');
        assert.equal(tree.has('node_modules/typescript'), false, 'a devDependency shipped');
        assert.equal(tree.has('src/server.ts'), false, 'sources outside "files" shipped');
        assert.equal(tree.has('tsconfig.json'), false);
        const body = JSON.parse(await runAndFetch(rootfs, cfg)) as Record<string, unknown>;
        assert.deepEqual(body, { hello: 'fastify', typescript: true, env: 'production' });
      });

      // --build-on host: the host's dist/ ships, the build stage does not run, the dependencies are reused.
      await mkdir(join(app, 'dist'));
      await writeFile(
        join(app, 'dist', 'server.js'),
        "import Fastify from 'fastify';\nconst app = Fastify();\napp.get('/', async () => ({ built: 'on the host' }));\nawait app.listen({ port: Number(process.env.PORT ?? 3000), host: '0.0.0.0' });\n",
      );
      const h = await nodeBuild(['--build-on', 'host', '--ca-cert', HOST_CA, '-t', 'fastify:host', app], {
        store,
        env,
      });
      assert.equal(h.code, 0, h.stderr);
      assert.equal(h.steps.find((s) => s.name.startsWith('install dependencies'))?.cached, true);
      assert.equal(
        h.steps.some((s) => s.name.startsWith('build:')),
        false,
        'the build stage ran with --build-on host',
      );
      await withImageRoot(store, 'fastify:host', async (hostRoot) => {
        assert.deepEqual(JSON.parse(await runAndFetch(hostRoot, cfg)), { built: 'on the host' });
      });
    });
  } finally {
    await world.stop();
  }
});
