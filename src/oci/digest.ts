/**
 * Content digests: parsing and validating `algorithm:hex`, hashing bytes and streams, and the
 * pass-through stream that checks a blob against the digest and size that name it while it is
 * read. Only sha256 and sha512 are accepted: every digest we name a path or a request with goes
 * through `parseDigest` first, so a crafted digest can never carry `/` or `..`.
 */
import { createHash, type Hash } from 'node:crypto';
import { type Readable, Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { DigestMismatchError, InvalidContentError, type IoOptions, throwIfAborted } from '../errors.js';
import { rethrowAborted } from './stream.js';
import type { Digest } from './types.js';

export type DigestAlgorithm = 'sha256' | 'sha512';

const HEX_LENGTH: Readonly<Record<DigestAlgorithm, number>> = { sha256: 64, sha512: 128 };
const DIGEST_RE = /^(sha256|sha512):([a-f0-9]+)$/;

export function parseDigest(value: string): { algorithm: DigestAlgorithm; hex: string } {
  const m = typeof value === 'string' ? DIGEST_RE.exec(value) : null;
  const algorithm = m?.[1] as DigestAlgorithm | undefined;
  const hex = m?.[2];
  if (algorithm === undefined || hex === undefined || hex.length !== HEX_LENGTH[algorithm]) {
    throw new InvalidContentError('INVALID_DIGEST', `invalid digest ${JSON.stringify(value)}`, {
      phase: 'parse',
      suggestion: 'a digest is sha256:<64 lowercase hex> or sha512:<128 lowercase hex>',
    });
  }
  return { algorithm, hex };
}

export function isDigest(value: string): boolean {
  try {
    parseDigest(value);
    return true;
  } catch {
    return false;
  }
}

export function digestOf(data: string | Uint8Array, algorithm: DigestAlgorithm = 'sha256'): Digest {
  return `${algorithm}:${createHash(algorithm).update(data).digest('hex')}`;
}

export interface Digester {
  update(chunk: Uint8Array): void;
  digest(): Digest;
  readonly size: number;
}

/** Incremental hasher: update(chunk) many times, then digest(). Also counts bytes. */
export function createDigester(algorithm: DigestAlgorithm = 'sha256'): Digester {
  const hash: Hash = createHash(algorithm);
  let size = 0;
  let result: Digest | undefined;
  return {
    update(chunk: Uint8Array): void {
      if (result !== undefined) throw new Error('digester already finished');
      hash.update(chunk);
      size += chunk.byteLength;
    },
    digest(): Digest {
      result ??= `${algorithm}:${hash.digest('hex')}`;
      return result;
    },
    get size(): number {
      return size;
    },
  };
}

function sizeMismatch(what: string, expected: number, actual: string): InvalidContentError {
  return new InvalidContentError('SIZE_MISMATCH', `${what} size mismatch: expected ${expected} bytes, got ${actual}`, {
    phase: 'io',
    suggestion: 'the data is truncated, corrupt or was changed in transit; fetch it again',
  });
}

/**
 * A stream that fails unless it yields exactly the blob `expected` of `expectedSize` bytes (a
 * VerifyingStream, or a registry blob body that hashes as it reads): whoever consumes it need not
 * hash the bytes again. `bytesSeen` counts what went through.
 */
export interface SelfVerifying {
  readonly expected: Digest;
  readonly expectedSize: number | undefined;
  readonly bytesSeen: number;
}

const SELF_VERIFYING = Symbol.for('gantry.selfVerifying');

/** Marks `stream` as checking itself (see SelfVerifying). */
export function markSelfVerifying<T extends SelfVerifying>(stream: T): T {
  Object.defineProperty(stream, SELF_VERIFYING, { value: true });
  return stream;
}

/** True when `stream` fails unless it yields exactly the blob `digest` of `size` bytes. */
export function verifiesItself(
  stream: unknown,
  digest: Digest,
  size: number | undefined,
): stream is Readable & SelfVerifying {
  const s = stream as (Partial<SelfVerifying> & { [SELF_VERIFYING]?: boolean }) | null;
  return s?.[SELF_VERIFYING] === true && s.expected === digest && size !== undefined && s.expectedSize === size;
}

/**
 * The check of one blob's bytes, fed chunk by chunk: `update` answers an error as soon as more
 * than `expectedSize` bytes came, `finish` one when the size or digest is wrong at the end.
 */
export class ContentCheck {
  readonly expected: Digest;
  readonly expectedSize: number | undefined;
  readonly #what: string;
  readonly #digester: Digester;

  constructor(expected: Digest, expectedSize?: number, what = 'content') {
    const { algorithm } = parseDigest(expected);
    if (expectedSize !== undefined && (!Number.isSafeInteger(expectedSize) || expectedSize < 0)) {
      throw new InvalidContentError('INVALID_SIZE', `invalid size ${expectedSize} for ${what}`, {
        phase: 'parse',
        suggestion: 'a size is a non-negative integer number of bytes',
      });
    }
    this.expected = expected;
    this.expectedSize = expectedSize;
    this.#what = what;
    this.#digester = createDigester(algorithm);
  }

  get size(): number {
    return this.#digester.size;
  }

  update(chunk: Uint8Array): InvalidContentError | undefined {
    this.#digester.update(chunk);
    const size = this.#digester.size;
    if (this.expectedSize !== undefined && size > this.expectedSize) {
      return sizeMismatch(this.#what, this.expectedSize, `more than ${this.expectedSize}`);
    }
    return undefined;
  }

  finish(): InvalidContentError | DigestMismatchError | undefined {
    const size = this.#digester.size;
    if (this.expectedSize !== undefined && size !== this.expectedSize) {
      return sizeMismatch(this.#what, this.expectedSize, String(size));
    }
    const actual = this.#digester.digest();
    return actual === this.expected ? undefined : new DigestMismatchError(this.expected, actual, this.#what);
  }
}

/**
 * Pass-through Transform that fails (DigestMismatchError / InvalidContentError 'SIZE_MISMATCH') at
 * end of stream, or as soon as more than `expectedSize` bytes arrive (so an endless or oversized
 * source cannot fill a disk). A consumer only sees a clean end when every byte was right.
 */
export class VerifyingStream extends Transform implements SelfVerifying {
  readonly #check: ContentCheck;

  constructor(expected: Digest, expectedSize?: number, what = 'content') {
    super();
    this.#check = new ContentCheck(expected, expectedSize, what);
    markSelfVerifying(this);
  }

  get expected(): Digest {
    return this.#check.expected;
  }

  get expectedSize(): number | undefined {
    return this.#check.expectedSize;
  }

  /** Bytes seen so far. */
  get bytesSeen(): number {
    return this.#check.size;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    const err = this.#check.update(chunk);
    if (err) callback(err);
    else callback(null, chunk);
  }

  override _flush(callback: TransformCallback): void {
    callback(this.#check.finish());
  }
}

/** Hash a stream to completion. */
export async function digestStream(
  source: Readable,
  options: IoOptions & { algorithm?: DigestAlgorithm } = {},
): Promise<{ digest: Digest; size: number }> {
  throwIfAborted(options.signal);
  const digester = createDigester(options.algorithm);
  try {
    await pipeline(
      source,
      async (chunks: AsyncIterable<Buffer>) => {
        for await (const chunk of chunks) digester.update(chunk);
      },
      { signal: options.signal },
    );
  } catch (err) {
    rethrowAborted(err, options.signal);
  }
  return { digest: digester.digest(), size: digester.size };
}
