// ADD of a git repository (served by `git daemon` on loopback: BuildKit accepts git:// URLs; it
// does not take file:// ones) at a branch with a subdirectory and at a tag pinned by --checksum
// (the commit id), without .git; a wrong commit and a --checksum on a local file are refused.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { isGitSource, parseGitSource } from '../../src/frontend/dockerfile/git.js';
import { freePort } from '../harness/run.js';
import { busyboxStore, gantry, tool, withTempDir, writeTree } from './helpers.js';

test('git sources: the URL forms BuildKit reads as repositories', () => {
  for (const s of [
    'https://example.com/org/repo.git#main:sub',
    'git@example.com:org/repo.git#v1',
    'git://example.com/repo.git',
    'ssh://git@example.com/repo.git',
  ])
    assert.ok(isGitSource(s), s);
  for (const s of ['https://example.com/file.tar.gz', 'src/repo.git', 'https://example.com/x.git.tar'])
    assert.ok(!isGitSource(s), s);
  assert.deepEqual(parseGitSource('https://h/r.git#main:a/b'), {
    remote: 'https://h/r.git',
    ref: 'main',
    subdir: 'a/b',
  });
  assert.deepEqual(parseGitSource('git@h:r.git'), { remote: 'git@h:r.git' });
});

test('ADD git://...#ref:subdir and ADD --checksum=COMMIT git://...#tag from a loopback git daemon', async () => {
  await withTempDir(async (tmp) => {
    const store = await busyboxStore(tmp);
    const work = join(tmp, 'work');
    await writeTree(work, { 'top.txt': 'top\n', 'sub/a.txt': 'in sub\n' });
    const g = (args: string[], cwd = work) =>
      tool('git', ['-c', 'user.name=t', '-c', 'user.email=t@e', ...args], { cwd });
    await g(['init', '-q', '-b', 'main']);
    await g(['add', '.']);
    await g(['commit', '-q', '-m', 'one']);
    await g(['tag', 'v1']);
    const commit = (await g(['rev-parse', 'HEAD'])).trim();
    await tool('git', ['clone', '-q', '--bare', work, join(tmp, 'srv', 'repo.git')]);
    const port = await freePort();
    const daemon = spawn(
      'git',
      [
        'daemon',
        '--reuseaddr',
        '--export-all',
        `--base-path=${join(tmp, 'srv')}`,
        '--listen=127.0.0.1',
        `--port=${port}`,
      ],
      { stdio: 'ignore' },
    );
    try {
      const url = `git://127.0.0.1:${port}/repo.git`;
      for (let i = 0; i < 100; i++) {
        const ok = await tool('git', ['ls-remote', url]).then(
          () => true,
          () => false,
        );
        if (ok) break;
        await new Promise((r) => setTimeout(r, 50));
      }
      const ctx = join(tmp, 'ctx');
      await writeTree(ctx, {
        Dockerfile: `FROM busybox:1\nADD ${url}#main:sub /from-sub/\nADD --checksum=${commit} ${url}#v1 /whole/\n`,
        'local.txt': 'x\n',
      });
      const out = join(tmp, 'out');
      const r = await gantry(['build', ctx, '-o', `type=local,dest=${out}`], { store });
      assert.equal(r.code, 0, r.stderr);
      assert.equal(await readFile(join(out, 'from-sub', 'a.txt'), 'utf8'), 'in sub\n');
      assert.equal(await readFile(join(out, 'whole', 'top.txt'), 'utf8'), 'top\n');
      assert.equal(await stat(join(out, 'whole', '.git')).catch(() => undefined), undefined, 'no .git');

      await writeTree(ctx, { Dockerfile: `FROM busybox:1\nADD --checksum=${'0'.repeat(40)} ${url}#v1 /whole/\n` });
      const wrong = await gantry(['build', ctx], { store });
      assert.notEqual(wrong.code, 0);
      assert.match(wrong.stderr, /is not the --checksum/);

      await writeTree(ctx, { Dockerfile: `FROM busybox:1\nADD --checksum=sha256:${'0'.repeat(64)} local.txt /l\n` });
      const local = await gantry(['build', ctx], { store });
      assert.notEqual(local.code, 0);
      assert.match(local.stderr, /is not a URL or a git repository/);
    } finally {
      daemon.kill('SIGTERM');
    }
  });
});
