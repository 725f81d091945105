// Output and usage conventions users of docker, buildx, ko and crane expect (issue 9): build
// prints what it made as NAME@DIGEST, usage errors exit 2 everywhere, typos get a "did you mean",
// and a command for a Dockerfile context is refused instead of silently skipping the Dockerfile.
import assert from 'node:assert/strict';
import { access } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { startRegistry } from '../harness/registry.js';
import { gantry, repoRoot, tool, withTempDir } from './helpers.js';

const example = join(repoRoot, 'examples', 'hello');
const site = join(repoRoot, 'examples', 'site');

test('usage errors exit 2: an upper-case -t, help for an unknown command, a bad reference, an unknown flag', async () => {
  await withTempDir(async (tmp) => {
    const store = join(tmp, 'store');
    const cases = [
      {
        args: ['build', example, '-t', 'Hello:1'],
        message: /invalid reference "Hello:1": repository name must be lowercase/,
      },
      { args: ['help', 'nosuch'], message: /unknown command "nosuch": run gantry --help/ },
      { args: ['pull', 'UPPER/x:1'], message: /invalid reference "UPPER\/x:1"/ },
      { args: ['push', 'hello:1', 'Bad/Name:1'], message: /invalid reference/ },
      { args: ['build', example, '-T', 'x'], message: /Unknown option '-T'/ },
    ];
    for (const c of cases) {
      const r = await gantry(c.args, { store });
      assert.equal(r.code, 2, `${c.args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, c.message);
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    }
    await assert.rejects(access(join(store, 'index.json')), 'a refused command wrote the store');
  });
});

test('a mistyped command or flag gets a "did you mean"', async () => {
  const command = await gantry(['biuld', example]);
  assert.equal(command.code, 2);
  assert.match(command.stderr, /unknown command "biuld": did you mean gantry build\?/);
  const help = await gantry(['help', 'pul']);
  assert.equal(help.code, 2);
  assert.match(help.stderr, /did you mean gantry pull\?/);
  const flag = await gantry(['build', example, '--tagg', 'x:1']);
  assert.equal(flag.code, 2);
  assert.match(flag.stderr, /Unknown option '--tagg': did you mean --tag\?/);
  const short = await gantry(['build', example, '-T', 'x:1']);
  assert.match(short.stderr, /did you mean -t\?/);
  // Far from every flag: the help, not a wild guess.
  const far = await gantry(['build', example, '--zzzzzz']);
  assert.match(far.stderr, /Unknown option '--zzzzzz': run gantry build --help/);
});

test('--cmd or --entrypoint for a context that has a Dockerfile is an error, not a directory build', async () => {
  await withTempDir(async (tmp) => {
    const store = join(tmp, 'store');
    for (const flag of ['--cmd', '--entrypoint']) {
      const r = await gantry(['build', site, flag, 'sh', '-t', 'site:cmd'], { store });
      assert.equal(r.code, 2, r.stderr);
      const what = flag.slice(2);
      assert.match(
        r.stderr,
        new RegExp(
          `--${what} is for directory builds, and .* has a Dockerfile: set ${what.toUpperCase()} in the Dockerfile instead`,
        ),
      );
    }
    await assert.rejects(access(join(store, 'index.json')), 'a refused build wrote the store');
  });
});

test('build prints NAME@DIGEST for every name, build --push the pushed references, an unnamed build its digest', async () => {
  const registry = await startRegistry({ mode: 'http' });
  try {
    await withTempDir(async (tmp) => {
      const store = join(tmp, 'store');
      const named = await gantry(['build', example, '-t', 'hello:a', '-t', 'hello:b'], { store });
      assert.equal(named.code, 0, named.stderr);
      const lines = named.stdout.trim().split('\n');
      assert.equal(lines.length, 2, named.stdout);
      const digest = (lines[0] ?? '').split('@')[1] ?? '';
      assert.match(digest, /^sha256:[0-9a-f]{64}$/);
      assert.deepEqual(lines, [`docker.io/library/hello:a@${digest}`, `docker.io/library/hello:b@${digest}`]);

      const ref = `${registry.host}/conv/hello:1`;
      const pushed = await gantry(['build', example, '-t', ref, '--push'], { store });
      assert.equal(pushed.code, 0, pushed.stderr);
      assert.equal(pushed.stdout, `${ref}@${digest}\n`);
      const remote = JSON.parse(await tool('skopeo', ['inspect', '--tls-verify=false', `docker://${ref}`])) as {
        Digest: string;
      };
      assert.equal(remote.Digest, digest);

      const unnamed = await gantry(['build', example], { store });
      assert.equal(unnamed.stdout, `${digest}\n`);
      const fileOnly = await gantry(['build', example, '-o', `type=oci,dest=${join(tmp, 'o.tar')}`], { store });
      assert.equal(fileOnly.code, 0, fileOnly.stderr);
      assert.equal(fileOnly.stdout, '');
    });
  } finally {
    await registry.stop();
  }
});
