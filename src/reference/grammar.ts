/**
 * The lexical rules of an image reference, one checker per part (registry, repository, tag,
 * digest). Each checker throws a ReferenceError that names its part and says what to write
 * instead. The grammar is the one the distribution project defines for docker references; where
 * it is looser than what gantry can use (ports, digest algorithms) the checker is stricter and
 * says so in its message.
 */
import { isIPv6 } from 'node:net';
import { ReferenceError } from './error.js';

/** `[a-z0-9]+` runs joined by one '.', one '_', two '_' or any number of '-'. */
const PATH_COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
/** A DNS label, kept as loose as docker's: letters of either case, no '-' at either end. */
const DOMAIN_LABEL = /^[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?$/;
const TAG = /^\w[\w.-]{0,127}$/;
const TAG_MAX = 128;

/**
 * The digest algorithms gantry can verify, with the length of their hex encoding. Any other
 * algorithm is refused: a blob named by a digest we cannot compute could never be checked.
 */
export const DIGEST_HEX_LENGTH: ReadonlyMap<string, number> = new Map([
  ['sha256', 64],
  ['sha512', 128],
]);

const PATH_RULE =
  "path components are lowercase letters and digits, joined by '.', '_', '__' or '-' (never at the start or end)";

/** Checks `host[:port]`, where host is a DNS-like name, an IPv4 address or `[IPv6]`. */
export function checkRegistry(registry: string, input: string): void {
  const fail = (detail: string, suggestion: string): never => {
    throw new ReferenceError(input, 'registry', detail, suggestion);
  };
  let port: string | undefined;
  if (registry.startsWith('[')) {
    const close = registry.indexOf(']');
    if (close < 0) fail(`registry "${registry}" has no closing ']'`, 'write IPv6 registries as [address]:port');
    const rest = registry.slice(close + 1);
    if (rest !== '') {
      if (!rest.startsWith(':'))
        fail(`registry "${registry}" has text after ']'`, 'write IPv6 registries as [address]:port');
      port = rest.slice(1);
    }
    const address = registry.slice(1, close);
    // Only plain hex-and-colon forms: a zone id (%eth0) or an embedded IPv4 address has no
    // single spelling in a URL host, so docker refuses them too.
    if (!/^[0-9a-fA-F:]+$/.test(address) || !isIPv6(address)) {
      fail(
        `registry "${registry}" is not a valid IPv6 address in brackets`,
        'use a plain IPv6 address such as [fd00::1]:5000 (zone ids and IPv4-mapped forms are not allowed)',
      );
    }
  } else {
    const parts = registry.split(':');
    if (parts.length > 2) {
      fail(`registry "${registry}" looks like an IPv6 address without brackets`, 'write it as [address]:port/repo');
    }
    const host = parts[0] ?? '';
    port = parts[1];
    if (host === '')
      fail(`registry "${registry}" has no host name`, 'write the registry as host[:port], e.g. localhost:5000');
    if (!host.split('.').every((label) => DOMAIN_LABEL.test(label))) {
      fail(
        `registry host "${host}" is not a valid host name`,
        "host names are letters, digits and '-' (not at the start or end of a label) separated by '.'",
      );
    }
  }
  if (port !== undefined) {
    const n = /^[0-9]+$/.test(port) ? Number(port) : Number.NaN;
    if (!(n >= 1 && n <= 65535)) {
      fail(
        `registry port "${port}" is not a number from 1 to 65535`,
        'write the registry as host:port, e.g. localhost:5000',
      );
    }
  }
}

/**
 * Checks a repository path (without the registry). `written` is the path as the user typed it,
 * before `library/` was added, so the lowercase suggestion echoes their own text.
 */
export function checkRepository(repository: string, input: string, written = repository): void {
  const fail = (detail: string, suggestion: string): never => {
    throw new ReferenceError(input, 'repository', detail, suggestion);
  };
  if (written === '') fail('no repository after the registry', 'name a repository, e.g. registry.example.com/team/app');
  const lower = written.toLowerCase();
  if (lower !== written) {
    const fixable = lower.split('/').every((c) => PATH_COMPONENT.test(c));
    fail(
      'repository name must be lowercase',
      fixable ? `write the repository as "${lower}"` : `write the repository in lowercase; ${PATH_RULE}`,
    );
  }
  for (const component of repository.split('/')) {
    if (component === '') {
      fail("repository has an empty path component (a leading, trailing or doubled '/')", `remove the extra '/'`);
    }
    if (!PATH_COMPONENT.test(component)) fail(`repository path component "${component}" is not valid`, PATH_RULE);
  }
}

export function checkTag(tag: string, input: string): void {
  const fail = (detail: string, suggestion: string): never => {
    throw new ReferenceError(input, 'tag', detail, suggestion);
  };
  if (tag === '') fail("tag is empty after ':'", "write a tag after ':' or remove the ':'");
  if (tag.length > TAG_MAX) fail(`tag is ${tag.length} characters, more than ${TAG_MAX}`, 'use a shorter tag');
  if (!/^\w/.test(tag)) fail(`tag "${tag}" must start with a letter, digit or '_'`, 'remove the leading character');
  if (!TAG.test(tag)) {
    fail(`tag "${tag}" has a character other than letters, digits, '_', '.' and '-'`, 'remove or replace it');
  }
}

export function checkDigest(digest: string, input: string): void {
  const fail = (detail: string, suggestion: string): never => {
    throw new ReferenceError(input, 'digest', detail, suggestion);
  };
  const form = 'write the digest as algorithm:hex, e.g. sha256:<64 lowercase hex digits>';
  if (digest === '') fail("digest is empty after '@'", `${form}, or remove the '@'`);
  if (digest.includes('@')) fail("reference has more than one '@'", 'keep one @digest at the end of the reference');
  const colon = digest.indexOf(':');
  if (colon < 0) fail(`digest "${digest}" has no algorithm`, form);
  const algorithm = digest.slice(0, colon);
  const hex = digest.slice(colon + 1);
  const length = DIGEST_HEX_LENGTH.get(algorithm);
  if (length === undefined) {
    if (DIGEST_HEX_LENGTH.has(algorithm.toLowerCase())) {
      fail(`digest algorithm "${algorithm}" must be lowercase`, `write "${algorithm.toLowerCase()}"`);
    }
    fail(`digest algorithm "${algorithm}" is not supported`, 'use a sha256 or sha512 digest');
  }
  if (!/^[0-9a-fA-F]*$/.test(hex)) fail(`digest "${digest}" has characters that are not hex digits`, form);
  if (hex !== hex.toLowerCase()) fail('digest hex must be lowercase', `write "${algorithm}:${hex.toLowerCase()}"`);
  if (hex.length !== length) {
    fail(`${algorithm} digest has ${hex.length} hex digits, not ${length}`, 'copy the whole digest');
  }
}
