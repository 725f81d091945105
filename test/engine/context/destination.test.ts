// placeInRoot: a COPY destination resolves through the stage's symlinks as if the stage's root
// were `/` (an absolute target or a `..` chain never reaches the host), and the directories that
// exist on the way are read without following any symlink, for the copy to keep their metadata.
import assert from 'node:assert/strict';
import { chmodSync, chownSync, mkdirSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { imageOwner, placeInRoot, planCopy, resolveSources } from '../../../src/engine/context/index.js';
import { run } from '../../harness/run.js';
import { tempDir, writeTree } from './helpers.js';

async function placed(context: string, stage: string, spec: string, dest: string) {
  return placeInRoot(stage, [planCopy(await resolveSources(context, [spec]), dest)]);
}

test('destination: a symlink to an absolute path or a ../ chain resolves inside the stage root, never on the host', async (t) => {
  const context = tempDir(t);
  writeTree(context, { 'a.txt': 'a' });
  const stage = tempDir(t);
  symlinkSync('/etc', join(stage, 'abs'));
  symlinkSync('../../../../etc', join(stage, 'climb'));
  for (const link of ['abs', 'climb']) {
    const { plans } = await placed(context, stage, 'a.txt', `/${link}/x/`);
    assert.equal(plans[0]?.dest, '/etc/x');
    assert.deepEqual(
      plans[0]?.entries.map((e) => e.target),
      ['/etc/x/a.txt'],
    );
  }
});

test('destination: a dangling link is followed, the link itself is not a target', async (t) => {
  const context = tempDir(t);
  writeTree(context, { 'a.txt': 'a' });
  const stage = tempDir(t);
  symlinkSync('symlink-target', join(stage, 'symlink'));
  const { plans, existing } = await placed(context, stage, 'a.txt', '/symlink/subdirectory/');
  assert.deepEqual(
    plans[0]?.entries.map((e) => e.target),
    ['/symlink-target/subdirectory/a.txt'],
  );
  assert.equal(existing('/symlink-target'), undefined, 'missing: the copy creates it');
});

test('destination: existing directories are reported with their owner and mode; one reached through a symlink is not', async (t) => {
  const context = tempDir(t);
  writeTree(context, { 'a.txt': 'a' });
  const stage = tempDir(t);
  mkdirSync(join(stage, 'etc', 'app'), { recursive: true });
  chmodSync(join(stage, 'etc'), 0o750);
  if (process.getuid?.() === 0) chownSync(join(stage, 'etc', 'app'), 7, 8);
  const { existing } = await placed(context, stage, 'a.txt', '/etc/app/conf/a.txt');
  assert.deepEqual(existing('/etc'), { mode: 0o750, uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0 });
  if (process.getuid?.() === 0) assert.deepEqual(existing('/etc/app'), { mode: 0o755, uid: 7, gid: 8 });
  assert.equal(existing('/etc/app/conf'), undefined);
});

test('destination: a file copied to a path that is a directory in the stage goes inside it', async (t) => {
  const context = tempDir(t);
  writeTree(context, { 'a.txt': 'a' });
  const stage = tempDir(t);
  mkdirSync(join(stage, 'tmp'));
  const into = await placed(context, stage, 'a.txt', '/tmp');
  assert.deepEqual(
    into.plans[0]?.entries.map((e) => e.target),
    ['/tmp/a.txt'],
  );
  const named = await placed(context, stage, 'a.txt', '/new');
  assert.deepEqual(
    named.plans[0]?.entries.map((e) => e.target),
    ['/new'],
  );
});

test('imageOwner: without root, what the invoking user owns was root in the image (its user namespace)', async (t) => {
  if (process.getuid?.() !== 0) {
    assert.deepEqual(imageOwner({ uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0 }), { uid: 0, gid: 0 });
    return;
  }
  assert.deepEqual(imageOwner({ uid: 65534, gid: 7 }), { uid: 65534, gid: 7 }, 'as root: the owner on disk');
  const module = new URL('../../../src/engine/context/index.js', import.meta.url).href;
  const script = `const { imageOwner } = await import(${JSON.stringify(module)});
console.log(JSON.stringify([imageOwner({ uid: 65534, gid: 65534 }), imageOwner({ uid: 1000, gid: 65534 })]));`;
  const r = await run(
    'setpriv',
    ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, '--input-type=module', '-e', script],
    {
      allowFailure: true,
    },
  );
  if (r.code !== 0) return t.skip(`cannot run as nobody here: ${r.stderr.trim().split('\n').at(-1)}`);
  assert.deepEqual(JSON.parse(r.stdout), [
    { uid: 0, gid: 0 },
    { uid: 1000, gid: 0 },
  ]);
});
