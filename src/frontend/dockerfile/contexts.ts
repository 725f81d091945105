/**
 * Named build contexts (`--build-context NAME=VALUE`, as BuildKit takes them): a local directory,
 * `docker-image://REF` (the store, else the registry) or `oci-layout://DIR[:TAG|@DIGEST]`. A named
 * context replaces the stage or image called NAME wherever FROM, COPY --from and RUN --mount
 * from= name it. An image is resolved lazily like any base; a directory is read like the build
 * context (its files keyed by content), and can be copied or mounted from, not built upon.
 */
import { stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { GantryError, type IoOptions } from '../../errors.js';
import { type Image, isImageIndex } from '../../oci/image.js';
import { OciLayout } from '../../oci/layout.js';
import { resolvePlatform } from '../../oci/partial.js';
import type { Platform } from '../../oci/types.js';

export type BuildContext =
  | { readonly kind: 'dir'; readonly path: string }
  | { readonly kind: 'image'; readonly ref: string }
  | { readonly kind: 'oci-layout'; readonly dir: string; readonly tag?: string; readonly digest?: string };

function usage(message: string, suggestion: string): GantryError {
  return new GantryError('USAGE', message, { phase: 'usage', suggestion });
}

/** Parses one `--build-context NAME=VALUE`. */
export function parseBuildContext(text: string): { name: string; context: BuildContext } {
  const eq = text.indexOf('=');
  if (eq <= 0) throw usage(`--build-context ${text} is not NAME=VALUE`, 'write NAME=DIR or NAME=docker-image://REF');
  const name = text.slice(0, eq).trim();
  const value = text.slice(eq + 1).trim();
  if (value.startsWith('docker-image://')) {
    const ref = value.slice('docker-image://'.length);
    if (ref === '') throw usage(`--build-context ${text}: no image`, 'write NAME=docker-image://REF');
    return { name, context: { kind: 'image', ref } };
  }
  if (value.startsWith('oci-layout://')) {
    let rest = value.slice('oci-layout://'.length);
    let digest: string | undefined;
    let tag: string | undefined;
    const at = rest.lastIndexOf('@');
    if (at > 0) {
      const after = rest.slice(at + 1);
      if (/^sha256:[a-f0-9]{64}$/.test(after)) digest = after;
      else tag = after;
      rest = rest.slice(0, at);
    }
    const colon = rest.lastIndexOf(':');
    if (tag === undefined && colon > rest.lastIndexOf('/')) {
      tag = rest.slice(colon + 1);
      rest = rest.slice(0, colon);
    }
    if (rest === '') throw usage(`--build-context ${text}: no layout directory`, 'write NAME=oci-layout://DIR[:TAG]');
    return {
      name,
      context: { kind: 'oci-layout', dir: resolve(rest), ...(tag ? { tag } : {}), ...(digest ? { digest } : {}) },
    };
  }
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(value) || value.startsWith('git@')) {
    throw usage(
      `--build-context ${text}: this kind of context is not supported`,
      'use a directory, docker-image://REF or oci-layout://DIR',
    );
  }
  return { name, context: { kind: 'dir', path: resolve(value) } };
}

/** Checks that directory contexts exist (before any work). */
export async function checkBuildContexts(contexts: Readonly<Record<string, BuildContext>>): Promise<void> {
  for (const [name, c] of Object.entries(contexts)) {
    if (c.kind === 'image') continue;
    const path = c.kind === 'dir' ? c.path : c.dir;
    if (!(await stat(path).catch(() => undefined))?.isDirectory()) {
      throw usage(`--build-context ${name}: ${path} is not a directory`, 'give an existing directory');
    }
  }
}

/** The image an `oci-layout://` context names, for `platform`. */
export async function layoutImage(
  c: BuildContext & { kind: 'oci-layout' },
  platform: Platform,
  o: IoOptions,
): Promise<Image> {
  const layout = await OciLayout.open(c.dir);
  const index = await layout.readIndex(o);
  const entries = index.manifests.filter((d) =>
    c.digest !== undefined
      ? d.digest === c.digest
      : c.tag !== undefined
        ? d.annotations?.['org.opencontainers.image.ref.name'] === c.tag
        : true,
  );
  const entry = entries[0];
  if (!entry || (c.tag === undefined && c.digest === undefined && entries.length > 1)) {
    throw new GantryError(
      'IMAGE_NOT_FOUND',
      `oci-layout://${c.dir}: ${entry ? 'several images, name one' : `no image ${c.tag ?? c.digest ?? ''}`}`,
      { phase: 'build', suggestion: 'add :TAG or @DIGEST after the directory' },
    );
  }
  const item =
    entry.mediaType.includes('index') || entry.mediaType.includes('list')
      ? await layout.imageIndex(entry, o)
      : await layout.image(entry, o);
  return isImageIndex(item) ? resolvePlatform(item, platform, o) : item;
}
