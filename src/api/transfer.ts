/**
 * Moving images: push (store or file to a registry), pull (registry to the store, through the
 * registries.toml mirrors first) and copy (between any two locations, streamed). Locations are
 * written as skopeo users know them: a registry reference, `oci:DIR[:TAG]`,
 * `oci-archive:FILE[:TAG]`, `docker-archive:FILE[:NAME]`, `store:NAME`.
 */

import { describeLocation, type ImageLocation, type LocationContext, openImage, writeImage } from '../engine/source.js';
import { GantryError } from '../errors.js';
import { type Image, type ImageIndex, isImageIndex } from '../oci/image.js';
import { resolvePlatform } from '../oci/partial.js';
import { hostPlatform, parsePlatform } from '../oci/platform.js';
import type { Descriptor, Platform } from '../oci/types.js';
import { formatReference, type Reference } from '../reference/index.js';
import { pullToLayout } from '../registry/ops/pull.js';
import type { ProgressSink } from '../util/progress.js';
import { callerLocation } from './input.js';
import { type CommonOptions, type Session, sessionOf } from './session.js';
import {
  candidateLocations,
  candidateReferences,
  firstAnswer,
  writableLocation,
  writableReference,
} from './short-names.js';

export interface PlatformOption {
  /** One platform of a multi-platform image (`linux/arm64` or a Platform). */
  readonly platform?: Platform | string;
}

export interface Transferred {
  /** Where the image went, as a location string (`ghcr.io/org/app:1`, `oci:out:1`). */
  readonly destination: string;
  readonly digest: string;
  readonly descriptor: Descriptor;
}

export function platformOf(value: Platform | string | undefined): Platform | undefined {
  return typeof value === 'string' ? parsePlatform(value) : value;
}

/** Narrows an index to one platform (default this machine's) unless every platform is wanted. */
export async function pickPlatform(
  item: Image | ImageIndex,
  platform: Platform | undefined,
  all: boolean,
  signal: AbortSignal | undefined,
): Promise<Image | ImageIndex> {
  if (!isImageIndex(item) || all) return item;
  return resolvePlatform(item, platform ?? hostPlatform(), signal ? { signal } : {});
}

/**
 * The engine's view of a session: it asks for mirrors synchronously, so the mirrors of a
 * registry location are looked up before it is opened.
 */
export async function locationsFor(
  session: Session,
  progress: ProgressSink | undefined,
  ...locations: ImageLocation[]
): Promise<LocationContext> {
  const mirrors = new Map<string, readonly string[]>();
  for (const loc of locations) {
    if (loc.kind === 'registry') mirrors.set(loc.ref.registry, await session.mirrors(loc.ref.registry));
  }
  return {
    store: () => session.store(),
    client: () => session.client(progress),
    mirrors: (registry) => mirrors.get(registry) ?? [],
  };
}

async function transfer(
  sources: readonly ImageLocation[],
  destination: ImageLocation,
  options: CommonOptions & PlatformOption,
): Promise<Transferred> {
  const platform = platformOf(options.platform);
  const io = options.signal ? { signal: options.signal } : {};
  const lc = await locationsFor(sessionOf(options), options.progress, ...sources);
  const src = await firstAnswer(
    describeLocation(sources[0] as ImageLocation),
    sources,
    (s) => (s.kind === 'registry' ? s.ref.registry : describeLocation(s)),
    (s) => openImage(s, lc, io),
    options.signal,
  );
  try {
    const item = await pickPlatform(src.item, platform, platform === undefined, options.signal);
    const descriptor = await writeImage(item, destination, lc, io);
    return { destination: describeLocation(destination), digest: descriptor.digest, descriptor };
  } finally {
    await src.close();
  }
}

/**
 * Pushes an image: `source` is a name in the store (or any location), `destination` a registry
 * reference or location (default: `source` as a registry reference).
 */
export async function push(
  source: string,
  destination?: string,
  options: CommonOptions & PlatformOption = {},
): Promise<Transferred> {
  const src: ImageLocation = /^(oci|oci-archive|docker-archive|store):/.test(source)
    ? callerLocation(source)
    : { kind: 'store', name: source };
  const session = sessionOf(options);
  const dest: ImageLocation = destination
    ? await writableLocation(destination, session, 'push')
    : { kind: 'registry', ref: await writableReference(source, session, 'push') };
  return transfer([src], dest, { ...options, session });
}

/** Copies an image between registries and files, streamed (all platforms unless `platform`). */
export async function copy(
  source: string | ImageLocation,
  destination: string | ImageLocation,
  options: CommonOptions & PlatformOption = {},
): Promise<Transferred> {
  const session = sessionOf(options);
  const sources = await candidateLocations(source, session);
  const dest = await writableLocation(destination, session, 'copy to');
  return transfer(sources, dest, { ...options, session });
}

export interface PullOptions extends CommonOptions, PlatformOption {
  /** Keep the whole multi-platform index (default: this machine's platform, or `platform`). */
  readonly allPlatforms?: boolean;
}

export interface Pulled {
  /** The reference the image is named by in the store (`docker.io/library/alpine:3`). */
  readonly reference: string;
  readonly digest: string;
  readonly descriptor: Descriptor;
}

/**
 * Pulls an image into the store and names it `reference`. The registries.toml mirrors of its
 * registry are tried in order first; a mirror that fails or lacks the image is passed over.
 */
export async function pull(reference: string | Reference, options: PullOptions = {}): Promise<Pulled> {
  const session = sessionOf(options);
  const candidates = await candidateReferences(reference, session);
  return firstAnswer(
    String(typeof reference === 'string' ? reference : formatReference(reference)),
    candidates,
    (ref) => ref.registry,
    (ref) => pullOne(ref, { ...options, session }),
    options.signal,
  );
}

async function pullOne(ref: Reference, options: PullOptions): Promise<Pulled> {
  const platform = platformOf(options.platform);
  const all = options.allPlatforms === true;
  if (all && platform) {
    throw new GantryError('USAGE', '--platform and --all-platforms exclude each other', {
      phase: 'usage',
      suggestion: 'give one of them',
    });
  }
  const session = sessionOf(options);
  const client = await session.client(options.progress);
  const store = await session.store();
  const mirrors = await session.mirrors(ref.registry);
  const signal = options.signal;
  const descriptor = await store.lease(async () => {
    let lastError: unknown;
    for (const registry of [...mirrors, ref.registry]) {
      try {
        const d = await pullToLayout(client, { ...ref, registry }, store.layout, {
          ...(signal ? { signal } : {}),
          ...(platform ? { platform } : {}),
          allPlatforms: all,
        });
        await store.tag(d, [formatReference(ref)], signal ? { signal } : {});
        return d;
      } catch (err) {
        lastError = err;
        if (signal?.aborted || registry === ref.registry) throw err;
      }
    }
    throw lastError;
  });
  return { reference: formatReference(ref), digest: descriptor.digest, descriptor };
}
