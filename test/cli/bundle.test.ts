// The CLI bundle (scripts/bundle.mjs -> dist/bundle, run by bin/gantry.js when it is fresh): the
// same commands give the same output, exit code and digests as dist/src; every file the bundle
// finds beside itself (package.json, the deflate worker) exists; and the bin never runs a stale
// bundle. The bundle under test is dist/bundle when it is newer than the last compile (as
// `npm test` leaves it), else one built here into a directory of dist/.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { copyFile, mkdir, readdir, readFile, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { repoRoot, withTempDir } from './helpers.js';

interface Ran {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

function sh(file: string, args: readonly string[], env: NodeJS.ProcessEnv = {}, cwd = repoRoot): Promise<Ran> {
  return new Promise((done, fail) => {
    const child = spawn(file, args, { cwd, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
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

const mtime = (path: string) =>
  stat(path).then(
    (s) => s.mtimeMs,
    () => undefined,
  );

/** A bundle to test: dist/bundle if fresh, else a new one in dist/ (removed by the caller). */
async function bundleUnderTest(): Promise<{ dir: string; built: boolean }> {
  const dir = join(repoRoot, 'dist', 'bundle');
  const bundled = await mtime(join(dir, 'main.js'));
  const compiled = await mtime(join(repoRoot, 'dist', '.tsbuildinfo'));
  if (bundled !== undefined && (compiled === undefined || bundled >= compiled)) return { dir, built: false };
  const out = join(repoRoot, 'dist', `.bundle-test-${process.pid}`);
  const r = await sh(process.execPath, [join(repoRoot, 'scripts', 'bundle.mjs'), '--out', out]);
  assert.equal(r.code, 0, r.stderr);
  return { dir: out, built: true };
}

/** Runs `run(args)` of the CLI module `main` in a new process, as bin/gantry.js does. */
function cli(main: string, args: readonly string[], env: NodeJS.ProcessEnv, cwd: string): Promise<Ran> {
  const script = 'const { run } = await import(process.argv[1]); process.exitCode = await run(process.argv.slice(2));';
  return sh(process.execPath, ['--input-type=module', '-e', script, main, ...args], env, cwd);
}

test('the CLI bundle runs the same commands as dist/src: output, exit codes, digests; every file it finds beside itself exists', async () => {
  const bundle = await bundleUnderTest();
  try {
    const chunks = (await readdir(bundle.dir)).filter((f) => f.endsWith('.js'));
    assert.ok(chunks.includes('main.js'));
    // new URL('…', import.meta.url) in the bundle: rewritten from dist/src's places, each must exist.
    let urls = 0;
    for (const chunk of chunks) {
      const code = await readFile(join(bundle.dir, chunk), 'utf8');
      for (const m of code.matchAll(/new URL\((['"])(\.{1,2}\/[^'"]+)\1, import\.meta\.url\)/g)) {
        urls++;
        const target = join(bundle.dir, m[2] as string);
        assert.ok(await mtime(target), `${chunk} refers to ${m[2]}, which does not exist`);
      }
    }
    assert.ok(urls >= 3, `only ${urls} module-relative URLs found`);

    await withTempDir(async (tmp) => {
      const ctx = join(tmp, 'ctx');
      await mkdir(ctx);
      await writeFile(join(ctx, 'Dockerfile'), 'FROM scratch\nCOPY . /app/\n');
      await writeFile(join(ctx, 'a.txt'), 'a\n');
      // Three 1 MiB gzip blocks: the layer is deflated by the worker pool (its worker file found).
      await writeFile(join(ctx, 'big.bin'), randomBytes(3 * 1024 * 1024));
      const env = { SOURCE_DATE_EPOCH: '1700000000', HOME: tmp, GANTRY_PROGRESS: 'quiet' };
      const mains = { src: join(repoRoot, 'dist', 'src', 'cli', 'main.js'), bundle: join(bundle.dir, 'main.js') };
      const commands: { args: string[]; code: number }[] = [
        { args: ['--version'], code: 0 },
        { args: ['--help'], code: 0 },
        { args: ['build', '--help'], code: 0 },
        { args: ['no-such-command'], code: 2 },
        { args: ['build', '--no-such-flag', ctx], code: 2 },
        { args: ['digest', `oci:${join(tmp, 'missing')}`], code: 1 },
      ];
      for (const { args, code } of commands) {
        const [a, b] = await Promise.all([cli(mains.src, args, env, tmp), cli(mains.bundle, args, env, tmp)]);
        assert.equal(a.code, code, `dist/src ${args.join(' ')}: ${a.stderr}`);
        assert.deepEqual(b, a, `gantry ${args.join(' ')}`);
      }
      const digests: string[] = [];
      for (const [name, main] of Object.entries(mains)) {
        const out = join(tmp, `out-${name}`);
        const built = await cli(
          main,
          ['build', ctx, '--store', join(tmp, `store-${name}`), '-o', `type=oci,dest=${out}`],
          env,
          tmp,
        );
        assert.equal(built.code, 0, `${name}: ${built.stderr}`);
        const d = await cli(main, ['digest', `oci-archive:${out}`], env, tmp);
        assert.equal(d.code, 0, d.stderr);
        digests.push(d.stdout.trim());
      }
      assert.match(digests[0] as string, /^sha256:[0-9a-f]{64}$/);
      assert.equal(digests[1], digests[0], 'the bundle built another image');
    });
  } finally {
    if (bundle.built) await rm(bundle.dir, { recursive: true, force: true });
  }
});

test('bin/gantry.js runs the bundle only when it is at least as new as the last compile (never a stale one); GANTRY_BUNDLE=0 runs dist/src', async () => {
  await withTempDir(async (tmp) => {
    // A package laid out as the repository: the real bin over two stand-in CLIs that say which ran.
    await mkdir(join(tmp, 'bin'));
    await copyFile(join(repoRoot, 'bin', 'gantry.js'), join(tmp, 'bin', 'gantry.js'));
    await writeFile(join(tmp, 'package.json'), '{ "type": "module" }\n');
    const stand = (which: string) =>
      `export async function run(args) { console.log('${which}', ...args); return 3; }\n`;
    const src = join(tmp, 'dist', 'src', 'cli', 'main.js');
    const bundled = join(tmp, 'dist', 'bundle', 'main.js');
    const info = join(tmp, 'dist', '.tsbuildinfo');
    for (const [file, text] of [
      [src, stand('src')],
      [bundled, stand('bundle')],
      [info, '{}'],
    ] as const) {
      await mkdir(dirname(file), { recursive: true });
      await writeFile(file, text);
    }
    const which = async (env: NodeJS.ProcessEnv = {}) => {
      const r = await sh(process.execPath, [join(tmp, 'bin', 'gantry.js'), 'x'], env, tmp);
      assert.equal(r.code, 3, r.stderr);
      return r.stdout.trim();
    };
    await utimes(info, 1000, 1000);
    await utimes(bundled, 2000, 2000);
    assert.equal(await which(), 'bundle x', 'a bundle newer than the compile');
    assert.equal(await which({ GANTRY_BUNDLE: '0' }), 'src x');
    await utimes(info, 3000, 3000);
    assert.equal(await which(), 'src x', 'a compile after the bundle: the bundle is stale');
    await rm(info);
    assert.equal(await which(), 'bundle x', 'an installed package (no .tsbuildinfo)');
    await rm(join(tmp, 'dist', 'bundle'), { recursive: true });
    assert.equal(await which(), 'src x', 'no bundle');
  });
});
