/**
 * What the caller hands the API: references, locations and names it cannot parse are the
 * caller's mistake, so they are usage errors (the CLI exits 2 for them, as for a bad flag). The
 * parser's own error stays as the `cause`.
 */

import { type ImageLocation, parseImageLocation } from '../engine/source.js';
import { GantryError } from '../errors.js';
import { type ParseReferenceOptions, parseReference, type Reference } from '../reference/index.js';
import { normalizeName } from '../store/store.js';

export function fromCaller<T>(parse: () => T): T {
  try {
    return parse();
  } catch (err) {
    if (GantryError.is(err) && err.phase === 'reference') {
      throw new GantryError(err.code, err.message, {
        phase: 'usage',
        ...(err.suggestion === undefined ? {} : { suggestion: err.suggestion }),
        cause: err,
      });
    }
    throw err;
  }
}

export function callerReference(value: string | Reference, options: ParseReferenceOptions = {}): Reference {
  return typeof value === 'string' ? fromCaller(() => parseReference(value, options)) : value;
}

export function callerLocation(value: string | ImageLocation): ImageLocation {
  return typeof value === 'string' ? fromCaller(() => parseImageLocation(value)) : value;
}

export function callerName(value: string): string {
  return fromCaller(() => normalizeName(value));
}
