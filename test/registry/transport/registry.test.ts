// The composed transport against the real distribution registry on loopback: plain HTTP, TLS
// with the harness CA through HostSettings, basic auth, and token auth with the harness issuer
// (docker's token spec): scopes asked, credentials sent or withheld, refresh tokens, messages.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { after, before, describe, test } from 'node:test';
import { GantryError } from '../../../src/errors.js';
import type { Credential } from '../../../src/registry/auth/credential.js';
import { registryError } from '../../../src/registry/errors.js';
import { createHttpTransport } from '../../../src/registry/transport/http.js';
import {
  createRegistryTransport,
  registryBaseUrl,
  type TransportOptions,
} from '../../../src/registry/transport/stack.js';
import type { HostSettings, RoundTripper } from '../../../src/registry/transport/types.js';
import { startRegistry, type TestRegistry } from '../../harness/registry.js';
import type { TokenUser } from '../../harness/token-server.js';
import { anonymous, tableKeychain } from './helpers.js';

const retry = { attempts: 2, baseDelayMs: 1, maxDelayMs: 5 };

async function caSettings(reg: TestRegistry): Promise<() => HostSettings> {
  const ca = reg.caFile ? [await readFile(reg.caFile)] : undefined;
  return () => (ca ? { ca } : {});
}

async function json(rt: RoundTripper, url: URL, scopes?: string[]): Promise<unknown> {
  const res = await rt({ method: 'GET', url, ...(scopes ? { scopes } : {}) });
  assert.equal(res.status, 200, `GET ${url.pathname}: ${res.status}`);
  return JSON.parse(await res.text());
}

/** Uploads a small blob with POST + PUT, as the client does for small blobs. */
async function pushBlob(rt: RoundTripper, base: URL, repo: string, data: Buffer): Promise<string> {
  const digest = `sha256:${createHash('sha256').update(data).digest('hex')}`;
  const scopes = [`repository:${repo}:pull,push`];
  const start = await rt({ method: 'POST', url: new URL(`/v2/${repo}/blobs/uploads/`, base), scopes });
  if (start.status !== 202) throw await registryError(start, { registry: base.host, repository: repo });
  await start.discard();
  const location = new URL(start.headers.location ?? assert.fail('no Location'), base);
  location.searchParams.set('digest', digest);
  const put = await rt({ method: 'PUT', url: location, body: data, scopes });
  if (put.status !== 201) throw await registryError(put, { registry: base.host, repository: repo });
  await put.discard();
  return digest;
}

describe('transport stack against the real registry: http, tls, tls-basic', () => {
  for (const mode of ['http', 'tls', 'tls-basic'] as const) {
    describe(mode, () => {
      let reg: TestRegistry;
      let options: TransportOptions;
      before(async () => {
        reg = await startRegistry({ mode });
        const credential: Credential | undefined =
          reg.username !== undefined
            ? { username: reg.username, password: reg.password ?? '', source: 'test' }
            : undefined;
        options = {
          keychain: credential ? tableKeychain({ [reg.host]: credential }) : anonymous,
          hostSettings: await caSettings(reg),
          retry,
        };
      });
      after(() => reg.stop());

      test('registryBaseUrl finds the scheme (loopback plain HTTP falls back from https)', async () => {
        assert.equal((await registryBaseUrl(reg.host, options)).href, `${reg.url}/`);
        // Decided once: the second call answers from the cache with an equal, separate URL.
        const again = await registryBaseUrl(reg.host, options);
        assert.equal(again.href, `${reg.url}/`);
      });

      test('ping /v2/ and an authorized GET /v2/_catalog', async () => {
        const rt = createRegistryTransport(reg.host, options);
        const base = await registryBaseUrl(reg.host, options);
        const ping = await rt({ method: 'GET', url: new URL('/v2/', base) });
        assert.equal(ping.status, 200);
        await ping.discard();
        const digest = await pushBlob(rt, base, 'gantry/transport', Buffer.from(`blob for ${mode}`));
        assert.deepEqual(await json(rt, new URL('/v2/_catalog', base), ['registry:catalog:*']), {
          repositories: ['gantry/transport'],
        });
        const head = await rt({
          method: 'HEAD',
          url: new URL(`/v2/gantry/transport/blobs/${digest}`, base),
          scopes: ['repository:gantry/transport:pull'],
        });
        assert.equal(head.status, 200);
        assert.equal(head.headers['docker-content-digest'], digest);
      });

      if (mode !== 'http') {
        test('without the CA the TLS error says how to trust the registry', async () => {
          const rt = createRegistryTransport(reg.host, { keychain: anonymous, retry, http: createHttpTransport() });
          await assert.rejects(rt({ method: 'GET', url: new URL('/v2/', reg.url) }), (err: unknown) => {
            assert.ok(GantryError.is(err));
            assert.equal(err.code, 'TLS_ERROR');
            assert.match(err.oneLine(), /certs\.d/);
            return true;
          });
        });
      }

      if (mode === 'tls-basic') {
        test('a wrong password and a missing login are UNAUTHORIZED with what to do', async () => {
          const wrong = createRegistryTransport(reg.host, {
            ...options,
            keychain: tableKeychain({ [reg.host]: { username: 'gantry', password: 'nope', source: 'flags' } }),
          });
          await assert.rejects(wrong({ method: 'GET', url: new URL('/v2/_catalog', reg.url) }), (err: unknown) => {
            assert.ok(GantryError.is(err));
            assert.equal(err.code, 'UNAUTHORIZED');
            assert.equal(
              err.oneLine(),
              `credentials for ${reg.host} were rejected (from flags): run gantry login ${reg.host}`,
            );
            return true;
          });
          const none = createRegistryTransport(reg.host, { ...options, keychain: anonymous });
          await assert.rejects(none({ method: 'GET', url: new URL('/v2/', reg.url) }), (err: unknown) => {
            assert.ok(GantryError.is(err));
            assert.equal(err.oneLine(), `login required for ${reg.host}: run gantry login ${reg.host}`);
            return true;
          });
        });
      }
    });
  }
});

const USERS: readonly TokenUser[] = [
  { username: '*', access: { 'public/*': ['pull'] } },
  { username: 'alice', password: 'alice-pw', access: { 'private/*': ['pull', 'push'], 'public/*': ['pull', 'push'] } },
  { username: 'admin', password: 'admin-pw', access: { '*': ['*'], 'registry:catalog': ['*'] } },
];

const alice: Credential = { username: 'alice', password: 'alice-pw', source: 'test' };

describe('transport stack against the real registry: token auth', () => {
  let reg: TestRegistry;
  let settings: () => HostSettings;
  before(async () => {
    reg = await startRegistry({ mode: 'token', users: USERS });
    settings = await caSettings(reg);
  });
  after(() => reg.stop());

  function transport(credential: Credential | undefined): RoundTripper {
    return createRegistryTransport(reg.host, {
      keychain: credential ? tableKeychain({ [reg.host]: credential }) : anonymous,
      hostSettings: settings,
      retry,
    });
  }

  test('anonymous: a token for pull only, with no credentials', async () => {
    const ts = reg.tokenServer ?? assert.fail('token server');
    ts.clearRequests();
    const rt = transport(undefined);
    const res = await rt({
      method: 'GET',
      url: new URL('/v2/public/nothing/tags/list', reg.url),
      scopes: ['repository:public/nothing:pull'],
    });
    // The token was good: the registry says what it knows about the repository, not 401.
    const err = await registryError(res, { registry: reg.host, repository: 'public/nothing' });
    assert.equal(err.code, 'NAME_UNKNOWN');
    assert.equal(ts.requests.length, 1);
    assert.deepEqual(ts.requests[0]?.scopes, ['repository:public/nothing:pull']);
    assert.equal(ts.requests[0]?.credentials, 'none');
  });

  test('with credentials: pull,push in one token, a real blob upload, then reads reuse the token', async () => {
    const ts = reg.tokenServer ?? assert.fail('token server');
    ts.clearRequests();
    const rt = transport(alice);
    const base = new URL(reg.url);
    const digest = await pushBlob(rt, base, 'private/app', Buffer.from('token mode blob'));
    const head = await rt({
      method: 'HEAD',
      url: new URL(`/v2/private/app/blobs/${digest}`, base),
      scopes: ['repository:private/app:pull'],
    });
    assert.equal(head.status, 200);
    assert.equal(ts.requests.length, 1, JSON.stringify(ts.requests));
    assert.deepEqual(ts.requests[0]?.scopes, ['repository:private/app:pull,push']);
    assert.equal(ts.requests[0]?.credentials, 'basic');
    assert.equal(ts.requests[0]?.username, 'alice');
  });

  test('catalog with the registry:catalog:* scope', async () => {
    const rt = transport({ username: 'admin', password: 'admin-pw', source: 'test' });
    const body = (await json(rt, new URL('/v2/_catalog', reg.url), ['registry:catalog:*'])) as {
      repositories: string[];
    };
    assert.ok(Array.isArray(body.repositories));
  });

  test('a refresh token (identity token) goes through the OAuth2 POST', async () => {
    const ts = reg.tokenServer ?? assert.fail('token server');
    // Get a refresh token the way `docker login` does: GET with offline_token=true.
    const http = createHttpTransport({ hostSettings: settings });
    let refresh: string;
    try {
      const url = new URL(ts.realm);
      url.searchParams.set('service', ts.service);
      url.searchParams.set('offline_token', 'true');
      url.searchParams.set('client_id', 'gantry');
      const res = await http({
        method: 'GET',
        url,
        headers: { authorization: `Basic ${Buffer.from('alice:alice-pw').toString('base64')}` },
      });
      refresh = (JSON.parse(await res.text()) as { refresh_token: string }).refresh_token;
      assert.ok(refresh);
    } finally {
      http.close();
    }
    ts.clearRequests();
    const rt = transport({ identityToken: refresh, source: 'credsStore test' });
    const digest = await pushBlob(rt, new URL(reg.url), 'private/refreshed', Buffer.from('via refresh token'));
    assert.match(digest, /^sha256:/);
    assert.equal(ts.requests.length, 1);
    assert.equal(ts.requests[0]?.method, 'POST');
    assert.equal(ts.requests[0]?.grantType, 'refresh_token');
    assert.equal(ts.requests[0]?.clientId, 'gantry');
    assert.deepEqual(ts.requests[0]?.scopes, ['repository:private/refreshed:pull,push']);
  });

  test('a wrong password is UNAUTHORIZED: credentials rejected', async () => {
    const rt = transport({ username: 'alice', password: 'wrong', source: 'env GANTRY_USERNAME' });
    await assert.rejects(
      rt({
        method: 'GET',
        url: new URL('/v2/private/app/tags/list', reg.url),
        scopes: ['repository:private/app:pull'],
      }),
      (err: unknown) => {
        assert.ok(GantryError.is(err));
        assert.equal(err.code, 'UNAUTHORIZED');
        assert.equal(
          err.oneLine(),
          `credentials for ${reg.host} were rejected (from env GANTRY_USERNAME): run gantry login ${reg.host}`,
        );
        return true;
      },
    );
  });

  test('anonymous on a private repository: login required', async () => {
    const rt = transport(undefined);
    await assert.rejects(
      rt({
        method: 'GET',
        url: new URL('/v2/private/app/tags/list', reg.url),
        scopes: ['repository:private/app:pull'],
      }),
      (err: unknown) => {
        assert.ok(GantryError.is(err));
        assert.equal(err.code, 'UNAUTHORIZED');
        assert.equal(err.oneLine(), `login required for ${reg.host}: run gantry login ${reg.host}`);
        return true;
      },
    );
  });

  test('accepted credentials that may not push: DENIED', async () => {
    const rt = transport({ username: 'alice', password: 'alice-pw', source: 'test' });
    await assert.rejects(pushBlob(rt, new URL(reg.url), 'other/app', Buffer.from('x')), (err: unknown) => {
      assert.ok(GantryError.is(err));
      assert.equal(err.code, 'DENIED');
      assert.match(err.oneLine(), /^access to other\/app on .* denied: check that your account .* may push there$/);
      return true;
    });
  });
});

describe('transport stack against the real registry: a token realm on another host', () => {
  let reg: TestRegistry;
  before(async () => {
    reg = await startRegistry({ mode: 'token', users: USERS, token: { host: '127.0.0.2' } });
  });
  after(() => reg.stop());

  test('127.0.0.2 never receives the credentials; the failure says they were withheld', async () => {
    const ts = reg.tokenServer ?? assert.fail('token server');
    assert.match(ts.realm, /^https:\/\/127\.0\.0\.2:/);
    const rt = createRegistryTransport(reg.host, {
      keychain: tableKeychain({ [reg.host]: alice }),
      hostSettings: await caSettings(reg),
      retry,
    });
    const res = await rt({
      method: 'GET',
      url: new URL('/v2/public/lib/tags/list', reg.url),
      scopes: ['repository:public/lib:pull'],
    });
    assert.equal((await registryError(res, { registry: reg.host })).code, 'NAME_UNKNOWN');
    await assert.rejects(
      rt({
        method: 'GET',
        url: new URL('/v2/private/app/tags/list', reg.url),
        scopes: ['repository:private/app:pull'],
      }),
      (err: unknown) => {
        assert.ok(GantryError.is(err));
        assert.equal(err.code, 'UNAUTHORIZED');
        assert.match(
          err.message,
          /credentials withheld from token service 127\.0\.0\.2:\d+: it is not the registry's address 127\.0\.0\.1/,
        );
        return true;
      },
    );
    assert.ok(ts.requests.length >= 2);
    for (const r of ts.requests) assert.equal(r.credentials, 'none', JSON.stringify(r));
  });
});
