// gantry build --check / --call check: BuildKit's build checks without a build (exit 1 when one
// fires), and `# check=error=true` failing a real build before any step runs.
import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { gantry, withTempDir } from './helpers.js';

test('build --check prints the findings by rule name and exits 1; a clean Dockerfile exits 0', async () => {
  await withTempDir(async (tmp) => {
    const ctx = join(tmp, 'ctx');
    await mkdir(ctx);
    await writeFile(join(ctx, 'Dockerfile'), 'FROM busybox as build\nWORKDIR app\nCMD echo hi\n');
    const r = await gantry(['build', '--check', ctx], { store: join(tmp, 'store') });
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stdout, /^WARNING: FromAsCasing - 'as' and 'FROM' keywords' casing do not match \(line 1\)$/m);
    assert.match(r.stdout, /^WARNING: WorkdirRelativePath - .* \(line 2\)$/m);
    assert.match(r.stdout, /^WARNING: JSONArgsRecommended - .* \(line 3\)$/m);
    assert.match(r.stdout, /^Check complete, 3 warnings have been found!$/m);
    const call = await gantry(['build', '--call', 'check', ctx], { store: join(tmp, 'store') });
    assert.equal(call.code, 1);
    assert.equal(call.stdout, r.stdout);

    await writeFile(join(ctx, 'Dockerfile'), 'FROM busybox AS build\nWORKDIR /app\nCMD ["echo", "hi"]\n');
    const clean = await gantry(['build', '--check', ctx], { store: join(tmp, 'store') });
    assert.equal(clean.code, 0, clean.stderr);
    assert.equal(clean.stdout, 'Check complete, no warnings found.\n');

    const outline = await gantry(['build', '--call', 'outline', ctx], { store: join(tmp, 'store') });
    assert.equal(outline.code, 2);
  });
});

test('# check=error=true fails the build on a finding before any step; skip= lets it through', async () => {
  await withTempDir(async (tmp) => {
    const ctx = join(tmp, 'ctx');
    await mkdir(ctx);
    // The base does not exist: the check must fail first, without resolving it.
    await writeFile(join(ctx, 'Dockerfile'), '# check=error=true\nFROM nothing-here:1\nWORKDIR app\n');
    const r = await gantry(['build', ctx], { store: join(tmp, 'store') });
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /1 build check\(s\) failed, first WorkdirRelativePath/);
    await writeFile(
      join(ctx, 'Dockerfile'),
      '# check=error=true;skip=WorkdirRelativePath\nFROM nothing-here:1\nWORKDIR app\n',
    );
    const skipped = await gantry(['build', ctx], { store: join(tmp, 'store') });
    assert.notEqual(skipped.code, 0);
    assert.doesNotMatch(skipped.stderr, /build check/);
    assert.match(skipped.stderr, /nothing-here/);
  });
});
