/**
 * Image references: `[registry/]repository[:tag][@digest]`, parsed, normalized the way docker
 * does (docker.io, `library/` for official images), validated part by part, and printed back in
 * full or familiar form. A Reference is plain readonly data; every function here is pure.
 */

import { ReferenceError } from './error.js';
import { checkDigest, checkRegistry, checkRepository, checkTag, DIGEST_HEX_LENGTH } from './grammar.js';
import { DOCKER_HUB, normalizeRegistryHost } from './hosts.js';

export interface Reference {
  /** Host and optional port: 'docker.io', 'localhost:5000', 'ghcr.io', '[::1]:5000'. */
  readonly registry: string;
  /** Path inside the registry: 'library/alpine', 'team/app'. */
  readonly repository: string;
  readonly tag?: string;
  /** 'sha256:<64 hex>' or 'sha512:<128 hex>'. */
  readonly digest?: string;
}

export interface ParseReferenceOptions {
  /** Tag given to a reference with neither tag nor digest. Default 'latest'; '' adds none. */
  readonly defaultTag?: string;
  /** Registry of a reference that names none. Default 'docker.io'. */
  readonly defaultRegistry?: string;
}

const OFFICIAL = 'library/';
/** The OCI distribution spec's limit on registry + '/' + repository, which registries enforce. */
const NAME_MAX = 255;
const IMAGE_ID = /^[a-f0-9]{64}$/;

function normalizeRegistry(registry: string): string {
  return normalizeRegistryHost(registry, { aliases: 'reference' });
}

/** A first path component names a registry only when it cannot be a repository component. */
function isRegistryComponent(component: string): boolean {
  return component.includes('.') || component.includes(':') || component.startsWith('[') || component === 'localhost';
}

function make(registry: string, repository: string, tag: string | undefined, digest: string | undefined): Reference {
  const ref: { registry: string; repository: string; tag?: string; digest?: string } = { registry, repository };
  if (tag !== undefined) ref.tag = tag;
  if (digest !== undefined) ref.digest = digest;
  return Object.freeze(ref);
}

/** Refusals that concern the whole text rather than one part of it. */
function checkWhole(input: string): void {
  const fail = (detail: string, suggestion: string): never => {
    throw new ReferenceError(input, 'reference', detail, suggestion);
  };
  if (input === '') fail('reference is empty', 'name an image, e.g. alpine:3.20 or ghcr.io/owner/app:1.0');
  if (/[\s\x00-\x1f\x7f]/.test(input)) {
    fail('reference contains whitespace or control characters', 'remove spaces, quotes and line breaks around it');
  }
  if (input.includes('://'))
    fail('a reference has no URL scheme', "drop the scheme, e.g. 'ghcr.io/owner/app' for 'https://ghcr.io/owner/app'");
  if (IMAGE_ID.test(input)) {
    fail(
      'a 64-character hex string is ambiguous with an image ID',
      'to name an image by digest write <repository>@sha256:<hex>; to name a repository like this, prefix its registry (docker.io/<name>)',
    );
  }
}

/**
 * Parses and normalizes a reference: 'alpine' becomes docker.io/library/alpine:latest,
 * 'index.docker.io/user/app@sha256:...' becomes docker.io/user/app@sha256:... (no default tag
 * when there is a digest). A tag and a digest given together are both kept. Throws
 * ReferenceError naming the part that is wrong.
 */
export function parseReference(input: string, options: ParseReferenceOptions = {}): Reference {
  checkWhole(input);
  const defaultRegistry = normalizeRegistry(options.defaultRegistry ?? DOCKER_HUB);
  if (options.defaultRegistry !== undefined) checkRegistry(options.defaultRegistry, options.defaultRegistry);
  const defaultTag = options.defaultTag ?? 'latest';
  if (defaultTag !== '') checkTag(defaultTag, defaultTag);

  const at = input.indexOf('@');
  const namePart = at < 0 ? input : input.slice(0, at);
  const digest = at < 0 ? undefined : input.slice(at + 1);
  const lastSlash = namePart.lastIndexOf('/');
  // A ':' after the last '/' starts the tag; one before it belongs to the registry's port.
  const colon = namePart.indexOf(':', lastSlash + 1);
  const name = colon < 0 ? namePart : namePart.slice(0, colon);
  const tag = colon < 0 ? undefined : namePart.slice(colon + 1);

  if (lastSlash < 0 && namePart.startsWith('[')) {
    throw new ReferenceError(
      input,
      'repository',
      'names a registry but no repository',
      'add the repository, e.g. [::1]:5000/app',
    );
  }
  if (at < 0 && tag !== undefined && /^[a-f0-9]+$/.test(tag) && DIGEST_HEX_LENGTH.get(name) === tag.length) {
    throw new ReferenceError(
      input,
      'reference',
      'a digest alone names no repository',
      `write <repository>@${input}, e.g. alpine@${name}:…`,
    );
  }

  const slash = name.indexOf('/');
  const explicit = slash >= 0 && isRegistryComponent(name.slice(0, slash));
  const written = explicit ? name.slice(slash + 1) : name;
  if (explicit) checkRegistry(name.slice(0, slash), input);
  const registry = explicit ? normalizeRegistry(name.slice(0, slash)) : defaultRegistry;
  const repository = registry === DOCKER_HUB && !written.includes('/') && written !== '' ? OFFICIAL + written : written;
  checkRepository(repository, input, written);
  const fullName = `${registry}/${repository}`;
  if (fullName.length > NAME_MAX) {
    throw new ReferenceError(
      input,
      'repository',
      `name "${registry}/…" is ${fullName.length} characters, more than ${NAME_MAX}`,
      'use a shorter repository path',
    );
  }
  if (tag !== undefined) checkTag(tag, input);
  if (digest !== undefined) checkDigest(digest, input);

  const effectiveTag = tag ?? (digest === undefined && defaultTag !== '' ? defaultTag : undefined);
  return make(registry, repository, effectiveTag, digest);
}

/**
 * True when `input` names no registry ('alpine', 'team/app:1'), so the registry comes from the
 * caller's default (docker.io, or registries.conf's unqualified-search-registries).
 */
export function isShortName(input: string): boolean {
  const at = input.indexOf('@');
  const name = at < 0 ? input : input.slice(0, at);
  const slash = name.indexOf('/');
  return slash < 0 || !isRegistryComponent(name.slice(0, slash));
}

/** The full, normalized form: 'docker.io/library/alpine:latest'. */
export function formatReference(ref: Reference): string {
  let out = repositoryOf(ref);
  if (ref.tag !== undefined) out += `:${ref.tag}`;
  if (ref.digest !== undefined) out += `@${ref.digest}`;
  return out;
}

/**
 * The short form docker prints: without 'docker.io/', and without 'library/' for a one-level
 * official name ('alpine:latest', 'user/app:1', 'library/a/b:1', 'ghcr.io/x/y:1').
 */
export function familiarName(ref: Reference): string {
  let name = repositoryOf(ref);
  if (ref.registry === DOCKER_HUB) {
    name = ref.repository;
    const rest = name.startsWith(OFFICIAL) ? name.slice(OFFICIAL.length) : undefined;
    if (rest !== undefined && !rest.includes('/')) name = rest;
  }
  if (ref.tag !== undefined) name += `:${ref.tag}`;
  if (ref.digest !== undefined) name += `@${ref.digest}`;
  return name;
}

/** Registry and repository, no tag or digest: 'docker.io/library/alpine'. */
export function repositoryOf(ref: Reference): string {
  return `${ref.registry}/${ref.repository}`;
}

/** The same reference with `tag` (a digest, if any, is kept). */
export function withTag(ref: Reference, tag: string): Reference {
  checkTag(tag, `${repositoryOf(ref)}:${tag}`);
  return make(ref.registry, ref.repository, tag, ref.digest);
}

/** The same reference with `digest` (a tag, if any, is kept). */
export function withDigest(ref: Reference, digest: string): Reference {
  checkDigest(digest, `${repositoryOf(ref)}@${digest}`);
  return make(ref.registry, ref.repository, ref.tag, digest);
}

/** True when the reference pins content by digest (a tag beside it is then informational). */
export function isDigestReference(ref: Reference): boolean {
  return ref.digest !== undefined;
}
