// Issue 9, output conventions: `-o -` and `dest=-` write the tar to stdout as buildx does (before:
// a file named `-`, and a raw EISDIR on the second run) and refuse a terminal; `inspect NAME` of a
// name only the local store has says so and `store:NAME` reads it; `delete` of a tag whose
// manifest other tags share names them and needs --force-tag-dereference (regctl's rule).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { closeSync, existsSync, openSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import { run } from '../../src/cli/main.js';
import { startRegistry } from '../harness/registry.js';
import { gantry, gantryBin, isolatedHome, repoRoot, tool, withTempDir } from './helpers.js';

const example = join(repoRoot, 'examples', 'hello');

/** Runs gantry with stdout into a file, as `gantry ... > file` does. */
function gantryToFile(args: readonly string[], file: string, env: NodeJS.ProcessEnv): Promise<number | null> {
  return new Promise((resolve, reject) => {
    const out = openSync(file, 'w');
    const child = spawn(process.execPath, [gantryBin, ...args], {
      cwd: repoRoot,
      env: { ...process.env, ...env },
      stdio: ['ignore', out, 'ignore'],
    });
    child.on('error', reject);
    child.on('close', (code) => {
      closeSync(out);
      resolve(code);
    });
  });
}

test('-o -, type=tar,dest=-, type=oci,dest=- and type=docker,dest=- write the tar to stdout; no file named -', async () => {
  await withTempDir(async (tmp) => {
    const env = { GANTRY_STORE: join(tmp, 'store') };
    const cases: [string[], string][] = [
      [['-o', '-'], 'hello.txt'],
      [['-o', 'type=tar,dest=-'], 'hello.txt'],
      [['-o', 'type=oci,dest=-', '-t', 'x:1'], 'index.json'],
      [['--output', 'type=docker,dest=-'], 'manifest.json'],
    ];
    for (const [i, [flags, member]] of cases.entries()) {
      const file = join(tmp, `out-${i}.tar`);
      // Twice: the second run used to fail with EISDIR on the `-` the first one left.
      for (const _ of [1, 2]) {
        assert.equal(
          await gantryToFile(['build', example, ...flags, '--progress=quiet'], file, env),
          0,
          flags.join(' '),
        );
      }
      const members = (await tool('tar', ['-tf', file])).split('\n');
      assert.ok(members.includes(member), `${flags.join(' ')}: ${members.join(', ')}`);
    }
    assert.equal(existsSync(join(repoRoot, '-')), false);
    // With the tar on stdout the name@digest line goes to stderr.
    const named = await gantry(['build', example, '-o', 'type=oci,dest=-', '-t', 'y:1'], { store: env.GANTRY_STORE });
    assert.equal(named.code, 0, named.stderr);
    assert.match(named.stderr, /docker\.io\/library\/y:1@sha256:[0-9a-f]{64}/);
    assert.doesNotMatch(named.stdout.slice(-200), /y:1@sha256/);

    const dir = await gantry(['build', example, '-o', 'type=local,dest=-'], { store: env.GANTRY_STORE });
    assert.equal(dir.code, 2, dir.stderr);
    const isDir = join(tmp, 'adir');
    await mkdir(isDir);
    const eisdir = await gantry(['build', example, '-o', `type=tar,dest=${isDir}`], { store: env.GANTRY_STORE });
    assert.notEqual(eisdir.code, 0);
    assert.match(eisdir.stderr, /is a directory, and this output is one file/);
  });
});

test('a tar for stdout is refused when stdout is a terminal', async () => {
  class Terminal extends Writable {
    readonly isTTY = true;
    text = '';
    override _write(chunk: Buffer, _e: BufferEncoding, cb: () => void): void {
      this.text += chunk.toString('latin1');
      cb();
    }
  }
  await withTempDir(async (tmp) => {
    const stdout = new Terminal();
    const stderr = new Terminal();
    const code = await run(['--store', join(tmp, 'store'), 'build', example, '-o', '-'], { stdout, stderr });
    assert.equal(code, 2);
    assert.equal(stdout.text, '');
    assert.match(stderr.text, /refusing to write a tar to the terminal/);
  });
});

test('inspect of a name only the local store has says so; store:NAME reads it; delete names the tags sharing a manifest', async () => {
  const registry = await startRegistry({ mode: 'http' });
  try {
    await withTempDir(async (tmp) => {
      const env = await isolatedHome(tmp);
      const store = join(tmp, 'store');
      const r = registry.host;
      assert.equal((await gantry(['build', example, '-t', `${r}/local/only:1`], { store, env })).code, 0);
      const remote = await gantry(['inspect', `${r}/local/only:1`], { store, env });
      assert.notEqual(remote.code, 0);
      assert.match(remote.stderr, /is in the local store but could not be read from/);
      assert.match(remote.stderr, new RegExp(`store:${r}/local/only:1`));
      const local = await gantry(['inspect', `store:${r}/local/only:1`], { store, env });
      assert.equal(local.code, 0, local.stderr);
      assert.match(JSON.parse(local.stdout).Digest, /^sha256:/);

      for (const t of ['1', '2', 'latest'])
        assert.equal((await gantry(['push', `${r}/local/only:1`, `${r}/team/app:${t}`], { store, env })).code, 0);
      const refused = await gantry(['delete', `${r}/team/app:1`], { store, env });
      assert.equal(refused.code, 2, refused.stderr);
      assert.match(refused.stderr, /tags 2, latest of team\/app also name: deleting it deletes them too/);
      assert.match(refused.stderr, /--force-tag-dereference/);
      assert.match(await tool('skopeo', ['inspect', '--tls-verify=false', `docker://${r}/team/app:1`]), /Digest/);
      const forced = await gantry(['delete', '--force-tag-dereference', `${r}/team/app:1`], { store, env });
      assert.equal(forced.code, 0, forced.stderr);
      const left = await gantry(['tags', `${r}/team/app`], { store, env });
      assert.equal(left.stdout.trim(), '');
    });
  } finally {
    await registry.stop();
  }
});

test('build --help groups flags by what they apply to: every build, Dockerfile, directory, output, push', async () => {
  const r = await gantry(['build', '--help']);
  assert.equal(r.code, 0, r.stderr);
  const sections = new Map<string, string>();
  let current = '';
  for (const line of r.stdout.split('\n')) {
    if (/^[A-Z][^:]*options[^:]*:$/.test(line) || /^Options for every build:$/.test(line)) current = line;
    else if (current) sections.set(current, `${sections.get(current) ?? ''}${line}\n`);
  }
  const section = (prefix: string) => [...sections].find(([k]) => k.startsWith(prefix))?.[1] ?? '';
  assert.match(section('Options for every build'), /--tag[\s\S]*--platform[\s\S]*--progress/);
  assert.match(section('Dockerfile options'), /--target[\s\S]*--build-arg/);
  assert.match(section('Directory options'), /--exclude[\s\S]*--include-vcs/);
  assert.doesNotMatch(section('Directory options'), /--tag|--output|--push/);
  assert.match(section('Output options'), /--output[\s\S]*--iidfile/);
  assert.match(section('Push options'), /--push[\s\S]*--load[\s\S]*--idpbuilder/);
});
