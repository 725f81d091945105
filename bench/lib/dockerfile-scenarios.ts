/**
 * The Dockerfile scenarios, gantry vs `buildah bud --layers --isolation chroot --storage-driver
 * vfs` (own --root and --runroot per run): (f) cold build and no-change rebuild of a 6-step
 * RUN/COPY Dockerfile on Debian; (g) a 3-stage build whose two CPU-bound stages can overlap,
 * against the stages built alone; (h) a COPY-only build (plain and --link) on the 5-layer registry image with a
 * push to the same registry, counting the base bytes that cross a loopback proxy. Bases come
 * from the source registry, so both tools pull the same bytes the same way.
 */
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { GantryError } from '../../src/errors.js';
import { debianImage } from '../../test/harness/debian.js';
import { busyboxImage } from '../../test/harness/fixtures.js';
import { type FaultProxy, startFaultProxy } from '../../test/harness/proxy.js';
import { type DatasetInfo, ensureTree, MiB, type TreeRecipe } from './data.js';
import { type BlobTraffic, blobTraffic, GANTRY_BIN, gantryArgv, manifestDigest } from './loopback.js';
import { type CommandSpec, type RunResult, runSeries, type SeriesResult } from './measure.js';
import { type PublishedImage, publishedBigImage } from './registry-scenarios.js';
import { type BenchContext, type Check, describeData, missingRow, rowOf, type ScenarioOutcome } from './scenario.js';
import { runStepped, type SteppedContender, type SteppedResults } from './steps.js';
import type { ResultRow } from './table.js';

export const DOCKERFILE_TITLES = {
  f: 'f: 6-step Dockerfile on Debian',
  g: 'g: 3 stages, 2 in parallel',
  h: 'h: COPY on 5-layer base + push',
} as const;

const F_COLD = 'f: 6-step Dockerfile, cold';
const F_REBUILD = 'f: no-change rebuild';
const G_STAGE_A = 'g: stage a alone';
const G_STAGE_B = 'g: stage b alone';
const G_ALL = 'g: 3 stages (a, b parallel)';

const BUILDAH_PEER = 'buildah bud';
const BUILDAH_JOBS_PEER = 'buildah bud --jobs=2';
const BUILDAH_PUSH_PEER = 'buildah bud + push';

// ---------------------------------------------------------------------------------------------
// Commands

export function gantryCommand(dir: string, args: readonly string[]): CommandSpec {
  return {
    ...gantryArgv(GANTRY_BIN, ['--plain-http', ...args]),
    env: { GANTRY_STORE: join(dir, 'store'), TMPDIR: dir },
  };
}

/** buildah's global options: vfs storage in `dir`, so nothing is shared between runs. */
export function buildahGlobals(dir: string): string[] {
  return ['--root', join(dir, 'root'), '--runroot', join(dir, 'runroot'), '--storage-driver', 'vfs'];
}

export const BUD = ['bud', '--layers', '--isolation', 'chroot', '--tls-verify=false'];

function buildahCommand(dir: string, args: readonly string[], capture = false): CommandSpec {
  return {
    file: 'buildah',
    args: [...buildahGlobals(dir), ...args],
    env: { TMPDIR: dir },
    ...(capture ? { stdout: 'capture' as const } : {}),
  };
}

export function shellQuote(word: string): string {
  return `'${word.replace(/'/g, `'\\''`)}'`;
}

export async function freshDir(prefix: string): Promise<string> {
  return mkdtemp(join(tmpdir(), `gantry-bench-${prefix}-`));
}

export const removeDir = (dir: string): Promise<void> => rm(dir, { recursive: true, force: true });

/** Rows for a scenario whose setup failed: every tool failed, with the reason. */
export function setupFailed(labels: readonly string[], tools: readonly string[], err: Error): ScenarioOutcome {
  const rows = labels.flatMap((label) =>
    tools.map((tool) => missingRow(label, tool, 0, `FAILED: setup: ${err.message}`)),
  );
  return { rows, checks: [], data: [] };
}

function steppedRow(
  label: string,
  tool: string,
  results: SteppedResults,
  contender: string,
  step: string,
  peer?: string,
): ResultRow {
  const row = rowOf(label, tool, 0, results.get(contender)?.get(step));
  return peer ? { ...row, peer } : row;
}

function wall(result: SeriesResult | undefined, best = false): number | undefined {
  if (!result?.ok) return undefined;
  return best ? result.summary.wallMinSec : result.summary.wallSec;
}

// ---------------------------------------------------------------------------------------------
// (f) 6-step Dockerfile: cold build, then no-change rebuilds on the same store

const F_APP: TreeRecipe = {
  kind: 'tree',
  seed: 0xf00,
  textBytes: 8 * MiB,
  textFiles: 400,
  binaryFiles: [2 * MiB, MiB],
};
const F_STEPS = 6;

export function dockerfileF(base: string): string {
  return [
    `FROM ${base}`,
    'COPY app/ /app/',
    'RUN cd /app && find . -type f | sort | xargs sha256sum > /app.sums',
    'COPY conf/ /etc/app/',
    'RUN mkdir -p /data && i=0; while [ $i -lt 2000 ]; do echo "line $i" >> /data/log; i=$((i+1)); done',
    'RUN tar -C /app -czf /opt/app.tgz .',
    'COPY entry.sh /usr/local/bin/entry.sh',
    '',
  ].join('\n');
}

/** Writes `text` to `path` unless it is already there, so the context's files keep their mtimes. */
async function ensureFile(path: string, text: string, mode = 0o644): Promise<void> {
  if ((await readFile(path, 'utf8').catch(() => undefined)) === text) return;
  await writeFile(path, text, { mode });
}

export async function contextF(ctx: BenchContext): Promise<{ dir: string; app: DatasetInfo }> {
  const dir = join(ctx.cacheDir, 'context-f');
  const app = await ensureTree(join(dir, 'app'), F_APP, ctx);
  await mkdir(join(dir, 'conf'), { recursive: true });
  await ensureFile(join(dir, 'conf', 'app.conf'), 'listen = 8080\nworkers = 4\n');
  await ensureFile(join(dir, 'entry.sh'), '#!/bin/sh\nexec "$@"\n', 0o755);
  return { dir, app };
}

function countMatches(text: string, pattern: RegExp): number {
  return [...text.matchAll(pattern)].length;
}

interface FRun {
  readonly dir: string;
  /** The image the cold build made: a no-change rebuild must give the same one. */
  coldImage?: string;
}

/**
 * One tool's (f) series: a cold build on fresh storage, then no-change rebuilds on it. Every
 * rebuild must name the cold build's image; `cachedSteps` reads from its output how many steps
 * it found in the cache.
 */
function fContender(
  name: string,
  command: (run: FRun) => CommandSpec,
  cachedSteps: (result: RunResult) => number,
  noteCached: (n: number) => void,
  rebuilds: number,
): SteppedContender<FRun> {
  const imageOf = async (run: FRun) => (await readFile(join(run.dir, 'iid'), 'utf8')).trim();
  return {
    name,
    prepare: async () => ({ dir: await freshDir(`f-${name}`) }),
    steps: [
      {
        name: 'cold',
        spec: command,
        check: async (run) => {
          run.coldImage = await imageOf(run);
        },
      },
      {
        name: 'rebuild',
        warmup: 1,
        repeat: rebuilds,
        spec: command,
        check: async (run, result) => {
          const image = await imageOf(run);
          if (image !== run.coldImage) {
            throw new GantryError(
              'BENCH_BAD_OUTPUT',
              `${name}'s no-change rebuild made ${image}, not ${run.coldImage}`,
              {
                phase: 'build',
                suggestion: 'a rebuild with nothing changed must give the same image; run the build twice by hand',
              },
            );
          }
          noteCached(cachedSteps(result));
        },
      },
    ],
    finish: async () => {},
    cleanup: (run) => removeDir(run.dir),
  };
}

/** (f) cold build, then no-change rebuilds (one warm-up) on the same store or storage root. */
export async function scenarioF(ctx: BenchContext): Promise<ScenarioOutcome> {
  const tools = ctx.buildah ? ['gantry', BUILDAH_PEER] : ['gantry'];
  let base: string;
  let context: { dir: string; app: DatasetInfo };
  let work: string;
  try {
    const debian = await debianImage();
    base = await ctx.source.publish(debian.layoutDir, debian.tag, 'bench/debian:bookworm', ctx);
    context = await contextF(ctx);
    ctx.log(`data ${describeData(context.app)}`);
    work = await freshDir('f');
  } catch (err) {
    if (ctx.signal?.aborted || !(err instanceof Error)) throw err;
    return setupFailed([F_COLD, F_REBUILD], tools, err);
  }
  try {
    const dockerfile = join(work, 'Dockerfile');
    await writeFile(dockerfile, dockerfileF(base));
    // How many steps each tool's rebuilds found in the cache, at worst.
    const cached = new Map<string, number>();
    const noteCached = (tool: string, n: number): void => {
      cached.set(tool, Math.min(cached.get(tool) ?? n, n));
    };

    const iid = (run: FRun) => ['-f', dockerfile, '-t', 'bench-f', '--iidfile', join(run.dir, 'iid'), context.dir];
    const gantry = fContender(
      'gantry',
      (run) => gantryCommand(run.dir, ['build', '--progress', 'plain', '--isolation', 'chroot', ...iid(run)]),
      (r) => countMatches(r.stderr, /^#\d+ CACHED$/gm),
      (n) => noteCached('gantry', n),
      ctx.runs,
    );
    const buildah = fContender(
      'buildah',
      (run) => buildahCommand(run.dir, [...BUD, ...iid(run)], true),
      (r) => countMatches(r.stdout, /Using cache/g),
      (n) => noteCached('buildah', n),
      ctx.runs,
    );
    const contenders = ctx.buildah ? [gantry, buildah] : [gantry];
    const results = await runStepped(contenders as SteppedContender[], {
      runs: ctx.coldRuns,
      log: ctx.log,
      signal: ctx.signal,
    });

    const rows: ResultRow[] = [];
    for (const [label, step] of [
      [F_COLD, 'cold'],
      [F_REBUILD, 'rebuild'],
    ] as const) {
      rows.push(steppedRow(label, 'gantry', results, 'gantry', step, BUILDAH_PEER));
      rows.push(
        ctx.buildah
          ? steppedRow(label, BUILDAH_PEER, results, 'buildah', step)
          : missingRow(label, BUILDAH_PEER, 0, 'buildah not installed'),
      );
    }
    const notes = [
      `f: both pull the Debian bookworm minbase base (${base}) from the loopback registry in the cold build; ` +
        `RUN isolation chroot for both; ${ctx.coldRuns} cold build(s) each, then 1 warm-up + ${ctx.runs} ` +
        'no-change rebuilds on the same store',
    ];
    const g = wall(results.get('gantry')?.get('rebuild'));
    const b = wall(results.get('buildah')?.get('rebuild'));
    if (g !== undefined) {
      notes.push(
        `f: gantry no-change rebuild ${g.toFixed(2)} s` +
          (b === undefined ? '' : ` = ${(g / b).toFixed(2)} of buildah's no-change rebuild (${b.toFixed(2)} s)`),
      );
    }
    const checks: Check[] = [];
    const gCached = cached.get('gantry');
    checks.push({
      name: `f: gantry no-change rebuild finds all ${F_STEPS} steps in the cache`,
      pass: gCached === F_STEPS,
      detail: gCached === undefined ? 'no rebuild ran' : `${gCached} steps cached at worst`,
    });
    const bCached = cached.get('buildah');
    if (bCached !== undefined && bCached < F_STEPS) {
      notes.push(`f: buildah's rebuilds used its cache for ${bCached} of ${F_STEPS} steps at worst`);
    }
    return { rows, checks, data: [context.app], notes };
  } finally {
    await removeDir(work);
  }
}

// ---------------------------------------------------------------------------------------------
// (g) 3 stages: two CPU-bound ones that can run at once, and a final one copying from both

// About 3 s of one CPU each in busybox sh; the stages differ so that nothing could share them.
function dockerfileG(base: string): string {
  return [
    `FROM ${base} AS a`,
    'RUN i=0; while [ $i -lt 3000000 ]; do i=$((i+1)); done; echo "a $i" > /a.txt',
    `FROM ${base} AS b`,
    'RUN i=1; while [ $i -lt 3000001 ]; do i=$((i+1)); done; echo "b $i" > /b.txt',
    `FROM ${base}`,
    'COPY --from=a /a.txt /a.txt',
    'COPY --from=b /b.txt /b.txt',
    '',
  ].join('\n');
}

interface GRun {
  readonly dir: string;
}

const G_STEPS = [
  { name: 'a', target: ['--target', 'a'] },
  { name: 'b', target: ['--target', 'b'] },
  { name: 'all', target: [] },
] as const;

/** (g) each stage alone, then the whole build, each from a fresh store: the overlap of a and b. */
export async function scenarioG(ctx: BenchContext): Promise<ScenarioOutcome> {
  const labels = [G_STAGE_A, G_STAGE_B, G_ALL];
  const tools = ctx.buildah ? ['gantry', BUILDAH_JOBS_PEER] : ['gantry'];
  let work: string;
  let dockerfile: string;
  try {
    const busybox = await busyboxImage();
    const base = await ctx.source.publish(busybox.layoutDir, busybox.tag, 'bench/busybox:latest', ctx);
    work = await freshDir('g');
    dockerfile = join(work, 'Dockerfile');
    await writeFile(dockerfile, dockerfileG(base));
    await mkdir(join(work, 'context'));
  } catch (err) {
    if (ctx.signal?.aborted || !(err instanceof Error)) throw err;
    return setupFailed(labels, tools, err);
  }
  try {
    const context = join(work, 'context');
    const gantry: SteppedContender<GRun> = {
      name: 'gantry',
      prepare: async () => ({ dir: await freshDir('g-gantry') }),
      steps: G_STEPS.map((step) => ({
        name: step.name,
        spec: (s: GRun) =>
          gantryCommand(join(s.dir, step.name), [
            'build',
            '--progress',
            'quiet',
            '--isolation',
            'chroot',
            '-f',
            dockerfile,
            ...step.target,
            '-t',
            'bench-g',
            context,
          ]),
      })),
      finish: async () => {},
      cleanup: (s) => removeDir(s.dir),
    };
    const buildah: SteppedContender<GRun> = {
      name: 'buildah',
      prepare: async () => ({ dir: await freshDir('g-buildah') }),
      steps: G_STEPS.map((step) => ({
        name: step.name,
        spec: (s: GRun) =>
          buildahCommand(join(s.dir, step.name), [
            ...BUD,
            '--jobs=2',
            '--quiet',
            '-f',
            dockerfile,
            ...step.target,
            '-t',
            'bench-g',
            context,
          ]),
      })),
      finish: async () => {},
      cleanup: (s) => removeDir(s.dir),
    };
    const contenders = ctx.buildah ? [gantry, buildah] : [gantry];
    const results = await runStepped(contenders as SteppedContender[], {
      runs: ctx.runs,
      log: ctx.log,
      signal: ctx.signal,
    });
    const rows: ResultRow[] = [];
    for (const [i, step] of G_STEPS.entries()) {
      const label = labels[i] as string;
      rows.push(steppedRow(label, 'gantry', results, 'gantry', step.name, BUILDAH_JOBS_PEER));
      rows.push(
        ctx.buildah
          ? steppedRow(label, BUILDAH_JOBS_PEER, results, 'buildah', step.name)
          : missingRow(label, BUILDAH_JOBS_PEER, 0, 'buildah not installed'),
      );
    }
    const cpus = availableParallelism();
    const notes: string[] = [
      'g: every build from a fresh store (busybox base from the loopback registry); "alone" builds --target a or b',
    ];
    for (const [name, tool] of [
      ['gantry', 'gantry'],
      ['buildah', BUILDAH_JOBS_PEER],
    ] as const) {
      const r = results.get(name);
      // Medians, and the best runs: overlap needs two idle CPUs, which a busy machine lends only at times.
      const overlap = (best: boolean): string | undefined => {
        const a = wall(r?.get('a'), best);
        const b = wall(r?.get('b'), best);
        const all = wall(r?.get('all'), best);
        if (a === undefined || b === undefined || all === undefined) return undefined;
        return `${all.toFixed(2)} s = ${(all / (a + b)).toFixed(2)} of a + b (${a.toFixed(2)} + ${b.toFixed(2)} s)`;
      };
      const median = overlap(false);
      if (median === undefined) continue;
      notes.push(`g: ${tool}: 3-stage build, median ${median}; best runs ${overlap(true)}`);
    }
    notes.push(`g: overlap is 3-stage wall / (stage a + stage b): 0.5 is full overlap, 1 none; ${cpus} CPUs`);
    return { rows, checks: [], data: [], notes };
  } finally {
    await removeDir(work);
  }
}

// ---------------------------------------------------------------------------------------------
// (h) COPY-only on the 5-layer registry base, pushed to the same registry

const H_FILES: TreeRecipe = {
  kind: 'tree',
  seed: 0x4800,
  textBytes: 4 * MiB,
  textFiles: 200,
  binaryFiles: [MiB],
};

/**
 * The two ways to push a build with gantry (named in the store as well, or only in the registry),
 * with the Dockerfile buildah builds; and the same with `COPY --link`. A plain COPY reads the base's
 * filesystem (existing directories keep their owners, symlinks are followed), so gantry pulls the
 * base as BuildKit and buildah do; `--link` makes a layer that does not depend on the base, so
 * nothing of the base moves.
 */
// A push makes an SBOM and provenance by default (issue 13), as here: neither downloads a base
// layer the push only mounts (the SBOM takes the base's own SBOM referrer, or marks the base's
// contents unknown), so the base bytes counted are the build's and the push's alone.
const H_GANTRY = [
  { name: 'gantry', tool: 'gantry -t --push', link: false, args: (ref: string) => ['-t', ref, '--push'] },
  {
    name: 'gantry-output',
    tool: 'gantry -o registry',
    link: false,
    args: (ref: string) => ['-o', `type=registry,name=${ref}`],
  },
  {
    name: 'gantry-link',
    tool: 'gantry -t --push, COPY --link',
    link: true,
    args: (ref: string) => ['-t', ref, '--push'],
  },
] as const;

interface HRun {
  readonly dir: string;
  readonly repository: string;
}

/** (h) cold builds with a push through a counting proxy: base layer bytes moved, and time. */
export async function scenarioH(ctx: BenchContext): Promise<ScenarioOutcome> {
  const label = DOCKERFILE_TITLES.h;
  const tools = [...H_GANTRY.map((g) => g.tool), ...(ctx.buildah ? [BUILDAH_PUSH_PEER] : [])];
  let published: PublishedImage;
  let proxy: FaultProxy;
  let files: DatasetInfo;
  let work: string;
  try {
    published = await publishedBigImage(ctx);
    files = await ensureTree(join(ctx.cacheDir, 'context-h', 'files'), H_FILES, ctx);
    ctx.log(`data ${describeData(files)}`);
    proxy = await startFaultProxy({ upstream: published.registry.url });
    work = await freshDir('h');
  } catch (err) {
    if (ctx.signal?.aborted || !(err instanceof Error)) throw err;
    return setupFailed([label], tools, err);
  }
  try {
    const dockerfile = join(work, 'Dockerfile');
    await writeFile(dockerfile, `FROM ${proxy.host}/bench/big:v1\nCOPY files/ /files/\n`);
    const linkDockerfile = join(work, 'Dockerfile.link');
    await writeFile(linkDockerfile, `FROM ${proxy.host}/bench/big:v1\nCOPY --link files/ /files/\n`);
    const context = join(ctx.cacheDir, 'context-h');
    // The layers only: every builder must read the base's config (ENV, WORKDIR, ...), a few hundred bytes.
    const layers = new Set(published.image.layers.map((l) => l.digest));
    const layerBytes = published.image.layers.reduce((n, l) => n + l.size, 0);
    const moved = new Map<string, BlobTraffic[]>();
    let serial = 0;

    const contender = (name: string, command: (dir: string, ref: string) => Promise<CommandSpec>) => ({
      name,
      async prepare() {
        const dir = await freshDir(`h-${name}`);
        const repository = `bench/h-${name}-${++serial}`;
        proxy.stats.reset();
        return { spec: await command(dir, `${proxy.host}/${repository}:latest`), state: { dir, repository } };
      },
      async finish(state: HRun) {
        // The pushed image must be there, or a tool that pushed nothing would move 0 bytes too.
        await manifestDigest(published.registry, state.repository, 'latest');
        moved.set(name, [...(moved.get(name) ?? []), blobTraffic(proxy.stats.log, layers)]);
        return undefined;
      },
      cleanup: (state: HRun) => removeDir(state.dir),
    });

    const contenders = H_GANTRY.map((g) =>
      contender(g.name, async (dir, ref) =>
        gantryCommand(dir, [
          'build',
          '--progress',
          'quiet',
          '-f',
          g.link ? linkDockerfile : dockerfile,
          ...g.args(ref),
          context,
        ]),
      ),
    );
    if (ctx.buildah) {
      contenders.push(
        contender('buildah', async (dir, ref) => {
          // bud and push as one timed command: together they are what `gantry build --push` does.
          const globals = buildahGlobals(dir).map(shellQuote).join(' ');
          const script = join(dir, 'bud-push.sh');
          await writeFile(
            script,
            [
              'set -e',
              `buildah ${globals} ${[...BUD, '--quiet', '-f', dockerfile, '-t', ref, context].map(shellQuote).join(' ')}`,
              `buildah ${globals} push --quiet --tls-verify=false ${shellQuote(ref)}`,
              '',
            ].join('\n'),
          );
          return { file: 'sh', args: [script], env: { TMPDIR: dir } };
        }),
      );
    }
    const results = await runSeries(contenders, {
      runs: ctx.coldRuns,
      warmup: false,
      log: ctx.log,
      signal: ctx.signal,
    });
    const rows: ResultRow[] = [
      ...H_GANTRY.map((g) => ({ ...rowOf(label, g.tool, 0, results.get(g.name)), peer: BUILDAH_PUSH_PEER })),
      ctx.buildah
        ? rowOf(label, BUILDAH_PUSH_PEER, 0, results.get('buildah'))
        : missingRow(label, BUILDAH_PUSH_PEER, 0, 'buildah not installed'),
    ];
    const mib = (n: number) => `${(n / MiB).toFixed(1)} MiB`;
    // The worst run of a tool, by total base layer bytes.
    const worst = (name: string): BlobTraffic | undefined =>
      moved.get(name)?.reduce((a, b) => (b.pulled + b.pushed > a.pulled + a.pushed ? b : a));
    const figure = (tool: string, t: BlobTraffic | undefined): string =>
      t === undefined
        ? `${tool} -`
        : `${tool} ${mib(t.pulled + t.pushed)} (pulled ${mib(t.pulled)}, pushed ${mib(t.pushed)})`;
    const notes = [
      `h: base ${published.image.layers.length} layers = ${mib(layerBytes)} in the registry, counted at a proxy ` +
        `in front of it; ${ctx.coldRuns} cold run(s) each with a fresh store / storage root, each pushing to a new repository`,
      `h: base layer bytes moved (worst run): ${[
        ...H_GANTRY.map((g) => figure(g.tool, worst(g.name))),
        ctx.buildah ? figure(BUILDAH_PUSH_PEER, worst('buildah')) : `${BUILDAH_PUSH_PEER} not installed`,
      ].join('; ')}`,
    ];
    const checks: Check[] = H_GANTRY.filter((g) => g.link).map((g) => {
      const t = worst(g.name);
      const total = t === undefined ? undefined : t.pulled + t.pushed;
      return {
        name: `h: ${g.tool} moves 0 base layer bytes (COPY --link build pushed to the base's registry)`,
        pass: total === 0,
        detail: t === undefined ? `${g.tool} did not complete` : `worst run pulled ${t.pulled} B, pushed ${t.pushed} B`,
      };
    });
    return { rows, checks, data: [files], notes };
  } finally {
    await proxy.stop();
    await removeDir(work);
  }
}

export const DOCKERFILE_RUNNERS = { f: scenarioF, g: scenarioG, h: scenarioH } as const;
