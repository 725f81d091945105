// Pins the token issuer against docker's token spec (token.md, jwt.md, oauth.md): who gets which
// access, GET with and without Basic credentials, the oauth2 POST grants, signatures a verifier
// can check through the x5c chain up to the root bundle, and the request log tests rely on.
import assert from 'node:assert/strict';
import { verify, X509Certificate } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { request } from 'node:http';
import { after, before, describe, test } from 'node:test';
import {
  type AccessTable,
  decodeToken,
  fetchToken,
  grantedAccess,
  parseScope,
  startTokenServer,
  type TokenAlgorithm,
  type TokenServer,
  type TokenUser,
} from './token-server.js';

const USERS: readonly TokenUser[] = [
  { username: '*', access: { 'public/*': ['pull'] } },
  { username: 'alice', password: 'alice-pw', access: { 'private/*': ['pull', 'push'], 'public/*': ['*'] } },
  { username: 'admin', password: 'admin-pw', access: { '*': ['*'], 'registry:catalog': ['*'] } },
];

/** Checks a token as distribution 2.8 does: x5c leaf issued by a root of the bundle, then the signature. */
async function verifyToken(server: TokenServer, token: string): Promise<boolean> {
  const { header, signingInput, signature } = decodeToken(token);
  const root = new X509Certificate(await readFile(server.rootCertBundle));
  const leaf = new X509Certificate(Buffer.from(header.x5c[0] ?? '', 'base64'));
  if (!leaf.checkIssued(root) || !leaf.verify(root.publicKey)) return false;
  const key = leaf.publicKey;
  return header.alg === 'ES256'
    ? verify('sha256', Buffer.from(signingInput), { key, dsaEncoding: 'ieee-p1363' }, signature)
    : verify('sha256', Buffer.from(signingInput), key, signature);
}

/** An oauth2 form POST (oauth.md) with plain node:http. */
function postForm(
  server: TokenServer,
  form: Record<string, string>,
  contentType = 'application/x-www-form-urlencoded',
): Promise<{ status: number; body: Record<string, unknown> }> {
  const data = new URLSearchParams(form).toString();
  return new Promise((resolve, reject) => {
    const req = request(server.realm, {
      method: 'POST',
      headers: { 'content-type': contentType, 'content-length': Buffer.byteLength(data) },
      agent: false,
    });
    req.on('error', reject);
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () =>
        resolve({
          status: res.statusCode ?? 0,
          body: JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>,
        }),
      );
    });
    req.end(data);
  });
}

describe('parseScope and grantedAccess', () => {
  test('scope.md forms: actions, resource class, names with colons, malformed scopes', () => {
    assert.deepEqual(parseScope('repository:library/alpine:pull,push'), {
      type: 'repository',
      name: 'library/alpine',
      actions: ['pull', 'push'],
    });
    assert.deepEqual(parseScope('repository(plugin):vieux/sshfs:pull'), {
      type: 'repository',
      class: 'plugin',
      name: 'vieux/sshfs',
      actions: ['pull'],
    });
    assert.deepEqual(parseScope('registry:catalog:*'), { type: 'registry', name: 'catalog', actions: ['*'] });
    assert.deepEqual(parseScope('repository:a:b/c:pull')?.name, 'a:b/c');
    for (const bad of ['', 'repository', 'repository:x', 'Repo:x:pull', 'repository::pull']) {
      assert.equal(parseScope(bad), undefined, bad);
    }
  });

  test('grants the requested actions the table allows, never more', () => {
    const scope = (s: string) => parseScope(s) ?? assert.fail(s);
    const tables: AccessTable[] = [{ 'team/*': ['pull'] }, { 'team/app': ['push'] }];
    assert.deepEqual(grantedAccess(tables, scope('repository:team/app:pull,push,delete'))?.actions, ['pull', 'push']);
    assert.deepEqual(grantedAccess(tables, scope('repository:team/x/y:pull,push'))?.actions, ['pull']);
    assert.equal(grantedAccess(tables, scope('repository:other:pull')), undefined);
    // A bare pattern is a repository pattern: it must not grant the catalog.
    assert.equal(grantedAccess([{ '*': ['*'] }], scope('registry:catalog:*')), undefined);
    assert.deepEqual(grantedAccess([{ 'registry:catalog': ['*'] }], scope('registry:catalog:*'))?.actions, ['*']);
    assert.deepEqual(grantedAccess([{ '*': ['*'] }], scope('repository:a:pull,delete'))?.actions, ['pull', 'delete']);
  });
});

for (const algorithm of ['ES256', 'RS256'] as const satisfies readonly TokenAlgorithm[]) {
  describe(`token server (${algorithm})`, () => {
    let server: TokenServer;
    before(async () => {
      server = await startTokenServer({ users: USERS, algorithm });
    });
    after(() => server.stop());

    test('anonymous GET: a token granting only what `*` allows, signed through the x5c chain', async () => {
      server.clearRequests();
      const res = await fetchToken(server, {
        scopes: ['repository:public/app:pull,push', 'repository:private/app:pull'],
      });
      assert.equal(res.status, 200);
      assert.ok(res.token);
      assert.equal(res.body.access_token, res.token);
      assert.equal(res.body.expires_in, 300);
      assert.ok(!Number.isNaN(Date.parse(String(res.body.issued_at))));
      assert.equal(res.body.refresh_token, undefined);
      const { header, claims } = decodeToken(res.token);
      assert.equal(header.alg, algorithm);
      assert.equal(header.typ, 'JWT');
      assert.equal(header.x5c.length, 1);
      assert.equal(claims.iss, server.issuer);
      assert.equal(claims.aud, server.service);
      assert.equal(claims.sub, '');
      assert.equal(claims.exp - claims.iat, 300);
      assert.ok(claims.nbf <= claims.iat && claims.jti.length >= 16);
      assert.deepEqual(claims.access, [{ type: 'repository', name: 'public/app', actions: ['pull'] }]);
      assert.equal(await verifyToken(server, res.token), true);
      // A flipped claim byte must break the signature, or the check above proves nothing.
      const [h, c, s] = res.token.split('.');
      const forged = `${h}.${Buffer.from(JSON.stringify({ ...claims, sub: 'admin' })).toString('base64url')}.${s}`;
      assert.ok(c);
      assert.equal(await verifyToken(server, forged), false);
      const [rec] = server.requests;
      assert.equal(rec?.method, 'GET');
      assert.equal(rec?.credentials, 'none');
      assert.deepEqual(rec?.scopes, ['repository:public/app:pull,push', 'repository:private/app:pull']);
      assert.equal(rec?.host, server.host);
    });

    test('GET with Basic credentials: the user rows plus `*`; offline_token adds a refresh token', async () => {
      server.clearRequests();
      const res = await fetchToken(server, {
        scopes: ['repository:private/app:pull,push,delete', 'repository:public/app:pull,push'],
        username: 'alice',
        password: 'alice-pw',
        account: 'alice',
      });
      assert.equal(res.status, 200);
      const { claims } = decodeToken(res.token ?? '');
      assert.equal(claims.sub, 'alice');
      assert.deepEqual(claims.access, [
        { type: 'repository', name: 'private/app', actions: ['pull', 'push'] },
        { type: 'repository', name: 'public/app', actions: ['pull', 'push'] },
      ]);
      const rec = server.requests.at(-1);
      assert.equal(rec?.credentials, 'basic');
      assert.equal(rec?.username, 'alice');
      assert.equal(rec?.account, 'alice');

      const url = new URL(server.realm);
      url.searchParams.set('service', server.service);
      url.searchParams.set('offline_token', 'true');
      const offline = await new Promise<Record<string, unknown>>((resolve, reject) => {
        const auth = Buffer.from('alice:alice-pw').toString('base64');
        request(url, { headers: { authorization: `Basic ${auth}` }, agent: false }, (r) => {
          const chunks: Buffer[] = [];
          r.on('data', (c: Buffer) => chunks.push(c));
          r.on('end', () => resolve(JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>));
        })
          .on('error', reject)
          .end();
      });
      assert.equal(typeof offline.refresh_token, 'string');
    });

    test('a wrong password or unknown user is refused with 401 and no token', async () => {
      for (const [username, password] of [
        ['alice', 'wrong'],
        ['mallory', 'x'],
        ['*', ''],
      ] as const) {
        const res = await fetchToken(server, { scopes: ['repository:public/app:pull'], username, password });
        assert.equal(res.status, 401, username);
        assert.equal(res.token, undefined);
        assert.equal(server.requests.at(-1)?.credentials, 'basic');
        assert.equal(server.requests.at(-1)?.status, 401);
      }
    });

    test('catalog scope only for users the table grants registry:catalog', async () => {
      const admin = await fetchToken(server, {
        scopes: ['registry:catalog:*'],
        username: 'admin',
        password: 'admin-pw',
      });
      assert.deepEqual(decodeToken(admin.token ?? '').claims.access, [
        { type: 'registry', name: 'catalog', actions: ['*'] },
      ]);
      const alice = await fetchToken(server, {
        scopes: ['registry:catalog:*'],
        username: 'alice',
        password: 'alice-pw',
      });
      assert.equal(alice.status, 200);
      assert.deepEqual(decodeToken(alice.token ?? '').claims.access, []);
    });

    test('bad requests: wrong service, malformed scope, unknown path', async () => {
      const other = { ...server, service: 'someone-else' };
      assert.equal((await fetchToken(other, { scopes: ['repository:public/app:pull'] })).status, 400);
      const bad = await fetchToken(server, { scopes: ['nonsense'] });
      assert.equal(bad.status, 400);
      assert.equal(bad.body.error, 'invalid_scope');
      assert.equal((await fetchToken({ ...server, realm: `${server.url}/elsewhere` })).status, 404);
    });

    test('oauth2 POST: password grant (refresh token when offline), refresh grant, and refusals', async () => {
      server.clearRequests();
      const pw = await postForm(server, {
        grant_type: 'password',
        service: server.service,
        client_id: 'gantry-test',
        access_type: 'offline',
        username: 'alice',
        password: 'alice-pw',
        scope: 'repository:private/app:pull repository:public/app:pull',
      });
      assert.equal(pw.status, 200);
      assert.equal(typeof pw.body.refresh_token, 'string');
      assert.equal(pw.body.scope, 'repository:private/app:pull repository:public/app:pull');
      assert.equal(decodeToken(String(pw.body.access_token)).claims.access.length, 2);
      assert.equal(server.requests.at(-1)?.refreshTokenIssued, true);

      const online = await postForm(server, {
        grant_type: 'password',
        service: server.service,
        client_id: 'gantry-test',
        username: 'alice',
        password: 'alice-pw',
      });
      assert.equal(online.status, 200);
      assert.equal(online.body.refresh_token, undefined);

      const refreshed = await postForm(server, {
        grant_type: 'refresh_token',
        service: server.service,
        client_id: 'gantry-test',
        refresh_token: String(pw.body.refresh_token),
        scope: 'repository:private/other:push',
      });
      assert.equal(refreshed.status, 200);
      const { claims } = decodeToken(String(refreshed.body.access_token));
      assert.equal(claims.sub, 'alice');
      assert.deepEqual(claims.access, [{ type: 'repository', name: 'private/other', actions: ['push'] }]);
      const rec = server.requests.at(-1);
      assert.equal(rec?.credentials, 'refresh_token');
      assert.equal(rec?.grantType, 'refresh_token');
      assert.equal(rec?.clientId, 'gantry-test');
      assert.equal(rec?.username, 'alice');

      const base = { service: server.service, client_id: 'gantry-test' };
      const refusals: [Record<string, string>, number, string][] = [
        [{ ...base, grant_type: 'password', username: 'alice', password: 'nope' }, 401, 'invalid_grant'],
        [{ ...base, grant_type: 'refresh_token', refresh_token: 'made-up' }, 401, 'invalid_grant'],
        [{ ...base, grant_type: 'client_credentials' }, 400, 'unsupported_grant_type'],
        [
          { service: server.service, grant_type: 'password', username: 'alice', password: 'alice-pw' },
          400,
          'invalid_request',
        ],
      ];
      for (const [form, status, error] of refusals) {
        const res = await postForm(server, form);
        assert.equal(res.status, status, JSON.stringify(form));
        assert.equal(res.body.error, error);
        assert.equal(res.body.access_token, undefined);
      }
      const json = await postForm(server, { ...base, grant_type: 'password' }, 'application/json');
      assert.equal(json.status, 400);
    });

    test('update() changes users for later requests; mint() signs tokens the same way', async () => {
      server.update({ users: [{ username: 'bob', password: 'bob-pw', access: { '*': ['pull'] } }] });
      try {
        assert.equal((await fetchToken(server, { username: 'alice', password: 'alice-pw' })).status, 401);
        assert.equal((await fetchToken(server, { username: 'bob', password: 'bob-pw' })).status, 200);
      } finally {
        server.update({ users: USERS });
      }
      const minted = server.mint('carol', [{ type: 'repository', name: 'x', actions: ['pull'] }], { expiresIn: -120 });
      const { claims } = decodeToken(minted);
      assert.equal(claims.sub, 'carol');
      assert.equal(claims.exp - claims.iat, -120);
      assert.equal(await verifyToken(server, minted), true);
    });
  });
}

describe('token server placement', () => {
  test("host: '127.0.0.2' serves the realm on another loopback host", async () => {
    const server = await startTokenServer({ users: USERS, host: '127.0.0.2' });
    try {
      assert.match(server.host, /^127\.0\.0\.2:\d+$/);
      assert.equal(server.realm, `http://${server.host}/token`);
      const res = await fetchToken(server, { scopes: ['repository:public/a:pull'] });
      assert.equal(res.status, 200);
      assert.equal(server.requests.at(-1)?.host, server.host);
    } finally {
      await server.stop();
    }
  });

  test('refuses a non-loopback address; stop() removes its signing material', async () => {
    await assert.rejects(startTokenServer({ host: '0.0.0.0' }), { code: 'TOKEN_SERVER_NOT_LOOPBACK' });
    const server = await startTokenServer();
    assert.ok(existsSync(server.rootCertBundle));
    await server.stop();
    await server.stop();
    assert.equal(existsSync(server.rootCertBundle), false);
    await assert.rejects(fetchToken(server), /ECONNREFUSED/);
  });
});
