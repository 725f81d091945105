/**
 * The registry scenarios: (d) `gantry copy` vs `skopeo copy` of a 5-layer image between two
 * loopback registries, and (e) `gantry pull` into the store vs `skopeo copy` to an `oci:`
 * layout. Both start from the same image in the source registry, published once per bench. Every
 * run copies into a registry (d) or directory (e) of its own, so nothing is found already there.
 */
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GantryError } from '../../src/errors.js';
import { hostPlatform } from '../../src/oci/platform.js';
import type { TestRegistry } from '../../test/harness/registry.js';
import { MiB, type TreeRecipe } from './data.js';
import { ensureLayeredImage, type LayeredImage } from './image.js';
import { GANTRY_BIN, gantryArgv, manifestDigest, startLoopbackRegistry } from './loopback.js';
import { type CommandSpec, type Contender, runSeries } from './measure.js';
import { BASELINE_TOOL, type BenchContext, baselineNote, missingRow, rowOf, type ScenarioOutcome } from './scenario.js';
import type { ResultRow } from './table.js';

export const REGISTRY_TITLES = {
  d: 'd: copy 5-layer image reg->reg',
  e: 'e: pull 5-layer image',
} as const;

// Five layers of ~46 MiB of files each: mostly incompressible assets with some source-like text,
// so the image is about 190 MiB compressed, as an application image with its runtime can be.
const LAYER_RECIPES: readonly TreeRecipe[] = [0, 1, 2, 3, 4].map((i) => ({
  kind: 'tree',
  seed: 0xd00 + i,
  textBytes: 10 * MiB,
  textFiles: 600,
  binaryFiles: [16, 8, 6, 4, 2].map((m) => m * MiB),
}));

const BIG_REPOSITORY = 'bench/big';
const BIG_TAG = 'v1';

export interface PublishedImage {
  readonly image: LayeredImage;
  /** `HOST/bench/big:v1` in the source registry. */
  readonly ref: string;
  readonly registry: TestRegistry;
}

/** The 5-layer image, generated (or reused) and published to the source registry. */
export async function publishedBigImage(ctx: BenchContext): Promise<PublishedImage> {
  const image = await ensureLayeredImage(join(ctx.cacheDir, 'image-big'), 'big', LAYER_RECIPES, hostPlatform(), ctx);
  const how = image.reused ? 'reused' : `generated in ${image.seconds.toFixed(1)} s`;
  ctx.log(
    `data ${image.layoutDir}: ${image.layers.length} layers, ${(image.bytes / MiB).toFixed(0)} MiB ` +
      `(${(image.treeBytes / MiB).toFixed(0)} MiB of files; ${how})`,
  );
  const repo = await ctx.source.publish(image.layoutDir, image.tag, `${BIG_REPOSITORY}:${BIG_TAG}`, ctx);
  return { image, ref: repo, registry: await ctx.source.registry(ctx) };
}

function notFound(path: string, cause: unknown): GantryError {
  return new GantryError('BENCH_BAD_OUTPUT', `${path} is missing after the run`, {
    phase: 'export',
    suggestion: 'the tool reported success but did not write the image; run it by hand',
    cause,
  });
}

/**
 * Checks that the config and every layer of `image` are in the OCI layout (or gantry store) at
 * `dir` at their sizes: a tool that silently wrote nothing must not look fast. Returns their bytes.
 */
export async function checkBlobs(dir: string, image: LayeredImage): Promise<number> {
  let bytes = 0;
  for (const d of [image.config, ...image.layers]) {
    const path = join(dir, 'blobs', 'sha256', d.digest.slice('sha256:'.length));
    const size = (await stat(path).catch((err: unknown) => Promise.reject(notFound(path, err)))).size;
    if (size !== d.size) {
      throw new GantryError('BENCH_BAD_OUTPUT', `${path} is ${size} bytes, the manifest says ${d.size}`, {
        phase: 'export',
        suggestion: 'the tool wrote a corrupt blob; run it by hand',
      });
    }
    bytes += size;
  }
  return bytes;
}

interface CopyRun {
  readonly dir: string;
  readonly dest: TestRegistry;
}

/**
 * A copy into a fresh registry. gantry must keep the manifest digest (it copies bytes); a peer
 * that rewrites the manifest still copied the image, which the log says.
 */
function registryCopy(
  name: string,
  published: PublishedImage,
  command: (dest: string, dir: string) => CommandSpec,
  log: (line: string) => void,
): Contender<CopyRun> {
  const destRepo = `${BIG_REPOSITORY}:${BIG_TAG}`;
  return {
    name,
    async prepare(options) {
      const dir = await mkdtemp(join(tmpdir(), 'gantry-bench-copy-'));
      const dest = await startLoopbackRegistry(options).catch(async (err: unknown) => {
        await rm(dir, { recursive: true, force: true });
        throw err;
      });
      return { spec: command(`${dest.host}/${destRepo}`, dir), state: { dir, dest } };
    },
    async finish(state) {
      const digest = await manifestDigest(state.dest, BIG_REPOSITORY, BIG_TAG);
      if (digest !== published.image.manifest.digest) {
        if (name === 'gantry') {
          throw new GantryError('BENCH_BAD_OUTPUT', `gantry copy changed the manifest digest to ${digest}`, {
            phase: 'export',
            suggestion: 'a copy must keep the manifest bytes; see src/registry/ops',
          });
        }
        log(`  note: ${name} rewrote the manifest (${digest})`);
      }
      return published.image.bytes;
    },
    async cleanup(state) {
      await state.dest.stop();
      await rm(state.dir, { recursive: true, force: true });
    },
  };
}

interface PullRun {
  readonly dir: string;
}

function pullTo(
  name: string,
  published: PublishedImage,
  command: (dir: string) => { readonly spec: CommandSpec; readonly layout: string },
): Contender<PullRun> {
  return {
    name,
    async prepare() {
      const dir = await mkdtemp(join(tmpdir(), 'gantry-bench-pull-'));
      return { spec: command(dir).spec, state: { dir } };
    },
    finish: async (state) => checkBlobs(command(state.dir).layout, published.image),
    cleanup: (state) => rm(state.dir, { recursive: true, force: true }),
  };
}

function gantry(args: readonly string[], dir: string, bin: string = GANTRY_BIN): CommandSpec {
  return {
    ...gantryArgv(bin, ['--plain-http', '--progress', 'quiet', ...args]),
    env: { GANTRY_STORE: join(dir, 'store'), TMPDIR: dir },
  };
}

function skopeo(args: readonly string[], dir: string): CommandSpec {
  return { file: 'skopeo', args: ['copy', '--quiet', ...args], env: { TMPDIR: dir } };
}

function peerRows(
  scenario: string,
  ctx: BenchContext,
  inputBytes: number,
  gantryRow: ResultRow,
  peer: string,
  peerRow: () => ResultRow,
  baseRow?: ResultRow,
) {
  return [
    { ...gantryRow, peer },
    ...(baseRow ? [{ ...baseRow, peer }] : []),
    ctx.skopeo ? peerRow() : missingRow(scenario, peer, inputBytes, 'skopeo not installed'),
  ];
}

/** (d) registry to registry, the destination a fresh registry per run. */
export async function scenarioD(ctx: BenchContext): Promise<ScenarioOutcome> {
  const published = await publishedBigImage(ctx);
  const src = published.ref;
  const contenders: Contender[] = [
    registryCopy('gantry', published, (dest, dir) => gantry(['copy', src, dest], dir), ctx.log),
  ];
  const base = ctx.baseline;
  if (base) {
    contenders.push(
      registryCopy(BASELINE_TOOL, published, (dest, dir) => gantry(['copy', src, dest], dir, base), ctx.log),
    );
  }
  if (ctx.skopeo) {
    contenders.push(
      registryCopy(
        'skopeo',
        published,
        (dest, dir) =>
          skopeo(['--src-tls-verify=false', '--dest-tls-verify=false', `docker://${src}`, `docker://${dest}`], dir),
        ctx.log,
      ),
    );
  }
  const results = await runSeries(contenders, { runs: ctx.runs, warmup: true, log: ctx.log, signal: ctx.signal });
  const title = REGISTRY_TITLES.d;
  const bytes = published.image.bytes;
  const rows = peerRows(
    title,
    ctx,
    bytes,
    rowOf(title, 'gantry', bytes, results.get('gantry')),
    'skopeo copy',
    () => rowOf(title, 'skopeo copy', bytes, results.get('skopeo')),
    base ? rowOf(title, BASELINE_TOOL, bytes, results.get(BASELINE_TOOL)) : undefined,
  );
  return {
    rows,
    checks: [],
    data: [],
    notes: [
      ...baselineNote(title, rows),
      `d, e: ${published.image.layers.length}-layer image of ${(bytes / MiB).toFixed(1)} MiB (gzip) in a loopback ` +
        'registry (plain HTTP); d copies it to a fresh registry each run, e into a fresh store or oci: directory',
    ],
  };
}

/** (e) registry to the local store (gantry) or an OCI layout (skopeo), a fresh one per run. */
export async function scenarioE(ctx: BenchContext): Promise<ScenarioOutcome> {
  const published = await publishedBigImage(ctx);
  const src = published.ref;
  const contenders: Contender[] = [
    pullTo('gantry', published, (dir) => ({ spec: gantry(['pull', src], dir), layout: join(dir, 'store') })),
  ];
  const base = ctx.baseline;
  if (base) {
    contenders.push(
      pullTo(BASELINE_TOOL, published, (dir) => ({
        spec: gantry(['pull', src], dir, base),
        layout: join(dir, 'store'),
      })),
    );
  }
  if (ctx.skopeo) {
    contenders.push(
      pullTo('skopeo', published, (dir) => ({
        spec: skopeo(['--src-tls-verify=false', `docker://${src}`, `oci:${join(dir, 'out')}:big`], dir),
        layout: join(dir, 'out'),
      })),
    );
  }
  const results = await runSeries(contenders, { runs: ctx.runs, warmup: true, log: ctx.log, signal: ctx.signal });
  const title = REGISTRY_TITLES.e;
  const bytes = published.image.bytes;
  const peer = 'skopeo copy oci:';
  const rows = peerRows(
    title,
    ctx,
    bytes,
    rowOf(title, 'gantry', bytes, results.get('gantry')),
    peer,
    () => rowOf(title, peer, bytes, results.get('skopeo')),
    base ? rowOf(title, BASELINE_TOOL, bytes, results.get(BASELINE_TOOL)) : undefined,
  );
  return { rows, checks: [], data: [], notes: baselineNote(title, rows) };
}

export const REGISTRY_RUNNERS = { d: scenarioD, e: scenarioE } as const;
