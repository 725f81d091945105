// The auth layer against a small registry and token issuer written here (docker's token spec:
// GET realm?service&scope with Basic or anonymous, OAuth2 POST with a refresh token), both real
// HTTP servers on loopback. Pins scopes asked, token caching, the realm policy (no credentials to
// a realm on another host) and the messages of every failure.
import assert from 'node:assert/strict';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { after, afterEach, before, describe, test } from 'node:test';
import { GantryError } from '../../../src/errors.js';
import type { Credential } from '../../../src/registry/auth/credential.js';
import { RegistryError } from '../../../src/registry/errors.js';
import { withAuth } from '../../../src/registry/transport/auth.js';
import { createHttpTransport } from '../../../src/registry/transport/http.js';
import { createRegistryTransport } from '../../../src/registry/transport/stack.js';
import type { RoundTripper } from '../../../src/registry/transport/types.js';
import { anonymous, basicOf, startServer, type TestServer, tableKeychain } from './helpers.js';

interface IssuerRecord {
  readonly method: string;
  readonly scopes: string[];
  readonly service: string | null;
  readonly basic?: { username: string; password: string };
  readonly form?: Record<string, string>;
}

/** Who may do what, by repository; '*' is anonymous. */
const ACCESS: Record<string, Record<string, string[]>> = {
  alice: { 'team/app': ['pull', 'push'], 'public/lib': ['pull'] },
  '*': { 'public/lib': ['pull'] },
};
const PASSWORDS: Record<string, string> = { alice: 'wonderland' };
const REFRESH: Record<string, string> = { 'refresh-alice': 'alice' };

class Fixture {
  registry!: TestServer;
  issuer!: TestServer;
  issued = new Map<string, Set<string>>();
  issuerLog: IssuerRecord[] = [];
  pings = 0;
  revoked = new Set<string>();
  service = 'test-registry';
  #n = 0;

  async start(issuerHost = '127.0.0.1', scheme: 'bearer' | 'basic' = 'bearer'): Promise<void> {
    this.issuer = await startServer((req, res, body) => this.#issue(req, res, body), { host: issuerHost });
    this.registry = await startServer((req, res) =>
      scheme === 'bearer' ? this.#serveBearer(req, res) : this.#serveBasic(req, res),
    );
  }

  async stop(): Promise<void> {
    await Promise.all([this.registry.close(), this.issuer.close()]);
  }

  get realm(): string {
    return `${this.issuer.url}/token`;
  }

  #grant(user: string, scopes: string[]): Set<string> {
    const granted = new Set<string>();
    for (const s of scopes) {
      const [type, name, actions] = s.split(':');
      if (type !== 'repository' || !name || !actions) continue;
      const allowed = ACCESS[user]?.[name] ?? [];
      for (const a of actions.split(',')) if (allowed.includes(a)) granted.add(`${name}:${a}`);
    }
    return granted;
  }

  #issue(req: IncomingMessage, res: ServerResponse, body: Buffer): void {
    const url = new URL(req.url ?? '/', 'http://x');
    let user = '*';
    if (req.method === 'POST') {
      const form = Object.fromEntries(new URLSearchParams(body.toString()));
      const scopes = (form.scope ?? '').split(' ').filter((s) => s !== '');
      this.issuerLog.push({ method: 'POST', scopes, service: form.service ?? null, form });
      const owner = form.grant_type === 'refresh_token' ? REFRESH[form.refresh_token ?? ''] : undefined;
      if (!owner) {
        res.writeHead(401).end('{"error":"invalid_grant"}');
        return;
      }
      const token = `tok-${++this.#n}`;
      this.issued.set(token, this.#grant(owner, scopes));
      res.end(JSON.stringify({ access_token: token, expires_in: 300 }));
      return;
    }
    const scopes = url.searchParams.getAll('scope');
    const basic = basicOf(req.headers.authorization);
    this.issuerLog.push({
      method: 'GET',
      scopes,
      service: url.searchParams.get('service'),
      ...(basic ? { basic } : {}),
    });
    if (basic) {
      if (PASSWORDS[basic.username] !== basic.password) {
        res.writeHead(401, { 'content-type': 'application/json' }).end('{"details":"incorrect username or password"}');
        return;
      }
      user = basic.username;
    }
    const token = `tok-${++this.#n}`;
    this.issued.set(token, this.#grant(user, scopes));
    res.end(JSON.stringify({ token, expires_in: 300 }));
  }

  #challenge(res: ServerResponse, scope?: string, error?: string): void {
    const params = [`realm="${this.realm}"`, `service="${this.service}"`];
    if (scope) params.push(`scope="${scope}"`);
    if (error) params.push(`error="${error}"`);
    res.writeHead(401, { 'www-authenticate': `Bearer ${params.join(',')}`, 'content-type': 'application/json' });
    res.end('{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}');
  }

  #serveBearer(req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://x');
    const auth = req.headers.authorization;
    const token = auth?.startsWith('Bearer ') ? auth.slice(7) : undefined;
    const granted = token && !this.revoked.has(token) ? this.issued.get(token) : undefined;
    if (url.pathname === '/v2/') {
      if (!auth) this.pings++;
      if (!granted) this.#challenge(res);
      else res.end('{}');
      return;
    }
    const m = /^\/v2\/(.+)\/(manifests|blobs|tags)\//.exec(url.pathname);
    const name = m?.[1] ?? '';
    const action = req.method === 'GET' || req.method === 'HEAD' ? 'pull' : 'push';
    if (!granted?.has(`${name}:${action}`)) {
      const scope = `repository:${name}:${action === 'push' ? 'pull,push' : 'pull'}`;
      this.#challenge(res, scope, granted ? 'insufficient_scope' : undefined);
      return;
    }
    res.end(`ok ${req.method} ${name}`);
  }

  #serveBasic(req: IncomingMessage, res: ServerResponse): void {
    const basic = basicOf(req.headers.authorization);
    if (!basic || PASSWORDS[basic.username] !== basic.password) {
      if (!req.headers.authorization) this.pings++;
      res.writeHead(401, { 'www-authenticate': 'Basic realm="test"' }).end();
      return;
    }
    res.end(`ok ${basic.username}`);
  }
}

const alice: Credential = { username: 'alice', password: 'wonderland', source: 'test table' };

describe('withAuth: bearer tokens', () => {
  const http = createHttpTransport();
  const fx = new Fixture();
  before(() => fx.start());
  after(async () => {
    http.close();
    await fx.stop();
  });
  afterEach(() => {
    fx.issuerLog = [];
    fx.pings = 0;
  });

  function transport(credential?: Credential): RoundTripper {
    const registry = fx.registry.host;
    return withAuth(http, {
      registry,
      keychain: credential ? tableKeychain({ [registry]: credential }) : anonymous,
    });
  }

  test('anonymous pull: one ping, one token for the pull scope, then the cached token', async () => {
    const rt = transport();
    const url = new URL('/v2/public/lib/manifests/v1', fx.registry.url);
    for (let i = 0; i < 3; i++) {
      const res = await rt({ method: 'GET', url, scopes: ['repository:public/lib:pull'] });
      assert.equal(await res.text(), 'ok GET public/lib');
    }
    assert.equal(fx.pings, 1);
    assert.deepEqual(fx.issuerLog, [{ method: 'GET', scopes: ['repository:public/lib:pull'], service: fx.service }]);
  });

  test('a push asks for pull,push with the basic credentials; a later pull reuses that token', async () => {
    const rt = transport(alice);
    const put = await rt({
      method: 'PUT',
      url: new URL('/v2/team/app/manifests/v1', fx.registry.url),
      body: Buffer.from('{}'),
      scopes: ['repository:team/app:push', 'repository:team/app:pull'],
    });
    assert.equal(await put.text(), 'ok PUT team/app');
    const get = await rt({
      method: 'GET',
      url: new URL('/v2/team/app/manifests/v1', fx.registry.url),
      scopes: ['repository:team/app:pull'],
    });
    assert.equal(await get.text(), 'ok GET team/app');
    assert.equal(fx.issuerLog.length, 1);
    assert.deepEqual(fx.issuerLog[0]?.scopes, ['repository:team/app:pull,push']);
    assert.deepEqual(fx.issuerLog[0]?.basic, { username: 'alice', password: 'wonderland' });
  });

  test('a request without scopes learns them from the challenge and retries once', async () => {
    const rt = transport(alice);
    const res = await rt({ method: 'GET', url: new URL('/v2/team/app/tags/list', fx.registry.url) });
    assert.equal(await res.text(), 'ok GET team/app');
    assert.deepEqual(
      fx.issuerLog.map((r) => r.scopes),
      [[], ['repository:team/app:pull']],
    );
  });

  test('a cached token the registry no longer accepts is dropped and fetched again, once', async () => {
    const rt = transport(alice);
    const url = new URL('/v2/team/app/manifests/v1', fx.registry.url);
    const scopes = ['repository:team/app:pull'];
    await (await rt({ method: 'GET', url, scopes })).discard();
    for (const t of fx.issued.keys()) fx.revoked.add(t);
    const res = await rt({ method: 'GET', url, scopes });
    assert.equal(res.status, 200);
    await res.discard();
    assert.equal(fx.issuerLog.length, 2);
  });

  test('concurrent requests share one token fetch', async () => {
    const rt = transport(alice);
    const url = new URL('/v2/team/app/blobs/sha256:0', fx.registry.url);
    const all = await Promise.all(
      Array.from({ length: 6 }, () => rt({ method: 'GET', url, scopes: ['repository:team/app:pull'] })),
    );
    for (const r of all) await r.discard();
    assert.equal(fx.issuerLog.length, 1);
  });

  test('a wrong password is UNAUTHORIZED: credentials rejected, naming where they came from', async () => {
    const rt = transport({ username: 'alice', password: 'wrong', source: '~/.docker/config.json' });
    await assert.rejects(
      rt({
        method: 'GET',
        url: new URL('/v2/team/app/manifests/v1', fx.registry.url),
        scopes: ['repository:team/app:pull'],
      }),
      (err: unknown) => {
        assert.ok(GantryError.is(err));
        assert.equal(err.code, 'UNAUTHORIZED');
        assert.ok(err instanceof RegistryError);
        assert.equal(err.status, 401);
        assert.equal(err.temporary, false);
        assert.equal(
          err.oneLine(),
          `credentials for ${fx.registry.host} were rejected (from ~/.docker/config.json): run gantry login ${fx.registry.host}`,
        );
        return true;
      },
    );
  });

  test('anonymous access to a private repository: login required', async () => {
    const rt = transport();
    await assert.rejects(
      rt({
        method: 'GET',
        url: new URL('/v2/team/app/manifests/v1', fx.registry.url),
        scopes: ['repository:team/app:pull'],
      }),
      (err: unknown) => {
        assert.ok(GantryError.is(err));
        assert.equal(err.code, 'UNAUTHORIZED');
        assert.equal(err.oneLine(), `login required for ${fx.registry.host}: run gantry login ${fx.registry.host}`);
        return true;
      },
    );
  });

  test('accepted credentials without push access: DENIED, saying the account may not push', async () => {
    const rt = transport(alice);
    await assert.rejects(
      rt({
        method: 'PUT',
        url: new URL('/v2/public/lib/manifests/v1', fx.registry.url),
        body: Buffer.from('{}'),
        scopes: ['repository:public/lib:pull,push'],
      }),
      (err: unknown) => {
        assert.ok(GantryError.is(err));
        assert.equal(err.code, 'DENIED');
        assert.match(err.oneLine(), /^access to public\/lib on .* denied: check that your account .* may push there$/);
        return true;
      },
    );
  });

  // Regression: the denial named the first repository scope after sorting, so a refused
  // cross-repository mount into public/lib from aaa/src said "access to aaa/src denied" (the
  // source, which the user may read) instead of the destination the account may not push to.
  test('a refused cross-repository mount names the destination repository of the URL, not the source', async () => {
    const rt = transport(alice);
    const url = new URL('/v2/public/lib/blobs/uploads/', fx.registry.url);
    url.searchParams.set('mount', `sha256:${'0'.repeat(64)}`);
    url.searchParams.set('from', 'aaa/src');
    await assert.rejects(
      rt({
        method: 'POST',
        url,
        body: Buffer.alloc(0),
        scopes: ['repository:public/lib:pull,push', 'repository:aaa/src:pull'],
      }),
      (err: unknown) => {
        assert.ok(GantryError.is(err));
        assert.equal(err.code, 'DENIED');
        assert.match(err.oneLine(), /^access to public\/lib on .* denied: check that your account .* may push there$/);
        return true;
      },
    );
  });

  // Same bug, second rule: a URL that names no repository falls back to the scope asking for push.
  test('a denial for a URL without a repository names the repository the request wanted to push to', async () => {
    const rt = transport(alice);
    await assert.rejects(
      rt({
        method: 'GET',
        url: new URL('/v2/_catalog', fx.registry.url),
        scopes: ['repository:aaa/src:pull', 'repository:public/lib:pull,push'],
      }),
      (err: unknown) => {
        assert.ok(GantryError.is(err));
        assert.equal(err.code, 'DENIED');
        assert.match(err.oneLine(), /^access to public\/lib on .* denied: check that your account .* may push there$/);
        return true;
      },
    );
  });

  test('an identity token uses the OAuth2 POST with grant_type=refresh_token', async () => {
    const rt = transport({ identityToken: 'refresh-alice', source: 'credsStore test' });
    const res = await rt({
      method: 'PUT',
      url: new URL('/v2/team/app/manifests/v1', fx.registry.url),
      body: Buffer.from('{}'),
      scopes: ['repository:team/app:pull,push', 'repository:public/lib:pull'],
    });
    assert.equal(await res.text(), 'ok PUT team/app');
    assert.equal(fx.issuerLog.length, 1);
    assert.deepEqual(fx.issuerLog[0]?.form, {
      grant_type: 'refresh_token',
      refresh_token: 'refresh-alice',
      service: fx.service,
      client_id: 'gantry',
      scope: 'repository:public/lib:pull repository:team/app:pull,push',
    });
  });

  test('a registry token is sent as is, without asking the issuer', async () => {
    const token = 'tok-direct';
    fx.issued.set(token, new Set(['team/app:pull']));
    const rt = transport({ registryToken: token, source: 'test' });
    const res = await rt({
      method: 'GET',
      url: new URL('/v2/team/app/manifests/v1', fx.registry.url),
      scopes: ['repository:team/app:pull'],
    });
    assert.equal(await res.text(), 'ok GET team/app');
    assert.equal(fx.issuerLog.length, 0);
  });

  test('requests to another host (e.g. an upload location elsewhere) pass through without credentials', async () => {
    const elsewhere = await startServer((req, res) => res.end(req.headers.authorization ?? 'none'));
    try {
      const rt = transport(alice);
      const res = await rt({
        method: 'GET',
        url: new URL('/anything', elsewhere.url),
        scopes: ['repository:team/app:pull'],
      });
      assert.equal(await res.text(), 'none');
      assert.equal(fx.issuerLog.length, 0);
    } finally {
      await elsewhere.close();
    }
  });
});

describe('withAuth: a token realm on another host gets no credentials', () => {
  const http = createHttpTransport();
  const fx = new Fixture();
  before(() => fx.start('127.0.0.2'));
  after(async () => {
    http.close();
    await fx.stop();
  });

  test('the token is asked anonymously, and the failure says the credentials were withheld', async () => {
    const registry = fx.registry.host;
    const rt = withAuth(http, { registry, keychain: tableKeychain({ [registry]: alice }) });
    // Anonymous access still works through the foreign realm...
    const pub = await rt({
      method: 'GET',
      url: new URL('/v2/public/lib/manifests/v1', fx.registry.url),
      scopes: ['repository:public/lib:pull'],
    });
    assert.equal(await pub.text(), 'ok GET public/lib');
    // ...but alice's password never reaches it.
    await assert.rejects(
      rt({
        method: 'GET',
        url: new URL('/v2/team/app/manifests/v1', fx.registry.url),
        scopes: ['repository:team/app:pull'],
      }),
      (err: unknown) => {
        assert.ok(GantryError.is(err));
        assert.equal(err.code, 'UNAUTHORIZED');
        assert.match(
          err.message,
          /^login required for 127\.0\.0\.1:\d+ \(credentials withheld from token service 127\.0\.0\.2:\d+: /,
        );
        return true;
      },
    );
    assert.ok(fx.issuerLog.length >= 2);
    for (const r of fx.issuerLog) assert.equal(r.basic, undefined);
  });
});

describe('withAuth: basic', () => {
  const http = createHttpTransport();
  const fx = new Fixture();
  before(() => fx.start('127.0.0.1', 'basic'));
  after(async () => {
    http.close();
    await fx.stop();
  });

  test('sends Basic credentials after one ping; rejects a wrong password with the credential source', async () => {
    const registry = fx.registry.host;
    const ok = withAuth(http, { registry, keychain: tableKeychain({ [registry]: alice }) });
    for (let i = 0; i < 2; i++) {
      const res = await ok({ method: 'GET', url: new URL('/v2/_catalog', fx.registry.url) });
      assert.equal(await res.text(), 'ok alice');
    }
    assert.equal(fx.pings, 1);
    const bad = withAuth(http, {
      registry,
      keychain: tableKeychain({ [registry]: { username: 'alice', password: 'nope', source: 'flags' } }),
    });
    await assert.rejects(bad({ method: 'GET', url: new URL('/v2/_catalog', fx.registry.url) }), (err: unknown) => {
      assert.ok(GantryError.is(err));
      assert.equal(
        err.oneLine(),
        `credentials for ${registry} were rejected (from flags): run gantry login ${registry}`,
      );
      return true;
    });
    const none = withAuth(http, { registry, keychain: anonymous });
    await assert.rejects(none({ method: 'GET', url: new URL('/v2/_catalog', fx.registry.url) }), (err: unknown) => {
      assert.ok(GantryError.is(err));
      assert.equal(err.oneLine(), `login required for ${registry}: run gantry login ${registry}`);
      return true;
    });
  });
});

describe('createRegistryTransport', () => {
  const fx = new Fixture();
  before(() => fx.start());
  after(() => fx.stop());

  test('sends the user agent to the registry and the token service, and honors the command signal', async () => {
    const registry = fx.registry.host;
    const ac = new AbortController();
    const rt = createRegistryTransport(registry, {
      keychain: tableKeychain({ [registry]: alice }),
      userAgent: 'gantry-test/1',
      signal: ac.signal,
      retry: { attempts: 2, baseDelayMs: 1, maxDelayMs: 2 },
    });
    const res = await rt({
      method: 'GET',
      url: new URL('/v2/team/app/manifests/v1', fx.registry.url),
      scopes: ['repository:team/app:pull'],
    });
    assert.equal(await res.text(), 'ok GET team/app');
    assert.equal(fx.registry.requests.at(-1)?.headers['user-agent'], 'gantry-test/1');
    assert.equal(fx.issuer.requests.at(-1)?.headers['user-agent'], 'gantry-test/1');
    ac.abort();
    await assert.rejects(
      rt({
        method: 'GET',
        url: new URL('/v2/team/app/manifests/v1', fx.registry.url),
        scopes: ['repository:team/app:pull'],
      }),
      (err: unknown) => GantryError.is(err) && err.code === 'ABORTED',
    );
  });
});
