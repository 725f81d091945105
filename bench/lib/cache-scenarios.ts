/**
 * (i) The build cache shared between machines: the 6-step Dockerfile of (f) on Debian, built and
 * pushed on machine A (a fresh store) with `--cache-to` the registry (mode=max), then on machine B
 * (another fresh store) twice: cold, and with `--cache-from`. Every build pushes its image to the
 * registry, as CI does. Peer: buildah bud + push with `--cache-to`/`--cache-from` the registry, in
 * the same run. Bytes are counted at a loopback proxy in front of the registry.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { GantryError } from '../../src/errors.js';
import { debianImage } from '../../test/harness/debian.js';
import { type FaultProxy, startFaultProxy } from '../../test/harness/proxy.js';
import { registryRequest } from '../../test/harness/registry.js';
import { MiB } from './data.js';
import {
  BUD,
  buildahGlobals,
  contextF,
  dockerfileF,
  freshDir,
  gantryCommand,
  removeDir,
  setupFailed,
  shellQuote,
} from './dockerfile-scenarios.js';
import type { CommandSpec, SeriesResult } from './measure.js';
import { type BenchContext, type Check, describeData, missingRow, rowOf, type ScenarioOutcome } from './scenario.js';
import { runStepped, type SteppedContender } from './steps.js';
import type { ResultRow } from './table.js';

export const CACHE_TITLES = { i: 'i: shared cache, machine B' } as const;

const I_A = 'i: machine A, cold + --cache-to';
const I_COLD = 'i: machine B, cold';
const I_CACHED = 'i: machine B, --cache-from';
const BUILDAH = 'buildah bud + push';
const STEPS = 6;

interface IRun {
  readonly dir: string;
  readonly n: number;
}

function wall(r: SeriesResult | undefined): number | undefined {
  return r?.ok ? r.summary.wallSec : undefined;
}

/** Layer digests of a manifest in the registry behind the proxy (an image or the cache). */
async function layersOf(proxy: FaultProxy, repository: string, tag: string): Promise<string[]> {
  const res = await registryRequest({ url: proxy.url }, `/v2/${repository}/manifests/${tag}`, {
    headers: { accept: 'application/vnd.oci.image.manifest.v1+json' },
  });
  if (res.status !== 200) {
    throw new GantryError('BENCH_BAD_OUTPUT', `${repository}:${tag} is not in the registry (${res.status})`, {
      phase: 'export',
      suggestion: 'the build reported success but pushed nothing; run it by hand',
    });
  }
  return (JSON.parse(res.body.toString('utf8')) as { layers: { digest: string }[] }).layers.map((l) => l.digest);
}

function layerGets(proxy: FaultProxy): Map<string, number> {
  const out = new Map<string, number>();
  for (const e of proxy.stats.log) {
    const m = /\/blobs\/(sha256:[0-9a-f]{64})$/.exec(e.target.split('?')[0] ?? '');
    if (e.method === 'GET' && m) out.set(m[1] as string, (out.get(m[1] as string) ?? 0) + e.responseBytes);
  }
  return out;
}

export async function scenarioI(ctx: BenchContext): Promise<ScenarioOutcome> {
  const labels = [I_A, I_COLD, I_CACHED];
  const tools = ctx.buildah ? ['gantry', BUILDAH] : ['gantry'];
  let proxy: FaultProxy;
  let work: string;
  let context: Awaited<ReturnType<typeof contextF>>;
  let base: string;
  try {
    const debian = await debianImage();
    const published = await ctx.source.publish(debian.layoutDir, debian.tag, 'bench/debian:bookworm', ctx);
    const reg = await ctx.source.registry(ctx);
    proxy = await startFaultProxy({ upstream: reg.url });
    base = published.replace(reg.host, proxy.host);
    context = await contextF(ctx);
    ctx.log(`data ${describeData(context.app)}`);
    work = await freshDir('i');
  } catch (err) {
    if (ctx.signal?.aborted || !(err instanceof Error)) throw err;
    return setupFailed(labels, tools, err);
  }
  try {
    const dockerfile = join(work, 'Dockerfile');
    await writeFile(dockerfile, dockerfileF(base));
    let serial = 0;
    const findings = new Map<string, { cached: number; pulled: number; unexported: number }>();

    const gantry: SteppedContender<IRun> = {
      name: 'gantry',
      prepare: async () => ({ dir: await freshDir('i-gantry'), n: ++serial }),
      steps: [
        {
          name: 'a',
          spec: (s) =>
            gantryCommand(join(s.dir, 'a'), [
              'build',
              '--progress',
              'quiet',
              '--isolation',
              'chroot',
              '-f',
              dockerfile,
              '-t',
              `${proxy.host}/bench/i-gantry-${s.n}:a`,
              '--push',
              '--cache-to',
              `type=registry,ref=${proxy.host}/bench/i-gantry-cache-${s.n}:latest,mode=max`,
              context.dir,
            ]),
        },
        {
          name: 'cold',
          spec: (s) =>
            gantryCommand(join(s.dir, 'cold'), [
              'build',
              '--progress',
              'quiet',
              '--isolation',
              'chroot',
              '-f',
              dockerfile,
              '-t',
              `${proxy.host}/bench/i-gantry-${s.n}:cold`,
              '--push',
              context.dir,
            ]),
        },
        {
          name: 'cached',
          spec: (s) => {
            proxy.stats.reset();
            return gantryCommand(join(s.dir, 'cached'), [
              'build',
              '--progress',
              'plain',
              '--isolation',
              'chroot',
              '-f',
              dockerfile,
              '-t',
              `${proxy.host}/bench/i-gantry-${s.n}:b`,
              '--push',
              '--cache-from',
              `type=registry,ref=${proxy.host}/bench/i-gantry-cache-${s.n}:latest`,
              context.dir,
            ]);
          },
          check: async (s, result) => {
            const cached = [...result.stderr.matchAll(/^#\d+ CACHED$/gm)].length;
            const exported = new Set(await layersOf(proxy, `bench/i-gantry-${s.n}`, 'b'));
            const cacheLayers = await layersOf(proxy, `bench/i-gantry-cache-${s.n}`, 'latest');
            let pulled = 0;
            let unexported = 0;
            for (const [digest, bytes] of layerGets(proxy)) {
              if (!exported.has(digest) && !cacheLayers.includes(digest)) continue;
              pulled += bytes;
              if (!exported.has(digest)) unexported += bytes;
            }
            const prev = findings.get('gantry');
            findings.set('gantry', {
              cached: Math.min(prev?.cached ?? cached, cached),
              pulled: Math.max(prev?.pulled ?? 0, pulled),
              unexported: Math.max(prev?.unexported ?? 0, unexported),
            });
          },
        },
      ],
      finish: async () => {},
      cleanup: (s) => removeDir(s.dir),
    };

    const buildahStep = (name: string, cache: string[]) => ({
      name,
      spec: (s: IRun): CommandSpec => {
        const dir = join(s.dir, name);
        const globals = buildahGlobals(dir).map(shellQuote).join(' ');
        const ref = `${proxy.host}/bench/i-buildah-${s.n}:${name}`;
        const bud = [...BUD, '--quiet', ...cache, '-f', dockerfile, '-t', ref, context.dir];
        const script = [
          'set -e',
          `mkdir -p ${shellQuote(dir)}`,
          `buildah ${globals} ${bud.map(shellQuote).join(' ')}`,
          `buildah ${globals} push --quiet --tls-verify=false ${shellQuote(ref)}`,
        ].join('\n');
        return { file: 'sh', args: ['-c', script], env: { TMPDIR: s.dir } };
      },
    });
    // buildah's cache repository is named by the run number it gets in prepare.
    const buildahContender: SteppedContender<IRun> = {
      name: 'buildah',
      prepare: async () => ({ dir: await freshDir('i-buildah'), n: ++serial }),
      finish: async () => {},
      cleanup: (s) => removeDir(s.dir),
      steps: [
        {
          ...buildahStep('a', []),
          spec: (s) => buildahStep('a', ['--cache-to', `${proxy.host}/bench/i-buildah-cache-${s.n}`]).spec(s),
        },
        buildahStep('cold', []),
        {
          ...buildahStep('cached', []),
          spec: (s) => buildahStep('cached', ['--cache-from', `${proxy.host}/bench/i-buildah-cache-${s.n}`]).spec(s),
        },
      ],
    };
    const contenders = ctx.buildah ? [gantry, buildahContender] : [gantry];
    const results = await runStepped(contenders as SteppedContender[], {
      runs: ctx.coldRuns,
      log: ctx.log,
      signal: ctx.signal,
    });
    const rows: ResultRow[] = [];
    for (const [label, step] of [
      [I_A, 'a'],
      [I_COLD, 'cold'],
      [I_CACHED, 'cached'],
    ] as const) {
      rows.push({ ...rowOf(label, 'gantry', 0, results.get('gantry')?.get(step)), peer: BUILDAH });
      rows.push(
        ctx.buildah
          ? rowOf(label, BUILDAH, 0, results.get('buildah')?.get(step))
          : missingRow(label, BUILDAH, 0, 'buildah not installed'),
      );
    }
    const notes: string[] = [
      `i: Debian bookworm minbase base and every push through a counting proxy; ${ctx.coldRuns} run(s); ` +
        'A and B are fresh stores (buildah: fresh vfs roots); every build pushes its image',
    ];
    const checks: Check[] = [];
    for (const [name, tool] of [
      ['gantry', 'gantry'],
      ['buildah', BUILDAH],
    ] as const) {
      const cold = wall(results.get(name)?.get('cold'));
      const cached = wall(results.get(name)?.get('cached'));
      if (cold === undefined || cached === undefined) continue;
      notes.push(
        `i: ${tool}: machine B with the cache ${cached.toFixed(2)} s vs its cold build ${cold.toFixed(2)} s = ${(cold / cached).toFixed(1)}x faster`,
      );
      if (name === 'gantry') {
        checks.push({
          name: 'i: gantry machine B with --cache-from is at least 5x faster than its cold build',
          pass: cold / cached >= 5,
          detail: `${(cold / cached).toFixed(1)}x`,
        });
      }
    }
    const f = findings.get('gantry');
    if (f) {
      notes.push(`i: gantry machine B pulled ${(f.pulled / MiB).toFixed(2)} MiB of layers (worst run)`);
      checks.push({
        name: `i: gantry machine B finds all ${STEPS} steps in the imported cache`,
        pass: f.cached >= STEPS,
        detail: `${f.cached} steps cached at worst`,
      });
      checks.push({
        name: 'i: gantry machine B downloads no layer it does not export',
        pass: f.unexported === 0,
        detail: `${f.unexported} B of unexported layers`,
      });
    }
    return { rows, checks, data: [context.app], notes };
  } finally {
    await proxy.stop();
    await removeDir(work);
  }
}

export const CACHE_RUNNERS = { i: scenarioI } as const;
