// Pins the registry's token mode: the real distribution registry accepts the issuer's tokens
// (over TLS and plain HTTP, ES256 and RS256), refuses tokens it must refuse (foreign signer,
// expired, too narrow), and skopeo, an independent client of docker's token spec, can push with
// credentials while anonymous clients get only what the table grants everyone.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { busyboxImage } from './fixtures.js';
import { registryRequest, startRegistry, type TestRegistry } from './registry.js';
import { run } from './run.js';
import { fetchToken, startTokenServer, type TokenUser } from './token-server.js';
import { type SkopeoTransportOptions, skopeoCopy, skopeoInspectRaw } from './validate.js';

const USERS: readonly TokenUser[] = [
  { username: '*', access: { 'public/*': ['pull'] } },
  { username: 'alice', password: 'alice-pw', access: { 'private/*': ['pull', 'push'], 'public/*': ['pull', 'push'] } },
  { username: 'admin', password: 'admin-pw', access: { '*': ['*'], 'registry:catalog': ['*'] } },
];

function challenge(res: { headers: Record<string, unknown> }): string {
  return String(res.headers['www-authenticate'] ?? '');
}

describe('startRegistry token mode', () => {
  for (const [tls, algorithm] of [
    [true, 'ES256'],
    [false, 'RS256'],
  ] as const) {
    test(`${tls ? 'https' : 'http'} + ${algorithm}: Bearer challenge, tokens accepted, scopes enforced`, async () => {
      const reg = await startRegistry({ mode: 'token', tls, users: USERS, token: { algorithm } });
      try {
        const ts = reg.tokenServer ?? assert.fail('token mode has a token server');
        assert.equal(reg.url, `${tls ? 'https' : 'http'}://${reg.host}`);
        assert.equal(ts.realm, `${tls ? 'https' : 'http'}://${ts.host}/token`);
        assert.equal(reg.username, 'alice');
        assert.equal(reg.password, 'alice-pw');

        const anon = await registryRequest(reg, '/v2/');
        assert.equal(anon.status, 401);
        assert.equal(challenge(anon), `Bearer realm="${ts.realm}",service="${ts.service}"`);

        const plain = await fetchToken(ts, { username: 'alice', password: 'alice-pw' });
        assert.equal((await registryRequest(reg, '/v2/', { token: plain.token })).status, 200, reg.logTail());

        // Catalog: the challenge names the scope; alice's token lacks it, admin's has it.
        const noToken = await registryRequest(reg, '/v2/_catalog');
        assert.match(challenge(noToken), /scope="registry:catalog:\*"/);
        const alice = await fetchToken(ts, { scopes: ['registry:catalog:*'], username: 'alice', password: 'alice-pw' });
        const refused = await registryRequest(reg, '/v2/_catalog', { token: alice.token });
        assert.equal(refused.status, 401);
        assert.match(challenge(refused), /error="insufficient_scope"/);
        const admin = await fetchToken(ts, { scopes: ['registry:catalog:*'], username: 'admin', password: 'admin-pw' });
        const catalog = await registryRequest(reg, '/v2/_catalog', { token: admin.token });
        assert.equal(catalog.status, 200, reg.logTail());
        assert.deepEqual(JSON.parse(catalog.body.toString('utf8')), { repositories: [] });

        // An expired token (beyond the registry's 60 s leeway) is refused as invalid.
        const expired = ts.mint('admin', [{ type: 'registry', name: 'catalog', actions: ['*'] }], { expiresIn: -300 });
        const late = await registryRequest(reg, '/v2/_catalog', { token: expired });
        assert.equal(late.status, 401);
        assert.match(challenge(late), /error="invalid_token"/);
      } finally {
        await reg.stop();
      }
      assert.equal(reg.tokenServer?.requests.length, 3);
    });
  }

  test('a token from an issuer the registry does not trust is refused, even with the same names', async () => {
    const reg = await startRegistry({ mode: 'token', tls: false, users: USERS });
    const impostor = await startTokenServer({ users: USERS });
    try {
      const ts = reg.tokenServer ?? assert.fail('token server');
      assert.equal(impostor.issuer, ts.issuer);
      assert.equal(impostor.service, ts.service);
      const scopes = ['registry:catalog:*'];
      const forged = await fetchToken(impostor, { scopes, username: 'admin', password: 'admin-pw' });
      const res = await registryRequest(reg, '/v2/_catalog', { token: forged.token });
      assert.equal(res.status, 401);
      assert.match(challenge(res), /error="invalid_token"/);
      const real = await fetchToken(ts, { scopes, username: 'admin', password: 'admin-pw' });
      assert.equal((await registryRequest(reg, '/v2/_catalog', { token: real.token })).status, 200);
    } finally {
      await impostor.stop();
      await reg.stop();
    }
  });

  test('the token server can live on another loopback host (127.0.0.2) under the same TLS CA', async () => {
    const reg = await startRegistry({ mode: 'token', users: USERS, token: { host: '127.0.0.2' } });
    try {
      const ts = reg.tokenServer ?? assert.fail('token server');
      assert.match(ts.realm, /^https:\/\/127\.0\.0\.2:\d+\/token$/);
      assert.match(challenge(await registryRequest(reg, '/v2/')), /realm="https:\/\/127\.0\.0\.2:/);
      const res = await fetchToken(ts, { username: 'alice', password: 'alice-pw' });
      assert.equal((await registryRequest(reg, '/v2/', { token: res.token })).status, 200);
    } finally {
      await reg.stop();
    }
  });

  test('default table: one user allowed everything, anonymous nothing; stop() stops the token server', async () => {
    const reg = await startRegistry({ mode: 'token', tls: false, username: 'root' });
    const ts = reg.tokenServer ?? assert.fail('token server');
    try {
      assert.equal(reg.username, 'root');
      assert.ok(reg.password && reg.password.length >= 16);
      const anon = await fetchToken(ts, { scopes: ['repository:a/b:pull'] });
      assert.equal(anon.status, 200);
      const res = await registryRequest(reg, '/v2/a/b/tags/list', { token: anon.token });
      assert.equal(res.status, 401);
      const root = await fetchToken(ts, { scopes: ['repository:a/b:pull'], username: 'root', password: reg.password });
      const found = await registryRequest(reg, '/v2/a/b/tags/list', { token: root.token });
      assert.equal(found.status, 404, 'authorized, and the repository does not exist yet');
    } finally {
      await reg.stop();
    }
    await assert.rejects(fetchToken(ts), /ECONNREFUSED/);
  });
});

describe('token mode with skopeo', () => {
  function flags(reg: TestRegistry, creds?: string): SkopeoTransportOptions {
    return { tlsVerify: true, certDir: reg.certsDir, creds };
  }

  test('push with credentials; anonymous pull refused for a private repo, allowed for a public one', async () => {
    const img = await busyboxImage();
    const reg = await startRegistry({ mode: 'token', users: USERS });
    try {
      const ts = reg.tokenServer ?? assert.fail('token server');
      const src = `oci:${img.layoutDir}:${img.tag}`;
      for (const repo of ['private/app', 'public/app']) {
        await skopeoCopy(src, `docker://${reg.host}/${repo}:v1`, {
          all: true,
          preserveDigests: true,
          dest: flags(reg, 'alice:alice-pw'),
        });
      }
      const pushes = ts.requests.filter((r) => r.scopes.some((s) => /[:,]push\b/.test(s)));
      assert.ok(pushes.length > 0, 'skopeo asked for push scopes');
      assert.ok(pushes.every((r) => r.credentials === 'basic' && r.username === 'alice' && r.status === 200));

      const privateAnon = await run(
        'skopeo',
        [
          '--insecure-policy',
          'inspect',
          '--raw',
          '--cert-dir',
          reg.certsDir ?? '',
          `docker://${reg.host}/private/app:v1`,
        ],
        { allowFailure: true, env: { ...process.env, REGISTRY_AUTH_FILE: '/nonexistent/gantry-test-auth.json' } },
      );
      assert.notEqual(privateAnon.code, 0);
      assert.match(privateAnon.stderr, /unauthorized|authentication required|denied/i);
      const anonAsk = ts.requests.at(-1);
      assert.equal(anonAsk?.credentials, 'none');
      assert.deepEqual(anonAsk?.granted, []);

      const publicAnon = await skopeoInspectRaw(`docker://${reg.host}/public/app:v1`, flags(reg));
      assert.equal(publicAnon.digest, img.indexDigest);
      const privateAlice = await skopeoInspectRaw(`docker://${reg.host}/private/app:v1`, flags(reg, 'alice:alice-pw'));
      assert.equal(privateAlice.digest, img.indexDigest);

      // Anonymous clients may pull public images but never push to them.
      await assert.rejects(
        skopeoCopy(src, `docker://${reg.host}/public/app:v2`, { all: true, dest: flags(reg) }),
        /unauthorized|authentication required|denied/i,
      );
    } finally {
      await reg.stop();
    }
  });
});
