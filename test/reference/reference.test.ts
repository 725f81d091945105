// Pins the reference grammar and docker's normalization (docker.io, library/, index.docker.io),
// and that every refusal names the part that is wrong and says what to do.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { test } from 'node:test';
import { GantryError } from '../../src/errors.js';
import {
  familiarName,
  formatReference,
  isDigestReference,
  type ParseReferenceOptions,
  parseReference,
  type Reference,
  ReferenceError,
  type ReferencePart,
  registryHost,
  repositoryOf,
  withDigest,
  withTag,
} from '../../src/reference/index.js';

const H = createHash('sha256').update('gantry').digest('hex');
const H512 = createHash('sha512').update('gantry').digest('hex');
const D = `sha256:${H}`;
const D512 = `sha512:${H512}`;

interface Valid {
  readonly input: string;
  readonly full: string;
  readonly familiar: string;
  readonly options?: ParseReferenceOptions;
}

const VALID: readonly Valid[] = [
  // Docker Hub official images: docker.io and library/ are implied.
  { input: 'alpine', full: 'docker.io/library/alpine:latest', familiar: 'alpine:latest' },
  { input: 'alpine:3.20', full: 'docker.io/library/alpine:3.20', familiar: 'alpine:3.20' },
  { input: 'library/alpine', full: 'docker.io/library/alpine:latest', familiar: 'alpine:latest' },
  { input: 'docker.io/alpine', full: 'docker.io/library/alpine:latest', familiar: 'alpine:latest' },
  { input: 'docker.io/library/alpine:edge', full: 'docker.io/library/alpine:edge', familiar: 'alpine:edge' },
  { input: 'index.docker.io/library/alpine', full: 'docker.io/library/alpine:latest', familiar: 'alpine:latest' },
  { input: 'index.docker.io/alpine:3', full: 'docker.io/library/alpine:3', familiar: 'alpine:3' },
  {
    input: 'ubuntu-12.04-base',
    full: 'docker.io/library/ubuntu-12.04-base:latest',
    familiar: 'ubuntu-12.04-base:latest',
  },
  // Docker Hub user images.
  { input: 'user/app:1', full: 'docker.io/user/app:1', familiar: 'user/app:1' },
  { input: 'index.docker.io/user/app:1', full: 'docker.io/user/app:1', familiar: 'user/app:1' },
  { input: 'other/library', full: 'docker.io/other/library:latest', familiar: 'other/library:latest' },
  { input: 'store/foo/bar', full: 'docker.io/store/foo/bar:latest', familiar: 'store/foo/bar:latest' },
  // library/ is only dropped from a one-level name, so the familiar form parses back the same.
  { input: 'docker.io/library/foo/bar', full: 'docker.io/library/foo/bar:latest', familiar: 'library/foo/bar:latest' },
  // An underscore cannot be in a host name, so this first component is a namespace.
  { input: 'test_com/foo', full: 'docker.io/test_com/foo:latest', familiar: 'test_com/foo:latest' },
  {
    input: 'docker---rules/dock__er',
    full: 'docker.io/docker---rules/dock__er:latest',
    familiar: 'docker---rules/dock__er:latest',
  },
  { input: 'd/t', full: 'docker.io/d/t:latest', familiar: 'd/t:latest' },
  { input: 'a0/b.c_d-e', full: 'docker.io/a0/b.c_d-e:latest', familiar: 'a0/b.c_d-e:latest' },
  // Other registries: no library/ prefix, never shortened.
  { input: 'ghcr.io/x/y:1', full: 'ghcr.io/x/y:1', familiar: 'ghcr.io/x/y:1' },
  { input: 'ghcr.io/app', full: 'ghcr.io/app:latest', familiar: 'ghcr.io/app:latest' },
  {
    input: 'registry-1.docker.io/app',
    full: 'registry-1.docker.io/app:latest',
    familiar: 'registry-1.docker.io/app:latest',
  },
  { input: 'localhost/app', full: 'localhost/app:latest', familiar: 'localhost/app:latest' },
  { input: 'localhost:5000/app:dev', full: 'localhost:5000/app:dev', familiar: 'localhost:5000/app:dev' },
  {
    input: '127.0.0.1:5000/team/app',
    full: '127.0.0.1:5000/team/app:latest',
    familiar: '127.0.0.1:5000/team/app:latest',
  },
  { input: 'test-com:8080/foo', full: 'test-com:8080/foo:latest', familiar: 'test-com:8080/foo:latest' },
  { input: 'xn--n3h.com/foo', full: 'xn--n3h.com/foo:latest', familiar: 'xn--n3h.com/foo:latest' },
  {
    input: 'Registry.Example.com/app',
    full: 'Registry.Example.com/app:latest',
    familiar: 'Registry.Example.com/app:latest',
  },
  { input: '[::1]:5000/app', full: '[::1]:5000/app:latest', familiar: '[::1]:5000/app:latest' },
  {
    input: '[fc00:1:2:3:4:5:6:7]/team/app:v1',
    full: '[fc00:1:2:3:4:5:6:7]/team/app:v1',
    familiar: '[fc00:1:2:3:4:5:6:7]/team/app:v1',
  },
  // With no '/', "localhost:5000" is the image localhost tagged 5000, as in docker.
  { input: 'localhost:5000', full: 'docker.io/library/localhost:5000', familiar: 'localhost:5000' },
  { input: 'example.com', full: 'docker.io/library/example.com:latest', familiar: 'example.com:latest' },
  // Digests: no default tag; a tag beside a digest is kept.
  { input: `alpine@${D}`, full: `docker.io/library/alpine@${D}`, familiar: `alpine@${D}` },
  { input: `alpine:3.20@${D}`, full: `docker.io/library/alpine:3.20@${D}`, familiar: `alpine:3.20@${D}` },
  { input: `ghcr.io/x/y@${D512}`, full: `ghcr.io/x/y@${D512}`, familiar: `ghcr.io/x/y@${D512}` },
  { input: `localhost:5000/app:1@${D}`, full: `localhost:5000/app:1@${D}`, familiar: `localhost:5000/app:1@${D}` },
  // Tags: '_' may lead, 128 characters is the limit.
  { input: 'alpine:_x.Y-z', full: 'docker.io/library/alpine:_x.Y-z', familiar: 'alpine:_x.Y-z' },
  {
    input: `alpine:${'t'.repeat(128)}`,
    full: `docker.io/library/alpine:${'t'.repeat(128)}`,
    familiar: `alpine:${'t'.repeat(128)}`,
  },
  // A 64-hex name is fine once a registry makes it unambiguous; 63 hex is no image ID.
  { input: `docker.io/${H}`, full: `docker.io/library/${H}:latest`, familiar: `${H}:latest` },
  { input: H.slice(1), full: `docker.io/library/${H.slice(1)}:latest`, familiar: `${H.slice(1)}:latest` },
  // Not a whole digest, so an ordinary name and tag.
  { input: 'sha256:abc', full: 'docker.io/library/sha256:abc', familiar: 'sha256:abc' },
  // registry + '/' + repository of exactly 255 characters.
  {
    input: `ghcr.io/${'a'.repeat(247)}`,
    full: `ghcr.io/${'a'.repeat(247)}:latest`,
    familiar: `ghcr.io/${'a'.repeat(247)}:latest`,
  },
  // Options.
  {
    input: 'alpine',
    options: { defaultRegistry: 'localhost:5000' },
    full: 'localhost:5000/alpine:latest',
    familiar: 'localhost:5000/alpine:latest',
  },
  {
    input: 'ghcr.io/x/y',
    options: { defaultRegistry: 'localhost:5000' },
    full: 'ghcr.io/x/y:latest',
    familiar: 'ghcr.io/x/y:latest',
  },
  {
    input: 'alpine',
    options: { defaultRegistry: 'index.docker.io' },
    full: 'docker.io/library/alpine:latest',
    familiar: 'alpine:latest',
  },
  {
    input: 'alpine',
    options: { defaultTag: 'stable' },
    full: 'docker.io/library/alpine:stable',
    familiar: 'alpine:stable',
  },
  {
    input: `alpine@${D}`,
    options: { defaultTag: 'stable' },
    full: `docker.io/library/alpine@${D}`,
    familiar: `alpine@${D}`,
  },
  { input: 'alpine', options: { defaultTag: '' }, full: 'docker.io/library/alpine', familiar: 'alpine' },
];

for (const c of VALID) {
  const label = `parses ${JSON.stringify(c.input.length > 80 ? `${c.input.slice(0, 77)}...` : c.input)}${c.options ? ` with ${JSON.stringify(c.options)}` : ''}`;
  test(label, () => {
    const ref = parseReference(c.input, c.options);
    assert.equal(formatReference(ref), c.full);
    assert.equal(familiarName(ref), c.familiar);
    // Both printed forms name the same thing: they parse back to an equal reference.
    assert.deepEqual(parseReference(c.full, c.options), ref);
    assert.deepEqual(parseReference(c.familiar, c.options), ref);
  });
}

interface Invalid {
  readonly input: string;
  readonly part: ReferencePart;
  readonly message: string;
  readonly options?: ParseReferenceOptions;
}

const INVALID: readonly Invalid[] = [
  // The whole reference.
  { input: '', part: 'reference', message: 'reference is empty' },
  { input: ' alpine', part: 'reference', message: 'whitespace' },
  { input: 'alpine\n', part: 'reference', message: 'whitespace or control characters' },
  { input: 'https://github.com/docker/docker', part: 'reference', message: 'no URL scheme' },
  { input: H, part: 'reference', message: 'ambiguous with an image ID' },
  { input: D, part: 'reference', message: 'a digest alone names no repository' },
  { input: D512, part: 'reference', message: 'a digest alone names no repository' },
  // Registry.
  {
    input: '-docker.io/docker/docker',
    part: 'registry',
    message: 'registry host "-docker.io" is not a valid host name',
  },
  { input: 'exa_mple.com/app', part: 'registry', message: 'not a valid host name' },
  { input: 'a..b/app', part: 'registry', message: 'not a valid host name' },
  // A '.' in the first component makes it a registry, so these are bad host names, not paths.
  { input: 'dock..er/docker', part: 'registry', message: 'registry host "dock..er"' },
  { input: 'dock_.er/docker', part: 'registry', message: 'not a valid host name' },
  { input: 'dock-.er/docker', part: 'registry', message: 'not a valid host name' },
  { input: ':5000/app', part: 'registry', message: 'has no host name' },
  { input: 'fc00::1:5000/debian', part: 'registry', message: 'IPv6 address without brackets' },
  { input: '[fe80::1%eth0]:5000/debian', part: 'registry', message: 'not a valid IPv6 address in brackets' },
  { input: '[2001:db8:3:4::192.0.2.33]:5000/debian', part: 'registry', message: 'not a valid IPv6 address' },
  { input: '[zz]:5000/app', part: 'registry', message: 'not a valid IPv6 address' },
  { input: '[:::]/app', part: 'registry', message: 'not a valid IPv6 address' },
  { input: '[::1/app', part: 'registry', message: "no closing ']'" },
  { input: '[::1]x/app', part: 'registry', message: "text after ']'" },
  { input: 'localhost:0/app', part: 'registry', message: 'port "0" is not a number from 1 to 65535' },
  { input: 'localhost:65536/app', part: 'registry', message: 'port "65536"' },
  { input: 'localhost:/app', part: 'registry', message: 'port ""' },
  { input: 'example.com:http/app', part: 'registry', message: 'port "http"' },
  { input: 'alpine:3.1/x', part: 'registry', message: 'port "3.1"' },
  // Repository.
  { input: 'Foo/bar', part: 'repository', message: 'repository name must be lowercase' },
  { input: 'ALPINE', part: 'repository', message: 'repository name must be lowercase' },
  { input: 'docker/Docker', part: 'repository', message: 'repository name must be lowercase' },
  { input: 'ghcr.io/Owner/app:1', part: 'repository', message: 'repository name must be lowercase' },
  { input: '-docker', part: 'repository', message: 'path component "-docker" is not valid' },
  { input: 'docker-/docker', part: 'repository', message: 'path component "docker-"' },
  { input: '-docker-/docker', part: 'repository', message: 'path component "-docker-"' },
  { input: '____/____', part: 'repository', message: 'path component "____"' },
  { input: '_docker/_docker', part: 'repository', message: 'path component "_docker"' },
  { input: 'x/dock..er', part: 'repository', message: 'path component "dock..er"' },
  { input: 'x/dock_.er', part: 'repository', message: 'path component "dock_.er"' },
  { input: 'x/dock-.er', part: 'repository', message: 'path component "dock-.er"' },
  { input: 'dock___er/docker', part: 'repository', message: 'path component "dock___er"' },
  { input: 'ghcr.io/alpïne', part: 'repository', message: 'path component "alpïne"' },
  { input: 'docker/', part: 'repository', message: 'empty path component' },
  { input: 'docker///docker', part: 'repository', message: 'empty path component' },
  { input: '/alpine', part: 'repository', message: 'empty path component' },
  { input: 'docker.io/docker///docker', part: 'repository', message: 'empty path component' },
  { input: 'ghcr.io/', part: 'repository', message: 'no repository' },
  { input: '[::1]:5000', part: 'repository', message: 'no repository' },
  { input: '[fc00::1]', part: 'repository', message: 'no repository' },
  { input: `${'a'.repeat(250)}/x`, part: 'repository', message: 'is 262 characters, more than 255' },
  { input: `ghcr.io/${'a'.repeat(248)}`, part: 'repository', message: 'more than 255' },
  // Tag.
  { input: 'alpine:', part: 'tag', message: 'tag is empty' },
  { input: 'alpine:-x', part: 'tag', message: 'tag "-x" must start with a letter, digit' },
  { input: 'alpine:.x', part: 'tag', message: 'must start' },
  { input: 'alpine:a+b', part: 'tag', message: 'tag "a+b" has a character other than' },
  { input: 'alpine:a:b', part: 'tag', message: 'tag "a:b"' },
  { input: `alpine:${'t'.repeat(129)}`, part: 'tag', message: 'tag is 129 characters, more than 128' },
  // Digest.
  { input: 'alpine@', part: 'digest', message: 'digest is empty' },
  { input: 'alpine@sha256', part: 'digest', message: 'has no algorithm' },
  { input: `alpine@md5:${H.slice(0, 32)}`, part: 'digest', message: 'algorithm "md5" is not supported' },
  { input: `alpine@SHA256:${H}`, part: 'digest', message: 'algorithm "SHA256" must be lowercase' },
  { input: `alpine@sha256:${H.toUpperCase()}`, part: 'digest', message: 'digest hex must be lowercase' },
  { input: `alpine@sha256:${H.slice(1)}`, part: 'digest', message: 'sha256 digest has 63 hex digits, not 64' },
  { input: `alpine@${D}0`, part: 'digest', message: 'has 65 hex digits' },
  { input: `alpine@sha512:${H}`, part: 'digest', message: 'sha512 digest has 64 hex digits, not 128' },
  { input: `alpine@sha256:${'g'.repeat(64)}`, part: 'digest', message: 'not hex digits' },
  { input: `alpine@${D}@${D}`, part: 'digest', message: "more than one '@'" },
  // Options are checked too.
  { input: 'alpine', options: { defaultTag: '-x' }, part: 'tag', message: 'must start' },
  { input: 'alpine', options: { defaultRegistry: 'bad_host' }, part: 'registry', message: 'not a valid host name' },
];

function refusal(fn: () => unknown): ReferenceError {
  try {
    fn();
  } catch (error) {
    assert.ok(error instanceof ReferenceError, `expected a ReferenceError, got ${String(error)}`);
    return error;
  }
  assert.fail('expected a ReferenceError, nothing was thrown');
}

for (const c of INVALID) {
  const shown = c.input.length > 80 ? `${c.input.slice(0, 77)}...` : c.input;
  test(`refuses ${JSON.stringify(shown)}${c.options ? ` with ${JSON.stringify(c.options)}` : ''} (${c.part})`, () => {
    const error = refusal(() => parseReference(c.input, c.options));
    assert.equal(error.part, c.part);
    assert.ok(error.message.includes(c.message), `message ${JSON.stringify(error.message)} lacks ${c.message}`);
    assert.equal(error.code, 'INVALID_REFERENCE');
    assert.equal(error.phase, 'reference');
    assert.ok(GantryError.is(error));
    assert.ok(error.suggestion && error.suggestion.length > 0, 'a refusal says what to do');
    assert.doesNotMatch(error.oneLine(), /\n/);
    if (!c.options) {
      assert.equal(error.input, c.input);
      assert.ok(error.message.startsWith(`invalid reference ${JSON.stringify(c.input)}: `), error.message);
    }
  });
}

test('the lowercase refusal reads as one plain line and suggests the lowercase name', () => {
  const error = refusal(() => parseReference('Foo/bar'));
  assert.equal(error.message, 'invalid reference "Foo/bar": repository name must be lowercase');
  assert.match(error.suggestion ?? '', /"foo\/bar"/);
});

test('parsed references are plain frozen data with only the parts they have', () => {
  assert.deepEqual(parseReference('alpine'), { registry: 'docker.io', repository: 'library/alpine', tag: 'latest' });
  const pinned = parseReference(`ghcr.io/x/y@${D}`);
  assert.deepEqual(pinned, { registry: 'ghcr.io', repository: 'x/y', digest: D });
  assert.equal('tag' in pinned, false);
  assert.ok(Object.isFrozen(pinned));
  assert.deepEqual(parseReference(`[::1]:5000/a/b:c@${D}`), {
    registry: '[::1]:5000',
    repository: 'a/b',
    tag: 'c',
    digest: D,
  });
});

test('isDigestReference is true exactly when a digest is present', () => {
  assert.equal(isDigestReference(parseReference('alpine:3')), false);
  assert.equal(isDigestReference(parseReference(`alpine@${D}`)), true);
  assert.equal(isDigestReference(parseReference(`alpine:3@${D}`)), true);
});

test('repositoryOf drops tag and digest', () => {
  assert.equal(repositoryOf(parseReference(`alpine:3@${D}`)), 'docker.io/library/alpine');
  assert.equal(repositoryOf(parseReference('localhost:5000/a/b:1')), 'localhost:5000/a/b');
});

test('withTag sets the tag, keeps the digest and leaves the original alone', () => {
  const base = parseReference(`ghcr.io/x/y@${D}`);
  const tagged = withTag(base, 'v2');
  assert.equal(formatReference(tagged), `ghcr.io/x/y:v2@${D}`);
  assert.equal(formatReference(base), `ghcr.io/x/y@${D}`);
  assert.equal(formatReference(withTag(parseReference('alpine:3'), 'edge')), 'docker.io/library/alpine:edge');
  const error = refusal(() => withTag(base, 'no/slash'));
  assert.equal(error.part, 'tag');
  assert.equal(error.input, 'ghcr.io/x/y:no/slash');
});

test('withDigest sets the digest, keeps the tag and checks the digest', () => {
  const base: Reference = parseReference('alpine:3');
  assert.equal(formatReference(withDigest(base, D512)), `docker.io/library/alpine:3@${D512}`);
  assert.equal(familiarName(withDigest(base, D)), `alpine:3@${D}`);
  assert.equal(base.digest, undefined);
  const error = refusal(() => withDigest(base, `sha256:${H.slice(2)}`));
  assert.equal(error.part, 'digest');
  assert.match(error.message, /62 hex digits/);
});

test('familiarName keeps docker.io only where dropping it would change the meaning', () => {
  assert.equal(familiarName({ registry: 'docker.io', repository: 'library/alpine' }), 'alpine');
  assert.equal(familiarName({ registry: 'docker.io', repository: 'library/a/b', tag: '1' }), 'library/a/b:1');
  assert.equal(familiarName({ registry: 'docker.io', repository: 'libraryx/a' }), 'libraryx/a');
  assert.equal(familiarName({ registry: 'quay.io', repository: 'library/alpine' }), 'quay.io/library/alpine');
});

test('registryHost maps Docker Hub names to its API host and leaves others alone', () => {
  assert.equal(registryHost('docker.io'), 'registry-1.docker.io');
  assert.equal(registryHost('index.docker.io'), 'registry-1.docker.io');
  assert.equal(registryHost('ghcr.io'), 'ghcr.io');
  assert.equal(registryHost('localhost:5000'), 'localhost:5000');
  assert.equal(registryHost('[::1]:5000'), '[::1]:5000');
});

test('one registry-host normalizer: references keep registry-1.docker.io, settings and credentials collapse every alias', async () => {
  const { normalizeRegistryHost } = await import('../../src/reference/index.js');
  const { normalizeRegistry } = await import('../../src/registry/auth/hosts.js');
  for (const hub of ['docker.io', 'index.docker.io', 'registry-1.docker.io', 'Registry.Hub.Docker.com']) {
    assert.equal(normalizeRegistryHost(hub), 'docker.io');
    assert.equal(normalizeRegistry(`https://${hub}/v1/`), 'docker.io');
  }
  assert.equal(normalizeRegistryHost('index.docker.io', { aliases: 'reference' }), 'docker.io');
  assert.equal(normalizeRegistryHost('registry-1.docker.io', { aliases: 'reference' }), 'registry-1.docker.io');
  assert.equal(normalizeRegistryHost('Localhost:5000'), 'localhost:5000');
});
