/**
 * Tests of the bench harness itself (not run by `npm test`; run with
 * `npx tsc -p . && node --test dist/bench/test/`). They pin what makes the figures trustworthy:
 * GNU time's units, failures never reported as results, deterministic data, and ratios.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { GantryError } from '../../src/errors.js';
import { inspectLayout } from '../lib/contenders.js';
import { ensureStream, ensureTree, listFiles, MiB, type TreeRecipe } from '../lib/data.js';
import { median, parseTimeOutput, summarize, timeCommand } from '../lib/measure.js';
import { type ResultRow, ratios, renderTable } from '../lib/table.js';

let root: string;
before(async () => {
  root = await mkdtemp(join(tmpdir(), 'gantry-bench-test-'));
});
after(async () => {
  await rm(root, { recursive: true, force: true });
});

async function treeHash(dir: string): Promise<string> {
  const h = createHash('sha256');
  for (const f of await listFiles(dir)) {
    h.update(relative(dir, f))
      .update('\0')
      .update(await readFile(f));
  }
  return h.digest('hex');
}

describe('measure', () => {
  it('parses GNU time output, including the non-zero status line above it', () => {
    const s = parseTimeOutput('Command exited with non-zero status 3\nGANTRYBENCH 1.50 1.20 0.10 20480 3\n');
    assert.deepEqual(s, { wallSec: 1.5, userSec: 1.2, sysSec: 0.1, maxRssKiB: 20480, exitCode: 3 });
    assert.throws(
      () => parseTimeOutput('garbage'),
      (e) => GantryError.is(e) && e.code === 'BENCH_TIME_OUTPUT',
    );
  });

  it('reports peak RSS in KiB: a child touching 160 MiB peaks above 160 MiB and below 1 GiB', async () => {
    const script = 'const b = Buffer.alloc(160 * 1024 * 1024, 1); console.log(b[b.length - 1]);';
    const { sample, stdout } = await timeCommand({
      file: process.execPath,
      args: ['-e', script],
      stdout: 'capture',
    });
    assert.equal(stdout.trim(), '1');
    assert.ok(sample.maxRssKiB > 160 * 1024, `${sample.maxRssKiB} KiB`);
    assert.ok(sample.maxRssKiB < 1024 * 1024, `${sample.maxRssKiB} KiB`);
    assert.ok(sample.userSec + sample.sysSec > 0);
  });

  it('turns a failing command into an error, never a sample', async () => {
    await assert.rejects(
      timeCommand({ file: 'sh', args: ['-c', 'echo broken >&2; exit 3'] }),
      (e) => GantryError.is(e) && e.code === 'BENCH_COMMAND_FAILED' && /exited with 3: broken/.test(e.message),
    );
  });

  it('takes per-metric medians and keeps the worst peak RSS', () => {
    assert.equal(median([3, 1, 2]), 2);
    assert.equal(median([4, 1, 2, 3]), 2.5);
    const s = summarize([
      { wallSec: 3, userSec: 1, sysSec: 1, maxRssKiB: 100, exitCode: 0 },
      { wallSec: 1, userSec: 2, sysSec: 0, maxRssKiB: 300, exitCode: 0 },
      { wallSec: 2, userSec: 3, sysSec: 1, maxRssKiB: 200, exitCode: 0 },
    ]);
    assert.equal(s.wallSec, 2);
    assert.equal(s.cpuSec, 2);
    assert.equal(s.maxRssKiB, 200);
    assert.equal(s.worstRssKiB, 300);
  });
});

describe('data', () => {
  const recipe: TreeRecipe = { kind: 'tree', seed: 7, textBytes: 2 * MiB, textFiles: 50, binaryFiles: [MiB, 12345] };

  it('generates the same tree from the same recipe, with the exact sizes asked for', async () => {
    const one = await ensureTree(join(root, 'one'), recipe);
    const two = await ensureTree(join(root, 'two'), recipe);
    assert.equal(one.reused, false);
    assert.equal(one.files, 52);
    assert.equal(one.bytes, 3 * MiB + 12345);
    assert.equal((await listFiles(one.path)).length, 52);
    assert.equal(await treeHash(one.path), await treeHash(two.path));
  });

  it('reuses a tree while its recipe is unchanged and regenerates it when the recipe changes', async () => {
    const dir = join(root, 'reuse');
    await ensureTree(dir, recipe);
    const before = await treeHash(dir);
    assert.equal((await ensureTree(dir, recipe)).reused, true);
    const changed = await ensureTree(dir, { ...recipe, seed: 8 });
    assert.equal(changed.reused, false);
    assert.notEqual(await treeHash(dir), before);
  });

  it('writes a stream file of exactly the asked size from the tree, repeating it', async () => {
    const tree = await ensureTree(join(root, 'one'), recipe);
    const bytes = tree.bytes * 2 + 100;
    const s = await ensureStream(join(root, 'stream.bin'), tree, recipe, bytes);
    const data = await readFile(s.path);
    assert.equal(data.length, bytes);
    const first = await readFile((await listFiles(tree.path))[0] as string);
    assert.deepEqual(data.subarray(tree.bytes, tree.bytes + first.length), first);
    assert.equal((await ensureStream(s.path, tree, recipe, bytes)).reused, true);
  });
});

describe('inspectLayout', () => {
  async function layout(dir: string, layerSize: number, declared: number): Promise<void> {
    const put = async (content: string | Buffer): Promise<string> => {
      const hex = createHash('sha256').update(content).digest('hex');
      await mkdir(join(dir, 'blobs', 'sha256'), { recursive: true });
      await writeFile(join(dir, 'blobs', 'sha256', hex), content);
      return `sha256:${hex}`;
    };
    const layer = await put(Buffer.alloc(layerSize, 7));
    const config = await put('{}');
    const manifest = JSON.stringify({
      schemaVersion: 2,
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: config, size: 2 },
      layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: layer, size: declared }],
    });
    const m = await put(manifest);
    await writeFile(join(dir, 'index.json'), JSON.stringify({ schemaVersion: 2, manifests: [{ digest: m }] }));
  }

  it('sums the blobs of a valid layout', async () => {
    const dir = join(root, 'layout-ok');
    await layout(dir, 1000, 1000);
    const facts = await inspectLayout(dir);
    assert.ok(facts.bytes > 1002);
    assert.deepEqual(facts.layerMediaTypes, ['application/vnd.oci.image.layer.v1.tar+gzip']);
  });

  it('rejects a layer whose size differs from the manifest', async () => {
    const dir = join(root, 'layout-bad');
    await layout(dir, 1000, 999);
    await assert.rejects(inspectLayout(dir), (e) => GantryError.is(e) && e.code === 'BENCH_BAD_OUTPUT');
  });
});

describe('table', () => {
  const summary = (wallSec: number, cpuSec: number, maxRssKiB: number) =>
    summarize([{ wallSec, userSec: cpuSec, sysSec: 0, maxRssKiB, exitCode: 0 }]);
  const rows: ResultRow[] = [
    { scenario: 'x', tool: 'gantry', peer: 'peer', inputBytes: MiB, summary: summary(1, 2, 1024) },
    { scenario: 'x', tool: 'peer', inputBytes: MiB, summary: summary(4, 1, 4096) },
    { scenario: 'y', tool: 'gantry', peer: 'gone', inputBytes: MiB, note: 'FAILED: boom' },
  ];

  it('gives ratios to the peer in the same scenario, below 1 when faster', () => {
    assert.deepEqual(ratios(rows[0] as ResultRow, rows), { wall: 0.25, cpu: 2, rss: 0.25 });
    assert.equal(ratios(rows[1] as ResultRow, rows), undefined);
    assert.equal(ratios(rows[2] as ResultRow, rows), undefined);
  });

  it('renders figures, ratios and notes', () => {
    const text = renderTable(rows);
    assert.match(text, /gantry\s+1\.00\s+2\.00\s+1\.0\s+1\.0\s+-\s+0\.25\s+2\.00\s+0\.25/);
    assert.match(text, /FAILED: boom/);
  });
});
