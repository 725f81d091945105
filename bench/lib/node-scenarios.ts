/**
 * (n) A Node.js project without a Dockerfile: the Express example (examples/node-express), built
 * and pushed to the loopback registry cold (fresh store, fresh npm cache), rebuilt and pushed with
 * no change, and rebuilt and pushed after a one-line change of server.js. Peers in the same run:
 * buildah bud + push with the equivalent Dockerfile (package files, `npm ci --omit=dev`, the
 * sources; the CA as a build secret), and containerify (npm package, Node 22 from the npm package
 * `node`, installed once untimed), which copies the host's node_modules: its cold step runs
 * `npm ci --omit=dev` on the host first (fresh npm cache), as its users must. The base is the
 * test harness's Node fixture (node:20-slim shaped) published to the registry.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { cp, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { GantryError } from '../../src/errors.js';
import { nodeBaseImage } from '../../test/harness/node-base.js';
import { registryRequest } from '../../test/harness/registry.js';
import { REPO_ROOT } from './contenders.js';
import {
  BUD,
  buildahGlobals,
  freshDir,
  gantryCommand,
  removeDir,
  setupFailed,
  shellQuote,
} from './dockerfile-scenarios.js';
import type { CommandSpec, SeriesResult } from './measure.js';
import { type BenchContext, type Check, missingRow, rowOf, type ScenarioOutcome } from './scenario.js';
import { runStepped, type SteppedContender } from './steps.js';
import type { ResultRow } from './table.js';

export const NODE_TITLES = { n: 'n: Node.js Express example' } as const;

const N_COLD = 'n: Express, cold build+push';
const N_SAME = 'n: Express, no-change rebuild+push';
const N_EDIT = 'n: Express, one-file change rebuild+push';
const BUILDAH = 'buildah bud + push';
const CONTAINERIFY = 'containerify';
/** The CA bundle the host trusts (the npm registry is reached through a TLS-intercepting proxy here). */
const HOST_CA = '/etc/ssl/certs/ca-certificates.crt';
const EXAMPLE = join(REPO_ROOT, 'examples', 'node-express');

interface NRun {
  readonly dir: string;
  readonly app: string;
  readonly n: number;
  edits: number;
  /** No-change rebuilds done so far (each pushes a tag of its own: same, same2, ...). */
  sames: number;
}

/**
 * The tag a step pushes: every no-change rebuild a new tag of the unchanged image (the first
 * `same`, which the one-file check compares with `edit`), as a CI build of a new commit would.
 */
function stepTag(name: string, s: NRun): string {
  if (name !== 'same') return name;
  s.sames++;
  return s.sames === 1 ? 'same' : `same${s.sames}`;
}

const DOCKERFILE = (base: string) => `FROM ${base}
WORKDIR /app
COPY package.json package-lock.json ./
RUN --mount=type=secret,id=ca,target=/run/secrets/ca NODE_EXTRA_CA_CERTS=/run/secrets/ca npm ci --omit=dev
COPY . .
ENV NODE_ENV=production
USER node
EXPOSE 3000
ENTRYPOINT ["node", "server.js"]
`;

/** The one-line change of the third step: a new greeting each time. */
function edit(s: NRun): void {
  const file = join(s.app, 'server.js');
  s.edits++;
  writeFileSync(file, readFileSync(file, 'utf8').replace(/hello from[^ ]*/, `hello from${'!'.repeat(s.edits)}`));
}

async function layersOf(registryUrl: string, repository: string, tag: string): Promise<string[]> {
  const res = await registryRequest({ url: registryUrl }, `/v2/${repository}/manifests/${tag}`, {
    headers: {
      accept: 'application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json',
    },
  });
  if (res.status !== 200)
    throw new GantryError('BENCH_BAD_OUTPUT', `${repository}:${tag} is not in the registry (${res.status})`, {
      phase: 'export',
      suggestion: 'the build reported success but pushed nothing; run it by hand',
    });
  return (JSON.parse(res.body.toString('utf8')) as { layers: { digest: string }[] }).layers.map((l) => l.digest);
}

/** containerify and Node 22 in the bench cache, installed once (untimed); the node and cli paths. */
function installContainerify(cacheDir: string): { node: string; cli: string } {
  const prefix = join(cacheDir, 'containerify');
  const node = join(prefix, 'node_modules', 'node', 'bin', 'node');
  const cli = join(prefix, 'node_modules', 'containerify', 'lib', 'cli.js');
  if (!existsSync(node) || !existsSync(cli)) {
    const r = spawnSync(
      'npm',
      ['install', '--prefix', prefix, '--no-audit', '--no-fund', 'node@22', 'containerify@4'],
      {
        encoding: 'utf8',
      },
    );
    if (r.status !== 0 || !existsSync(node) || !existsSync(cli))
      throw new GantryError(
        'BENCH_SETUP_FAILED',
        `npm install node@22 containerify@4 failed: ${r.stderr.slice(-400)}`,
        {
          phase: 'io',
          suggestion: 'check that the npm registry is reachable',
        },
      );
  }
  return { node, cli };
}

export async function scenarioN(ctx: BenchContext): Promise<ScenarioOutcome> {
  const labels = [N_COLD, N_SAME, N_EDIT];
  const tools = ['gantry', ...(ctx.buildah ? [BUILDAH] : []), CONTAINERIFY];
  let base: string;
  let host: string;
  let url: string;
  let cfy: { node: string; cli: string };
  try {
    const image = await nodeBaseImage();
    base = await ctx.source.publish(image.layoutDir, image.tag, 'bench/node:20-slim', ctx);
    const reg = await ctx.source.registry(ctx);
    host = reg.host;
    url = reg.url;
    cfy = installContainerify(ctx.cacheDir);
  } catch (err) {
    if (ctx.signal?.aborted || !(err instanceof Error)) throw err;
    return setupFailed(labels, tools, err);
  }
  let serial = 0;
  const prepare = (tool: string) => async (): Promise<NRun> => {
    const dir = await freshDir(`n-${tool}`);
    const app = join(dir, 'app');
    await cp(EXAMPLE, app, { recursive: true, filter: (src) => !src.includes('node_modules') });
    return { dir, app, n: ++serial, edits: 0, sames: 0 };
  };
  const changedOnly = new Map<string, number>();
  const checkOneLayer = (tool: string, repo: (s: NRun) => string) => async (s: NRun) => {
    const before = await layersOf(url, repo(s), 'same');
    const after = await layersOf(url, repo(s), 'edit');
    const changed = after.filter((d) => !before.includes(d)).length;
    changedOnly.set(tool, Math.max(changedOnly.get(tool) ?? 0, changed));
  };

  // The no-change step runs ctx.runs times per contender (median), the others once.
  const repeat = (name: string) => (name === 'same' ? ctx.runs : 1);
  const gantryStep = (name: string) => ({
    name,
    repeat: repeat(name),
    spec: (s: NRun): CommandSpec => {
      if (name === 'edit') edit(s);
      const tag = stepTag(name, s);
      return gantryCommand(s.dir, [
        'build',
        '--progress',
        'quiet',
        '--isolation',
        'chroot',
        '--ca-cert',
        HOST_CA,
        '--from',
        base,
        '-t',
        `${host}/bench/n-gantry-${s.n}:${tag}`,
        '--push',
        s.app,
      ]);
    },
  });
  const gantry: SteppedContender<NRun> = {
    name: 'gantry',
    prepare: prepare('gantry'),
    steps: [gantryStep('cold'), gantryStep('same'), gantryStep('edit')],
    finish: checkOneLayer('gantry', (s) => `bench/n-gantry-${s.n}`),
    cleanup: (s) => removeDir(s.dir),
  };

  const buildahStep = (name: string) => ({
    name,
    repeat: repeat(name),
    spec: (s: NRun): CommandSpec => {
      if (name === 'edit') edit(s);
      const root = join(s.dir, 'buildah');
      const globals = buildahGlobals(root).map(shellQuote).join(' ');
      const ref = `${host}/bench/n-buildah-${s.n}:${stepTag(name, s)}`;
      const bud = [
        ...BUD,
        '--quiet',
        '--secret',
        `id=ca,src=${HOST_CA}`,
        '-f',
        join(s.dir, 'Dockerfile'),
        '-t',
        ref,
        s.app,
      ];
      const script = [
        'set -e',
        `mkdir -p ${shellQuote(root)}`,
        `buildah ${globals} ${bud.map(shellQuote).join(' ')} >/dev/null`,
        `buildah ${globals} push --quiet --tls-verify=false ${shellQuote(ref)}`,
      ].join('\n');
      return { file: 'sh', args: ['-c', script], env: { TMPDIR: s.dir } };
    },
  });
  const buildah: SteppedContender<NRun> = {
    name: 'buildah',
    prepare: async () => {
      const s = await prepare('buildah')();
      await writeFile(join(s.dir, 'Dockerfile'), DOCKERFILE(base));
      await writeFile(join(s.app, '.dockerignore'), 'node_modules\n.git\ntest\n.env*\n');
      return s;
    },
    steps: [buildahStep('cold'), buildahStep('same'), buildahStep('edit')],
    finish: checkOneLayer('buildah', (s) => `bench/n-buildah-${s.n}`),
    cleanup: (s) => removeDir(s.dir),
  };

  const containerifyStep = (name: string) => ({
    name,
    repeat: repeat(name),
    spec: (s: NRun): CommandSpec => {
      if (name === 'edit') edit(s);
      const tag = stepTag(name, s);
      const args = [
        cfy.cli,
        '--fromRegistry',
        `${url}/v2/`,
        '--fromImage',
        base.slice(host.length + 1),
        '--toRegistry',
        `${url}/v2/`,
        '--toImage',
        `bench/n-containerify-${s.n}:${tag}`,
        '--allowInsecureRegistries',
        '--allowNoPushAuth',
        '--folder',
        s.app,
        '--entrypoint',
        'node server.js',
        '--user',
        'node',
        '--env',
        'NODE_ENV=production',
        '--expose',
        '3000',
        '--layerCacheFolder',
        join(s.dir, 'layers'),
      ];
      const cfyCmd = [cfy.node, ...args].map(shellQuote).join(' ');
      // Its users install on the host first: the cold step pays for that (a fresh npm cache).
      const script = [
        'set -e',
        ...(name === 'cold'
          ? [
              `cd ${shellQuote(s.app)}`,
              `NODE_EXTRA_CA_CERTS=${HOST_CA} npm ci --omit=dev --no-audit --no-fund >/dev/null`,
            ]
          : []),
        `${cfyCmd} >/dev/null`,
      ].join('\n');
      return { file: 'sh', args: ['-c', script], env: { TMPDIR: s.dir, npm_config_cache: join(s.dir, 'npm-cache') } };
    },
  });
  const containerify: SteppedContender<NRun> = {
    name: CONTAINERIFY,
    prepare: async () => {
      const s = await prepare('containerify')();
      await mkdir(join(s.dir, 'layers'));
      return s;
    },
    steps: [containerifyStep('cold'), containerifyStep('same'), containerifyStep('edit')],
    finish: checkOneLayer(CONTAINERIFY, (s) => `bench/n-containerify-${s.n}`),
    cleanup: (s) => removeDir(s.dir),
  };

  const contenders = [gantry, ...(ctx.buildah ? [buildah] : []), containerify] as SteppedContender[];
  const results = await runStepped(contenders, { runs: ctx.coldRuns, log: ctx.log, signal: ctx.signal });
  const rows: ResultRow[] = [];
  const notes: string[] = [
    `n: examples/node-express on the Node fixture (node 20, published as bench/node:20-slim); ${ctx.coldRuns} run(s), ` +
      `the no-change rebuild ${ctx.runs} times in each (a new tag each time; medians); ` +
      'every build pushes; buildah: the equivalent Dockerfile on fresh vfs roots; containerify 4 on Node 22 ' +
      '(its cold step includes the host `npm ci --omit=dev` it needs)',
  ];
  const checks: Check[] = [];
  const wallOf = (r: SeriesResult | undefined) => (r?.ok ? r.summary.wallSec : undefined);
  for (const [label, step] of [
    [N_COLD, 'cold'],
    [N_SAME, 'same'],
    [N_EDIT, 'edit'],
  ] as const) {
    rows.push({ ...rowOf(label, 'gantry', 0, results.get('gantry')?.get(step)), peer: BUILDAH });
    rows.push(
      ctx.buildah
        ? rowOf(label, BUILDAH, 0, results.get('buildah')?.get(step))
        : missingRow(label, BUILDAH, 0, 'buildah not installed'),
    );
    rows.push(rowOf(label, CONTAINERIFY, 0, results.get(CONTAINERIFY)?.get(step)));
    const g = wallOf(results.get('gantry')?.get(step));
    const b = wallOf(results.get('buildah')?.get(step));
    const c = wallOf(results.get(CONTAINERIFY)?.get(step));
    if (g !== undefined)
      notes.push(
        `${label}: gantry ${g.toFixed(2)} s` +
          (b !== undefined ? `, buildah ${b.toFixed(2)} s (${(b / g).toFixed(1)}x gantry)` : '') +
          (c !== undefined ? `, containerify ${c.toFixed(2)} s (${(c / g).toFixed(1)}x gantry)` : ''),
      );
    if (step === 'same' && g !== undefined) {
      checks.push({ name: 'n: gantry no-change rebuild+push under 1 s', pass: g < 1, detail: `${g.toFixed(2)} s` });
      for (const [peer, t] of [
        [BUILDAH, b],
        [CONTAINERIFY, c],
      ] as const)
        if (t !== undefined)
          checks.push({
            name: `n: gantry no-change rebuild+push at least 5x faster than ${peer}`,
            pass: t / g >= 5,
            detail: `${(t / g).toFixed(1)}x`,
          });
    }
  }
  for (const [tool, changed] of changedOnly) notes.push(`n: ${tool}: a one-file change pushed ${changed} new layer(s)`);
  const gChanged = changedOnly.get('gantry');
  if (gChanged !== undefined)
    checks.push({
      name: 'n: gantry one-file change pushes one new layer',
      pass: gChanged === 1,
      detail: `${gChanged}`,
    });
  return { rows, checks, data: [], notes };
}

export const NODE_RUNNERS = { n: scenarioN } as const;
