// The source epoch's cache (src/frontend/project/epoch.ts): a no-change rebuild must not spawn
// git, so the last commit time is kept by (HEAD commit, directory), HEAD read from the repository's
// files. Pinned here: HEAD is read as git reads it (loose ref, packed ref, detached, worktree);
// a cached answer is used without git; a new commit is a new key; a shallow clone is not cached.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { headCommit, outsideAnyRepository, sourceEpoch } from '../../../src/frontend/project/epoch.js';

function git(dir: string, args: string[], date?: number): string {
  return execFileSync('git', ['-C', dir, ...args], {
    encoding: 'utf8',
    env: {
      ...process.env,
      GIT_AUTHOR_NAME: 't',
      GIT_AUTHOR_EMAIL: 't@example.com',
      GIT_COMMITTER_NAME: 't',
      GIT_COMMITTER_EMAIL: 't@example.com',
      GIT_CONFIG_NOSYSTEM: '1',
      HOME: dir,
      ...(date !== undefined ? { GIT_AUTHOR_DATE: `@${date} +0000`, GIT_COMMITTER_DATE: `@${date} +0000` } : {}),
    },
  }).trim();
}

test('source epoch: HEAD read from the repository files as git reads it; the commit time cached by HEAD, used without git; a new commit is a new key; shallow clones not cached', async () => {
  const tmp = await mkdtemp(join(tmpdir(), 'gantry-epoch-'));
  try {
    const repo = join(tmp, 'repo');
    const app = join(repo, 'app');
    await mkdir(app, { recursive: true });
    git(tmp, ['init', '-q', '-b', 'main', repo]);
    await writeFile(join(app, 'main.py'), 'print(1)\n');
    git(repo, ['add', '-A']);
    git(repo, ['commit', '-q', '-m', 'one'], 1_700_000_000);
    await writeFile(join(repo, 'other.txt'), 'x\n');
    git(repo, ['add', '-A']);
    git(repo, ['commit', '-q', '-m', 'two'], 1_700_000_500);

    // Loose ref, then packed ref, then a detached HEAD: the same commit git names.
    assert.equal((await headCommit(app))?.commit, git(repo, ['rev-parse', 'HEAD']));
    git(repo, ['pack-refs', '--all']);
    assert.equal((await headCommit(app))?.commit, git(repo, ['rev-parse', 'HEAD']));
    const wt = join(tmp, 'wt');
    git(repo, ['worktree', 'add', '-q', '--detach', wt, 'HEAD~1']);
    assert.deepEqual(await headCommit(join(wt, 'app')), { commit: git(wt, ['rev-parse', 'HEAD']), top: wt });

    const cache = join(tmp, 'cache');
    const first = await sourceEpoch(app, {}, cache);
    assert.equal(first.seconds, 1_700_000_000, 'the last commit that touched app/, not HEAD');
    const file = join(cache, 'source-epoch.json');
    const kept = JSON.parse(await readFile(file, 'utf8')) as Record<string, number>;
    const key = `${git(repo, ['rev-parse', 'HEAD'])} app`;
    assert.deepEqual(kept, { [key]: 1_700_000_000 });
    // The cached answer is what the next build uses: git is not asked (a planted value proves it).
    await writeFile(file, JSON.stringify({ [key]: 1_234 }));
    assert.equal((await sourceEpoch(app, {}, cache)).seconds, 1_234);
    assert.equal((await sourceEpoch(app, {})).seconds, 1_700_000_000, 'no cache directory: git, as before');

    await writeFile(join(app, 'main.py'), 'print(2)\n');
    git(repo, ['commit', '-q', '-am', 'three'], 1_700_000_900);
    assert.equal((await sourceEpoch(app, {}, cache)).seconds, 1_700_000_900, 'a new HEAD is a new key');

    const shallow = join(tmp, 'shallow');
    git(tmp, ['clone', '-q', '--depth', '1', `file://${repo}`, shallow]);
    assert.equal(await headCommit(shallow), undefined, 'a shallow clone is not trusted');
    const before = await readFile(file, 'utf8');
    assert.equal((await sourceEpoch(join(shallow, 'app'), {}, cache)).seconds, 1_700_000_900);
    assert.equal(await readFile(file, 'utf8'), before, 'nothing cached for it');

    assert.equal((await sourceEpoch(app, { SOURCE_DATE_EPOCH: '42' }, cache)).seconds, 42);
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
});

test('source epoch: a context no repository can hold (no .git above it) asks git nothing; a .git, a bare repository or GIT_DIR above it does', async () => {
  const tmp = await mkdtemp(join(tmpdir(), 'gantry-epoch-none-'));
  const savedPath = process.env.PATH;
  try {
    const app = join(tmp, 'a', 'app');
    await mkdir(app, { recursive: true });
    // A `git` first on PATH that leaves a mark: it must not run for a context outside any repository.
    const bin = join(tmp, 'bin');
    const mark = join(tmp, 'git-ran');
    await mkdir(bin);
    await writeFile(join(bin, 'git'), `#!/bin/sh\ntouch '${mark}'\nexit 128\n`, { mode: 0o755 });
    process.env.PATH = `${bin}:${savedPath ?? ''}`;
    assert.equal(await outsideAnyRepository(app), true);
    assert.equal((await sourceEpoch(app, {}, join(tmp, 'cache'))).seconds, 0);
    assert.equal((await sourceEpoch(app, {})).seconds, 0);
    await assert.rejects(readFile(mark), 'git was not started');
    assert.equal(await outsideAnyRepository(app, { GIT_DIR: '/elsewhere/.git' }), false);
    await mkdir(join(tmp, 'a', 'objects'));
    await writeFile(join(tmp, 'a', 'HEAD'), 'ref: refs/heads/main\n');
    assert.equal(await outsideAnyRepository(app), false, 'inside what looks like a bare repository');
    await rm(join(tmp, 'a', 'HEAD'));
    await writeFile(join(tmp, '.git'), 'gitdir: /nowhere\n');
    assert.equal(await outsideAnyRepository(app), false, 'a .git file above it');
    assert.equal((await sourceEpoch(app, {}, join(tmp, 'cache'))).seconds, 0);
    await readFile(mark);
  } finally {
    process.env.PATH = savedPath;
    await rm(tmp, { recursive: true, force: true });
  }
});
