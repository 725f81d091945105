/**
 * The bench scenarios: what data each uses, which contenders race on it, how often, and which
 * checks it makes. This file holds (a)-(c), the layer-writing ones, and the list of all of them;
 * (d)-(e) are in registry-scenarios.ts and (f)-(h) in dockerfile-scenarios.ts.
 */
import { join } from 'node:path';
import { CACHE_RUNNERS, CACHE_TITLES } from './cache-scenarios.js';
import { buildahBud, fileTool, gantryBuild, nodeThroughput } from './contenders.js';
import { type DatasetInfo, ensureStream, ensureTree, MiB, type TreeRecipe, warmPageCache } from './data.js';
import { DOCKERFILE_RUNNERS, DOCKERFILE_TITLES } from './dockerfile-scenarios.js';
import { type Contender, runSeries, type SeriesResult } from './measure.js';
import { NODE_RUNNERS, NODE_TITLES } from './node-scenarios.js';
import { PYTHON_RUNNERS, PYTHON_TITLES } from './python-scenarios.js';
import { REGISTRY_RUNNERS, REGISTRY_TITLES } from './registry-scenarios.js';
import { SCALE_TITLE, scenarioScale } from './scale-scenarios.js';
import {
  BASELINE_TOOL,
  type BenchContext,
  baselineNote,
  type Check,
  describeData as describe,
  rowOf,
  type ScenarioOutcome,
} from './scenario.js';
import type { ResultRow } from './table.js';

export type { BenchContext, Check, ScenarioOutcome } from './scenario.js';

export type ScenarioId = 'a' | 'b' | 'c' | 'd' | 'e' | 'f' | 'g' | 'h' | 'i' | 'py' | 'n' | 'scale';
export const SCENARIOS: readonly ScenarioId[] = ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'py', 'n', 'scale'];
/** What runs without BENCH_ONLY: scale takes longer than the rest together. */
export const DEFAULT_SCENARIOS: readonly ScenarioId[] = SCENARIOS.filter((s) => s !== 'scale');

// About two thirds source-like text in ~3000 files, one third incompressible binaries: the
// shape of an application directory with its assets.
const RECIPE_A: TreeRecipe = {
  kind: 'tree',
  seed: 0xa11ce,
  textBytes: 64 * MiB,
  textFiles: 3000,
  binaryFiles: [8, 6, 4, 3, 3, 2, 2, 1, 1, 1, 1, 0.5, 0.5, 0.5, 0.5, ...Array<number>(8).fill(0.25)].map(
    (m) => m * MiB,
  ),
};

// The same mix at 1 GiB, with one 200 MiB file: a builder that holds a whole file (or layer)
// in memory cannot stay under the 256 MiB limit on it.
const RECIPE_B: TreeRecipe = {
  kind: 'tree',
  seed: 0xb0b,
  textBytes: 640 * MiB,
  textFiles: 5000,
  binaryFiles: [200, 64, 32, 32, 16, 16, 8, 8, 4, 4].map((m) => m * MiB),
};

const STREAM_BYTES = 200 * MiB;
export const RSS_LIMIT_MIB = 256;

const LAYER_TITLES = {
  a: 'a: 100 MiB dir -> OCI',
  b: 'b: 1 GiB dir -> layer',
  c: 'c: 200 MiB gzip/sha256',
} as const;

export const TITLES: Readonly<Record<ScenarioId, string>> = {
  ...LAYER_TITLES,
  ...REGISTRY_TITLES,
  ...DOCKERFILE_TITLES,
  ...CACHE_TITLES,
  ...PYTHON_TITLES,
  ...NODE_TITLES,
  scale: SCALE_TITLE,
};

function toRow(
  scenario: keyof typeof LAYER_TITLES,
  tool: string,
  inputBytes: number,
  result: SeriesResult | undefined,
): ResultRow {
  return rowOf(LAYER_TITLES[scenario], tool, inputBytes, result);
}

async function treeA(ctx: BenchContext): Promise<DatasetInfo> {
  const info = await ensureTree(join(ctx.cacheDir, 'data-a'), RECIPE_A, ctx);
  ctx.log(`data ${describe(info)}`);
  return info;
}

/** (a) gantry vs buildah, 100 MiB directory to an OCI layout. */
export async function scenarioA(ctx: BenchContext): Promise<ScenarioOutcome> {
  const data = await treeA(ctx);
  const contenders: Contender[] = [gantryBuild(data.path, ctx.log)];
  if (ctx.baseline) contenders.push(gantryBuild(data.path, ctx.log, ctx.baseline, BASELINE_TOOL));
  if (ctx.buildah) contenders.push(buildahBud(data.path, ctx.log));
  const results = await runSeries(contenders, { runs: ctx.runs, warmup: true, log: ctx.log, signal: ctx.signal });
  const rows: ResultRow[] = [{ ...toRow('a', 'gantry', data.bytes, results.get('gantry')), peer: 'buildah bud' }];
  if (ctx.baseline) {
    rows.push({ ...toRow('a', BASELINE_TOOL, data.bytes, results.get(BASELINE_TOOL)), peer: 'buildah bud' });
  }
  rows.push(
    ctx.buildah
      ? toRow('a', 'buildah bud', data.bytes, results.get('buildah'))
      : { scenario: TITLES.a, tool: 'buildah bud', inputBytes: data.bytes, note: 'buildah not installed' },
  );
  return { rows, checks: [], data: [data], notes: baselineNote(TITLES.a, rows) };
}

/** (b) gantry's peak memory on a 1 GiB directory, with buildah's beside it when affordable. */
export async function scenarioB(ctx: BenchContext): Promise<ScenarioOutcome> {
  const data = await ensureTree(join(ctx.cacheDir, 'data-b'), RECIPE_B, ctx);
  ctx.log(`data ${describe(data)}`);
  // A full warm-up run costs as much as a timed one here; reading the files once is what matters.
  await warmPageCache(data.path, ctx);
  const withBuildah = ctx.buildah && ctx.buildahInB;
  const contenders: Contender[] = [gantryBuild(data.path, ctx.log)];
  if (ctx.baseline) contenders.push(gantryBuild(data.path, ctx.log, ctx.baseline, BASELINE_TOOL));
  if (withBuildah) contenders.push(buildahBud(data.path, ctx.log));
  const results = await runSeries(contenders, { runs: ctx.runs, warmup: false, log: ctx.log, signal: ctx.signal });
  const rows: ResultRow[] = [{ ...toRow('b', 'gantry', data.bytes, results.get('gantry')), peer: 'buildah bud' }];
  if (ctx.baseline) {
    rows.push({ ...toRow('b', BASELINE_TOOL, data.bytes, results.get(BASELINE_TOOL)), peer: 'buildah bud' });
  }
  if (withBuildah) {
    rows.push(toRow('b', 'buildah bud', data.bytes, results.get('buildah')));
  } else {
    const why = ctx.buildah ? 'skipped (BENCH_B_BUILDAH=0)' : 'buildah not installed';
    rows.push({ scenario: TITLES.b, tool: 'buildah bud', inputBytes: data.bytes, note: why });
  }
  const g = results.get('gantry');
  const limitKiB = RSS_LIMIT_MIB * 1024;
  const check: Check =
    g?.ok === true
      ? {
          name: `b: gantry peak RSS < ${RSS_LIMIT_MIB} MiB`,
          pass: g.summary.worstRssKiB < limitKiB,
          detail: `worst of ${g.summary.runs} runs ${(g.summary.worstRssKiB / 1024).toFixed(1)} MiB`,
        }
      : { name: `b: gantry peak RSS < ${RSS_LIMIT_MIB} MiB`, pass: false, detail: 'gantry did not complete' };
  return { rows, checks: [check], data: [data], notes: baselineNote(TITLES.b, rows) };
}

/** (c) the machine's gzip and sha256 next to Node's zlib and crypto, over the (a) data mix. */
export async function scenarioC(ctx: BenchContext): Promise<ScenarioOutcome> {
  const tree = await treeA(ctx);
  const data = await ensureStream(join(ctx.cacheDir, 'stream-c.bin'), tree, RECIPE_A, STREAM_BYTES, ctx);
  ctx.log(`data ${describe(data)}`);
  const contenders = [
    fileTool('gzip -6', 'gzip', ['-6', '-c', data.path]),
    nodeThroughput('node zlib gzip 6', 'gzip', data.path),
    nodeThroughput('node gzip+2x sha256', 'layer', data.path),
    fileTool('sha256sum', 'sha256sum', [data.path]),
    nodeThroughput('node crypto sha256', 'sha256', data.path),
  ];
  const results = await runSeries(contenders, { runs: ctx.runs, warmup: true, log: ctx.log, signal: ctx.signal });
  const row = (tool: string, peer?: string): ResultRow => ({
    ...toRow('c', tool, data.bytes, results.get(tool)),
    ...(peer ? { peer } : {}),
  });
  const rows = [
    row('gzip -6'),
    row('node zlib gzip 6', 'gzip -6'),
    row('node gzip+2x sha256', 'gzip -6'),
    row('sha256sum'),
    row('node crypto sha256', 'sha256sum'),
  ];
  return { rows, checks: [], data: [data] };
}

export const RUNNERS: Readonly<Record<ScenarioId, (ctx: BenchContext) => Promise<ScenarioOutcome>>> = {
  a: scenarioA,
  b: scenarioB,
  c: scenarioC,
  ...REGISTRY_RUNNERS,
  ...DOCKERFILE_RUNNERS,
  ...CACHE_RUNNERS,
  ...PYTHON_RUNNERS,
  ...NODE_RUNNERS,
  scale: scenarioScale,
};
