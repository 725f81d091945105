/**
 * What push, pull and copy share: a group of tasks that fails as one, per-blob progress events
 * (throttled by bytes, never by time).
 */
import { setMaxListeners } from 'node:events';
import type { IoOptions } from '../../errors.js';
import type { Digest } from '../../oci/types.js';
import type { ProgressSink } from '../../util/progress.js';

/**
 * A group of concurrent tasks that fails as one: the first failure aborts the others (through
 * `options.signal`) and is rethrown only once every task has settled, so nothing is still
 * writing when the caller hears of it.
 */
export class TaskGroup {
  readonly #controller = new AbortController();
  readonly options: IoOptions;

  constructor(outer: IoOptions) {
    const signal = outer.signal ? AbortSignal.any([outer.signal, this.#controller.signal]) : this.#controller.signal;
    // Every blob in flight listens on this one signal (its request, its file, its stream), a few
    // listeners each: more than Node's default of 10 is the design here, not a leak.
    setMaxListeners(0, signal);
    this.options = { ...outer, signal };
  }

  async all<T>(tasks: readonly Promise<T>[]): Promise<T[]> {
    try {
      return await Promise.all(tasks);
    } catch (err) {
      // The group is shared by nested calls: the first failure aborts the rest, and every call
      // reports that failure, not the ABORTED its own tasks ended with.
      const first: unknown = this.#controller.signal.aborted ? this.#controller.signal.reason : err;
      this.#controller.abort(first);
      await Promise.allSettled(tasks);
      throw first;
    }
  }
}

export function shortDigest(digest: Digest): string {
  const hex = digest.slice(digest.indexOf(':') + 1);
  return hex.slice(0, 12);
}

/** Progress of one blob: start, byte counts (every 1% or 256 KiB, whichever is larger), done or error. */
export class BlobProgress {
  readonly #sink: ProgressSink;
  readonly #id: string;
  readonly #total: number;
  readonly #step: number;
  #last = -1;

  constructor(sink: ProgressSink, id: string, name: string, total: number) {
    this.#sink = sink;
    this.#id = id;
    this.#total = total;
    this.#step = Math.max(256 * 1024, Math.floor(total / 100));
    sink({ type: 'start', id, name });
  }

  bytes(current: number): void {
    if (current < this.#last) this.#last = -1; // a retry starts again from 0
    if (this.#last >= 0 && current - this.#last < this.#step && current !== this.#total) return;
    this.#last = current;
    this.#sink({ type: 'progress', id: this.#id, current, total: this.#total, unit: 'bytes' });
  }

  done(detail: string, cached = false): void {
    this.#sink(cached ? { type: 'done', id: this.#id, cached: true, detail } : { type: 'done', id: this.#id, detail });
  }

  error(err: unknown): void {
    this.#sink({ type: 'error', id: this.#id, message: err instanceof Error ? err.message : String(err) });
  }
}
