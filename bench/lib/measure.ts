/**
 * Measuring child processes with GNU time: wall, user and system CPU, and peak RSS of one run,
 * and a series of runs (optional warm-up, then N timed runs) reduced to per-metric medians.
 * Every measured command runs as a child so its figures never include the harness itself.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AbortedError, GantryError, type IoOptions, throwIfAborted } from '../../src/errors.js';

export const GNU_TIME = '/usr/bin/time';

/** A command line with its environment additions and working directory. */
export interface CommandSpec {
  readonly file: string;
  readonly args: readonly string[];
  readonly env?: Readonly<Record<string, string>>;
  readonly cwd?: string;
  /** Where the child's stdout goes; stderr is always captured for error messages. */
  readonly stdout?: 'ignore' | 'capture';
}

/** One measured run. Times in seconds, memory in KiB (as GNU time reports `%M`). */
export interface Sample {
  readonly wallSec: number;
  readonly userSec: number;
  readonly sysSec: number;
  readonly maxRssKiB: number;
  readonly exitCode: number;
}

export interface RunResult {
  readonly sample: Sample;
  readonly stdout: string;
  readonly stderr: string;
}

// The last line of the -o file; GNU time writes "Command exited with non-zero status N" above it.
const FORMAT = 'GANTRYBENCH %e %U %S %M %x';

/** Parses what GNU time wrote with {@link FORMAT}; exported for tests. */
export function parseTimeOutput(text: string): Sample {
  const line = text
    .split('\n')
    .reverse()
    .find((l) => l.startsWith('GANTRYBENCH '));
  const fields = line?.split(' ').slice(1).map(Number);
  if (fields?.length !== 5 || fields.some((n) => !Number.isFinite(n))) {
    throw new GantryError('BENCH_TIME_OUTPUT', `unexpected GNU time output ${JSON.stringify(text.slice(0, 200))}`, {
      phase: 'io',
      suggestion: 'install GNU time 1.9 or later (apt-get install time)',
    });
  }
  const [wallSec, userSec, sysSec, maxRssKiB, exitCode] = fields as [number, number, number, number, number];
  return { wallSec, userSec, sysSec, maxRssKiB, exitCode };
}

export function assertGnuTime(): void {
  if (!existsSync(GNU_TIME)) {
    throw new GantryError('BENCH_NO_GNU_TIME', `${GNU_TIME} not found`, {
      phase: 'io',
      suggestion: 'install GNU time: apt-get install -y time',
    });
  }
}

function tail(text: string, max = 400): string {
  const t = text.trim().replace(/\s+/g, ' ');
  return t.length > max ? `...${t.slice(-max)}` : t;
}

/**
 * Runs `spec` once under GNU time. A non-zero exit is an error (a failing tool must never be
 * reported as a fast one). On abort the whole process group is killed, so a tool's own
 * children do not outlive the bench.
 */
export async function timeCommand(spec: CommandSpec, options: IoOptions = {}): Promise<RunResult> {
  throwIfAborted(options.signal);
  const dir = await mkdtemp(join(tmpdir(), 'gantry-bench-time-'));
  const statsFile = join(dir, 'stats');
  try {
    const child = spawn(GNU_TIME, ['-f', FORMAT, '-o', statsFile, '--', spec.file, ...spec.args], {
      cwd: spec.cwd,
      env: { ...process.env, ...spec.env },
      stdio: ['ignore', spec.stdout === 'capture' ? 'pipe' : 'ignore', 'pipe'],
      detached: true,
    });
    const onAbort = (): void => {
      if (child.pid !== undefined) {
        try {
          process.kill(-child.pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }
    };
    options.signal?.addEventListener('abort', onAbort, { once: true });
    let stdout = '';
    let stderr = '';
    child.stdout?.setEncoding('utf8').on('data', (d: string) => {
      stdout += d;
    });
    // Keep only the end of stderr: tools can be chatty and only the last lines explain a failure.
    child.stderr?.setEncoding('utf8').on('data', (d: string) => {
      stderr = (stderr + d).slice(-16384);
    });
    const code = await new Promise<number | null>((resolve, reject) => {
      child.once('error', reject);
      child.once('close', (c) => resolve(c));
    }).finally(() => options.signal?.removeEventListener('abort', onAbort));
    if (options.signal?.aborted) throw new AbortedError({ cause: options.signal.reason });
    const sample = parseTimeOutput(await readFile(statsFile, 'utf8').catch(() => ''));
    if (code !== 0 || sample.exitCode !== 0) {
      throw new GantryError(
        'BENCH_COMMAND_FAILED',
        `${spec.file} ${spec.args.join(' ')} exited with ${sample.exitCode}: ${tail(stderr)}`,
        { phase: 'io', suggestion: 'run the command by hand to see why it fails' },
      );
    }
    return { sample, stdout, stderr };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Median of the numbers (mean of the middle two for an even count). */
export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
}

/** Per-metric medians of a series, with the spread that readers need to trust them. */
export interface Summary {
  readonly runs: number;
  readonly wallSec: number;
  readonly cpuSec: number;
  readonly userSec: number;
  readonly sysSec: number;
  readonly maxRssKiB: number;
  readonly wallMinSec: number;
  readonly wallMaxSec: number;
  /** The highest peak RSS of any run: memory limits are checked against this, not the median. */
  readonly worstRssKiB: number;
  readonly samples: readonly Sample[];
}

export function summarize(samples: readonly Sample[]): Summary {
  const walls = samples.map((s) => s.wallSec);
  return {
    runs: samples.length,
    wallSec: median(walls),
    cpuSec: median(samples.map((s) => s.userSec + s.sysSec)),
    userSec: median(samples.map((s) => s.userSec)),
    sysSec: median(samples.map((s) => s.sysSec)),
    maxRssKiB: median(samples.map((s) => s.maxRssKiB)),
    wallMinSec: Math.min(...walls),
    wallMaxSec: Math.max(...walls),
    worstRssKiB: Math.max(...samples.map((s) => s.maxRssKiB)),
    samples,
  };
}

/**
 * One contender in a series: `prepare` builds a fresh command (fresh output and storage
 * directories) before each run; `finish` checks what the run produced and returns the bytes it
 * wrote, if that means anything; `cleanup` removes the run's directories. None of it is timed.
 */
export interface Contender<T = unknown> {
  readonly name: string;
  prepare(options: IoOptions): Promise<{ readonly spec: CommandSpec; readonly state: T }>;
  finish(state: T, result: RunResult, options: IoOptions): Promise<number | undefined>;
  cleanup(state: T): Promise<void>;
}

export type SeriesResult =
  | { readonly ok: true; readonly summary: Summary; readonly outputBytes: number | undefined }
  | { readonly ok: false; readonly error: Error };

export interface SeriesOptions extends IoOptions {
  readonly runs: number;
  readonly warmup: boolean;
  readonly log?: (line: string) => void;
}

/**
 * Runs every contender `runs` times, interleaved (a, b, a, b, ...) so that drift on the machine
 * (thermal, page cache, a neighbour) lands on all of them alike. With `warmup`, each contender
 * first runs once unrecorded, so page cache and compiled code are warm for all. A contender
 * that fails is dropped from the series and reported as failed; the others carry on.
 */
export async function runSeries(
  contenders: readonly Contender[],
  options: SeriesOptions,
): Promise<Map<string, SeriesResult>> {
  const samples = new Map<string, Sample[]>(contenders.map((c) => [c.name, []]));
  const outputs = new Map<string, number | undefined>();
  const failed = new Map<string, Error>();
  const total = options.runs + (options.warmup ? 1 : 0);
  for (let i = 0; i < total; i++) {
    const warm = options.warmup && i === 0;
    for (const c of contenders) {
      if (failed.has(c.name)) continue;
      throwIfAborted(options.signal);
      const label = warm ? 'warm-up' : `run ${options.warmup ? i : i + 1}/${options.runs}`;
      const { spec, state } = await c.prepare(options);
      try {
        const result = await timeCommand(spec, options);
        outputs.set(c.name, await c.finish(state, result, options));
        options.log?.(
          `  ${c.name} ${label}: ${result.sample.wallSec.toFixed(2)} s wall, ` +
            `${(result.sample.userSec + result.sample.sysSec).toFixed(2)} s cpu, ` +
            `${(result.sample.maxRssKiB / 1024).toFixed(0)} MiB peak`,
        );
        if (!warm) samples.get(c.name)?.push(result.sample);
      } catch (err) {
        if (options.signal?.aborted || !(err instanceof Error)) throw err;
        options.log?.(`  ${c.name} ${label}: FAILED: ${err.message}`);
        failed.set(c.name, err);
      } finally {
        await c.cleanup(state);
      }
    }
  }
  return new Map(
    contenders.map((c): [string, SeriesResult] => {
      const error = failed.get(c.name);
      if (error) return [c.name, { ok: false, error }];
      return [c.name, { ok: true, summary: summarize(samples.get(c.name) ?? []), outputBytes: outputs.get(c.name) }];
    }),
  );
}
