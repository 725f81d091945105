// --build-context: a directory, docker-image:// and oci-layout:// replace the stage or image of
// that name in FROM, COPY --from and RUN --mount from=; the replaced stage never runs.
import assert from 'node:assert/strict';
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { busyboxImage } from '../harness/fixtures.js';
import { busyboxStore, gantry, withTempDir, writeTree } from './helpers.js';

test('--build-context: directory, docker-image:// and oci-layout:// contexts replace stages and images', async () => {
  const fixture = await busyboxImage();
  await withTempDir(async (tmp) => {
    const store = await busyboxStore(tmp);
    const ctx = join(tmp, 'ctx');
    await writeTree(ctx, {
      Dockerfile: [
        'FROM busybox:1 AS gen',
        'RUN exit 1',
        'FROM base',
        'COPY --from=gen file.txt /from-gen.txt',
        'COPY --from=files data.txt /data.txt',
        'RUN --mount=type=bind,from=files,source=data.txt,target=/m cat /m > /mounted.txt',
        '',
      ].join('\n'),
    });
    await writeTree(join(tmp, 'gen'), { 'file.txt': 'generated elsewhere\n' });
    await writeTree(join(tmp, 'files'), { 'data.txt': 'named data\n' });
    const out = join(tmp, 'out');
    const r = await gantry(
      [
        'build',
        ctx,
        '--build-context',
        `gen=${join(tmp, 'gen')}`,
        '--build-context',
        `files=${join(tmp, 'files')}`,
        '--build-context',
        'base=docker-image://busybox:1',
        '-o',
        `type=local,dest=${out}`,
      ],
      { store },
    );
    assert.equal(r.code, 0, r.stderr);
    assert.equal(await readFile(join(out, 'from-gen.txt'), 'utf8'), 'generated elsewhere\n');
    assert.equal(await readFile(join(out, 'data.txt'), 'utf8'), 'named data\n');
    assert.equal(await readFile(join(out, 'mounted.txt'), 'utf8'), 'named data\n');
    assert.ok((await stat(join(out, 'bin', 'busybox'))).isFile(), 'FROM base is busybox');

    // oci-layout://DIR:TAG, and a fresh store: nothing named busybox there.
    await writeTree(ctx, { Dockerfile: 'FROM base\nRUN echo from-layout > /where.txt\n' });
    const out2 = join(tmp, 'out2');
    const l = await gantry(
      [
        'build',
        ctx,
        '--build-context',
        `base=oci-layout://${fixture.layoutDir}:${fixture.tag}`,
        '-o',
        `type=local,dest=${out2}`,
      ],
      { store: join(tmp, 'fresh') },
    );
    assert.equal(l.code, 0, l.stderr);
    assert.equal(await readFile(join(out2, 'where.txt'), 'utf8'), 'from-layout\n');

    const bad = await gantry(['build', ctx, '--build-context', `base=${join(tmp, 'missing')}`], { store });
    assert.equal(bad.code, 2, bad.stderr);
    const dirAsBase = await gantry(['build', ctx, '--build-context', `base=${join(tmp, 'files')}`], { store });
    assert.notEqual(dirAsBase.code, 0);
    assert.match(dirAsBase.stderr, /is a directory, not an image/);
  });
});
