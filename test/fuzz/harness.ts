/**
 * Shared settings of the fuzz targets: fast-check property runs, seeded so that a failure is
 * replayed by the same command. `npm test` runs a few hundred cases per target; on demand,
 * `FUZZ_RUNS=100000 node scripts/run-tests.mjs fuzz` runs longer (FUZZ_SEED picks another seed).
 * The invariant of every target: the parser returns, or throws a GantryError (its own error
 * types extend it); anything else (a TypeError, a RangeError, a hang) is a bug.
 */
import assert from 'node:assert/strict';
import type { TestContext } from 'node:test';
import fc from 'fast-check';
import { GantryError } from '../../src/errors.js';

export const FUZZ_RUNS = Number(process.env.FUZZ_RUNS ?? 300);
export const FUZZ_SEED = Number(process.env.FUZZ_SEED ?? 20261205);
/** A generous per-test bound for long runs: node:test fails a test that runs past it (a hang). */
export const FUZZ_TIMEOUT_MS = Math.max(120_000, FUZZ_RUNS * 50);

/** Fails unless `err` is a GantryError (a parser's own refusal). */
export function assertGantryError(err: unknown): void {
  if (GantryError.is(err)) return;
  assert.fail(`threw a ${err instanceof Error ? err.name : typeof err}, not a GantryError: ${String(err)}`);
}

/** Runs a property with the shared seed and run count, and notes how many cases passed. */
export async function fuzz<T>(
  t: TestContext,
  arbitrary: fc.Arbitrary<T>,
  check: (value: T) => Promise<void> | void,
): Promise<void> {
  const started = process.hrtime.bigint();
  await fc.assert(
    fc.asyncProperty(arbitrary, async (value) => {
      try {
        await check(value);
      } catch (err) {
        assertGantryError(err);
      }
    }),
    { numRuns: FUZZ_RUNS, seed: FUZZ_SEED },
  );
  const ms = Number(process.hrtime.bigint() - started) / 1e6;
  t.diagnostic(`${FUZZ_RUNS} cases (seed ${FUZZ_SEED}) without a crash in ${Math.round(ms)} ms`);
}
