/**
 * Series of runs that time several commands on one piece of state: a cold build and the
 * no-change rebuilds that follow it on the same store, or the stages of a build timed one by
 * one. Each step gets its own samples and summary; contenders (each on its own state) are
 * interleaved step by step and repetition by repetition, so drift on the machine lands on all of
 * them alike.
 */
import { type IoOptions, throwIfAborted } from '../../src/errors.js';
import { type CommandSpec, type RunResult, type Sample, type SeriesResult, summarize, timeCommand } from './measure.js';

export interface Step<T> {
  readonly name: string;
  /** The command of this step; called before each of its runs, after the steps before it ran. */
  spec(state: T): CommandSpec;
  /** Timed repetitions in one run (default 1): rebuilds that must each find the cache. */
  readonly repeat?: number;
  /** Unrecorded repetitions before the timed ones (default 0). */
  readonly warmup?: number;
  /** Checks what one repetition did (e.g. that a rebuild hit the cache); a throw fails the contender. */
  check?(state: T, result: RunResult): Promise<void> | void;
}

/**
 * One contender of a stepped series: `prepare` makes the run's fresh directories; the steps run
 * in order on them; `finish` checks what the run produced; `cleanup` removes it. Only the steps
 * are timed.
 */
export interface SteppedContender<T = unknown> {
  readonly name: string;
  readonly steps: readonly Step<T>[];
  prepare(options: IoOptions): Promise<T>;
  finish(state: T, options: IoOptions): Promise<void>;
  cleanup(state: T): Promise<void>;
}

export interface SteppedOptions extends IoOptions {
  readonly runs: number;
  readonly log?: (line: string) => void;
}

/** Results by contender name, then by step name. A contender that fails has every step failed. */
export type SteppedResults = ReadonlyMap<string, ReadonlyMap<string, SeriesResult>>;

function describe(sample: Sample): string {
  return (
    `${sample.wallSec.toFixed(2)} s wall, ${(sample.userSec + sample.sysSec).toFixed(2)} s cpu, ` +
    `${(sample.maxRssKiB / 1024).toFixed(0)} MiB peak`
  );
}

export async function runStepped(
  contenders: readonly SteppedContender[],
  options: SteppedOptions,
): Promise<SteppedResults> {
  const samples = new Map<string, Map<string, Sample[]>>(
    contenders.map((c) => [c.name, new Map(c.steps.map((s) => [s.name, []]))]),
  );
  const failed = new Map<string, Error>();
  const fail = (c: SteppedContender, run: number, err: unknown) => {
    if (options.signal?.aborted || !(err instanceof Error)) throw err;
    options.log?.(`  ${c.name} run ${run}/${options.runs}: FAILED: ${err.message}`);
    failed.set(c.name, err);
  };
  for (let run = 1; run <= options.runs; run++) {
    // Every contender's state first; then step by step, and within a step repetition by
    // repetition, one contender after the other: a machine that slows down for a while slows
    // every contender's samples of that step alike, not one contender's whole series.
    const live: { c: SteppedContender; state: unknown }[] = [];
    try {
      for (const c of contenders) {
        if (failed.has(c.name)) continue;
        throwIfAborted(options.signal);
        try {
          live.push({ c, state: await c.prepare(options) });
        } catch (err) {
          fail(c, run, err);
        }
      }
      const stepCount = Math.max(0, ...live.map((l) => l.c.steps.length));
      for (let at = 0; at < stepCount; at++) {
        const times = (l: { c: SteppedContender }) => {
          const step = l.c.steps[at];
          return step ? (step.warmup ?? 0) + (step.repeat ?? 1) : 0;
        };
        const rounds = Math.max(0, ...live.map(times));
        for (let i = 0; i < rounds; i++) {
          for (const l of live) {
            const step = l.c.steps[at];
            if (step === undefined || failed.has(l.c.name) || i >= times(l)) continue;
            throwIfAborted(options.signal);
            const warmup = step.warmup ?? 0;
            const repeat = step.repeat ?? 1;
            try {
              const result = await timeCommand(step.spec(l.state), options);
              await step.check?.(l.state, result);
              const label = i < warmup ? 'warm-up' : repeat > 1 ? `${i - warmup + 1}/${repeat}` : '';
              options.log?.(
                `  ${l.c.name} ${step.name} run ${run}/${options.runs}${label ? ` ${label}` : ''}: ${describe(result.sample)}`,
              );
              if (i >= warmup) samples.get(l.c.name)?.get(step.name)?.push(result.sample);
            } catch (err) {
              fail(l.c, run, err);
            }
          }
        }
      }
      for (const l of live) {
        if (failed.has(l.c.name)) continue;
        try {
          await l.c.finish(l.state, options);
        } catch (err) {
          fail(l.c, run, err);
        }
      }
    } finally {
      for (const l of live) await l.c.cleanup(l.state);
    }
  }
  return new Map(
    contenders.map((c): [string, Map<string, SeriesResult>] => {
      const error = failed.get(c.name);
      return [
        c.name,
        new Map(
          c.steps.map((s): [string, SeriesResult] => [
            s.name,
            error
              ? { ok: false, error }
              : {
                  ok: true,
                  summary: summarize(samples.get(c.name)?.get(s.name) ?? []),
                  outputBytes: undefined,
                },
          ]),
        ),
      ];
    }),
  );
}
