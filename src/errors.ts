/**
 * The one error type every gantry module throws. It carries a stable `code` (survives two copies
 * of the package: compare codes, not classes), the `phase` the failure belongs to, and a
 * `suggestion` that tells the user what to do. The CLI prints `message` and `suggestion` on one
 * line; everything else is for `--debug` and for library callers.
 */
export type Phase =
  | 'usage'
  | 'reference'
  | 'parse'
  | 'resolve'
  | 'pull'
  | 'push'
  | 'build'
  | 'layer'
  | 'store'
  | 'export'
  | 'import'
  | 'config'
  | 'io';

export interface GantryErrorOptions {
  readonly phase?: Phase;
  readonly suggestion?: string;
  readonly cause?: unknown;
}

const BRAND = Symbol.for('gantry.error');

export class GantryError extends Error {
  readonly code: string;
  readonly phase: Phase;
  readonly suggestion: string | undefined;

  constructor(code: string, message: string, options: GantryErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'GantryError';
    this.code = code;
    this.phase = options.phase ?? 'io';
    this.suggestion = options.suggestion;
    Object.defineProperty(this, BRAND, { value: true });
  }

  /** True for any gantry error, even one thrown by another copy of the package. */
  static is(value: unknown): value is GantryError {
    return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[BRAND] === true;
  }

  /** The one line the CLI prints. */
  oneLine(): string {
    return this.suggestion ? `${this.message}: ${this.suggestion}` : this.message;
  }
}

/** A blob or manifest whose bytes do not match the digest (or size) that names them. */
export class DigestMismatchError extends GantryError {
  readonly expected: string;
  readonly actual: string;
  constructor(expected: string, actual: string, what = 'content', options: GantryErrorOptions = {}) {
    super('DIGEST_MISMATCH', `${what} digest mismatch: expected ${expected}, got ${actual}`, {
      phase: options.phase ?? 'io',
      suggestion: options.suggestion ?? 'the data is corrupt or was changed in transit; fetch it again',
      cause: options.cause,
    });
    this.name = 'DigestMismatchError';
    this.expected = expected;
    this.actual = actual;
  }
}

/** Input that is not what it claims to be: malformed JSON, a wrong media type, a bad size. */
export class InvalidContentError extends GantryError {
  constructor(code: string, message: string, options: GantryErrorOptions = {}) {
    super(code, message, options);
    this.name = 'InvalidContentError';
  }
}

/** A tar entry or path that would escape the directory it is extracted into. */
export class UnsafePathError extends GantryError {
  readonly path: string;
  constructor(path: string, reason: string, options: GantryErrorOptions = {}) {
    super('UNSAFE_PATH', `refusing ${JSON.stringify(path)}: ${reason}`, {
      phase: options.phase ?? 'layer',
      suggestion: options.suggestion ?? 'the archive is malicious or malformed; do not use it',
      cause: options.cause,
    });
    this.name = 'UnsafePathError';
    this.path = path;
  }
}

/** Thrown when an AbortSignal fires. */
export class AbortedError extends GantryError {
  constructor(options: GantryErrorOptions = {}) {
    super('ABORTED', 'operation aborted', options);
    this.name = 'AbortedError';
  }
}

export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new AbortedError({ cause: signal.reason });
}

/** Options every I/O function takes. */
export interface IoOptions {
  readonly signal?: AbortSignal;
}
