/**
 * The bench's result rows and their plain-text table. A row is one tool in one scenario; a row
 * with a `peer` also shows its ratios to that peer (below 1 means faster or smaller).
 */
import type { Summary } from './measure.js';

export interface ResultRow {
  readonly scenario: string;
  readonly tool: string;
  /** Name of the row in the same scenario this one is compared with. */
  readonly peer?: string;
  /** Bytes of input the tool processed, for throughput; 0 when throughput means nothing (builds). */
  readonly inputBytes: number;
  /** Bytes the tool wrote (the OCI layout), to show both did comparable work. */
  readonly outputBytes?: number;
  readonly summary?: Summary;
  /** Why the row has no figures (tool missing, tool failed, skipped for time). */
  readonly note?: string;
}

export interface Ratios {
  readonly wall: number;
  readonly cpu: number;
  readonly rss: number;
}

export function ratios(row: ResultRow, rows: readonly ResultRow[]): Ratios | undefined {
  if (!row.peer || !row.summary) return undefined;
  const peer = rows.find((r) => r.scenario === row.scenario && r.tool === row.peer)?.summary;
  if (!peer) return undefined;
  return {
    wall: row.summary.wallSec / peer.wallSec,
    cpu: row.summary.cpuSec / peer.cpuSec,
    rss: row.summary.maxRssKiB / peer.maxRssKiB,
  };
}

/** MiB/s of input processed, from the median wall time. */
export function throughputMiBs(row: ResultRow): number | undefined {
  if (!row.summary || row.summary.wallSec <= 0 || row.inputBytes <= 0) return undefined;
  return row.inputBytes / (1024 * 1024) / row.summary.wallSec;
}

const HEADERS = [
  'scenario',
  'tool',
  'wall s',
  'cpu s',
  'peak RSS MiB',
  'in MiB/s',
  'out MiB',
  'wall ratio',
  'cpu ratio',
  'RSS ratio',
] as const;
// Text columns left-aligned, numbers right-aligned.
const LEFT = new Set([0, 1]);

function num(n: number | undefined, digits: number): string {
  return n === undefined || !Number.isFinite(n) ? '-' : n.toFixed(digits);
}

export function renderTable(rows: readonly ResultRow[]): string {
  const cells: string[][] = rows.map((row) => {
    const s = row.summary;
    const r = ratios(row, rows);
    if (!s) return [row.scenario, row.tool, row.note ?? 'no result', '', '', '', '', '', '', ''];
    return [
      row.scenario,
      row.tool,
      `${num(s.wallSec, 2)}`,
      num(s.cpuSec, 2),
      num(s.maxRssKiB / 1024, 1),
      num(throughputMiBs(row), 1),
      row.outputBytes === undefined ? '-' : num(row.outputBytes / (1024 * 1024), 1),
      num(r?.wall, 2),
      num(r?.cpu, 2),
      num(r?.rss, 2),
    ];
  });
  const widths = HEADERS.map((h, i) =>
    Math.max(h.length, ...cells.map((c) => (c[3] === '' && i >= 2 ? 0 : (c[i] ?? '').length))),
  );
  const line = (c: readonly string[]): string =>
    c
      .map((v, i) => (LEFT.has(i) ? v.padEnd(widths[i] as number) : v.padStart(widths[i] as number)))
      .join('  ')
      .trimEnd();
  const out = [line(HEADERS), line(widths.map((w) => '-'.repeat(w)))];
  let last = '';
  for (const c of cells) {
    const shown = c[0] === last ? ['', ...c.slice(1)] : c;
    last = c[0] as string;
    // A row without figures carries its note in the wall column; let it run past the grid.
    if (c[3] === '' && c[2] !== '') {
      out.push(
        `${(shown[0] as string).padEnd(widths[0] as number)}  ${(shown[1] as string).padEnd(widths[1] as number)}  ${c[2]}`,
      );
    } else {
      out.push(line(shown));
    }
  }
  return out.join('\n');
}
