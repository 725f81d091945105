// The CLI bundle (scripts/bundle.mjs -> dist/bundle/{esm,cjs}, run by bin/gantry.js when it is
// fresh; the CommonJS build through bin/load-bundle.js with a V8 code cache): the same commands
// give the same output, exit code and digests as dist/src, with a cold, a warm and a corrupt code
// cache; every file the bundle finds beside itself (package.json, the deflate worker) exists; and
// the bin never runs a stale bundle. The bundle under test is dist/bundle when it is newer than the
// last compile (as `npm test` leaves it), else one built here into a directory of dist/.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { copyFile, mkdir, readdir, readFile, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { test } from 'node:test';
import { type Result, repoRoot, run, withTempDir } from './helpers.js';

/** A command that hangs is killed (code null) rather than holding the test to its timeout. */
function sh(file: string, args: readonly string[], env: NodeJS.ProcessEnv = {}, cwd = repoRoot): Promise<Result> {
  return run(file, args, { cwd, env, timeoutMs: 60_000 });
}

const mtime = (path: string) =>
  stat(path).then(
    (s) => s.mtimeMs,
    () => undefined,
  );

/** A bundle to test: dist/bundle if fresh, else a new one in dist/ (removed by the caller). */
async function bundleUnderTest(): Promise<{ dir: string; built: boolean }> {
  const dir = join(repoRoot, 'dist', 'bundle');
  const bundled = await mtime(join(dir, 'esm', 'main.js'));
  const compiled = await mtime(join(repoRoot, 'dist', '.tsbuildinfo'));
  if (bundled !== undefined && (compiled === undefined || bundled >= compiled)) return { dir, built: false };
  const out = join(repoRoot, 'dist', `.bundle-test-${process.pid}`);
  const r = await sh(process.execPath, [join(repoRoot, 'scripts', 'bundle.mjs'), '--out', out]);
  assert.equal(r.code, 0, r.stderr);
  return { dir: out, built: true };
}

/** Runs `run(args)` of the CLI module `main` in a new process, as bin/gantry.js does. */
function cli(main: string, args: readonly string[], env: NodeJS.ProcessEnv, cwd: string): Promise<Result> {
  const script = 'const { run } = await import(process.argv[1]); process.exitCode = await run(process.argv.slice(2));';
  return sh(process.execPath, ['--input-type=module', '-e', script, main, ...args], env, cwd);
}

/** The same through bin/load-bundle.js: the CommonJS bundle in `dir` with its code cache. */
function cachedCli(dir: string, args: readonly string[], env: NodeJS.ProcessEnv, cwd: string): Promise<Result> {
  const script = [
    'const { loadBundle } = await import(process.argv[1]);',
    'const { run, save } = loadBundle(process.argv[2]);',
    'process.exitCode = await run(process.argv.slice(3));',
    'save();',
  ].join(' ');
  const loader = join(repoRoot, 'bin', 'load-bundle.js');
  return sh(process.execPath, ['--input-type=module', '-e', script, loader, dir, ...args], env, cwd);
}

async function cacheFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true }).catch(() => []);
  return entries
    .filter((e) => e.isFile())
    .map((e) => join(e.parentPath, e.name))
    .sort();
}

test('the CLI bundle runs the same commands as dist/src (ES build, CommonJS build with a cold, warm and corrupt code cache): output, exit codes, digests; every file it finds beside itself exists', async () => {
  const bundle = await bundleUnderTest();
  try {
    // new URL('…', import.meta.url) in the bundle: rewritten from dist/src's places, each must exist.
    let urls = 0;
    for (const [sub, pattern] of [
      ['esm', /new URL\((['"])(\.{1,2}\/[^'"]+)\1, import\.meta\.url\)/g],
      ['cjs', /new URL\((['"])(\.{1,2}\/[^'"]+)\1, \(typeof document/g],
    ] as const) {
      const chunks = (await readdir(join(bundle.dir, sub))).filter((f) => f.endsWith('.js'));
      assert.ok(chunks.includes('main.js'), sub);
      for (const chunk of chunks) {
        const code = await readFile(join(bundle.dir, sub, chunk), 'utf8');
        // The CommonJS chunks are all ASCII (V8 keeps them one byte a character): `…` is \u2026.
        if (sub === 'cjs') assert.doesNotMatch(code, /[^\x00-\x7f]/, `cjs/${chunk} is not all ASCII`);
        for (const m of code.matchAll(pattern)) {
          urls++;
          assert.ok(await mtime(join(bundle.dir, sub, m[2] as string)), `${sub}/${chunk} refers to ${m[2]}: missing`);
        }
      }
    }
    assert.ok(urls >= 6, `only ${urls} module-relative URLs found`);

    await withTempDir(async (tmp) => {
      const ctx = join(tmp, 'ctx');
      await mkdir(ctx);
      await writeFile(join(ctx, 'Dockerfile'), 'FROM scratch\nCOPY . /app/\n');
      await writeFile(join(ctx, 'a.txt'), 'a\n');
      // Three 1 MiB gzip blocks: the layer is deflated by the worker pool (its worker file found).
      await writeFile(join(ctx, 'big.bin'), randomBytes(3 * 1024 * 1024));
      const cache = join(tmp, 'cache');
      const env = { SOURCE_DATE_EPOCH: '1700000000', HOME: tmp, XDG_CACHE_HOME: cache, GANTRY_PROGRESS: 'quiet' };
      type Runner = (args: readonly string[]) => Promise<Result>;
      const runners: Record<string, Runner> = {
        src: (args) => cli(join(repoRoot, 'dist', 'src', 'cli', 'main.js'), args, env, tmp),
        esm: (args) => cli(join(bundle.dir, 'esm', 'main.js'), args, env, tmp),
        cjs: (args) => cachedCli(join(bundle.dir, 'cjs'), args, env, tmp),
      };
      const commands: { args: string[]; code: number }[] = [
        { args: ['--version'], code: 0 },
        { args: ['--help'], code: 0 },
        { args: ['build', '--help'], code: 0 },
        { args: ['no-such-command'], code: 2 },
        { args: ['build', '--no-such-flag', ctx], code: 2 },
        { args: ['digest', `oci:${join(tmp, 'missing')}`], code: 1 },
      ];
      // dist/src's answers, then the ES build's and the CommonJS build's (cold code cache) beside them.
      const want = new Map<string, Result>();
      await Promise.all(
        commands.map(async ({ args, code }) => {
          const [a, esm, cjs] = await Promise.all([runners.src?.(args), runners.esm?.(args), runners.cjs?.(args)]);
          assert.equal(a?.code, code, `dist/src ${args.join(' ')}: ${a?.stderr}`);
          assert.deepEqual(esm, a, `esm: ${args.join(' ')}`);
          assert.deepEqual(cjs, a, `cjs, cold cache: ${args.join(' ')}`);
          want.set(args.join(' '), a as Result);
        }),
      );
      const again = async (round: string, n: number) => {
        for (const { args } of commands.slice(0, n))
          assert.deepEqual(await runners.cjs?.(args), want.get(args.join(' ')), `${round}: ${args.join(' ')}`);
      };
      const written = await cacheFiles(join(cache, 'gantry', 'v8'));
      assert.ok(written.length >= 2, `no code cache written: ${written.join(' ')}`);
      // (The warm cache is what the zstd builds below and the corrupt round run from.)
      // A corrupt cache is ignored (the chunk compiles as usual) and written again.
      for (const f of written) await writeFile(f, 'not a V8 code cache');
      await again('corrupt cache', commands.length);
      for (const f of await cacheFiles(join(cache, 'gantry', 'v8')))
        assert.notEqual(await readFile(f, 'utf8').catch(() => ''), 'not a V8 code cache', `${f} not rewritten`);

      const digests: string[] = [];
      for (const [name, runner] of Object.entries(runners)) {
        const out = join(tmp, `out-${name}`);
        const built = await runner(['build', ctx, '--store', join(tmp, `store-${name}`), '-o', `type=oci,dest=${out}`]);
        assert.equal(built.code, 0, `${name}: ${built.stderr}`);
        const d = await runner(['digest', `oci-archive:${out}`]);
        assert.equal(d.code, 0, d.stderr);
        digests.push(d.stdout.trim());
      }
      assert.match(digests[0] as string, /^sha256:[0-9a-f]{64}$/);
      assert.deepEqual(digests.slice(1), [digests[0], digests[0]], 'a bundle built another image');

      // import() of npm packages (zstd's WebAssembly, CycloneDX) from chunks read back from the
      // code cache: the second run finds those chunks cached (V8 drops vm's import() callback there).
      const small = join(tmp, 'small');
      await mkdir(small);
      await writeFile(join(small, 'Dockerfile'), 'FROM scratch\nCOPY a.txt /a.txt\n');
      await writeFile(join(small, 'a.txt'), 'a\n');
      const zstd: string[] = [];
      for (const round of ['cold', 'warm']) {
        const sbom = join(tmp, `sbom-${round}.json`);
        const args = ['build', small, '--store', join(tmp, `store-z-${round}`), '--compression', 'zstd'];
        const r = await runners.cjs?.([
          ...args,
          '--sbom-output',
          sbom,
          '-o',
          `type=oci,dest=${join(tmp, `z-${round}`)}`,
        ]);
        assert.equal(r?.code, 0, `${round}: ${r?.stderr}`);
        assert.equal((JSON.parse(await readFile(sbom, 'utf8')) as { bomFormat: string }).bomFormat, 'CycloneDX');
        zstd.push((await runners.cjs?.(['digest', `oci-archive:${join(tmp, `z-${round}`)}`]))?.stdout ?? '');
      }
      assert.equal(zstd[1], zstd[0]);
    });
  } finally {
    if (bundle.built) await rm(bundle.dir, { recursive: true, force: true });
  }
});

test('bin/gantry.js runs the bundle only when it is at least as new as the last compile (never a stale one), its CommonJS build with a code cache; GANTRY_BUNDLE=esm the ES build, GANTRY_BUNDLE=0 dist/src', async () => {
  await withTempDir(async (tmp) => {
    // A package laid out as the repository: the real bin over stand-in CLIs that say which ran.
    await mkdir(join(tmp, 'bin'));
    for (const f of ['gantry.js', 'load-bundle.js', 'package.json'])
      await copyFile(join(repoRoot, 'bin', f), join(tmp, 'bin', f));
    await writeFile(join(tmp, 'package.json'), '{ "type": "module" }\n');
    const stand = (which: string) =>
      `export async function run(args) { console.log('${which}', ...args); return 3; }\n`;
    const esm = join(tmp, 'dist', 'bundle', 'esm', 'main.js');
    const info = join(tmp, 'dist', '.tsbuildinfo');
    for (const [file, text] of [
      [join(tmp, 'dist', 'src', 'cli', 'main.js'), stand('src')],
      [esm, stand('esm')],
      [
        join(tmp, 'dist', 'bundle', 'cjs', 'main.js'),
        stand('cjs').replace('export async function run', 'exports.run = async function'),
      ],
      [join(tmp, 'dist', 'bundle', 'cjs', 'package.json'), '{ "type": "commonjs" }\n'],
      [info, '{}'],
    ] as const) {
      await mkdir(dirname(file), { recursive: true });
      await writeFile(file, text);
    }
    const env = { XDG_CACHE_HOME: join(tmp, 'cache') };
    const which = async (more: NodeJS.ProcessEnv = {}) => {
      const r = await sh(process.execPath, [join(tmp, 'bin', 'gantry.js'), 'x'], { ...env, ...more }, tmp);
      assert.equal(r.code, 3, r.stderr);
      return r.stdout.trim();
    };
    await utimes(info, 1000, 1000);
    await utimes(esm, 2000, 2000);
    assert.equal(await which(), 'cjs x', 'a bundle newer than the compile: its CommonJS build, code-cached');
    // A chunk's cache: written after the first run, rewritten after the second (holding what both
    // compiled: generation 1, then 2 in its name, the older one removed), then only read.
    const cached = async () => (await cacheFiles(join(tmp, 'cache', 'gantry', 'v8'))).map((f) => basename(f));
    const generations = async () => (await cached()).map((f) => /\.(\d)\.bin$/.exec(f)?.[1]);
    assert.deepEqual(await generations(), ['1'], 'no code cache written');
    assert.equal(await which(), 'cjs x', 'again, from the code cache');
    assert.deepEqual(await generations(), ['2']);
    const settled = await cacheFiles(join(tmp, 'cache', 'gantry', 'v8'));
    const mtimeBefore = (await stat(settled[0] as string)).mtimeMs;
    assert.equal(await which(), 'cjs x');
    assert.deepEqual(await cacheFiles(join(tmp, 'cache', 'gantry', 'v8')), settled);
    assert.equal((await stat(settled[0] as string)).mtimeMs, mtimeBefore, 'a settled cache was written again');
    // A cache that cannot be written is skipped: under /proc (where Node's recursive mkdir never
    // returns) and below a file.
    assert.equal(await which({ XDG_CACHE_HOME: '/proc/1/gantry-cache' }), 'cjs x');
    assert.equal(await which({ XDG_CACHE_HOME: join(tmp, 'package.json', 'cache') }), 'cjs x');
    // A cache directory per bundle build; only the 4 most recent stay.
    const v8 = join(tmp, 'cache', 'gantry', 'v8', `${process.version}-${process.arch}`);
    for (let i = 0; i < 5; i++) {
      await mkdir(join(v8, `old-${i}`));
      await utimes(join(v8, `old-${i}`), 100 + i, 100 + i);
    }
    await utimes(join(tmp, 'dist', 'bundle', 'cjs', 'main.js'), 2500, 2500);
    assert.equal(await which(), 'cjs x', 'a rebuilt bundle');
    assert.deepEqual((await readdir(v8)).filter((d) => d.startsWith('old-')).sort(), ['old-3', 'old-4']);
    assert.equal(await which({ GANTRY_BUNDLE: 'esm' }), 'esm x');
    assert.equal(await which({ GANTRY_BUNDLE: '0' }), 'src x');
    await utimes(info, 3000, 3000);
    assert.equal(await which(), 'src x', 'a compile after the bundle: the bundle is stale');
    await rm(info);
    assert.equal(await which(), 'cjs x', 'an installed package (no .tsbuildinfo)');
    await rm(join(tmp, 'dist', 'bundle'), { recursive: true });
    assert.equal(await which(), 'src x', 'no bundle');
  });
});

test('bin/gantry.js ends the process when the command returns: its whole output written, its exit code kept, idle keep-alive sockets and a pending timer not waited on (bundle and dist/src)', async () => {
  await withTempDir(async (tmp) => {
    await mkdir(join(tmp, 'bin'));
    for (const f of ['gantry.js', 'load-bundle.js', 'package.json'])
      await copyFile(join(repoRoot, 'bin', f), join(tmp, 'bin', f));
    await writeFile(join(tmp, 'package.json'), '{ "type": "module" }\n');
    // A command that leaves a keep-alive connection to a live server and a 10-minute timer behind
    // (before, the process waited for them), after writing 2 MiB to stdout and a line to stderr.
    const body = [
      'const http = HTTP;',
      "const server = http.createServer((_q, r) => r.end('ok')); await new Promise((r) => server.listen(0, '127.0.0.1', r));",
      'const agent = new http.Agent({ keepAlive: true });',
      "await new Promise((ok, ko) => http.get({ host: '127.0.0.1', port: server.address().port, agent }, (r) => { r.resume(); r.on('end', ok); }).on('error', ko));",
      'setTimeout(() => {}, 600_000);',
      "process.stdout.write('x'.repeat(2 * 1024 * 1024) + '\\nend\\n'); process.stderr.write('done\\n');",
      'return 3;',
    ].join('\n');
    for (const [file, text] of [
      [
        join(tmp, 'dist', 'src', 'cli', 'main.js'),
        `import * as HTTP from 'node:http';\nexport async function run() {\n${body}\n}\n`,
      ],
      [
        join(tmp, 'dist', 'bundle', 'esm', 'main.js'),
        `import * as HTTP from 'node:http';\nexport async function run() {\n${body}\n}\n`,
      ],
      [
        join(tmp, 'dist', 'bundle', 'cjs', 'main.js'),
        `const HTTP = require('node:http');\nexports.run = async function () {\n${body}\n};\n`,
      ],
      [join(tmp, 'dist', 'bundle', 'cjs', 'package.json'), '{ "type": "commonjs" }\n'],
    ] as const) {
      await mkdir(dirname(file), { recursive: true });
      await writeFile(file, text);
    }
    for (const mode of ['cjs', 'esm', '0']) {
      const env = { XDG_CACHE_HOME: join(tmp, 'cache'), GANTRY_BUNDLE: mode };
      const r = await sh(process.execPath, [join(tmp, 'bin', 'gantry.js')], env, tmp);
      assert.equal(r.code, 3, `${mode}: ${r.stderr}`);
      assert.equal(r.stdout.length, 2 * 1024 * 1024 + 5, `${mode}: the whole output`);
      assert.ok(r.stdout.endsWith('x\nend\n'));
      assert.equal(r.stderr, 'done\n');
    }
  });
});
