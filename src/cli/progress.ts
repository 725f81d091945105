/**
 * Renders progress events: `tty` redraws the running steps with timers, `plain` prints
 * buildx-like numbered lines, `json` one event per line, `quiet` nothing. `auto` is tty on a
 * terminal, plain elsewhere.
 */
import type { Writable } from 'node:stream';
import type { ProgressEvent, ProgressSink } from '../util/progress.js';
import { usageError } from './context.js';

export type ProgressMode = 'auto' | 'tty' | 'plain' | 'json' | 'quiet';

export function parseProgressMode(value: string | undefined): ProgressMode {
  const v = value ?? 'auto';
  if (v === 'auto' || v === 'tty' || v === 'plain' || v === 'json' || v === 'quiet') return v;
  throw usageError(`invalid --progress=${v}`, 'use auto, tty, plain, json or quiet');
}

export interface Renderer {
  readonly sink: ProgressSink;
  /** Stops timers and leaves the terminal clean. */
  close(): void;
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)}s`;
}

function humanBytes(n: number): string {
  if (n < 1024) return `${n}B`;
  const units = ['kB', 'MB', 'GB', 'TB'];
  let v = n / 1000;
  let i = 0;
  while (v >= 1000 && i < units.length - 1) {
    v /= 1000;
    i += 1;
  }
  return `${v.toFixed(v < 10 ? 2 : 1)}${units[i]}`;
}

export function formatBytes(n: number): string {
  return humanBytes(n);
}

interface StepState {
  readonly n: number;
  readonly name: string;
  readonly started: number;
  ended?: number;
  status?: string;
  progress?: string;
  /** The last lines of output, shown under the step while it runs. */
  logs: string[];
}

/** Lines of live output the tty view keeps per running step. */
const LIVE_LINES = 6;

/** The width a terminal that reports none (or 0 columns, as some CI pseudo-terminals do) gets. */
const DEFAULT_COLUMNS = 120;
/** Narrower terminals wrap rather than cut every line to nothing. */
const MIN_COLUMNS = 40;

/** The columns the tty view draws in: the terminal's, never 0 or fewer than MIN_COLUMNS. */
export function drawWidth(columns: number | undefined): number {
  if (columns === undefined || !Number.isFinite(columns) || columns <= 0) return DEFAULT_COLUMNS;
  return Math.max(MIN_COLUMNS, Math.floor(columns));
}

const DIGEST = /sha256:[0-9a-f]{64}/;

/**
 * `line` cut to `width` columns with an ellipsis. `keep`, a suffix of the line (a step's status
 * with its digest), and any digest in the line are never cut: the text before them is shortened
 * instead (and what must be kept but is wider than the terminal is left whole, to wrap).
 */
export function clipLine(line: string, width: number, keep = ''): string {
  const max = width - 1;
  if (line.length <= max) return line;
  const m = DIGEST.exec(line);
  const fromDigest = m ? line.slice(m.index) : '';
  const tail = keep !== '' && line.endsWith(keep) && keep.length > fromDigest.length ? keep : fromDigest;
  if (tail === '') return `${line.slice(0, max - 1)}…`;
  const room = max - tail.length - 1;
  return room > 0 ? `${line.slice(0, room)}…${tail}` : tail.trimStart();
}

export function createRenderer(mode: ProgressMode, out: Writable & { isTTY?: boolean }): Renderer {
  const effective = mode === 'auto' ? (out.isTTY ? 'tty' : 'plain') : mode;
  if (effective === 'quiet') return { sink: () => {}, close: () => {} };
  if (effective === 'json') {
    return {
      sink: (event: ProgressEvent) => out.write(`${JSON.stringify({ time: new Date().toISOString(), ...event })}\n`),
      close: () => {},
    };
  }
  const steps = new Map<string, StepState>();
  const t0 = Date.now();
  const statusOf = (s: StepState): string => {
    const elapsed = seconds((s.ended ?? Date.now()) - s.started);
    return s.status ?? (s.progress ? `${s.progress} ${elapsed}` : elapsed);
  };
  const line = (s: StepState): string => `#${s.n} ${s.name} ${statusOf(s)}`;
  const update = (event: ProgressEvent): StepState | undefined => {
    if (event.type === 'warning') return undefined;
    let s = steps.get(event.id);
    if (event.type === 'start') {
      s = { n: steps.size + 1, name: event.name, started: Date.now(), logs: [] };
      steps.set(event.id, s);
      return s;
    }
    if (!s) return undefined;
    if (event.type === 'log') {
      s.logs.push(event.line);
      if (s.logs.length > LIVE_LINES) s.logs.shift();
    } else if (event.type === 'progress') {
      s.progress =
        event.unit === 'bytes'
          ? `${humanBytes(event.current)}${event.total === undefined ? '' : ` / ${humanBytes(event.total)}`}`
          : `${event.current}${event.total === undefined ? '' : `/${event.total}`} files`;
    } else if (event.type === 'done') {
      s.ended = Date.now();
      s.status = event.cached
        ? 'CACHED'
        : `DONE ${seconds(s.ended - s.started)}${event.detail ? ` ${event.detail}` : ''}`;
    } else if (event.type === 'error') {
      s.ended = Date.now();
      s.status = `ERROR ${event.message}`;
    }
    return s;
  };
  if (effective === 'plain') {
    return {
      sink: (event) => {
        if (event.type === 'warning') {
          out.write(`WARNING: ${event.message}\n`);
          return;
        }
        const s = update(event);
        if (!s) return;
        if (event.type === 'start') out.write(`#${s.n} ${s.name}\n`);
        else if (event.type === 'log') out.write(`#${s.n} ${event.line}\n`);
        else if (event.type === 'done' || event.type === 'error') out.write(`#${s.n} ${s.status}\n`);
      },
      close: () => {},
    };
  }
  // tty: a live block of the steps, redrawn in place.
  let drawn = 0;
  const width = () => drawWidth((out as { columns?: number }).columns);
  const draw = (final = false) => {
    const lines: string[] = [];
    for (const s of steps.values()) {
      lines.push(final ? line(s) : clipLine(line(s), width(), ` ${statusOf(s)}`));
      // Live output of a running step, dimmed, under its line.
      if (s.ended === undefined) for (const l of s.logs) lines.push(`\x1b[2m${clipLine(`  ${l}`, width())}\x1b[0m`);
    }
    const header = `[+] Building ${seconds(Date.now() - t0)} (${[...steps.values()].filter((s) => s.ended).length}/${steps.size})`;
    const all = [header, ...lines];
    // Move up over the previous frame, rewrite every line, and clear what the last frame had below.
    const extra = Math.max(0, drawn - all.length);
    const blank = Array.from({ length: extra }, () => '\x1b[2K');
    // The final frame is not redrawn, so it may wrap: nothing of it (a digest least of all) is cut.
    out.write(`${drawn > 0 ? `\x1b[${drawn}F` : ''}${[...all.map((l) => `\x1b[2K${l}`), ...blank].join('\n')}\n`);
    if (extra > 0) out.write(`\x1b[${extra}F`);
    drawn = all.length;
  };
  const timer = setInterval(() => draw(), 100);
  timer.unref();
  // Warnings would be redrawn over: they are printed once, under the final frame.
  const warnings: string[] = [];
  let closed = false;
  return {
    sink: (event) => {
      if (event.type === 'warning') {
        warnings.push(event.message);
        return;
      }
      update(event);
      if (event.type !== 'progress') draw();
    },
    close: () => {
      clearInterval(timer);
      if (closed) return;
      closed = true;
      if (steps.size > 0) draw(true);
      for (const w of warnings) out.write(`WARNING: ${w}\n`);
      warnings.length = 0;
    },
  };
}
