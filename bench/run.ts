/**
 * `npm run bench`: runs the scenarios (a) 100 MiB directory to an OCI layout, gantry vs buildah;
 * (b) 1 GiB directory, gantry's peak memory against a 256 MiB limit; (c) the machine's gzip
 * and sha256 throughput and Node's, as the ceiling for gantry's layer throughput; (d) a 5-layer
 * image copied between loopback registries, gantry vs skopeo; (e) the same image pulled, gantry
 * into its store vs skopeo to an oci: layout; (f) a 6-step Dockerfile on Debian, cold and
 * no-change rebuild, gantry vs buildah; (g) a 3-stage Dockerfile whose two CPU-bound stages can
 * overlap; (h) a COPY-only build on the 5-layer base pushed to its registry, with the base bytes
 * moved; (i) the same 6-step Dockerfile on a second machine (a fresh store) with --cache-from the
 * registry, vs its cold build and vs buildah's --cache-from/--cache-to; (py) the Flask example
 * without a Dockerfile, cold / no-change / one-file-change build+push, vs buildah on the
 * equivalent Dockerfile; (n) the same for the Node.js Express example, vs buildah and
 * containerify. Prints a table and findings on stdout (progress on stderr), writes
 * .cache/bench/results.json, and exits 1 when a check fails or gantry fails.
 *
 * Environment: BENCH_RUNS (timed runs per command, default 3), BENCH_COLD_RUNS (runs of the
 * cold builds of (f) and (h), default 1: a cold buildah build on vfs takes about a minute),
 * BENCH_ONLY (e.g. "a,c"; "scale" runs the scale curves, which are not in the default run), BENCH_B_BUILDAH (0 to leave buildah out of (b), saving about a third
 * of the bench's time), BENCH_BASELINE (another checkout's bin/gantry or bin/gantry.js, raced as gantry@base in
 * a, b, d and e).
 */
import { spawnSync } from 'node:child_process';
import { cpus, release, totalmem } from 'node:os';
import { join } from 'node:path';
import { GantryError } from '../src/errors.js';
import { writeFileAtomic } from '../src/util/fs.js';
import { buildahVersion, REPO_ROOT } from './lib/contenders.js';
import { SourceRegistry } from './lib/loopback.js';
import { assertGnuTime } from './lib/measure.js';
import {
  type BenchContext,
  type Check,
  DEFAULT_SCENARIOS,
  RUNNERS,
  SCENARIOS,
  type ScenarioId,
  type ScenarioOutcome,
  TITLES,
} from './lib/scenarios.js';
import { type ResultRow, ratios, renderTable, throughputMiBs } from './lib/table.js';

function usage(message: string, suggestion: string): GantryError {
  return new GantryError('BENCH_USAGE', message, { phase: 'usage', suggestion });
}

function positiveInt(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1) throw usage(`invalid ${name}=${raw}`, `set ${name} to a whole number >= 1`);
  return n;
}

function selected(): ScenarioId[] {
  const raw = process.env.BENCH_ONLY;
  if (!raw) return [...DEFAULT_SCENARIOS];
  const ids = raw.split(',').map((s) => s.trim().toLowerCase());
  for (const id of ids) {
    if (!(SCENARIOS as readonly string[]).includes(id)) {
      throw usage(
        `unknown scenario ${JSON.stringify(id)} in BENCH_ONLY`,
        `use a comma list of ${SCENARIOS.join(', ')}`,
      );
    }
  }
  return SCENARIOS.filter((s) => ids.includes(s));
}

function firstLine(cmd: string, args: readonly string[]): string | undefined {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.split('\n')[0]?.trim() : undefined;
}

/** Gantry's layer throughput as a fraction of gzip's (and of Node's one-pass ceiling) from (c). */
function fractions(rows: readonly ResultRow[]): string[] {
  const find = (scenario: string, tool: string) => rows.find((r) => r.scenario === scenario && r.tool === tool);
  const gzip = find(TITLES.c, 'gzip -6');
  const ceiling = find(TITLES.c, 'node gzip+2x sha256');
  const gzipRate = gzip && throughputMiBs(gzip);
  const ceilingRate = ceiling && throughputMiBs(ceiling);
  const lines: string[] = [];
  for (const id of ['a', 'b'] as const) {
    const g = find(TITLES[id], 'gantry');
    const rate = g && throughputMiBs(g);
    if (rate === undefined) continue;
    if (gzipRate === undefined) {
      lines.push(`${TITLES[id]}: gantry ${rate.toFixed(1)} MiB/s (run scenario c for the gzip comparison)`);
      continue;
    }
    const vsCeiling = ceilingRate === undefined ? '' : `, ${(rate / ceilingRate).toFixed(2)} of node gzip+2x sha256`;
    lines.push(
      `${TITLES[id]}: gantry layer throughput ${rate.toFixed(1)} MiB/s = ${(rate / gzipRate).toFixed(2)} of gzip -6 ` +
        `(${gzipRate.toFixed(1)} MiB/s)${vsCeiling}`,
    );
  }
  return lines;
}

async function main(): Promise<number> {
  const controller = new AbortController();
  const onSignal = (): void => controller.abort(new Error('interrupted'));
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const log = (line: string): void => {
    process.stderr.write(`${line}\n`);
  };

  assertGnuTime();
  const ids = selected();
  const buildah = buildahVersion();
  if (!buildah) log('buildah not found: peer rows for (a), (b), (f)-(h) will be empty (apt-get install buildah)');
  const skopeo = firstLine('skopeo', ['--version']);
  if (!skopeo) log('skopeo not found: peer rows for (d) and (e) will be empty (apt-get install skopeo)');
  const cacheDir = join(REPO_ROOT, '.cache', 'bench');
  const source = new SourceRegistry();
  const ctx: BenchContext = {
    cacheDir,
    runs: positiveInt('BENCH_RUNS', 3),
    coldRuns: positiveInt('BENCH_COLD_RUNS', 1),
    buildah: buildah !== undefined,
    buildahInB: process.env.BENCH_B_BUILDAH !== '0',
    skopeo: skopeo !== undefined,
    source,
    log,
    signal: controller.signal,
    ...(process.env.BENCH_BASELINE ? { baseline: process.env.BENCH_BASELINE } : {}),
  };

  const started = performance.now();
  const outcomes: ScenarioOutcome[] = [];
  try {
    for (const id of ids) {
      log(`scenario ${TITLES[id]} (${ctx.runs} runs, cold builds ${ctx.coldRuns})`);
      outcomes.push(await RUNNERS[id](ctx));
    }
  } finally {
    await source.stop();
  }
  const rows = outcomes.flatMap((o) => o.rows);
  const checks: Check[] = outcomes.flatMap((o) => o.checks);
  const summary = fractions(rows);
  const seconds = (performance.now() - started) / 1000;

  const lines = [
    renderTable(rows),
    '',
    'ratios are gantry/peer (c: node/tool); below 1 means faster or smaller. Medians of runs; peak RSS is GNU time %M (largest process).',
    ...summary,
    ...outcomes.flatMap((o) => o.notes ?? []),
    ...checks.map((c) => `${c.name}: ${c.pass ? 'PASS' : 'FAIL'} (${c.detail})`),
    `total ${seconds.toFixed(0)} s`,
  ];
  process.stdout.write(`${lines.join('\n')}\n`);

  const env = {
    node: process.version,
    kernel: release(),
    cpu: cpus()[0]?.model,
    cpus: cpus().length,
    memMiB: Math.round(totalmem() / 1024 / 1024),
    buildah,
    skopeo,
    gzip: firstLine('gzip', ['--version']),
    sha256sum: firstLine('sha256sum', ['--version']),
  };
  const results = {
    date: new Date().toISOString(),
    env,
    config: { runs: ctx.runs, coldRuns: ctx.coldRuns, scenarios: ids, buildahInB: ctx.buildahInB },
    seconds,
    data: outcomes.flatMap((o) => o.data),
    rows: rows.map((r) => ({ ...r, ratios: ratios(r, rows), throughputMiBs: throughputMiBs(r) })),
    summary,
    notes: outcomes.flatMap((o) => o.notes ?? []),
    checks,
  };
  const file = join(cacheDir, 'results.json');
  await writeFileAtomic(file, `${JSON.stringify(results, null, 2)}\n`);
  log(`wrote ${file}`);

  const gantryFailed = rows.some((r) => r.tool === 'gantry' && !r.summary);
  return checks.every((c) => c.pass) && !gantryFailed ? 0 : 1;
}

try {
  process.exitCode = await main();
} catch (err) {
  if (GantryError.is(err)) {
    process.stderr.write(`bench: ${err.oneLine()}\n`);
    process.exitCode = err.code === 'ABORTED' ? 130 : err.phase === 'usage' ? 2 : 1;
  } else {
    throw err;
  }
}
