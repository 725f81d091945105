/**
 * What every scenario shares: the context a scenario runs in, the outcome it returns (result
 * rows, checks, data sets, and lines of findings for the report), and turning a series result
 * into a row. Scenarios return; none prints.
 */
import type { IoOptions } from '../../src/errors.js';
import type { DatasetInfo } from './data.js';
import { MiB } from './data.js';
import type { SourceRegistry } from './loopback.js';
import type { SeriesResult } from './measure.js';
import type { ResultRow } from './table.js';

export interface BenchContext extends IoOptions {
  readonly cacheDir: string;
  readonly runs: number;
  /** Runs of the scenarios that build from nothing (cold builds), which cost the most. */
  readonly coldRuns: number;
  /** Whether buildah is installed, and whether it takes part in (b) (1 GiB costs time). */
  readonly buildah: boolean;
  readonly buildahInB: boolean;
  readonly skopeo: boolean;
  /** The loopback registry holding the images of the registry and Dockerfile scenarios. */
  readonly source: SourceRegistry;
  readonly log: (line: string) => void;
  /**
   * BENCH_BASELINE: another checkout's bin/gantry (or bin/gantry.js), raced as `gantry@base` in (a), (b), (d) and
   * (e) in the same series, so a change is measured against the code before it on the same load.
   */
  readonly baseline?: string;
}

export const BASELINE_TOOL = 'gantry@base';

/** A line comparing gantry with gantry@base in one scenario, when both ran. */
export function baselineNote(scenario: string, rows: readonly ResultRow[]): string[] {
  const now = rows.find((r) => r.scenario === scenario && r.tool === 'gantry')?.summary;
  const base = rows.find((r) => r.scenario === scenario && r.tool === BASELINE_TOOL)?.summary;
  if (!now || !base) return [];
  const f = (a: number, b: number): string => (a / b).toFixed(2);
  return [
    `${scenario}: gantry/gantry@base wall ${f(now.wallSec, base.wallSec)}, cpu ${f(now.cpuSec, base.cpuSec)}, ` +
      `RSS ${f(now.maxRssKiB, base.maxRssKiB)}`,
  ];
}

export interface Check {
  readonly name: string;
  readonly pass: boolean;
  readonly detail: string;
}

export interface ScenarioOutcome {
  readonly rows: readonly ResultRow[];
  readonly checks: readonly Check[];
  readonly data: readonly DatasetInfo[];
  /** Findings printed under the table (overlap, bytes moved, what the peer was given). */
  readonly notes?: readonly string[];
}

export function rowOf(scenario: string, tool: string, inputBytes: number, result: SeriesResult | undefined): ResultRow {
  const base = { scenario, tool, inputBytes };
  if (!result) return { ...base, note: 'not run' };
  if (!result.ok) return { ...base, note: `FAILED: ${result.error.message}` };
  return {
    ...base,
    summary: result.summary,
    ...(result.outputBytes === undefined ? {} : { outputBytes: result.outputBytes }),
  };
}

export function describeData(d: DatasetInfo): string {
  const how = d.reused ? 'reused' : `generated in ${d.seconds.toFixed(1)} s`;
  return `${d.path}: ${(d.bytes / MiB).toFixed(0)} MiB in ${d.files} files (${how})`;
}

/** A row for a peer that could not run. */
export function missingRow(scenario: string, tool: string, inputBytes: number, why: string): ResultRow {
  return { scenario, tool, inputBytes, note: why };
}
