/**
 * (py) The Flask example (examples/python-flask) built and pushed to the loopback registry:
 * gantry's Python front end (no Dockerfile) vs buildah building the equivalent Dockerfile
 * (`FROM base`, `COPY requirements.txt`, `RUN pip install`, `COPY . .`) and pushing it, in the
 * same run: a cold build+push, no-change rebuild+push, and a one-file source change rebuild+push
 * (only the app layer is new). The base is the Debian Python fixture (test/harness/python.ts),
 * published once as bench/python:3.11-slim; the requirements are satisfied by the base, so pip
 * reaches no index. Issue 10's goals: a no-change rebuild+push under 1 s and at least 5x faster
 * than buildah's, a source change at least 3x faster.
 */
import { appendFileSync, readFileSync } from 'node:fs';
import { cp, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { GantryError } from '../../src/errors.js';
import { pythonBaseImage } from '../../test/harness/python.js';
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
import type { CommandSpec } from './measure.js';
import { type BenchContext, type Check, missingRow, rowOf, type ScenarioOutcome } from './scenario.js';
import { runStepped, type SteppedContender, type SteppedResults } from './steps.js';
import type { ResultRow } from './table.js';

export const PYTHON_TITLES = { py: 'py: Flask project build+push' } as const;

const PY_COLD = 'py: Flask, cold build+push';
const PY_REBUILD = 'py: no-change rebuild+push';
const PY_CHANGE = 'py: 1-file change rebuild+push';
const BUILDAH_PEER = 'buildah bud + push';
const NO_PIP_SETTINGS = { PIP_FIND_LINKS: '', PIP_INDEX_URL: '', PIP_EXTRA_INDEX_URL: '', PIP_NO_INDEX: '' };

function dockerfile(base: string): string {
  return [
    `FROM ${base}`,
    'WORKDIR /app',
    'COPY requirements.txt .',
    'RUN python3 -m venv --system-site-packages /opt/venv && /opt/venv/bin/pip install --no-cache-dir -r requirements.txt',
    'COPY . .',
    'ENV PATH=/opt/venv/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin PYTHONUNBUFFERED=1',
    'USER 65532:65532',
    'EXPOSE 5000',
    'ENTRYPOINT ["python3", "-m", "flask", "--app", "app:app", "run", "--host", "0.0.0.0", "--port", "5000"]',
    '',
  ].join('\n');
}

interface PyRun {
  readonly dir: string;
  readonly context: string;
  readonly ref: string;
  changes: number;
  coldImage?: string;
}

function sameImage(name: string, run: PyRun): void {
  const image = readFileSync(join(run.dir, 'iid'), 'utf8').trim();
  if (image !== run.coldImage) {
    throw new GantryError('BENCH_BAD_OUTPUT', `${name}'s no-change rebuild made ${image}, not ${run.coldImage}`, {
      phase: 'build',
      suggestion: 'a rebuild with nothing changed must give the same image; run the build twice by hand',
    });
  }
}

/** One contender: cold, then no-change rebuilds (one warm-up), then one-file changes, each pushed. */
function contender(
  name: string,
  command: (run: PyRun) => CommandSpec,
  runs: number,
  registry: string,
): SteppedContender<PyRun> {
  let serial = 0;
  return {
    name,
    prepare: async () => {
      const dir = await freshDir(`py-${name}`);
      const context = join(dir, 'context');
      await cp(join(REPO_ROOT, 'examples', 'python-flask'), context, { recursive: true });
      return { dir, context, ref: `${registry}/bench/py-${name}-${++serial}:latest`, changes: 0 };
    },
    steps: [
      {
        name: 'cold',
        spec: command,
        check: (run) => {
          run.coldImage = readFileSync(join(run.dir, 'iid'), 'utf8').trim();
        },
      },
      { name: 'rebuild', warmup: 1, repeat: runs, spec: command, check: (run) => sameImage(name, run) },
      {
        name: 'change',
        repeat: runs,
        spec: (run) => {
          // One source file changes, as an edit would: only the application layer is new.
          appendFileSync(join(run.context, 'app.py'), `# edit ${++run.changes}\n`);
          return command(run);
        },
      },
    ],
    finish: async () => {},
    cleanup: (run) => removeDir(run.dir),
  };
}

function wall(results: SteppedResults, name: string, step: string): number | undefined {
  const r = results.get(name)?.get(step);
  return r?.ok ? r.summary.wallSec : undefined;
}

/** (py) gantry's Python front end vs buildah with the equivalent Dockerfile, each pushing. */
export async function scenarioPy(ctx: BenchContext): Promise<ScenarioOutcome> {
  const labels = [PY_COLD, PY_REBUILD, PY_CHANGE];
  const tools = ctx.buildah ? ['gantry', BUILDAH_PEER] : ['gantry'];
  let base: string;
  let registry: string;
  let work: string;
  try {
    const fixture = await pythonBaseImage();
    base = await ctx.source.publish(fixture.layoutDir, fixture.tag, 'bench/python', ctx);
    registry = (await ctx.source.registry(ctx)).host;
    work = await freshDir('py');
  } catch (err) {
    if (ctx.signal?.aborted || !(err instanceof Error)) throw err;
    return setupFailed(labels, tools, err);
  }
  try {
    const file = join(work, 'Dockerfile');
    await writeFile(file, dockerfile(base));
    const gantry = contender(
      'gantry',
      (run) => {
        const spec = gantryCommand(run.dir, [
          'build',
          '--progress',
          'quiet',
          '--isolation',
          'chroot',
          '--from',
          base,
          '-t',
          run.ref,
          '--push',
          '--sbom=false',
          '--iidfile',
          join(run.dir, 'iid'),
          run.context,
        ]);
        return { ...spec, env: { ...spec.env, ...NO_PIP_SETTINGS } };
      },
      ctx.runs,
      registry,
    );
    const buildah = contender(
      'buildah',
      (run) => {
        // bud and push as one timed command: together they are what `gantry build --push` does.
        const globals = buildahGlobals(run.dir).map(shellQuote).join(' ');
        const bud = [...BUD, '--quiet', '-f', file, '-t', run.ref, '--iidfile', join(run.dir, 'iid'), run.context];
        const script = [
          'set -e',
          `buildah ${globals} ${bud.map(shellQuote).join(' ')} >/dev/null`,
          `buildah ${globals} push --quiet --tls-verify=false ${shellQuote(run.ref)}`,
        ].join('\n');
        return { file: 'sh', args: ['-c', script], env: { TMPDIR: run.dir, ...NO_PIP_SETTINGS } };
      },
      ctx.runs,
      registry,
    );
    const contenders = ctx.buildah ? [gantry, buildah] : [gantry];
    const results = await runStepped(contenders as SteppedContender[], {
      runs: ctx.coldRuns,
      log: ctx.log,
      signal: ctx.signal,
    });
    const rows: ResultRow[] = [];
    for (const [label, step] of [
      [PY_COLD, 'cold'],
      [PY_REBUILD, 'rebuild'],
      [PY_CHANGE, 'change'],
    ] as const) {
      rows.push({ ...rowOf(label, 'gantry', 0, results.get('gantry')?.get(step)), peer: BUILDAH_PEER });
      rows.push(
        ctx.buildah
          ? rowOf(label, BUILDAH_PEER, 0, results.get('buildah')?.get(step))
          : missingRow(label, BUILDAH_PEER, 0, 'buildah not installed'),
      );
    }
    const notes = [
      `py: base ${base} (Debian python3 + Flask) from the loopback registry; RUN isolation chroot for both; ` +
        `${ctx.coldRuns} cold run(s) each, then 1 warm-up + ${ctx.runs} no-change rebuilds and ${ctx.runs} one-file changes, each pushed`,
    ];
    const checks: Check[] = [];
    const goal = (what: string, g: number | undefined, b: number | undefined, factor: number) => {
      if (g === undefined) return;
      const ratio = b === undefined ? undefined : b / g;
      notes.push(
        `py: ${what}: gantry ${g.toFixed(2)} s` +
          (ratio === undefined
            ? ''
            : `, buildah ${(b as number).toFixed(2)} s: ${ratio.toFixed(1)}x (goal >= ${factor}x: ${ratio >= factor ? 'met' : 'NOT met'})`),
      );
    };
    const g = wall(results, 'gantry', 'rebuild');
    goal('no-change rebuild+push', g, wall(results, 'buildah', 'rebuild'), 5);
    goal('1-file change rebuild+push', wall(results, 'gantry', 'change'), wall(results, 'buildah', 'change'), 3);
    if (g !== undefined) notes.push(`py: gantry no-change rebuild+push under 1 s: ${g < 1 ? 'met' : 'NOT met'}`);
    checks.push({
      name: 'py: gantry completes cold, no-change (same image) and source-change builds with pushes',
      pass: results.get('gantry')?.get('change')?.ok === true,
      detail: results.get('gantry')?.get('change')?.ok ? 'ok' : 'gantry failed (see the log)',
    });
    return { rows, checks, data: [], notes };
  } finally {
    await removeDir(work);
  }
}

export const PYTHON_RUNNERS = { py: scenarioPy } as const;
