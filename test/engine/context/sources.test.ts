// COPY source resolution and destination planning: Docker's wildcard and trailing-slash rules,
// directory contents semantics, --parents (the reference's own examples), --exclude, and
// .dockerignore with exceptions, all against real directories.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  type CopyPlan,
  copyEntries,
  createMatcher,
  planCopy,
  type ResolveOptions,
  resolveSources,
} from '../../../src/engine/context/index.js';
import { GantryError } from '../../../src/errors.js';
import { collect, tempDir, writeTree } from './helpers.js';

function context(t: { after: (fn: () => void) => void }): string {
  const root = tempDir(t);
  writeTree(root, {
    'a.txt': null,
    'b.txt': null,
    'c.md': null,
    'arr[0].txt': null,
    'space name.txt': null,
    '.hidden': null,
    'dir/x.txt': null,
    'dir/sub/y.txt': null,
    'dir2/z.txt': null,
  });
  return root;
}

async function plan(
  root: string,
  sources: readonly string[],
  dest: string,
  workdir = '/',
  options: ResolveOptions = {},
): Promise<CopyPlan> {
  return planCopy(await resolveSources(root, sources, options), dest, workdir);
}

function summary(p: CopyPlan): string[] {
  return p.entries.map((e) => `${e.kind} ${e.sourcePath === '' ? '.' : e.sourcePath} -> ${e.target}`);
}

async function targets(p: CopyPlan): Promise<string[]> {
  return (await collect(copyEntries(p, { mtime: 0 }))).map((i) => i.entry.path);
}

function isCode(code: string, fragment?: string): (err: unknown) => boolean {
  return (err: unknown) =>
    GantryError.is(err) && err.code === code && (fragment === undefined || err.message.includes(fragment));
}

test('destination table: trailing slash, WORKDIR, directory forms and single files', async (t) => {
  const root = context(t);
  const cases: readonly (readonly [readonly string[], string, string, readonly string[]])[] = [
    [['a.txt'], '/app/', '/', ['item a.txt -> /app/a.txt']],
    [['a.txt'], '/app', '/', ['item a.txt -> /app']],
    [['a.txt'], 'app', '/w', ['item a.txt -> /w/app']],
    [['a.txt'], 'app/', '/w', ['item a.txt -> /w/app/a.txt']],
    [['a.txt'], '.', '/w', ['item a.txt -> /w/a.txt']],
    [['a.txt'], './', '/w', ['item a.txt -> /w/a.txt']],
    [['a.txt'], '..', '/w/x', ['item a.txt -> /w/a.txt']],
    [['a.txt'], '/', '/w', ['item a.txt -> /a.txt']],
    [['a.txt'], '/app/.', '/', ['item a.txt -> /app/a.txt']],
    [['a.txt', 'b.txt'], '/app/', '/', ['item a.txt -> /app/a.txt', 'item b.txt -> /app/b.txt']],
    [['a.txt', 'b.txt'], '.', '/w', ['item a.txt -> /w/a.txt', 'item b.txt -> /w/b.txt']],
    [['dir'], '/app', '/', ['contents dir -> /app']],
    [['dir/'], '/app/', '/', ['contents dir -> /app']],
    [['dir'], 'rel', '/w', ['contents dir -> /w/rel']],
    [['.'], '/app/', '/', ['contents . -> /app']],
    [['./'], '.', '/srv', ['contents . -> /srv']],
    // A wildcard that matches one file may name the file (the `COPY target/*.jar app.jar` idiom).
    [['c.*'], '/app.md', '/', ['item c.md -> /app.md']],
  ];
  for (const [sources, dest, workdir, expected] of cases) {
    assert.deepEqual(summary(await plan(root, sources, dest, workdir)), expected, `${sources} ${dest} (${workdir})`);
  }
});

test('several sources, or a wildcard matching several, need a directory destination', async (t) => {
  const root = context(t);
  await assert.rejects(plan(root, ['a.txt', 'b.txt'], '/app'), isCode('COPY_DEST_NOT_DIR', '"/app"'));
  await assert.rejects(plan(root, ['*.txt'], 'out'), isCode('COPY_DEST_NOT_DIR'));
  await assert.rejects(plan(root, ['dir', 'dir2'], '/app'), isCode('COPY_DEST_NOT_DIR'));
  try {
    await plan(root, ['a.txt', 'b.txt'], 'app');
    assert.fail('expected COPY_DEST_NOT_DIR');
  } catch (err) {
    assert.ok(GantryError.is(err));
    assert.match(err.suggestion ?? '', /"app\/"/);
  }
});

test('wildcard table: Go filepath.Match per component, byte order, no descent past the pattern', async (t) => {
  const root = context(t);
  const cases: readonly (readonly [string, readonly string[]])[] = [
    ['*.txt', ['a.txt', 'arr[0].txt', 'b.txt', 'space name.txt']],
    ['?.txt', ['a.txt', 'b.txt']],
    ['[ab].txt', ['a.txt', 'b.txt']],
    ['[^a].txt', ['b.txt']],
    ['arr[[]0].txt', ['arr[0].txt']],
    ['d?r/*.txt', ['dir/x.txt']],
    ['*/*.txt', ['dir/x.txt', 'dir2/z.txt']],
    ['dir/*', ['dir/sub', 'dir/x.txt']],
    ['*', ['.hidden', 'a.txt', 'arr[0].txt', 'b.txt', 'c.md', 'dir', 'dir2', 'space name.txt']],
    ['.*', ['.hidden']],
    ['nomatch*', []],
    ['/../*.md', ['c.md']],
  ];
  for (const [spec, expected] of cases) {
    const got = (await resolveSources(root, [spec])).map((r) => r.path);
    assert.deepEqual(got, expected, spec);
  }
});

test('a wildcard matching nothing copies nothing, unless the directory it searches is missing', async (t) => {
  const root = context(t);
  assert.deepEqual(summary(await plan(root, ['nomatch*', 'a.txt'], '/app/')), ['item a.txt -> /app/a.txt']);
  await assert.rejects(resolveSources(root, ['missing/*.txt']), isCode('COPY_SOURCE_NOT_FOUND', '"missing"'));
  await assert.rejects(
    resolveSources(root, ['nomatch*'], { allowEmptyWildcard: false }),
    isCode('COPY_SOURCE_NOT_FOUND', 'nomatch*'),
  );
});

test('a missing source is COPY_SOURCE_NOT_FOUND naming its path relative to the context', async (t) => {
  const root = context(t);
  try {
    await resolveSources(root, ['./src/../missing.txt']);
    assert.fail('expected an error');
  } catch (err) {
    assert.ok(GantryError.is(err));
    assert.equal(err.code, 'COPY_SOURCE_NOT_FOUND');
    assert.equal(err.phase, 'build');
    assert.match(err.message, /"\.\/src\/\.\.\/missing\.txt" not found in the build context/);
    assert.ok(err.suggestion?.includes(root));
    assert.ok(!err.message.includes('\n'));
  }
  await assert.rejects(
    resolveSources('/nonexistent/gantry-context', ['a']),
    isCode('CONTEXT_NOT_FOUND', '/nonexistent/gantry-context'),
  );
});

test('directory contents semantics: the directory itself is not copied, its contents merge', async (t) => {
  const root = context(t);
  assert.deepEqual(await targets(await plan(root, ['dir'], '/app')), ['app', 'app/sub', 'app/sub/y.txt', 'app/x.txt']);
  // Two directories merge into one destination; a file keeps its name next to them.
  assert.deepEqual(await targets(await plan(root, ['dir', 'dir2', 'a.txt'], '/app/')), [
    'app',
    'app/a.txt',
    'app/sub',
    'app/sub/y.txt',
    'app/x.txt',
    'app/z.txt',
  ]);
  const all = await targets(await plan(root, ['.'], '/'));
  assert.ok(all.includes('dir/sub/y.txt') && all.includes('.hidden'));
  assert.ok(!all.includes(''));
});

test('--parents keeps paths below the context root (reference example)', async (t) => {
  const root = tempDir(t);
  writeTree(root, { 'x/a.txt': null, 'y/a.txt': null, 'x/': { mode: 0o750 } });
  const parents = await plan(root, ['./x/a.txt', './y/a.txt'], '/parents/', '/', { parents: true });
  assert.deepEqual(summary(parents), [
    'parent x -> /parents/x',
    'item x/a.txt -> /parents/x/a.txt',
    'parent y -> /parents/y',
    'item y/a.txt -> /parents/y/a.txt',
  ]);
  const entries = await collect(copyEntries(parents, { mtime: 0 }));
  assert.deepEqual(
    entries.map((e) => e.entry.path),
    ['parents', 'parents/x', 'parents/x/a.txt', 'parents/y', 'parents/y/a.txt'],
  );
  // Kept parents carry their source metadata, as BuildKit copies them.
  assert.equal(entries.find((e) => e.entry.path === 'parents/x')?.entry.mode, 0o750);
  // Without --parents the two a.txt collide and the later one wins.
  const flat = await plan(root, ['./x/a.txt', './y/a.txt'], '/no_parents/');
  const flatEntries = await collect(copyEntries(flat, { mtime: 0 }));
  assert.deepEqual(
    flatEntries.map((e) => e.entry.path),
    ['no_parents', 'no_parents/a.txt'],
  );
});

test('--parents with a /./ pivot keeps only the path after it (reference example)', async (t) => {
  const root = tempDir(t);
  writeTree(root, { 'x/y/a.txt': null, 'x/y/b.txt': null, 'x/y/c.md': null });
  const p = await plan(root, ['./x/./y/*.txt'], '/parents/', '/', { parents: true });
  assert.deepEqual(await targets(p), ['parents', 'parents/y', 'parents/y/a.txt', 'parents/y/b.txt']);
});

test('--parents with ** matches at any depth (reference example)', async (t) => {
  const root = tempDir(t);
  writeTree(root, { 'src/a.txt': null, 'src/x/b.txt': null, 'src/x/y/c.txt': null, 'src/x/d.md': null });
  const p = await plan(root, ['./src/**/*.txt'], '/parents/', '/', { parents: true });
  assert.deepEqual(await targets(p), [
    'parents',
    'parents/src',
    'parents/src/a.txt',
    'parents/src/x',
    'parents/src/x/b.txt',
    'parents/src/x/y',
    'parents/src/x/y/c.txt',
  ]);
});

test('--parents with a directory copies the directory itself, with its metadata', async (t) => {
  const root = tempDir(t);
  writeTree(root, { 'app/lib/m.js': null, 'app/': { mode: 0o700 } });
  const p = await plan(root, ['app'], '/srv', '/', { parents: true });
  const entries = await collect(copyEntries(p, { mtime: 0 }));
  assert.deepEqual(
    entries.map((e) => e.entry.path),
    ['srv', 'srv/app', 'srv/app/lib', 'srv/app/lib/m.js'],
  );
  assert.equal(entries[1]?.entry.mode, 0o700);
  await assert.rejects(resolveSources(root, ['nothere'], { parents: true }), isCode('COPY_SOURCE_NOT_FOUND'));
  await assert.rejects(resolveSources(root, ['app/lib/m.js/./x'], { parents: true }), isCode('COPY_PARENTS_PIVOT'));
});

test('--exclude: the reference example, and patterns relative to each copied directory', async (t) => {
  const root = tempDir(t);
  writeTree(root, {
    'home.txt': null,
    'home.md': null,
    'homer.go': null,
    'homework/a.txt': null,
    'homework/b.md': null,
    'homework/deep/c.txt': null,
    'other.txt': null,
  });
  const txt = await plan(root, ['hom*'], '/mydir/', '/', { exclude: ['*.txt'] });
  assert.deepEqual(await targets(txt), [
    'mydir',
    'mydir/b.md',
    'mydir/deep',
    'mydir/deep/c.txt',
    'mydir/home.md',
    'mydir/homer.go',
  ]);
  const both = await plan(root, ['hom*'], '/mydir/', '/', { exclude: ['*.txt', '*.md'] });
  assert.deepEqual(await targets(both), ['mydir', 'mydir/deep', 'mydir/deep/c.txt', 'mydir/homer.go']);
  const deep = await plan(root, ['homework'], '/w', '/', { exclude: ['**/*.txt', 'deep'] });
  assert.deepEqual(await targets(deep), ['w', 'w/b.md']);
  const exception = await plan(root, ['homework'], '/w', '/', { exclude: ['deep', '!deep/c.txt'] });
  assert.deepEqual(await targets(exception), ['w', 'w/a.txt', 'w/b.md', 'w/deep', 'w/deep/c.txt']);
});

test('.dockerignore with exceptions: hidden paths are not in the context, re-included ones are', async (t) => {
  const root = tempDir(t);
  writeTree(root, {
    'docs/README.md': null,
    'docs/other.md': null,
    'docs/api/ref.md': null,
    'logs/a.log': null,
    'secret.env': null,
    'app.js': null,
    'b.txt': null,
  });
  const ignore = createMatcher(['docs', '!docs/README.md', 'logs', '*.env', 'b.txt'], { file: '/ctx/.dockerignore' });
  assert.deepEqual(await targets(await plan(root, ['.'], '/app/', '/', { ignore })), [
    'app',
    'app/app.js',
    'app/docs',
    'app/docs/README.md',
  ]);
  assert.deepEqual(await targets(await plan(root, ['docs'], '/d', '/', { ignore })), ['d', 'd/README.md']);
  assert.deepEqual(
    (await resolveSources(root, ['*'], { ignore })).map((r) => r.path),
    ['app.js', 'docs'],
  );
  await assert.rejects(
    resolveSources(root, ['secret.env'], { ignore }),
    isCode('COPY_SOURCE_NOT_FOUND', 'excluded by /ctx/.dockerignore'),
  );
  await assert.rejects(
    resolveSources(root, ['docs/other.md'], { ignore }),
    isCode('COPY_SOURCE_NOT_FOUND', '.dockerignore'),
  );
  // An excluded directory with nothing re-included below it is not there at all.
  await assert.rejects(resolveSources(root, ['logs'], { ignore }), isCode('COPY_SOURCE_NOT_FOUND', '"logs"'));
  const emptyException = createMatcher(['docs', '!docs/none.md']);
  assert.deepEqual(await targets(await plan(root, ['.'], '/', '/', { ignore: emptyException })), [
    'app.js',
    'b.txt',
    'logs',
    'logs/a.log',
    'secret.env',
  ]);
});

test('a source that is a symlink is followed inside the context; --follow off copies the link', async (t) => {
  const root = tempDir(t);
  writeTree(root, { 'real/file.txt': 'content', 'link.txt': '-> real/file.txt', linkdir: '-> real' });
  const followed = await resolveSources(root, ['link.txt', 'linkdir']);
  assert.deepEqual(
    followed.map((r) => [r.path, r.realPath, r.type]),
    [
      ['link.txt', 'real/file.txt', 'file'],
      ['linkdir', 'real', 'directory'],
    ],
  );
  // The file keeps the name it was asked for, as Docker names it by the source argument.
  assert.deepEqual(await targets(planCopy(followed, '/out/')), ['out', 'out/file.txt', 'out/link.txt']);
  const kept = await resolveSources(root, ['link.txt'], { followSymlinks: false });
  assert.equal(kept[0]?.type, 'symlink');
  const entries = await collect(copyEntries(planCopy(kept, '/out/'), { mtime: 0 }));
  assert.deepEqual(entries[1]?.entry, {
    path: 'out/link.txt',
    type: 'symlink',
    mode: 0o777,
    uid: 0,
    gid: 0,
    mtime: 0,
    size: 0,
    linkname: 'real/file.txt',
  });
});
