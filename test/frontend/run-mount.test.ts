// RUN --mount: cache dirs persist across builds, binds read the context or a stage without
// entering the layer, tmpfs scratch vanishes, secrets are readable and leave no trace.
import assert from 'node:assert/strict';
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { busyboxStore, gantry, lastLine, withTempDir, writeTree } from './helpers.js';

test('RUN --mount: cache, bind (context and stage), tmpfs and secret', async () => {
  await withTempDir(async (tmp) => {
    const store = await busyboxStore(tmp);
    const ctx = join(tmp, 'ctx');
    await writeTree(ctx, {
      Dockerfile: [
        'FROM busybox:1 AS tools',
        'RUN mkdir -p /opt/tool && echo from-stage > /opt/tool/version',
        'FROM busybox:1',
        'RUN --mount=type=cache,target=/var/cache/app sh -c "echo run >> /var/cache/app/runs; wc -l < /var/cache/app/runs > /runs-seen"',
        'RUN --mount=type=bind,source=src,target=/src cat /src/input.txt > /from-bind.txt',
        'RUN --mount=type=bind,from=tools,source=/opt/tool,target=/tool cp /tool/version /stage-version.txt',
        'RUN --mount=type=tmpfs,target=/scratch sh -c "echo temp > /scratch/t && cat /scratch/t > /tmpfs-seen"',
        'RUN --mount=type=secret,id=token sh -c "wc -c < /run/secrets/token > /secret-length"',
        '',
      ].join('\n'),
      'src/input.txt': 'bound input\n',
      'token.txt': 's3cr3t-value',
    });
    const build = (tag: string, extra: string[] = []) =>
      gantry(['build', ctx, '-t', tag, '--secret', `id=token,src=${join(ctx, 'token.txt')}`, ...extra], { store });
    const first = await build('mounts:1');
    assert.equal(first.code, 0, first.stderr);
    const out = join(tmp, 'out');
    const exported = await gantry(
      ['build', ctx, '--secret', `id=token,src=${join(ctx, 'token.txt')}`, '-o', `type=local,dest=${out}`],
      { store },
    );
    assert.equal(exported.code, 0, exported.stderr);
    assert.equal((await readFile(join(out, 'from-bind.txt'), 'utf8')).trim(), 'bound input');
    assert.equal((await readFile(join(out, 'stage-version.txt'), 'utf8')).trim(), 'from-stage');
    assert.equal((await readFile(join(out, 'tmpfs-seen'), 'utf8')).trim(), 'temp');
    assert.equal((await readFile(join(out, 'secret-length'), 'utf8')).trim(), '12');
    // Nothing mounted is left in the image: no mount points, no secret, no cache contents.
    for (const gone of ['src', 'tool', 'scratch', 'run/secrets', 'var/cache/app/runs']) {
      await assert.rejects(stat(join(out, gone)), { code: 'ENOENT' }, `/${gone} must not be in the image`);
    }
    // The cache mount outlives the build: a --no-cache run sees the earlier runs' lines.
    const again = await build('mounts:2', ['--no-cache']);
    assert.equal(again.code, 0, again.stderr);
    const out2 = join(tmp, 'out2');
    assert.equal(
      (
        await gantry(
          ['build', ctx, '--secret', `id=token,src=${join(ctx, 'token.txt')}`, '-o', `type=local,dest=${out2}`],
          { store },
        )
      ).code,
      0,
    );
    assert.ok(
      Number((await readFile(join(out2, 'runs-seen'), 'utf8')).trim()) >= 2,
      'the cache mount kept what the first build wrote',
    );
    // A bind's files are inputs: changing one reruns that step.
    await writeTree(ctx, { 'src/input.txt': 'changed input\n' });
    const out3 = join(tmp, 'out3');
    assert.equal(
      (
        await gantry(
          ['build', ctx, '--secret', `id=token,src=${join(ctx, 'token.txt')}`, '-o', `type=local,dest=${out3}`],
          { store },
        )
      ).code,
      0,
    );
    assert.equal((await readFile(join(out3, 'from-bind.txt'), 'utf8')).trim(), 'changed input');
    // A required secret that was not given is a clear error.
    await writeTree(ctx, {
      Dockerfile: 'FROM busybox:1\nRUN --mount=type=secret,id=npmrc,required cat /run/secrets/npmrc\n',
    });
    const missing = await gantry(['build', ctx], { store });
    assert.equal(missing.code, 5, missing.stderr);
    assert.match(lastLine(missing.stderr), /needs secret "npmrc".*--secret id=npmrc,src=FILE/);
  });
});
