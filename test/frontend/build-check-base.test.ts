// Build checks that need the base image: UndefinedVar sees the base's ENV (a variable the base
// defines is not undefined), and InvalidBaseImagePlatform honours `# check=skip=` and error=true.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { buildJson, busyboxStore, withTempDir, writeTree } from './helpers.js';

const warned = (r: { events: readonly { type: string; code?: string }[] }, code: string) =>
  r.events.filter((e) => e.type === 'warning' && e.code === code).length;

test('build checks with the base: UndefinedVar knows the base ENV; InvalidBaseImagePlatform obeys check=skip', async () => {
  await withTempDir(async (tmp) => {
    const store = await busyboxStore(tmp);
    const ctx = join(tmp, 'ctx');
    await writeTree(ctx, { 'base/Dockerfile': 'FROM busybox:1\nENV FROM_BASE=1\n' });
    const base = await buildJson([join(ctx, 'base'), '-t', 'base:1'], { store });
    assert.equal(base.code, 0, base.stderr);
    // base:1 is one platform (the host's): a build for another gets it with a warning, unless skipped.
    const other = process.arch === 'arm64' ? 'linux/amd64' : 'linux/arm64';
    await writeTree(ctx, { 'app/Dockerfile': 'FROM base:1\nENV A=$FROM_BASE B=$NOT_SET\n' });
    const app = await buildJson([join(ctx, 'app'), '--platform', other, '-t', 'app:1'], { store });
    assert.equal(app.code, 0, app.stderr);
    const undef = app.events.filter((e) => e.type === 'warning' && e.code === 'UndefinedVar');
    assert.deepEqual(
      undef.map((e) => e.message),
      ["UndefinedVar: Usage of undefined variable '$NOT_SET' (line 2)"],
    );
    assert.equal(warned(app, 'InvalidBaseImagePlatform'), 1, app.stderr);
    await writeTree(ctx, { 'plat/Dockerfile': '# check=skip=InvalidBaseImagePlatform\nFROM base:1\nENV X=1\n' });
    const skipped = await buildJson([join(ctx, 'plat'), '--platform', other, '-t', 'p:1'], { store });
    assert.equal(skipped.code, 0, skipped.stderr);
    assert.equal(warned(skipped, 'InvalidBaseImagePlatform'), 0, skipped.stderr);
    await writeTree(ctx, { 'plat/Dockerfile': '# check=error=true\nFROM base:1\nENV X=1\n' });
    const fatal = await buildJson([join(ctx, 'plat'), '--platform', other, '-t', 'p:1'], { store });
    assert.notEqual(fatal.code, 0);
    assert.match(fatal.stderr, /build check failed, InvalidBaseImagePlatform/);
  });
});
