/**
 * Registry to registry: the source's manifests are fetched, its blobs stream from the source
 * straight into the destination's uploads (no local copy), and a destination on the same registry
 * mounts them instead (no bytes move at all).
 */
import type { IoOptions } from '../../errors.js';
import { resolvePlatform } from '../../oci/partial.js';
import { hostPlatform } from '../../oci/platform.js';
import type { Descriptor, Platform } from '../../oci/types.js';
import type { Reference } from '../../reference/index.js';
import type { RegistryClient } from '../client/client.js';
import { RemoteIndex, remoteImage } from '../remote.js';
import { pushImage } from './push.js';

export interface CopyOptions extends IoOptions {
  /** The platform to copy out of an index; default the host's. */
  readonly platform?: Platform;
  /** Copy an index whole. */
  readonly allPlatforms?: boolean;
  /** More tags for the destination, besides its own. */
  readonly tags?: readonly string[];
}

export async function copyImage(
  client: RegistryClient,
  src: Reference,
  dst: Reference,
  o: CopyOptions = {},
): Promise<Descriptor> {
  const item = await remoteImage(client, src, o);
  const chosen =
    item instanceof RemoteIndex && !o.allPlatforms
      ? await resolvePlatform(item, o.platform ?? hostPlatform(), o)
      : item;
  return pushImage(client, dst, chosen, o);
}
