/**
 * A pool of worker threads that deflate blocks, one block per worker at a time, in the order
 * they were asked for. The process shares one pool (sharedDeflatePool): its workers start on
 * first use, stay for the next layer, and keep the process alive only while they hold a block.
 */
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { AbortedError, GantryError, type IoOptions } from '../../errors.js';
import { type BlockBuffer, type DeflateReply, type DeflateRequest, transferable } from './protocol.js';

/**
 * Each worker costs about 10 MB of RSS, plus two blocks in flight (input and output, ~4 MB):
 * eight keep a layer well under 256 MB on any machine, and already deflate faster (~300 MB/s at
 * level 6) than most disks and registries move the bytes.
 */
export const MAX_DEFLATE_WORKERS = 8;

const WORKER_URL = new URL('./worker.js', import.meta.url);

export interface DeflateResult {
  /** Raw deflate bytes of the block. */
  readonly output: Buffer;
  /** CRC-32 of the block's uncompressed data. */
  readonly crc: number;
  /** The request's buffer, back from the worker, free for the caller's next block. */
  readonly buffer: BlockBuffer;
}

interface Job {
  readonly request: DeflateRequest;
  readonly resolve: (result: DeflateResult) => void;
  readonly reject: (error: Error) => void;
  /** Stops listening for abort: called once the job leaves the queue. */
  readonly release: () => void;
}

interface Slot {
  readonly worker: Worker;
  job: Job | undefined;
  gone: boolean;
}

function workerFailed(cause: unknown): GantryError {
  const detail = cause instanceof Error ? cause.message : String(cause);
  return new GantryError('GZIP_WORKER_FAILED', `a gzip worker thread stopped: ${detail}`, {
    phase: 'layer',
    suggestion: 'retry; if it happens again, check memory limits and report it with --debug output',
    cause,
  });
}

export class DeflatePool {
  readonly #size: number;
  readonly #slots: Slot[] = [];
  readonly #queue: Job[] = [];
  #closed = false;

  constructor(size: number) {
    if (!Number.isInteger(size) || size < 1) {
      throw new GantryError('INVALID_POOL_SIZE', `a deflate pool needs at least one worker, not ${size}`, {
        phase: 'usage',
        suggestion: 'pass a whole number of workers, 1 or more',
      });
    }
    this.#size = size;
  }

  /** The most workers this pool runs. */
  get size(): number {
    return this.#size;
  }

  /** Workers started and not exited. */
  get workers(): number {
    return this.#slots.length;
  }

  /** Workers compressing a block right now. */
  get busy(): number {
    return this.#slots.filter((slot) => slot.job !== undefined).length;
  }

  /** Blocks waiting for a free worker. */
  get queued(): number {
    return this.#queue.length;
  }

  /**
   * Compresses one block. The request's buffer is transferred (detached here) or shared. An abort drops the
   * block if it is still queued; a block already in a worker finishes (milliseconds) and settles
   * normally, so no worker is left with work nobody waits for.
   */
  run(request: DeflateRequest, options: IoOptions = {}): Promise<DeflateResult> {
    const { signal } = options;
    if (signal?.aborted) return Promise.reject(new AbortedError({ phase: 'layer', cause: signal.reason }));
    if (this.#closed) {
      return Promise.reject(
        new GantryError('POOL_CLOSED', 'the deflate pool was closed', {
          phase: 'layer',
          suggestion: 'create a new pool, or use the shared one',
        }),
      );
    }
    return new Promise<DeflateResult>((resolve, reject) => {
      const onAbort = () => {
        const at = this.#queue.indexOf(job);
        if (at < 0) return;
        this.#queue.splice(at, 1);
        job.release();
        reject(new AbortedError({ phase: 'layer', cause: signal?.reason }));
      };
      const job: Job = {
        request,
        resolve,
        reject,
        release: () => signal?.removeEventListener('abort', onAbort),
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.#queue.push(job);
      this.#dispatch();
    });
  }

  /** Stops every worker; queued and running blocks reject. Mostly for tests with their own pool. */
  async close(): Promise<void> {
    this.#closed = true;
    for (const job of this.#queue.splice(0)) {
      job.release();
      job.reject(new AbortedError({ phase: 'layer' }));
    }
    await Promise.all(this.#slots.map((slot) => slot.worker.terminate()));
  }

  #dispatch(): void {
    while (this.#queue.length > 0 && !this.#closed) {
      let slot = this.#slots.find((s) => s.job === undefined);
      const job = this.#queue[0] as Job;
      if (!slot) {
        if (this.#slots.length >= this.#size) return;
        try {
          slot = this.#start();
        } catch (err) {
          this.#queue.shift();
          job.release();
          job.reject(workerFailed(err));
          continue;
        }
      }
      this.#queue.shift();
      job.release();
      slot.job = job;
      // Ref only while busy: an idle pool must not keep the process alive, a busy one must.
      slot.worker.ref();
      try {
        slot.worker.postMessage(job.request, transferable(job.request.buffer));
      } catch (err) {
        this.#finish(slot);
        job.reject(workerFailed(err));
      }
    }
  }

  #start(): Slot {
    const worker = new Worker(WORKER_URL, { execArgv: [] });
    const slot: Slot = { worker, job: undefined, gone: false };
    worker.unref();
    worker.on('message', (reply: DeflateReply) => {
      const job = this.#finish(slot);
      if (!job) return;
      if (reply.ok) {
        const output = Buffer.from(reply.output, 0, reply.outputLength);
        job.resolve({ output, crc: reply.crc, buffer: reply.buffer });
      } else {
        job.reject(
          new GantryError('GZIP_FAILED', `compressing a layer block failed: ${reply.message}`, {
            phase: 'layer',
            suggestion: 'check the compression level (gzip takes -1 to 9)',
          }),
        );
      }
      this.#dispatch();
    });
    const lost = (cause: unknown) => {
      if (slot.gone) return;
      slot.gone = true;
      this.#slots.splice(this.#slots.indexOf(slot), 1);
      const job = this.#finish(slot);
      job?.reject(workerFailed(cause));
      this.#dispatch();
    };
    worker.on('error', lost);
    worker.on('exit', (code) => lost(new Error(`exit code ${code}`)));
    this.#slots.push(slot);
    return slot;
  }

  /** Frees the slot and hands back the job it held. */
  #finish(slot: Slot): Job | undefined {
    const job = slot.job;
    slot.job = undefined;
    if (!slot.gone) slot.worker.unref();
    return job;
  }
}

/** One worker per core, at least one and at most MAX_DEFLATE_WORKERS. */
export function defaultDeflateWorkers(): number {
  return Math.min(MAX_DEFLATE_WORKERS, Math.max(1, availableParallelism()));
}

let shared: DeflatePool | undefined;

/** The process-wide pool every layer uses unless given its own. */
export function sharedDeflatePool(): DeflatePool {
  shared ??= new DeflatePool(defaultDeflateWorkers());
  return shared;
}
