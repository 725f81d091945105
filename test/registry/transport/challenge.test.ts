// WWW-Authenticate parsing tables (RFC 7235), scope merging and the realm policy.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { schemeFromChallenges } from '../../../src/registry/transport/auth.js';
import { type Challenge, parseChallenges } from '../../../src/registry/transport/challenge.js';
import { realmPolicy } from '../../../src/registry/transport/realm.js';
import { mergeScopes, parseScope, repositoryScope, scopesCover } from '../../../src/registry/transport/scope.js';

function c(scheme: string, params: Record<string, string>, token68?: string): Challenge {
  return token68 === undefined ? { scheme, params } : { scheme, params, token68 };
}

describe('parseChallenges', () => {
  const table: [string, readonly string[], Challenge[]][] = [
    [
      'docker hub',
      [
        'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/alpine:pull"',
      ],
      [
        c('bearer', {
          realm: 'https://auth.docker.io/token',
          service: 'registry.docker.io',
          scope: 'repository:library/alpine:pull',
        }),
      ],
    ],
    ['basic', ['Basic realm="Registry Realm"'], [c('basic', { realm: 'Registry Realm' })]],
    [
      'scheme is case-insensitive, names too',
      ['BEARER Realm="r", SERVICE=svc'],
      [c('bearer', { realm: 'r', service: 'svc' })],
    ],
    [
      'two challenges in one header',
      ['Bearer realm="https://a/token", service="s", Basic realm="b"'],
      [c('bearer', { realm: 'https://a/token', service: 's' }), c('basic', { realm: 'b' })],
    ],
    [
      'two headers',
      ['Basic realm="b"', 'Bearer realm="https://a/token"'],
      [c('basic', { realm: 'b' }), c('bearer', { realm: 'https://a/token' })],
    ],
    [
      'a comma inside quotes, and several scopes',
      ['Bearer realm="https://a/token",scope="repository:a:pull,push repository:b:pull",error="insufficient_scope"'],
      [
        c('bearer', {
          realm: 'https://a/token',
          scope: 'repository:a:pull,push repository:b:pull',
          error: 'insufficient_scope',
        }),
      ],
    ],
    ['quoted-pair escapes', ['Basic realm="say \\"hi\\" \\\\ there"'], [c('basic', { realm: 'say "hi" \\ there' })]],
    ['spaces around =', ['Bearer realm = "r" , service = s'], [c('bearer', { realm: 'r', service: 's' })]],
    [
      'empty list elements',
      [', Basic realm="b" ,, Bearer realm="r",'],
      [c('basic', { realm: 'b' }), c('bearer', { realm: 'r' })],
    ],
    ['scheme only', ['Bearer'], [c('bearer', {})]],
    ['scheme only, then another', ['Negotiate, Basic realm="x"'], [c('negotiate', {}), c('basic', { realm: 'x' })]],
    ['token68', ['Negotiate abc+/==, Basic realm="x"'], [c('negotiate', {}, 'abc+/=='), c('basic', { realm: 'x' })]],
    ['the first of a repeated parameter wins', ['Bearer realm="one", realm="two"'], [c('bearer', { realm: 'one' })]],
    ['an unterminated quote runs to the end', ['Basic realm="open'], [c('basic', { realm: 'open' })]],
    ['nothing', [''], []],
  ];
  for (const [name, input, expected] of table) {
    test(name, () => {
      assert.deepEqual(parseChallenges(input), expected);
    });
  }

  test('a parameter named __proto__ is data, not a prototype', () => {
    const [ch] = parseChallenges(['Bearer __proto__="x", realm="r"']);
    assert.equal(ch?.params.realm, 'r');
    assert.equal(Object.getPrototypeOf(ch?.params), Object.prototype);
    assert.equal(Object.getOwnPropertyDescriptor(ch?.params, '__proto__')?.value, 'x');
  });

  test('schemeFromChallenges prefers a bearer with a usable realm, then basic', () => {
    assert.deepEqual(
      schemeFromChallenges(parseChallenges(['Basic realm="b", Bearer realm="https://t/x",service="s"'])),
      {
        kind: 'bearer',
        realm: new URL('https://t/x'),
        service: 's',
      },
    );
    assert.deepEqual(schemeFromChallenges(parseChallenges(['Bearer realm="not a url", Basic realm="b"'])), {
      kind: 'basic',
    });
    assert.equal(schemeFromChallenges(parseChallenges(['Negotiate'])), undefined);
  });
});

describe('scopes', () => {
  test('parse, merge per resource, sorted', () => {
    assert.deepEqual(parseScope('repository:library/alpine:push,pull'), {
      type: 'repository',
      name: 'library/alpine',
      actions: ['pull', 'push'],
    });
    assert.deepEqual(parseScope('repository(plugin):vieux/sshfs:pull')?.type, 'repository(plugin)');
    assert.equal(parseScope('nonsense'), undefined);
    assert.deepEqual(
      mergeScopes(['repository:b:pull', 'repository:a:push'], ['repository:a:pull', 'registry:catalog:*'], undefined),
      ['registry:catalog:*', 'repository:a:pull,push', 'repository:b:pull'],
    );
    assert.equal(repositoryScope('x/y', ['push', 'pull']), 'repository:x/y:pull,push');
  });

  test('a token for a superset of scopes covers a subset; * covers every action', () => {
    assert.ok(scopesCover(['repository:a:pull,push'], ['repository:a:pull']));
    assert.ok(scopesCover(['repository:a:*'], ['repository:a:delete']));
    assert.ok(scopesCover(['repository:a:pull', 'repository:b:pull'], []));
    assert.ok(!scopesCover(['repository:a:pull'], ['repository:a:pull,push']));
    assert.ok(!scopesCover(['repository:a:pull'], ['repository:b:pull']));
  });
});

describe('realmPolicy', () => {
  const table: [string, string, boolean][] = [
    ['https://auth.docker.io/token', 'https://registry-1.docker.io/v2/', true],
    ['https://ghcr.io/token', 'https://ghcr.io/v2/', true],
    ['https://gitlab.com/jwt/auth', 'https://registry.gitlab.com/v2/', true],
    ['https://quay.io/v2/auth', 'https://quay.io/v2/', true],
    ['https://login.example.com/token', 'https://example.com/v2/', true],
    ['https://evil.com/token', 'https://registry-1.docker.io/v2/', false],
    ['https://docker.io.evil.com/token', 'https://registry-1.docker.io/v2/', false],
    ['https://other.co.uk/token', 'https://registry.foo.co.uk/v2/', false],
    ['https://auth.foo.co.uk/token', 'https://registry.foo.co.uk/v2/', true],
    ['http://auth.docker.io/token', 'https://registry-1.docker.io/v2/', false],
    ['https://127.0.0.1:5001/token', 'https://127.0.0.1:5000/v2/', true],
    ['https://127.0.0.2:5001/token', 'https://127.0.0.1:5000/v2/', false],
    ['http://127.0.0.1:5001/token', 'http://127.0.0.1:5000/v2/', true],
    ['http://127.0.0.1:5001/token', 'https://127.0.0.1:5000/v2/', false],
    ['https://localhost:5001/token', 'https://localhost:5000/v2/', true],
    ['https://evil.localhost/token', 'https://localhost:5000/v2/', false],
    ['ftp://auth.docker.io/token', 'https://registry-1.docker.io/v2/', false],
  ];
  for (const [realm, registry, allowed] of table) {
    test(`${realm} for ${registry}: ${allowed ? 'allowed' : 'withheld'}`, () => {
      const verdict = realmPolicy(new URL(realm), new URL(registry));
      assert.equal(verdict.allowed, allowed);
      if (!verdict.allowed) assert.ok(verdict.reason.length > 0);
    });
  }
});
