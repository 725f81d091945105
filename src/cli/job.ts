/**
 * What gantry gives a batch runner (a Kubernetes Job, a CI step) besides the image: exit codes by
 * error class, structured logs (`--log-format json`: one object per line with time, level, step and
 * message, for log aggregation), build metrics, and the result written to the termination log
 * (`/dev/termination-log` when it exists, or `--termination-log PATH`), which Kubernetes shows as the
 * container's termination message.
 */
import { existsSync } from 'node:fs';
import { open } from 'node:fs/promises';
import type { Writable } from 'node:stream';
import { GantryError } from '../errors.js';
import type { ProgressEvent, ProgressSink } from '../util/progress.js';
import { usageError } from './context.js';
import type { Renderer } from './progress.js';

/** The exit codes, by class of failure (documented in the README and `gantry --help`). */
export const EXIT = {
  ok: 0,
  /** Anything not in another class: the store, the file system, a bug. */
  failure: 1,
  usage: 2,
  /** Credentials missing or refused (registry, Kubernetes, Gitea). */
  auth: 3,
  /** A registry, proxy or URL could not be reached, a transfer stalled, or the deadline passed. */
  network: 4,
  /** The build itself failed: a RUN step exited non-zero, or the Dockerfile or context is invalid. */
  build: 5,
  interrupted: 130,
} as const;

const AUTH_CODES: ReadonlySet<string> = new Set([
  'UNAUTHORIZED',
  'DENIED',
  'BAD_CREDENTIALS_FILE',
  'CREDENTIAL_HELPER_FAILED',
  'CREDENTIAL_HELPER_MISSING',
  'KUBE_UNAUTHORIZED',
  'KUBE_FORBIDDEN',
  'GITEA_DENIED',
  'GITEA_PUSH_DENIED',
  'INCOMPLETE_CREDENTIALS',
  'TOKEN_INVALID',
]);

const NETWORK_CODES: ReadonlySet<string> = new Set([
  'CONNECTION_FAILED',
  'CONNECTION_DROPPED',
  'TLS_ERROR',
  'REQUEST_TIMEOUT',
  'TOOMANYREQUESTS',
  'TOO_MANY_REDIRECTS',
  'REGISTRY_UNAVAILABLE',
  'UNAVAILABLE',
  'UPLOAD_INTERRUPTED',
  'KUBE_UNREACHABLE',
  'CONTEXT_FETCH_FAILED',
  'ADD_FETCH_FAILED',
]);

/** The exit code for an error that ended a command (see EXIT). */
export function exitCodeFor(err: unknown): number {
  if (!GantryError.is(err)) return EXIT.failure;
  if (err.phase === 'usage') return EXIT.usage;
  if (AUTH_CODES.has(err.code)) return EXIT.auth;
  if (NETWORK_CODES.has(err.code)) return EXIT.network;
  if (err.code === 'RUN_FAILED' || err.phase === 'build' || err.phase === 'parse') return EXIT.build;
  return EXIT.failure;
}

export type LogFormat = 'text' | 'json';

export function parseLogFormat(value: string | undefined): LogFormat {
  const v = value ?? 'text';
  if (v === 'text' || v === 'json') return v;
  throw usageError(`invalid --log-format ${JSON.stringify(v)}`, 'use text or json');
}

/** One log object per line: `{"time","level","step","message", ...}`. */
export function jsonLogLine(
  level: 'info' | 'warn' | 'error',
  message: string,
  extra: Record<string, unknown> = {},
): string {
  return `${JSON.stringify({ time: new Date().toISOString(), level, message, ...extra })}\n`;
}

/** Progress as JSON log lines: a line when a step starts, logs, ends (with its seconds) or fails. */
export function createJsonLogRenderer(out: Writable): Renderer {
  const steps = new Map<string, { name: string; started: number }>();
  const write = (level: 'info' | 'warn' | 'error', message: string, extra: Record<string, unknown>) =>
    out.write(jsonLogLine(level, message, extra));
  return {
    sink: (event: ProgressEvent) => {
      if (event.type === 'warning') {
        write('warn', event.message, event.code ? { code: event.code } : {});
        return;
      }
      if (event.type === 'start') {
        steps.set(event.id, { name: event.name, started: Date.now() });
        write('info', 'started', { step: event.name });
        return;
      }
      const s = steps.get(event.id);
      const step = s?.name ?? event.id;
      if (event.type === 'log') write('info', event.line, { step });
      else if (event.type === 'done') {
        const seconds = s ? (Date.now() - s.started) / 1000 : undefined;
        write('info', event.cached ? 'cached' : 'done', {
          step,
          ...(seconds === undefined ? {} : { seconds }),
          ...(event.detail ? { detail: event.detail } : {}),
        });
      } else if (event.type === 'error') write('error', event.message, { step });
      // Byte and file counts are left out: they are for live displays, not for log stores.
    },
    close: () => {},
  };
}

export interface StepMetric {
  readonly name: string;
  readonly seconds: number;
  readonly cached: boolean;
}

export interface BuildMetrics {
  readonly seconds: number;
  readonly steps: readonly StepMetric[];
  readonly cacheHits: number;
  readonly stepsRun: number;
  readonly bytesPulled: number;
  readonly bytesPushed: number;
  readonly peakMemoryBytes: number;
}

/** Watches the progress of a command and sums it up: per-step times, cache hits, bytes moved, memory. */
export class MetricsCollector {
  readonly #started = Date.now();
  readonly #steps = new Map<string, { name: string; started: number; seconds?: number; cached?: boolean }>();
  readonly #bytes = new Map<string, number>();
  #peakRss = process.memoryUsage.rss();
  readonly #timer: NodeJS.Timeout;

  constructor() {
    this.#timer = setInterval(() => this.#sampleMemory(), 250);
    this.#timer.unref();
  }

  #sampleMemory(): void {
    this.#peakRss = Math.max(this.#peakRss, process.memoryUsage.rss());
  }

  /** A sink that records `event` and passes it on to `next`. */
  wrap(next: ProgressSink): ProgressSink {
    return (event) => {
      this.record(event);
      next(event);
    };
  }

  record(event: ProgressEvent): void {
    if (event.type === 'start') this.#steps.set(event.id, { name: event.name, started: Date.now() });
    else if (event.type === 'progress' && event.unit === 'bytes') this.#bytes.set(event.id, event.current);
    else if (event.type === 'done') {
      const s = this.#steps.get(event.id);
      if (s) {
        s.seconds = (Date.now() - s.started) / 1000;
        s.cached = event.cached === true;
      }
      if (event.cached) this.#bytes.delete(event.id);
    }
  }

  finish(): BuildMetrics {
    clearInterval(this.#timer);
    this.#sampleMemory();
    const steps: StepMetric[] = [];
    for (const [id, s] of this.#steps) {
      if (!id.startsWith('step-') || s.seconds === undefined) continue;
      steps.push({ name: s.name, seconds: round(s.seconds), cached: s.cached === true });
    }
    let pulled = 0;
    let pushed = 0;
    for (const [id, n] of this.#bytes) {
      if (id.startsWith('pull ')) pulled += n;
      else if (id.startsWith('push ')) pushed += n;
    }
    return {
      seconds: round((Date.now() - this.#started) / 1000),
      steps,
      cacheHits: steps.filter((s) => s.cached).length,
      stepsRun: steps.filter((s) => !s.cached).length,
      bytesPulled: pulled,
      bytesPushed: pushed,
      peakMemoryBytes: this.#peakRss,
    };
  }
}

function round(n: number): number {
  return Math.round(n * 1000) / 1000;
}

/** Kubernetes keeps at most 4096 bytes of a termination message. */
export const TERMINATION_LOG_LIMIT = 4096;
export const DEFAULT_TERMINATION_LOG = '/dev/termination-log';

/** The termination log to write: the flag's path, else /dev/termination-log when it exists. */
export function terminationLogPath(flag: string | undefined, env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (flag !== undefined && flag !== '') return flag;
  const fromEnv = env.GANTRY_TERMINATION_LOG;
  if (fromEnv) return fromEnv;
  return existsSync(DEFAULT_TERMINATION_LOG) ? DEFAULT_TERMINATION_LOG : undefined;
}

/**
 * `result` as JSON within Kubernetes' limit: when it is too long, the per-step list goes first,
 * then the references, so the digest and the outcome always fit.
 */
export function terminationMessage(result: Record<string, unknown>): string {
  let text = JSON.stringify(result);
  if (Buffer.byteLength(text) <= TERMINATION_LOG_LIMIT) return text;
  const trimmed: Record<string, unknown> = { ...result };
  const metrics = trimmed.metrics as Record<string, unknown> | undefined;
  if (metrics) trimmed.metrics = { ...metrics, steps: undefined };
  text = JSON.stringify(trimmed);
  if (Buffer.byteLength(text) <= TERMINATION_LOG_LIMIT) return text;
  delete trimmed.references;
  delete trimmed.metrics;
  text = JSON.stringify(trimmed);
  return Buffer.byteLength(text) <= TERMINATION_LOG_LIMIT ? text : text.slice(0, TERMINATION_LOG_LIMIT);
}

/** Writes the termination message; a failure to write it is reported, never fatal. */
export async function writeTerminationLog(path: string, result: Record<string, unknown>): Promise<string | undefined> {
  try {
    // Not an atomic rename: /dev/termination-log is a bind-mounted file that must be written in place.
    const fh = await open(path, 'w');
    try {
      await fh.writeFile(terminationMessage(result));
    } finally {
      await fh.close();
    }
    return undefined;
  } catch (err) {
    return `cannot write the termination log ${path}: ${(err as Error).message}`;
  }
}
