/**
 * The scale scenario (`BENCH_ONLY=scale`, not in the default run: generating its data alone takes
 * minutes): how gantry's cost grows with the size of the job.
 * - directory builds of 1k, 10k and 100k small files (cold, then a no-change rebuild in the same
 *   store), with time and peak memory per file;
 * - a 200-layer image copied between loopback registries, gantry vs skopeo;
 * - 50 pushes of a small image to one registry at once (separate processes), gantry vs skopeo:
 *   total time, and every push must succeed.
 * - one large file (1 GiB, then 10 GiB: sparse, so it costs no disk) built into an OCI layout:
 *   peak memory must stay flat as the layer grows;
 * Sizes can be cut with BENCH_SCALE_FILES (e.g. "1000,10000") and BENCH_SCALE_LARGE_GIB
 * (e.g. "1,10"; "0" leaves the large layer out).
 */
import { setMaxListeners } from 'node:events';
import { mkdir, mkdtemp, rm, stat, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { hostPlatform } from '../../src/oci/platform.js';
import { gantryBuild } from './contenders.js';
import { ensureTree, MiB, type TreeRecipe } from './data.js';
import { ensureLayeredImage } from './image.js';
import { GANTRY_BIN, gantryArgv, manifestDigest, startLoopbackRegistry } from './loopback.js';
import { type CommandSpec, type Contender, runSeries, type Summary, timeCommand } from './measure.js';
import { type BenchContext, type Check, describeData, rowOf, type ScenarioOutcome } from './scenario.js';
import type { ResultRow } from './table.js';

export const SCALE_TITLE = 'scale';

function fileCounts(): number[] {
  const raw = process.env.BENCH_SCALE_FILES;
  if (!raw) return [1_000, 10_000, 100_000];
  return raw
    .split(',')
    .map((s) => Number(s.trim()))
    .filter((n) => Number.isInteger(n) && n > 0);
}

/** Small source-like files, ~300 bytes on average, in a few hundred directories. */
function smallFiles(n: number): TreeRecipe {
  return { kind: 'tree', seed: 0x5ca1e + n, textBytes: n * 300, textFiles: n, binaryFiles: [] };
}

/** A build into a store that stays between runs: the first run is cold, the next are no-change rebuilds. */
function rebuild(context: string, store: string): Contender<string> {
  return {
    name: 'gantry rebuild',
    async prepare() {
      const out = await mkdtemp(join(tmpdir(), 'gantry-bench-scale-'));
      const spec: CommandSpec = {
        ...gantryArgv(GANTRY_BIN, ['build', context, '--progress', 'quiet']),
        env: { GANTRY_STORE: store, TMPDIR: out },
      };
      return { spec, state: out };
    },
    finish: async () => undefined,
    cleanup: (out) => rm(out, { recursive: true, force: true }),
  };
}

function perFile(s: Summary, n: number): string {
  return `${((s.wallSec * 1e6) / n).toFixed(0)} µs wall, ${((s.cpuSec * 1e6) / n).toFixed(0)} µs cpu per file`;
}

async function directoryCurve(ctx: BenchContext): Promise<{ rows: ResultRow[]; notes: string[] }> {
  const rows: ResultRow[] = [];
  const notes: string[] = [];
  const cold: { n: number; s: Summary }[] = [];
  for (const n of fileCounts()) {
    const data = await ensureTree(join(ctx.cacheDir, `scale-files-${n}`), smallFiles(n), ctx);
    ctx.log(`data ${describeData(data)}`);
    const title = `scale: dir of ${n} files`;
    const results = await runSeries([gantryBuild(data.path, ctx.log)], {
      runs: ctx.runs,
      warmup: false,
      log: ctx.log,
      signal: ctx.signal,
    });
    const row = rowOf(title, 'gantry', data.bytes, results.get('gantry'));
    rows.push(row);
    const store = await mkdtemp(join(tmpdir(), 'gantry-bench-scale-store-'));
    try {
      // The warm-up is the cold build that fills the store; the timed runs find everything cached.
      const again = await runSeries([rebuild(data.path, store)], {
        runs: ctx.runs,
        warmup: true,
        log: ctx.log,
        signal: ctx.signal,
      });
      rows.push(rowOf(title, 'gantry rebuild', data.bytes, again.get('gantry rebuild')));
    } finally {
      await rm(store, { recursive: true, force: true });
    }
    if (row.summary) {
      cold.push({ n, s: row.summary });
      notes.push(
        `${title}: cold build ${perFile(row.summary, n)}, peak ${(row.summary.maxRssKiB / 1024).toFixed(0)} MiB`,
      );
    }
  }
  for (let i = 1; i < cold.length; i++) {
    const a = cold[i - 1] as { n: number; s: Summary };
    const b = cold[i] as { n: number; s: Summary };
    const kib = (b.s.maxRssKiB - a.s.maxRssKiB) / (b.n - a.n);
    notes.push(
      `scale: ${a.n} -> ${b.n} files: wall x${(b.s.wallSec / a.s.wallSec).toFixed(1)}, ` +
        `memory ${(kib * 1024).toFixed(0)} bytes per added file`,
    );
  }
  return { rows, notes };
}

function largeSizesGiB(): number[] {
  const raw = process.env.BENCH_SCALE_LARGE_GIB;
  if (!raw) return [1, 10];
  return raw
    .split(',')
    .map((s) => Number(s.trim()))
    .filter((n) => n > 0);
}

/**
 * (scale) one large file in a directory build, 1 GiB then 10 GiB: the file is sparse (zeros, no
 * disk used), so the cost is reading, tarring, hashing and compressing it; peak RSS must not grow
 * with its size (the layer streams through, nothing holds it whole).
 */
async function largeLayer(ctx: BenchContext): Promise<{ rows: ResultRow[]; notes: string[]; checks: Check[] }> {
  const rows: ResultRow[] = [];
  const notes: string[] = [];
  const peaks: { gib: number; rssKiB: number }[] = [];
  for (const gib of largeSizesGiB()) {
    const dir = await mkdtemp(join(tmpdir(), 'gantry-bench-large-'));
    try {
      const bytes = Math.round(gib * 1024 * MiB);
      await mkdir(join(dir, 'data'));
      await writeFile(join(dir, 'data', 'big.bin'), '');
      await truncate(join(dir, 'data', 'big.bin'), bytes);
      ctx.log(
        `data ${dir}/data/big.bin: ${gib} GiB sparse (${(await stat(join(dir, 'data', 'big.bin'))).blocks} blocks)`,
      );
      const title = `scale: dir with one ${gib} GiB file`;
      const results = await runSeries([gantryBuild(dir, ctx.log)], {
        runs: 1,
        warmup: false,
        log: ctx.log,
        signal: ctx.signal,
      });
      const row = rowOf(title, 'gantry', bytes, results.get('gantry'));
      rows.push(row);
      if (row.summary) {
        peaks.push({ gib, rssKiB: row.summary.maxRssKiB });
        notes.push(
          `${title}: ${(bytes / MiB / row.summary.cpuSec).toFixed(0)} MiB/s per cpu second, ` +
            `peak ${(row.summary.maxRssKiB / 1024).toFixed(0)} MiB`,
        );
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }
  const checks: Check[] = [];
  if (peaks.length > 1) {
    const lo = Math.min(...peaks.map((p) => p.rssKiB));
    const hi = Math.max(...peaks.map((p) => p.rssKiB));
    checks.push({
      name: 'scale: peak memory flat as the layer grows',
      pass: hi <= lo * 1.25 + 16 * 1024,
      detail: peaks.map((p) => `${p.gib} GiB: ${(p.rssKiB / 1024).toFixed(0)} MiB`).join(', '),
    });
  }
  return { rows, notes, checks };
}

/** (scale) a 200-layer image copied to a fresh registry per run, gantry vs skopeo. */
async function manyLayers(ctx: BenchContext): Promise<{ rows: ResultRow[]; notes: string[] }> {
  const recipes: TreeRecipe[] = Array.from({ length: 200 }, (_, i) => ({
    kind: 'tree',
    seed: 0x200 + i,
    textBytes: 8 * 1024,
    textFiles: 3,
    binaryFiles: [],
  }));
  const image = await ensureLayeredImage(join(ctx.cacheDir, 'image-200'), 'l200', recipes, hostPlatform(), ctx);
  const src = await ctx.source.publish(image.layoutDir, image.tag, 'bench/layers200:v1', ctx);
  const title = 'scale: copy 200-layer image';
  const copy = (name: string, command: (dest: string) => CommandSpec): Contender<{ stop: () => Promise<void> }> => ({
    name,
    async prepare(options) {
      const reg = await startLoopbackRegistry(options);
      return { spec: command(`${reg.host}/bench/layers200:v1`), state: { stop: () => reg.stop() } };
    },
    finish: async () => image.bytes,
    cleanup: (state) => state.stop(),
  });
  const contenders = [
    copy('gantry', (dest) => ({
      ...gantryArgv(GANTRY_BIN, ['--plain-http', '--progress', 'quiet', 'copy', src, dest]),
    })),
  ];
  if (ctx.skopeo) {
    contenders.push(
      copy('skopeo', (dest) => ({
        file: 'skopeo',
        args: [
          'copy',
          '--quiet',
          '--src-tls-verify=false',
          '--dest-tls-verify=false',
          `docker://${src}`,
          `docker://${dest}`,
        ],
      })),
    );
  }
  const results = await runSeries(contenders, { runs: ctx.runs, warmup: true, log: ctx.log, signal: ctx.signal });
  const rows: ResultRow[] = [{ ...rowOf(title, 'gantry', image.bytes, results.get('gantry')), peer: 'skopeo copy' }];
  if (ctx.skopeo) rows.push(rowOf(title, 'skopeo copy', image.bytes, results.get('skopeo')));
  return { rows, notes: [`${title}: ${image.layers.length} layers, ${(image.bytes / MiB).toFixed(1)} MiB`] };
}

/** (scale) 50 processes pushing a small image to one registry at once, each to its own repository. */
async function concurrentPushes(ctx: BenchContext): Promise<{ rows: ResultRow[]; checks: Check[] }> {
  const image = await ensureLayeredImage(
    join(ctx.cacheDir, 'image-small'),
    'small',
    [0, 1].map((i) => ({ kind: 'tree', seed: 0x50 + i, textBytes: 256 * 1024, textFiles: 20, binaryFiles: [] })),
    hostPlatform(),
    ctx,
  );
  const rows: ResultRow[] = [];
  const checks: Check[] = [];
  const tools: { name: string; args: (dest: string) => CommandSpec }[] = [
    {
      name: 'gantry',
      args: (dest) => ({
        ...gantryArgv(GANTRY_BIN, [
          '--plain-http',
          '--progress',
          'quiet',
          'copy',
          `oci:${image.layoutDir}:${image.tag}`,
          dest,
        ]),
      }),
    },
  ];
  if (ctx.skopeo) {
    tools.push({
      name: 'skopeo copy',
      args: (dest) => ({
        file: 'skopeo',
        args: ['copy', '--quiet', '--dest-tls-verify=false', `oci:${image.layoutDir}:${image.tag}`, `docker://${dest}`],
      }),
    });
  }
  const title = 'scale: 50 concurrent pushes';
  // Each of the 50 commands listens on the bench's signal (to be killed on ^C): not a leak.
  if (ctx.signal) setMaxListeners(64, ctx.signal);
  for (const tool of tools) {
    const reg = await startLoopbackRegistry(ctx);
    try {
      const started = performance.now();
      const runs = await Promise.allSettled(
        Array.from({ length: 50 }, (_, i) => timeCommand(tool.args(`${reg.host}/push/n${i}:v1`), ctx)),
      );
      const wallSec = (performance.now() - started) / 1000;
      const ok = runs.filter((r) => r.status === 'fulfilled');
      let present = 0;
      for (let i = 0; i < 50; i++) {
        if ((await manifestDigest(reg, `push/n${i}`, 'v1').catch(() => undefined)) === image.manifest.digest) present++;
      }
      const cpu = ok.reduce((a, r) => a + r.value.sample.userSec + r.value.sample.sysSec, 0);
      const rss = Math.max(0, ...ok.map((r) => r.value.sample.maxRssKiB));
      rows.push({
        scenario: title,
        tool: tool.name,
        inputBytes: 50 * image.bytes,
        ...(tool.name === 'gantry' && ctx.skopeo ? { peer: 'skopeo copy' } : {}),
        summary: {
          runs: 1,
          wallSec,
          cpuSec: cpu,
          userSec: 0,
          sysSec: 0,
          maxRssKiB: rss,
          wallMinSec: wallSec,
          wallMaxSec: wallSec,
          worstRssKiB: rss,
          samples: [],
        },
      });
      if (tool.name === 'gantry') {
        checks.push({
          name: 'scale: 50 concurrent gantry pushes all land',
          pass: ok.length === 50 && present === 50,
          detail: `${ok.length} exited 0, ${present} manifests in the registry`,
        });
      }
      ctx.log(`  ${tool.name}: 50 pushes in ${wallSec.toFixed(2)} s, ${ok.length} ok, ${present} present`);
    } finally {
      await reg.stop();
    }
  }
  return { rows, checks };
}

export async function scenarioScale(ctx: BenchContext): Promise<ScenarioOutcome> {
  const dir = await directoryCurve(ctx);
  const large = await largeLayer(ctx);
  const layers = await manyLayers(ctx);
  const pushes = await concurrentPushes(ctx);
  return {
    rows: [...dir.rows, ...large.rows, ...layers.rows, ...pushes.rows],
    checks: [...large.checks, ...pushes.checks],
    data: [],
    notes: [...dir.notes, ...large.notes, ...layers.notes],
  };
}
