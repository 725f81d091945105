/**
 * How image names appear in archives. An OCI index.json entry carries the full name in
 * `io.containerd.image.name` and only the tag in `org.opencontainers.image.ref.name` (what buildx
 * and containerd write); a docker-archive's RepoTags hold the familiar form docker prints.
 */
import { GantryError } from '../../errors.js';
import { familiarName, formatReference, parseReference, type Reference } from '../../reference/index.js';

export const CONTAINERD_NAME_ANNOTATION = 'io.containerd.image.name';
export const REF_NAME_ANNOTATION = 'org.opencontainers.image.ref.name';

/** The index.json annotations for one name of an item. */
export function ociNameAnnotations(name: string, itemDigest: string): Record<string, string> {
  const ref = parseReference(name);
  if (ref.digest !== undefined && ref.digest !== itemDigest) {
    throw new GantryError('NAME_DIGEST_MISMATCH', `name ${name} pins ${ref.digest} but the image is ${itemDigest}`, {
      phase: 'export',
      suggestion: 'name the image with a tag, or with the digest it really has',
    });
  }
  const annotations: Record<string, string> = { [CONTAINERD_NAME_ANNOTATION]: formatReference(ref) };
  if (ref.tag !== undefined) annotations[REF_NAME_ANNOTATION] = ref.tag;
  return annotations;
}

/** A tagged reference for a docker-archive RepoTag: docker cannot tag by digest alone. */
export function dockerTag(name: string): Reference & { readonly tag: string } {
  const ref = parseReference(name);
  if (ref.tag === undefined) {
    throw new GantryError('DOCKER_ARCHIVE_NEEDS_TAG', `name ${name} has no tag, which a docker-archive needs`, {
      phase: 'export',
      suggestion: 'give the image a tagged name such as hello:dev',
    });
  }
  return { registry: ref.registry, repository: ref.repository, tag: ref.tag };
}

/** 'hello:dev' for docker.io/library/hello:dev, as `docker save` writes RepoTags. */
export function familiarTag(ref: Reference & { readonly tag: string }): string {
  return familiarName({ registry: ref.registry, repository: ref.repository, tag: ref.tag });
}

/** The repository part of a familiar name ('hello'), the key of a `repositories` file. */
export function familiarRepository(ref: Reference): string {
  return familiarName({ registry: ref.registry, repository: ref.repository });
}

/** The normalized full name, or undefined when `value` is not an image reference. */
export function tryFullName(value: string): string | undefined {
  try {
    return formatReference(parseReference(value));
  } catch {
    return undefined;
  }
}

/**
 * Names of one index.json entry. `ref.name` is often a bare tag ('latest', 'dev', as skopeo and
 * buildx write it), which would also parse as a repository name; it counts as a name only when it
 * looks like one, with a '/' or a ':'.
 */
export function namesFromAnnotations(annotations: Readonly<Record<string, string>> | undefined): string[] {
  if (annotations === undefined) return [];
  const full = annotations[CONTAINERD_NAME_ANNOTATION];
  if (full !== undefined) {
    const name = tryFullName(full);
    if (name !== undefined) return [name];
  }
  const refName = annotations[REF_NAME_ANNOTATION];
  if (refName !== undefined && /[/:]/.test(refName)) {
    const name = tryFullName(refName);
    if (name !== undefined) return [name];
  }
  return [];
}
