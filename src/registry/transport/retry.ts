/**
 * The retry layer: sends an idempotent request again when the failure is temporary (connection
 * refused/reset/timed out, 408, 429, 500, 502, 503, 504), with exponential backoff and full
 * jitter, honoring Retry-After. Never retries POST/PATCH (an upload session must not fork), nor
 * 401/403/404 (asking again will not change the answer).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { AbortedError } from '../../errors.js';
import { isTemporary, parseRetryAfter, TEMPORARY_STATUSES } from '../errors.js';
import type { HttpMethod, HttpRequest, RoundTripper } from './types.js';

export interface RetryInfo {
  /** The attempt that just failed, from 1. */
  readonly attempt: number;
  readonly delayMs: number;
  /** 'HTTP 503', or the error code ('CONNECTION_FAILED'). */
  readonly reason: string;
  readonly request: HttpRequest;
}

export interface RetryOptions {
  /** Attempts in all, the first included; default 5. 1 disables retries. */
  readonly attempts?: number;
  /** The first backoff ceiling; default 200 ms, doubling per attempt. */
  readonly baseDelayMs?: number;
  /** No wait is longer than this, Retry-After included; default 10 s. */
  readonly maxDelayMs?: number;
  /** Called before each wait (progress, --debug). */
  readonly onRetry?: (info: RetryInfo) => void;
}

export const DEFAULT_RETRY = { attempts: 5, baseDelayMs: 200, maxDelayMs: 10_000 } as const;

const IDEMPOTENT: ReadonlySet<HttpMethod> = new Set(['GET', 'HEAD', 'PUT', 'DELETE']);

/** Whether a request may be sent twice: an idempotent method and a body that can be sent again. */
export function isRetryable(request: HttpRequest): boolean {
  // A Buffer is resent as is and a body factory opens a fresh stream, so every body type qualifies.
  return IDEMPOTENT.has(request.method);
}

/** The wait before attempt `attempt + 1`: full jitter over an exponential ceiling (AWS's "Full Jitter"). */
export function backoffDelay(attempt: number, baseDelayMs: number, maxDelayMs: number): number {
  const ceiling = Math.min(maxDelayMs, baseDelayMs * 2 ** (attempt - 1));
  return Math.floor(Math.random() * ceiling);
}

async function wait(ms: number, signal: AbortSignal | undefined): Promise<void> {
  if (ms <= 0) return;
  try {
    await sleep(ms, undefined, { signal });
  } catch (err) {
    throw new AbortedError({ cause: signal?.reason ?? err });
  }
}

export function withRetry(inner: RoundTripper, options: RetryOptions = {}): RoundTripper {
  const attempts = Math.max(1, options.attempts ?? DEFAULT_RETRY.attempts);
  const base = options.baseDelayMs ?? DEFAULT_RETRY.baseDelayMs;
  const max = options.maxDelayMs ?? DEFAULT_RETRY.maxDelayMs;

  return async (request) => {
    if (!isRetryable(request) || attempts === 1) return inner(request);
    for (let attempt = 1; ; attempt++) {
      const last = attempt >= attempts;
      let delayMs: number;
      let reason: string;
      try {
        const response = await inner(request);
        if (last || !TEMPORARY_STATUSES.has(response.status)) return response;
        const retryAfter = parseRetryAfter(response.headers['retry-after']);
        delayMs = retryAfter !== undefined ? Math.min(retryAfter, max) : backoffDelay(attempt, base, max);
        reason = `HTTP ${response.status}`;
        await response.discard();
      } catch (err) {
        if (last || !isTemporary(err) || request.signal?.aborted) throw err;
        delayMs = backoffDelay(attempt, base, max);
        reason = (err as { code: string }).code;
      }
      options.onRetry?.({ attempt, delayMs, reason, request });
      await wait(delayMs, request.signal);
    }
  };
}
