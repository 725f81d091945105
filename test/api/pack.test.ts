// The library as a user gets it: `npm pack`, installed from the tarball into an empty project
// (offline: its runtime dependencies are packed from node_modules), then examples/api/build-and-push.mjs
// builds a Dockerfile context and pushes it to the loopback registry with only
// `import ... from 'gantry'`. skopeo reads the pushed image back.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { copyFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { repoRoot, withTempDir } from '../cli/helpers.js';
import { startRegistry } from '../harness/registry.js';
import { skopeoInspect, skopeoInspectConfig } from '../harness/validate.js';

interface Ran {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

function sh(cmd: string, args: readonly string[], options: { cwd: string; env?: NodeJS.ProcessEnv }): Promise<Ran> {
  return new Promise((done, fail) => {
    const child = spawn(cmd, args, {
      cwd: options.cwd,
      env: { ...process.env, ...options.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => {
      stdout += c.toString();
    });
    child.stderr.on('data', (c: Buffer) => {
      stderr += c.toString();
    });
    child.on('error', fail);
    child.on('close', (code) => done({ code, stdout, stderr }));
  });
}

async function ok(cmd: string, args: readonly string[], options: { cwd: string; env?: NodeJS.ProcessEnv }) {
  const r = await sh(cmd, args, options);
  assert.equal(r.code, 0, `${cmd} ${args.join(' ')}: ${r.stderr}${r.stdout}`);
  return r.stdout;
}

test('examples/api/build-and-push.mjs runs from the packed tarball and pushes an image skopeo reads', async () => {
  const registry = await startRegistry({ mode: 'http' });
  try {
    await withTempDir(async (tmp) => {
      // npm's config stays inside the test; nothing is fetched.
      const npmEnv = {
        // npm's own cache (read offline): the transitive dependencies of @kubernetes/client-node
        // are there since the repository's `npm install`; nothing is fetched.
        npm_config_userconfig: join(tmp, 'npmrc'),
        npm_config_update_notifier: 'false',
      };
      const packed = await ok('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', tmp], {
        cwd: repoRoot,
        env: npmEnv,
      });
      const [info] = JSON.parse(packed) as { filename: string; files: { path: string }[] }[];
      assert.ok(info, 'npm pack printed no file');
      const paths = info.files.map((f) => f.path);
      assert.ok(paths.includes('dist/src/index.js') && paths.includes('bin/gantry.js'), paths.join('\n'));
      assert.ok(!paths.some((p) => p.startsWith('dist/test/') || p.startsWith('src/')), 'tests or sources packed');

      const project = join(tmp, 'project');
      await mkdir(project);
      await writeFile(join(project, 'package.json'), '{ "name": "uses-gantry", "private": true, "type": "module" }\n');
      // Runtime dependencies come from this checkout's node_modules, packed as npm packs them
      // (a package/ prefix), so the offline install finds them without a registry.
      const pkg = JSON.parse(await readFile(join(repoRoot, 'package.json'), 'utf8')) as {
        dependencies?: Record<string, string>;
      };
      const deps: string[] = [];
      for (const name of Object.keys(pkg.dependencies ?? {})) {
        const tarball = join(tmp, `dep-${name.replace('/', '-')}.tgz`);
        const dir = join(repoRoot, 'node_modules', name);
        await ok('tar', ['czf', tarball, '-C', dir, '--transform', 's,^\\.,package,', '.'], { cwd: tmp });
        deps.push(tarball);
      }
      await ok(
        'npm',
        ['install', '--offline', '--no-audit', '--no-fund', '--ignore-scripts', ...deps, join(tmp, info.filename)],
        { cwd: project, env: npmEnv },
      );
      await copyFile(join(repoRoot, 'examples', 'api', 'build-and-push.mjs'), join(project, 'build-and-push.mjs'));

      const context = join(tmp, 'context');
      await mkdir(context);
      await writeFile(join(context, 'hello.txt'), 'hello from the library\n');
      await writeFile(
        join(context, 'Dockerfile'),
        'FROM scratch\nCOPY hello.txt /hello.txt\nENV GREETING=hi\nCMD ["/hello"]\n',
      );
      // The registry is plain HTTP: said the way a user says it, in registries.toml.
      const config = join(tmp, 'registries.toml');
      await writeFile(config, `[registry."${registry.host}"]\nhttp = true\n`);
      const home = join(tmp, 'home');
      await mkdir(home);
      const ref = `${registry.host}/library-api/hello:1`;
      const run = await sh('node', ['build-and-push.mjs', context, ref], {
        cwd: project,
        env: {
          GANTRY_CONFIG: config,
          GANTRY_STORE: join(tmp, 'store'),
          HOME: home,
          DOCKER_CONFIG: join(home, '.docker'),
          XDG_CONFIG_HOME: join(home, '.config'),
          REGISTRY_AUTH_FILE: join(home, 'auth.json'),
        },
      });
      assert.equal(run.code, 0, run.stderr);
      const printed = run.stdout.trim();
      assert.match(printed, new RegExp(`^${ref.replaceAll('.', '\\.')}@sha256:[0-9a-f]{64}$`));
      assert.match(run.stderr, /pushing/);

      const seen = await skopeoInspect(`docker://${ref}`, { tlsVerify: false });
      assert.equal(seen.Digest, printed.split('@')[1]);
      assert.equal(seen.Layers.length, 1);
      const cfg = (await skopeoInspectConfig(`docker://${ref}`, { tlsVerify: false })) as {
        config: { Env?: string[]; Cmd?: string[] };
      };
      assert.deepEqual(cfg.config.Cmd, ['/hello']);
      assert.ok(cfg.config.Env?.includes('GREETING=hi'));

      // The installed bin (the CLI bundle when the checkout has one, packed beside dist/src) runs.
      if (existsSync(join(repoRoot, 'dist', 'bundle', 'main.js')))
        assert.ok(paths.includes('dist/bundle/main.js'), 'the CLI bundle is not packed');
      const version = await sh('node', [join(project, 'node_modules', 'gantry', 'bin', 'gantry.js'), '--version'], {
        cwd: project,
      });
      assert.equal(version.code, 0, version.stderr);
      assert.match(version.stdout, /^gantry \d+\.\d+\.\d+/);

      // Deep imports stay closed: only the entry (and package.json) are exported.
      const deep = await sh('node', ['--input-type=module', '-e', "await import('gantry/dist/src/oci/stream.js')"], {
        cwd: project,
      });
      assert.notEqual(deep.code, 0);
      assert.match(deep.stderr, /ERR_PACKAGE_PATH_NOT_EXPORTED/);
    });
  } finally {
    await registry.stop();
  }
});
