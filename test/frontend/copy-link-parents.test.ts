// COPY --link keeps its layer when the steps before it change (its key leaves them out), and
// COPY --parents keeps the source paths below the context.
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { buildJson, busyboxStore, gantry, withTempDir, writeTree } from './helpers.js';

test('COPY --link is reused when an earlier step changes; a plain COPY is not', async () => {
  await withTempDir(async (tmp) => {
    const store = await busyboxStore(tmp);
    const ctx = join(tmp, 'ctx');
    await writeTree(ctx, {
      Dockerfile: 'FROM busybox:1\nCOPY first.txt /first.txt\nCOPY --link app/ /app/\nCOPY app/ /plain/\n',
      'first.txt': 'one\n',
      'app/main.sh': 'echo main\n',
    });
    const first = await buildJson([ctx, '-t', 'link:1'], { store });
    assert.equal(first.code, 0, first.stderr);
    await writeFile(join(ctx, 'first.txt'), 'two\n');
    const second = await buildJson([ctx, '-t', 'link:2'], { store });
    assert.equal(second.code, 0, second.stderr);
    const cached = Object.fromEntries(second.steps.map((s) => [s.name.replace(/^\[[^\]]+\] /, ''), s.cached]));
    assert.deepEqual(cached, {
      'COPY first.txt /first.txt': false,
      'COPY --link app/ /app/': true,
      'COPY app/ /plain/': false,
    });
    const out = join(tmp, 'out');
    assert.equal((await gantry(['build', ctx, '-o', `type=local,dest=${out}`], { store })).code, 0);
    assert.equal(await readFile(join(out, 'app', 'main.sh'), 'utf8'), 'echo main\n');
    assert.equal(await readFile(join(out, 'first.txt'), 'utf8'), 'two\n');
  });
});

test('COPY --parents keeps the directories of each match', async () => {
  await withTempDir(async (tmp) => {
    const store = await busyboxStore(tmp);
    const ctx = join(tmp, 'ctx');
    await writeTree(ctx, {
      Dockerfile: 'FROM busybox:1\nCOPY --parents x/*/conf.txt y/./z/conf.txt /out/\n',
      'x/a/conf.txt': 'a\n',
      'x/b/conf.txt': 'b\n',
      'x/b/other.txt': 'not copied\n',
      'y/z/conf.txt': 'z\n',
    });
    const out = join(tmp, 'out');
    const r = await gantry(['build', ctx, '-o', `type=local,dest=${out}`], { store });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(await readFile(join(out, 'out', 'x', 'a', 'conf.txt'), 'utf8'), 'a\n');
    assert.equal(await readFile(join(out, 'out', 'x', 'b', 'conf.txt'), 'utf8'), 'b\n');
    await assert.rejects(readFile(join(out, 'out', 'x', 'b', 'other.txt')));
    // `/./` is the pivot: what follows it is kept, what precedes it is not.
    assert.equal(await readFile(join(out, 'out', 'z', 'conf.txt'), 'utf8'), 'z\n');
  });
});
