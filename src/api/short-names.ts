/**
 * Short names ('alpine', 'team/app:1') for registry commands, as containers/image resolves them
 * with registries.conf's `unqualified-search-registries`: with nothing configured a short name
 * means docker.io (docker.io/library/alpine); with one registry listed it means that registry;
 * with several, a read (pull, inspect, copy's source, tags) tries them in order and takes the
 * first that answers, while a write (push, delete, copy's destination) refuses to guess.
 * Names with a registry (`ghcr.io/x`, `localhost:5000/x`) are never rewritten.
 */
import type { ImageLocation } from '../engine/source.js';
import { GantryError } from '../errors.js';
import { formatReference, isShortName, type ParseReferenceOptions, type Reference } from '../reference/index.js';
import { callerLocation, callerReference } from './input.js';
import type { Session } from './session.js';

/** The name part of a registry location string (`docker://alpine` is `alpine`), else undefined. */
function registryText(value: string): string | undefined {
  if (/^(oci|oci-archive|docker-archive|store):/.test(value)) return undefined;
  return value.replace(/^docker:(\/\/)?/, '');
}

/** What `value` may mean, in the order to try: one reference unless it is a short name and several registries are searched. */
export async function candidateReferences(
  value: string | Reference,
  session: Session,
  options: ParseReferenceOptions = {},
): Promise<Reference[]> {
  if (typeof value !== 'string' || !isShortName(value)) return [callerReference(value, options)];
  const registries = await session.searchRegistries();
  return registries.map((defaultRegistry) => callerReference(value, { ...options, defaultRegistry }));
}

/** The one reference a write may go to; a short name with several search registries is refused. */
export async function writableReference(
  value: string | Reference,
  session: Session,
  action: string,
  options: ParseReferenceOptions = {},
): Promise<Reference> {
  const candidates = await candidateReferences(value, session, options);
  if (candidates.length > 1) {
    throw new GantryError(
      'SHORT_NAME_AMBIGUOUS',
      `${String(value)} is a short name and unqualified-search-registries lists ${candidates.map((c) => c.registry).join(', ')}: gantry will not guess where to ${action}`,
      {
        phase: 'usage',
        suggestion: `write the registry in the name, e.g. ${formatReference(candidates[0] as Reference)}`,
      },
    );
  }
  return candidates[0] as Reference;
}

/** The locations a read of `value` may mean, in order (one unless a short name meets several search registries). */
export async function candidateLocations(value: string | ImageLocation, session: Session): Promise<ImageLocation[]> {
  const loc = callerLocation(value);
  if (typeof value !== 'string' || loc.kind !== 'registry') return [loc];
  const text = registryText(value);
  if (text === undefined || !isShortName(text)) return [loc];
  return (await candidateReferences(text, session)).map((ref) => ({ kind: 'registry', ref }));
}

/** The location a write of `value` goes to (a short name must mean one registry). */
export async function writableLocation(
  value: string | ImageLocation,
  session: Session,
  action: string,
): Promise<ImageLocation> {
  const loc = callerLocation(value);
  if (typeof value !== 'string' || loc.kind !== 'registry') return loc;
  const text = registryText(value);
  if (text === undefined || !isShortName(text)) return loc;
  return { kind: 'registry', ref: await writableReference(text, session, action) };
}

/**
 * Runs `read` on each candidate in turn until one succeeds. One candidate: its error as is.
 * Several: an error naming every registry tried and why each failed.
 */
export async function firstAnswer<C, T>(
  name: string,
  candidates: readonly C[],
  registryOf: (candidate: C) => string,
  read: (candidate: C) => Promise<T>,
  signal?: AbortSignal,
): Promise<T> {
  if (candidates.length === 1) return read(candidates[0] as C);
  const failures: string[] = [];
  let last: unknown;
  for (const c of candidates) {
    try {
      return await read(c);
    } catch (err) {
      if (signal?.aborted) throw err;
      last = err;
      failures.push(`${registryOf(c)}: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  throw new GantryError(
    'SHORT_NAME_NOT_FOUND',
    `${name} was found in none of the unqualified-search-registries (${failures.join('; ')})`,
    { phase: 'resolve', suggestion: 'check the name, or write the registry in it', cause: last },
  );
}
