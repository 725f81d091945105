// Two (here: four) gantry processes writing one store at once lose nothing: every name lands in
// index.json and every image stays readable by skopeo.
import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { gantry, tool, withTempDir } from '../cli/helpers.js';

test('concurrent builds into one store keep every name', async () => {
  await withTempDir(async (tmp) => {
    const store = join(tmp, 'store');
    const n = 4;
    const dirs: string[] = [];
    for (let i = 0; i < n; i++) {
      const d = join(tmp, `src${i}`);
      await mkdir(d);
      await writeFile(join(d, 'file.txt'), `content ${i}\n`.repeat(1000));
      await writeFile(join(d, 'shared.txt'), 'the same in every image\n');
      dirs.push(d);
    }
    // Several rounds, so that the index.json read-modify-write really interleaves.
    const runs = [];
    for (let round = 0; round < 3; round++) {
      for (let i = 0; i < n; i++) runs.push(gantry(['build', dirs[i] as string, '-t', `app${i}:r${round}`], { store }));
    }
    const results = await Promise.all(runs);
    for (const r of results) assert.equal(r.code, 0, r.stderr);
    const listed = await gantry(['images', '--format', 'json'], { store });
    const names = (JSON.parse(listed.stdout) as { name?: string }[]).map((s) => s.name).sort();
    const expected: string[] = [];
    for (let round = 0; round < 3; round++)
      for (let i = 0; i < n; i++) expected.push(`docker.io/library/app${i}:r${round}`);
    assert.deepEqual(names, expected.sort());
    for (const name of expected) await tool('skopeo', ['inspect', `oci:${store}:${name}`]);
  });
});
