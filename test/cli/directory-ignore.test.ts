// Issue 9: a directory build (no Dockerfile) packs what .dockerignore, .gantryignore and --exclude
// leave, never the ignore files themselves and never .git unless --include-vcs. Before, a Node app
// directory shipped node_modules, .git and .env.
import assert from 'node:assert/strict';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { test } from 'node:test';
import { projectFiles } from '../../src/frontend/project/files.js';
import { gantry, withTempDir } from './helpers.js';

async function writeTree(root: string, files: Readonly<Record<string, string>>): Promise<void> {
  for (const [path, content] of Object.entries(files)) {
    await mkdir(join(root, path, '..'), { recursive: true });
    await writeFile(join(root, path), content);
  }
}

async function listTree(root: string): Promise<string[]> {
  const out: string[] = [];
  const visit = async (dir: string) => {
    for (const e of await readdir(dir, { withFileTypes: true })) {
      out.push(relative(root, join(dir, e.name)));
      if (e.isDirectory()) await visit(join(dir, e.name));
    }
  };
  await visit(root);
  return out.sort();
}

const APP = {
  'package.json': '{"name":"app"}\n',
  'server.js': 'console.log(1)\n',
  '.env': 'SECRET=1\n',
  'node_modules/left-pad/index.js': 'x\n',
  'node_modules/kept/index.js': 'kept\n',
  'notes/secret.txt': 'gantry-only\n',
  'logs/a.log': 'log\n',
  'build/out.tmp': 'tmp\n',
  '.git/HEAD': 'ref: refs/heads/main\n',
  '.git/config': '[core]\n',
  'vendor/lib/.git': 'gitdir: ../../.git/modules/lib\n',
  'vendor/lib/lib.js': 'lib\n',
  '.dockerignore': '# Docker users write this\nnode_modules\n!node_modules/kept\n.env\n',
  '.gantryignore': 'notes/secret.txt\n',
};

test('a directory build leaves out what .dockerignore, .gantryignore and --exclude name, the ignore files and .git', async () => {
  await withTempDir(async (tmp) => {
    const src = join(tmp, 'app');
    await writeTree(src, APP);
    const out = join(tmp, 'out');
    const r = await gantry(
      ['build', src, '--frontend', 'dir', '--exclude', 'logs', '--exclude', '**/*.tmp', '-o', `type=local,dest=${out}`],
      { store: join(tmp, 'store') },
    );
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(await listTree(out), [
      'build',
      'node_modules',
      'node_modules/kept',
      'node_modules/kept/index.js',
      'notes',
      'package.json',
      'server.js',
      'vendor',
      'vendor/lib',
      'vendor/lib/lib.js',
    ]);

    const vcs = join(tmp, 'vcs');
    const v = await gantry(['build', src, '--frontend', 'dir', '--include-vcs', '-o', `type=local,dest=${vcs}`], {
      store: join(tmp, 'store'),
    });
    assert.equal(v.code, 0, v.stderr);
    const withVcs = await listTree(vcs);
    for (const p of ['.git/HEAD', '.git/config', 'vendor/lib/.git', 'logs/a.log'])
      assert.ok(withVcs.includes(p), `${p} with --include-vcs`);
    assert.equal(withVcs.includes('.dockerignore'), false);
  });
});

test('a directory without ignore files keeps its digest; only .git is new to leave out', async () => {
  await withTempDir(async (tmp) => {
    const src = join(tmp, 'plain');
    await writeTree(src, { 'a.txt': 'alpha\n', 'sub/b.txt': 'bravo\n' });
    const store = join(tmp, 'store');
    // SOURCE_DATE_EPOCH unset: the digest below is for mtime 0 (and linux/amd64, the CI host).
    const env = { SOURCE_DATE_EPOCH: '' };
    const before = await gantry(['build', src], { store, env });
    assert.equal(before.code, 0, before.stderr);
    // The digest gantry gave this tree before ignore rules existed (main at 3b61ab6).
    assert.equal(before.stdout.trim(), 'sha256:fce4afe7e229ed6b09c53e7da71a443fe45bb78e6fdd6c7e92b8fe784c900f71');
    await writeTree(src, { '.git/HEAD': 'ref: refs/heads/main\n' });
    const after = await gantry(['build', src], { store, env });
    assert.equal(after.code, 0, after.stderr);
    assert.equal(after.stdout, before.stdout);
  });
});

test('--exclude and --include-vcs are refused for a Dockerfile build, a bad pattern is a usage error', async () => {
  await withTempDir(async (tmp) => {
    const src = join(tmp, 'df');
    await writeTree(src, { Dockerfile: 'FROM scratch\nCOPY a /a\n', a: 'a\n' });
    const r = await gantry(['build', src, '--exclude', 'a'], { store: join(tmp, 'store') });
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /--exclude is for directory builds/);
    const v = await gantry(['build', src, '--include-vcs'], { store: join(tmp, 'store') });
    assert.equal(v.code, 2, v.stderr);
    const dir = join(tmp, 'dir');
    await writeTree(dir, { a: 'a\n' });
    const bad = await gantry(['build', dir, '--exclude', '[a-'], { store: join(tmp, 'store') });
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /\[a-/);
  });
});

test('projectFiles, the list the Python and Node front ends share: parents of re-included files only', async () => {
  await withTempDir(async (tmp) => {
    await writeTree(tmp, {
      'src/index.ts': 'x\n',
      'dist/a/b.js': 'b\n',
      'dist/a/c.map': 'c\n',
      'dist/empty/x.map': 'x\n',
      '.gantryignore': 'dist\n!dist/**/*.js\n',
      '.git/HEAD': 'h\n',
    });
    const files = await projectFiles(tmp, { kind: 'directory', exclude: ['src/*.ts', '!src/index.ts'] });
    const paths = await files.list();
    assert.deepEqual(paths, ['dist', 'dist/a', 'dist/a/b.js', 'src', 'src/index.ts']);
    assert.deepEqual(files.ignoreFiles, ['.gantryignore']);
    assert.equal(paths.includes('dist/empty'), false);
    assert.equal(paths.includes('.git'), false);
    const withVcs = await projectFiles(tmp, { kind: 'directory', includeVcs: true });
    assert.ok((await withVcs.list()).includes('.git/HEAD'));
  });
});
