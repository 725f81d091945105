// The Node.js front end's decisions, from project files alone (no image, no install): package
// manager, Node.js major, entrypoint, framework and port, workspaces, install commands and the
// manifest they see, which files ship, and the refusals (each a GantryError with its code).
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { GantryError } from '../../src/errors.js';
import { detectFramework, parseStartScript, portInCode, resolveEntry } from '../../src/frontend/node/entry.js';
import { nodeFiles } from '../../src/frontend/node/files.js';
import { installManifest, installPlan } from '../../src/frontend/node/install.js';
import { detectPackageManager, majorOf, nodeMajor, readPackageJson } from '../../src/frontend/node/package.js';
import { planNode } from '../../src/frontend/node/plan.js';
import { installSecrets } from '../../src/frontend/node/secrets.js';
import { selectWorkspace, workspaceMembers } from '../../src/frontend/node/workspace.js';
import { countFiles } from '../../src/frontend/project/files.js';
import { gantry } from './helpers.js';

async function tree(files: Record<string, string>): Promise<string> {
  const root = await mkdtemp(join(tmpdir(), 'gantry-node-unit-'));
  for (const [path, content] of Object.entries(files)) {
    await mkdir(dirname(join(root, path)), { recursive: true });
    await writeFile(join(root, path), content);
  }
  return root;
}

async function withTree<T>(files: Record<string, string>, fn: (root: string) => Promise<T>): Promise<T> {
  const root = await tree(files);
  try {
    return await fn(root);
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}

function code(c: string) {
  return (err: unknown) => {
    assert.ok(GantryError.is(err), String(err));
    assert.equal(err.code, c, err.message);
    return true;
  };
}

test('package manager: packageManager first, then the lockfile (npm, pnpm, yarn classic and berry), else npm; two kinds of lockfile are refused', async () => {
  const cases: [Record<string, string>, string, string | undefined][] = [
    [{ 'package-lock.json': '{}' }, 'npm', undefined],
    [{ 'pnpm-lock.yaml': "lockfileVersion: '9.0'\n" }, 'pnpm', undefined],
    [{ 'yarn.lock': '# yarn lockfile v1\n' }, 'yarn', 'classic'],
    [{ 'yarn.lock': '__metadata:\n  version: 8\n' }, 'yarn', 'berry'],
    [{}, 'npm', undefined],
  ];
  for (const [files, name, flavor] of cases) {
    await withTree({ 'package.json': '{}', ...files }, async (root) => {
      const pm = await detectPackageManager(root, await readPackageJson(root));
      assert.equal(pm.name, name, JSON.stringify(files));
      assert.equal(pm.flavor, flavor);
    });
  }
  await withTree(
    { 'package.json': '{"packageManager":"pnpm@9.12.0+sha512.abc"}', 'package-lock.json': '{}' },
    async (root) => {
      const pm = await detectPackageManager(root, await readPackageJson(root));
      assert.deepEqual([pm.name, pm.version, pm.lockfile], ['pnpm', '9.12.0', undefined]);
    },
  );
  await withTree({ 'package.json': '{}', 'package-lock.json': '{}', 'yarn.lock': '' }, async (root) => {
    await assert.rejects(detectPackageManager(root, await readPackageJson(root)), code('NODE_LOCKFILES_CONFLICT'));
  });
  await withTree({ 'package.json': '{"packageManager":"bun@1"}' }, async (root) => {
    await assert.rejects(detectPackageManager(root, await readPackageJson(root)), code('NODE_PACKAGE_JSON_INVALID'));
  });
  await withTree({ 'package.json': '{"dependencies": ["express"]}' }, async (root) => {
    await assert.rejects(readPackageJson(root), code('NODE_PACKAGE_JSON_INVALID'));
  });
});

test('node version: engines.node, then .nvmrc, then .node-version, then 20; ">=18" is served by the default', async () => {
  assert.equal(majorOf('^22.1.0'), 22);
  assert.equal(majorOf('lts/*'), undefined);
  const major = async (files: Record<string, string>) =>
    withTree(files, async (root) => (await nodeMajor(root, await readPackageJson(root))).major);
  assert.equal(await major({ 'package.json': '{"engines":{"node":"22.x"}}', '.nvmrc': '18' }), 22);
  assert.equal(await major({ 'package.json': '{"engines":{"node":">=18"}}' }), 20);
  assert.equal(await major({ 'package.json': '{}', '.nvmrc': 'v18.19.0\n' }), 18);
  assert.equal(await major({ 'package.json': '{}', '.node-version': '22' }), 22);
  assert.equal(await major({ 'package.json': '{}' }), 20);
});

test('entrypoint: bin, main, exports, scripts.start as node FILE, then a conventional file; never npm start', () => {
  const none = () => false;
  assert.deepEqual(
    resolveEntry({ name: '@x/cli', bin: { cli: './bin/cli.js', other: 'o.js' }, main: 'm.js' }, none).args,
    ['bin/cli.js'],
  );
  assert.deepEqual(resolveEntry({ main: './lib/index.js', scripts: { start: 'node s.js' } }, none).args, [
    'lib/index.js',
  ]);
  assert.deepEqual(resolveEntry({ exports: { '.': { import: './esm/i.js', require: './cjs/i.js' } } }, none).args, [
    'esm/i.js',
  ]);
  assert.deepEqual(
    resolveEntry({ scripts: { start: 'NODE_OPTIONS=x node --enable-source-maps dist/main.js' } }, none).args,
    ['--enable-source-maps', 'dist/main.js'],
  );
  assert.equal(parseStartScript('npm run build && node x.js'), undefined);
  assert.equal(parseStartScript('node -r dotenv/config x.js'), undefined);
  assert.deepEqual(resolveEntry({ scripts: { start: 'nodemon x' } }, (f) => f === 'server.js').args, ['server.js']);
  assert.throws(() => resolveEntry({}, none), code('NODE_NO_ENTRYPOINT'));
});

test('framework and port: a dependency the source imports, the port from the code, else the framework default', async () => {
  assert.equal(portInCode('app.listen(8080)'), 8080);
  assert.equal(portInCode('const port = Number(process.env.PORT ?? 4000);'), 4000);
  assert.equal(portInCode("app.listen({ port: process.env.PORT || '5000' })"), 5000);
  assert.equal(portInCode('console.log(42)'), undefined);
  await withTree({ 'src/main.ts': "import { NestFactory } from '@nestjs/core';\n" }, async (root) => {
    const d = await detectFramework(root, ['@nestjs/core', 'express']);
    assert.equal(d.framework?.name, 'NestJS');
    assert.equal(d.port, 3000);
  });
  await withTree({ 'index.js': "const Koa = require('koa');\nnew Koa().listen(8081);\n" }, async (root) => {
    const d = await detectFramework(root, ['koa']);
    assert.deepEqual([d.framework?.name, d.port], ['Koa', 8081]);
  });
  // A dependency the code never imports is not the framework.
  await withTree({ 'index.js': 'require("http").createServer().listen(9000)\n' }, async (root) => {
    const d = await detectFramework(root, ['express']);
    assert.equal(d.framework, undefined);
    assert.equal(d.port, 9000);
  });
});

test('ports = [] in the project configuration exposes no port, whatever the code listens on (a command-line tool)', async () => {
  const files = {
    'package.json': '{"name":"tool","bin":{"tool":"cli.js"},"gantry":{"ports":[]}}',
    'cli.js': 'require("http").createServer().listen(9000)\n',
  };
  await withTree(files, async (root) => {
    assert.deepEqual((await planNode({ context: root })).ports, []);
    assert.deepEqual((await planNode({ context: root, expose: ['8080'] })).ports, ['8080'], 'a flag still wins');
  });
  await withTree({ ...files, 'package.json': '{"name":"tool","bin":{"tool":"cli.js"}}' }, async (root) => {
    assert.deepEqual((await planNode({ context: root })).ports, ['9000'], 'without the key the code decides');
  });
});

test('workspaces: pnpm-workspace.yaml and "workspaces" globs; --workspace takes the member and the members it needs, nothing else', async () => {
  await withTree(
    {
      'package.json': '{"name":"root","private":true}',
      'pnpm-workspace.yaml': "packages:\n  - 'packages/*'\n  - '!packages/ignored'\n",
      'pnpm-lock.yaml': "lockfileVersion: '9.0'\n",
      'packages/api/package.json': '{"name":"@w/api","dependencies":{"@w/lib":"workspace:*","fastify":"^5"}}',
      'packages/lib/package.json':
        '{"name":"@w/lib","dependencies":{"@w/util":"workspace:*"},"devDependencies":{"@w/web":"workspace:*"}}',
      'packages/util/package.json': '{"name":"@w/util"}',
      'packages/web/package.json': '{"name":"@w/web"}',
      'packages/ignored/package.json': '{"name":"@w/ignored"}',
    },
    async (root) => {
      const pkg = await readPackageJson(root);
      const pm = await detectPackageManager(root, pkg);
      const members = await workspaceMembers(root, pkg, pm);
      assert.deepEqual(
        members.map((m) => m.dir),
        ['packages/api', 'packages/lib', 'packages/util', 'packages/web'],
      );
      const { selected, needed } = selectWorkspace(members, '@w/api');
      assert.equal(selected.dir, 'packages/api');
      assert.deepEqual(
        needed.map((m) => m.pkg.name),
        ['@w/api', '@w/lib', '@w/util'],
      );
      assert.equal(selectWorkspace(members, 'packages/web').selected.pkg.name, '@w/web');
      assert.throws(() => selectWorkspace(members, 'nope'), code('NODE_WORKSPACE_NOT_FOUND'));
      const plan = await installPlan({ root, pkg, pm, members, selected, dev: false });
      assert.ok(plan.argv.includes('--filter=@w/api...'), plan.shown);
      assert.ok(plan.argv.includes('--prod') && plan.argv.includes('--frozen-lockfile'));
      assert.deepEqual(plan.staged.map((f) => f.path).sort(), [
        'package.json',
        'packages/api/package.json',
        'packages/lib/package.json',
        'packages/util/package.json',
        'packages/web/package.json',
        'pnpm-lock.yaml',
        'pnpm-workspace.yaml',
      ]);
    },
  );
  await withTree({ 'package.json': '{"name":"solo"}' }, async (root) => {
    await assert.rejects(planNode({ context: root, workspace: 'x' }), code('NODE_WORKSPACE_NOT_FOUND'));
  });
});

test('install: the manifest the install sees holds only dependency fields, so scripts or main changes keep the layer', async () => {
  const a = installManifest({
    name: 'a',
    version: '1.0.0',
    main: 'x.js',
    scripts: { start: 'node x.js' },
    dependencies: { y: '1' },
  });
  const b = installManifest({
    name: 'a',
    version: '1.0.0',
    main: 'z.js',
    scripts: { build: 'tsc' },
    dependencies: { y: '1' },
  });
  assert.equal(a, b);
  assert.deepEqual(JSON.parse(a), { name: 'a', version: '1.0.0', dependencies: { y: '1' } });
  await withTree({ 'package.json': '{"name":"a"}', 'package-lock.json': '{}' }, async (root) => {
    const pkg = await readPackageJson(root);
    const pm = await detectPackageManager(root, pkg);
    assert.deepEqual((await installPlan({ root, pkg, pm, members: [], dev: false })).argv, ['npm', 'ci', '--omit=dev']);
    assert.deepEqual((await installPlan({ root, pkg, pm, members: [], dev: true })).argv, ['npm', 'ci']);
  });
  await withTree({ 'package.json': '{"name":"a"}', 'yarn.lock': '' }, async (root) => {
    const pkg = await readPackageJson(root);
    const pm = await detectPackageManager(root, pkg);
    const p = await installPlan({ root, pkg, pm, members: [], dev: false });
    assert.ok(p.argv.includes('yarn@1.22.22') || p.argv.some((w) => w.includes('yarn@1.22.22')), p.shown);
    assert.ok(p.argv.includes('--production') && p.argv.includes('--frozen-lockfile'), p.shown);
  });
});

test('app files: never .env*, .npmrc, .git, tests or the host node_modules; "files" narrows; ignore files apply', async () => {
  await withTree(
    {
      'package.json': '{}',
      'server.js': 'x',
      'lib/a.js': 'x',
      'lib/a.test.js': 'x',
      'test/t.js': 'x',
      '.env': 'SECRET=1',
      '.env.production': 'SECRET=1',
      '.npmrc': '//r/:_authToken=x',
      '.git/HEAD': 'x',
      'node_modules/x/index.js': 'x',
      'notes.md': 'x',
      '.dockerignore': 'notes.md\n',
    },
    async (root) => {
      const shipped: string[] = [];
      const { walkDirectory } = await import('../../src/layer/walk.js');
      for await (const { entry } of walkDirectory(root, { filter: await nodeFiles(root) }))
        if (entry.type === 'file') shipped.push(entry.path);
      assert.deepEqual(shipped.sort(), ['lib/a.js', 'package.json', 'server.js']);
      const narrowed = await nodeFiles(root, { files: ['lib'] });
      assert.deepEqual(await countFiles(root, narrowed), { files: 2, bytes: 3 });
    },
  );
});

test('app files: a committed dist/ ships when no build script makes it; a build output stays out of the app layer', async () => {
  const { appFilter } = await import('../../src/frontend/node/build.js');
  const shippedBy = async (root: string): Promise<string[]> => {
    const plan = await planNode({ context: root });
    const { walkDirectory } = await import('../../src/layer/walk.js');
    const outDirs = plan.builds.map((b) => b.output);
    const out: string[] = [];
    for await (const { entry } of walkDirectory(root, { filter: await appFilter(plan, outDirs) }))
      if (entry.type === 'file') out.push(entry.path);
    return out.sort();
  };
  const files = { 'dist/index.js': 'x', 'dist/lib/util.js': 'x' };
  await withTree({ 'package.json': '{"main":"dist/index.js"}', ...files }, async (root) => {
    assert.deepEqual((await planNode({ context: root })).entrypoint, ['node', 'dist/index.js']);
    assert.deepEqual(await shippedBy(root), ['dist/index.js', 'dist/lib/util.js', 'package.json']);
  });
  await withTree(
    { 'package.json': '{"main":"dist/index.js","scripts":{"build":"tsc"}}', 'src/index.ts': 'x', ...files },
    async (root) => assert.deepEqual(await shippedBy(root), ['package.json', 'src/index.ts']),
  );
});

test('Next.js standalone: .next/standalone is the app with .next/static beside server.js, public/ from the sources; node server.js on 3000; no dependency layer', async () => {
  const { appFilter } = await import('../../src/frontend/node/build.js');
  const { publicOnly, standaloneEntries } = await import('../../src/frontend/node/next.js');
  const { walkDirectory } = await import('../../src/layer/walk.js');
  const project = {
    'package.json': JSON.stringify({
      name: 'web',
      scripts: { build: 'next build', start: 'next start' },
      dependencies: { next: '15.1.0', react: '19.0.0' },
    }),
    'next.config.mjs': "export default { output: 'standalone' };\n",
    'pages/index.js': 'export default () => null;\n',
    'public/logo.txt': 'logo',
    '.next/standalone/server.js': 'server',
    '.next/standalone/package.json': '{}',
    '.next/standalone/node_modules/next/package.json': '{}',
    '.next/standalone/.next/server/pages/index.js': 'x',
    '.next/static/chunks/main.js': 'x',
    '.next/cache/webpack/x.pack': 'x',
    'node_modules/next/package.json': '{}',
  };
  await withTree(project, async (root) => {
    const plan = await planNode({ context: root });
    assert.equal(plan.nextStandalone, true);
    assert.deepEqual(plan.builds, [{ dir: '', output: '.next' }]);
    assert.deepEqual(plan.entrypoint, ['node', 'server.js']);
    assert.deepEqual(plan.ports, ['3000']);
    assert.ok(plan.env.includes('HOSTNAME=0.0.0.0'));
    const { projectPlanOf } = await import('../../src/frontend/node/plan.js');
    const names = projectPlanOf(plan, ['linux/amd64']).layers.map((l) => l.name);
    assert.equal(
      names.some((n) => n.startsWith('dependencies')),
      false,
      'a dependency layer beside the standalone output',
    );
    const paths: string[] = [];
    for await (const { entry } of standaloneEntries(root, 'app', 0)) paths.push(entry.path.replace(/\/+$/, ''));
    assert.equal(new Set(paths).size, paths.length, 'an entry twice');
    const files = new Set(paths);
    for (const p of [
      'app/server.js',
      'app/node_modules/next/package.json',
      'app/.next/server/pages/index.js',
      'app/.next/static/chunks/main.js',
    ])
      assert.ok(files.has(p), `${p} missing from ${paths.join(' ')}`);
    assert.equal(
      paths.some((p) => p.includes('cache') || (p.includes('pages/index.js') && !p.includes('.next/server'))),
      false,
    );
    const shipped: string[] = [];
    const filter = publicOnly(await appFilter(plan, ['.next']));
    for await (const { entry } of walkDirectory(root, { filter })) if (entry.type === 'file') shipped.push(entry.path);
    assert.deepEqual(shipped, ['public/logo.txt']);
  });
  // Without output: 'standalone' (or without a build script), the usual layout.
  const custom = { ...project, 'next.config.mjs': 'export default {};\n', 'server.js': 'custom server' };
  custom['package.json'] = JSON.stringify({ ...JSON.parse(project['package.json']), main: 'server.js' });
  await withTree(custom, async (root) => {
    assert.equal((await planNode({ context: root })).nextStandalone, false);
  });
});

test('Next.js standalone in a workspace: <member>/.next/standalone (traced from the workspace root) is the app, server.js at /app/<member>, static and public beside it', async () => {
  const { appFilter } = await import('../../src/frontend/node/build.js');
  const { publicOnly, standaloneEntries } = await import('../../src/frontend/node/next.js');
  const { projectPlanOf } = await import('../../src/frontend/node/plan.js');
  const { walkDirectory } = await import('../../src/layer/walk.js');
  const web = 'apps/web';
  const project: Record<string, string> = {
    'package.json': JSON.stringify({ name: 'mono', private: true, workspaces: ['apps/*', 'packages/*'] }),
    'package-lock.json': JSON.stringify({ name: 'mono', lockfileVersion: 3, packages: {} }),
    'apps/web/package.json': JSON.stringify({
      name: '@mono/web',
      scripts: { build: 'next build' },
      dependencies: { next: '15.1.0', '@mono/ui': '*' },
    }),
    'apps/web/next.config.js': "module.exports = { output: 'standalone' };\n",
    'apps/web/pages/index.js': 'export default () => null;\n',
    'apps/web/public/logo.txt': 'logo',
    'apps/web/.next/standalone/node_modules/next/package.json': '{}',
    'apps/web/.next/standalone/apps/web/server.js': 'server',
    'apps/web/.next/standalone/apps/web/package.json': '{}',
    'apps/web/.next/standalone/apps/web/.next/server/pages/index.js': 'x',
    'apps/web/.next/standalone/packages/ui/index.js': 'traced',
    'apps/web/.next/static/chunks/main.js': 'x',
    'apps/web/.next/cache/webpack/x.pack': 'x',
    'packages/ui/package.json': JSON.stringify({ name: '@mono/ui', main: 'index.js' }),
    'packages/ui/index.js': 'ui',
    'apps/admin/package.json': JSON.stringify({ name: '@mono/admin', dependencies: { next: '15.1.0' } }),
  };
  await withTree(project, async (root) => {
    const plan = await planNode({ context: root, workspace: '@mono/web' });
    assert.equal(plan.nextStandalone, true);
    assert.equal(plan.workdir, `/app/${web}`);
    assert.deepEqual(plan.entrypoint, ['node', 'server.js']);
    assert.equal(plan.entryWhy, `Next.js standalone output (${web}/.next/standalone/${web}/server.js)`);
    assert.ok(plan.builds.some((b) => b.dir === web && b.output === '.next'));
    assert.deepEqual(plan.ports, ['3000']);
    const names = projectPlanOf(plan, ['linux/amd64']).layers.map((l) => l.name);
    assert.deepEqual(names.slice(0, 1), [
      `Next.js standalone output: ${web}/.next/standalone as /app, ${web}/.next/static as /app/${web}/.next/static`,
    ]);
    const paths: string[] = [];
    for await (const { entry } of standaloneEntries(root, 'app', 0, undefined, web))
      paths.push(entry.path.replace(/\/+$/, ''));
    assert.equal(new Set(paths).size, paths.length, 'an entry twice');
    const files = new Set(paths);
    for (const p of [
      `app/${web}/server.js`,
      'app/node_modules/next/package.json',
      'app/packages/ui/index.js',
      `app/${web}/.next/server/pages/index.js`,
      `app/${web}/.next/static/chunks/main.js`,
    ])
      assert.ok(files.has(p), `${p} missing from ${paths.join(' ')}`);
    assert.equal(
      paths.some((p) => p.includes('cache') || p.startsWith('app/.next') || p.startsWith('app/apps/admin')),
      false,
      paths.join(' '),
    );
    const shipped: string[] = [];
    const filter = publicOnly(await appFilter(plan, [`${web}/.next`]), plan.dir);
    for await (const { entry } of walkDirectory(root, { filter })) if (entry.type === 'file') shipped.push(entry.path);
    assert.deepEqual(shipped, [`${web}/public/logo.txt`]);
  });
  // Traced from the member's own directory (server.js at the top of its standalone tree): a clear error.
  const flat: Record<string, string> = { ...project, 'apps/web/.next/standalone/server.js': 'server' };
  delete flat['apps/web/.next/standalone/apps/web/server.js'];
  await withTree(flat, async (root) => {
    const plan = await planNode({ context: root, workspace: '@mono/web' });
    await assert.rejects(
      async () => {
        for await (const _ of standaloneEntries(root, 'app', 0, undefined, plan.dir));
      },
      (err: GantryError) =>
        err.code === 'NODE_BUILD_OUTPUT_MISSING' &&
        err.message === `the Next.js build of workspace ${web} left no ${web}/.next/standalone/${web}/server.js` &&
        /outputFileTracingRoot/.test(err.suggestion ?? ''),
    );
  });
});

test('gantry build: --build-on and --workspace are checked before any work (usage errors exit 2)', async () => {
  const bad = await gantry(['build', '--build-on', 'moon', '.']);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /invalid --build-on moon/);
  await withTree({ Dockerfile: 'FROM scratch\n' }, async (root) => {
    const r = await gantry(['build', '--workspace', 'x', root]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /--workspace is for project builds/);
  });
});

test('install secrets: one CA file given as --ca-cert and NODE_EXTRA_CA_CERTS (or twice) is handed in once, every source still described; a second CA is appended; files are written only when asked for and removed after', async () => {
  const tmp = await mkdtemp(join(tmpdir(), 'gantry-secrets-'));
  try {
    const pem = (n: number) => `-----BEGIN CERTIFICATE-----\nMII${n}\n-----END CERTIFICATE-----\n`;
    await writeFile(join(tmp, 'a.pem'), pem(1));
    await writeFile(join(tmp, 'b.pem'), pem(2));
    const root = join(tmp, 'app');
    await mkdir(root);
    const env = { NODE_EXTRA_CA_CERTS: join(tmp, 'a.pem'), NPM_CONFIG_USERCONFIG: join(tmp, 'none') };
    const once = await installSecrets({ root, caCerts: [join(tmp, 'a.pem'), join(tmp, '.', 'a.pem')], env });
    try {
      const ca = (await once.mounts()).find((m) => m.target.endsWith('/ca.pem'));
      assert.ok(ca);
      assert.equal(await readFile(ca.source, 'utf8'), pem(1));
      assert.equal(once.described.filter((d) => d.startsWith('CA')).length, 3);
    } finally {
      await once.dispose();
    }
    const temp = join(tmp, 'temp');
    await mkdir(temp);
    const before = process.env.TMPDIR;
    process.env.TMPDIR = temp;
    let source: string | undefined;
    const two = await installSecrets({ root, caCerts: [join(tmp, 'b.pem')], env });
    try {
      assert.deepEqual(await readdir(temp), [], 'written before an install asked');
      const ca = (await two.mounts()).find((m) => m.target.endsWith('/ca.pem'));
      assert.ok(ca);
      source = ca.source;
      assert.equal(await readFile(ca.source, 'utf8'), pem(2) + pem(1));
    } finally {
      await two.dispose();
      if (before === undefined) delete process.env.TMPDIR;
      else process.env.TMPDIR = before;
    }
    assert.ok(source?.startsWith(temp));
    assert.deepEqual(await readdir(temp), []);
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
});
