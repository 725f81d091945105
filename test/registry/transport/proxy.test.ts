// Forward proxies: which variables win, the NO_PROXY table as curl and Go read it, and the HTTP
// layer through a real loopback forward proxy (absolute form for http, CONNECT tunnels for https,
// credentials from the proxy URL, refusals that name the proxy). The targets carry names only the
// proxy resolves, so an answer proves the request went through it.
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { type AddressInfo, createServer as createNetServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { GantryError } from '../../../src/errors.js';
import { TransportError } from '../../../src/registry/errors.js';
import { createHttpTransport } from '../../../src/registry/transport/http.js';
import {
  bypassesProxy,
  describeProxies,
  parseNoProxy,
  proxyFor,
  proxyFromEnv,
} from '../../../src/registry/transport/proxy.js';
import { type ForwardProxy, startForwardProxy } from '../../harness/forward-proxy.js';
import { freePort, generateTls } from '../../harness/registry.js';
import { startServer, type TestServer } from './helpers.js';

describe('proxy variables', () => {
  test('lowercase wins over uppercase, as curl reads them', () => {
    const s = proxyFromEnv({
      http_proxy: 'http://lower:1',
      HTTP_PROXY: 'http://upper:2',
      HTTPS_PROXY: 'http://upper:3',
      no_proxy: 'a.test',
      NO_PROXY: 'b.test',
    });
    assert.equal(s.http?.host, 'lower:1');
    assert.equal(s.https?.host, 'upper:3');
    assert.deepEqual(s.noProxy, [{ kind: 'domain', domain: 'a.test' }]);
  });

  test('all_proxy is the fallback for both schemes; a bare host:port means http://', () => {
    const s = proxyFromEnv({ ALL_PROXY: 'proxy.corp:3128', HTTPS_PROXY: 'http://tls.corp:8080' });
    assert.equal(s.http?.href, 'http://proxy.corp:3128/');
    assert.equal(s.https?.host, 'tls.corp:8080');
  });

  test('no variables: no proxy for anything', () => {
    const s = proxyFromEnv({});
    assert.equal(proxyFor(new URL('https://ghcr.io/v2/'), s), undefined);
  });

  test('an unusable proxy variable fails the request that needs it, naming the variable without its password', () => {
    const s = proxyFromEnv({ HTTPS_PROXY: 'socks5://user:secret@proxy.corp:1080' });
    assert.throws(
      () => proxyFor(new URL('https://ghcr.io/v2/'), s),
      (err: unknown) =>
        GantryError.is(err) &&
        err.code === 'BAD_CONFIG' &&
        /HTTPS_PROXY=socks5:\/\/\*\*\*@proxy\.corp:1080: socks5 proxies are not supported \(use an http:\/\/ or https:\/\/ proxy\)/.test(
          err.message,
        ) &&
        !err.message.includes('secret'),
    );
    // NO_PROXY and loopback still go direct.
    assert.equal(proxyFor(new URL('https://127.0.0.1:5000/v2/'), s), undefined);
  });

  test('an unusable variable for one scheme does not stop the other', () => {
    const s = proxyFromEnv({ HTTP_PROXY: 'socks5://h:1', HTTPS_PROXY: 'http://ok.corp:3128' });
    assert.equal(proxyFor(new URL('https://ghcr.io/v2/'), s)?.host, 'ok.corp:3128');
    assert.throws(() => proxyFor(new URL('http://plain.corp/v2/'), s), /HTTP_PROXY=socks5:\/\/h:1/);
    const onlyHttp = proxyFromEnv({ HTTP_PROXY: 'socks5://h:1' });
    assert.equal(proxyFor(new URL('https://ghcr.io/v2/'), onlyHttp), undefined);
  });

  test('describeProxies: one line per scheme, credentials masked, NO_PROXY as written', () => {
    assert.deepEqual(
      describeProxies(
        proxyFromEnv({
          HTTPS_PROXY: 'http://me:secret@proxy.corp:3128',
          HTTP_PROXY: 'ftp://x',
          NO_PROXY: '.corp.example,10.0.0.0/8,[fd00::1]:5000,*',
        }),
      ),
      [
        'http: HTTP_PROXY=ftp://x cannot be used: ftp proxies are not supported (use an http:// or https:// proxy)',
        'https: http://***@proxy.corp:3128',
        'no proxy: corp.example, 10.0.0.0/8, [fd00::1]:5000, * (and loopback)',
      ],
    );
    assert.deepEqual(describeProxies(proxyFromEnv({})), ['http: direct', 'https: direct']);
  });
});

describe('NO_PROXY matching', () => {
  const table: ReadonlyArray<readonly [noProxy: string, url: string, bypass: boolean]> = [
    ['', 'https://registry.corp/v2/', false],
    ['*', 'https://registry.corp/v2/', true],
    // Domains match themselves and their subdomains, with or without a leading dot (curl).
    ['corp', 'https://registry.corp/v2/', true],
    ['registry.corp', 'https://registry.corp/v2/', true],
    ['.registry.corp', 'https://registry.corp/v2/', true],
    ['.registry.corp', 'https://eu.registry.corp/v2/', true],
    ['*.registry.corp', 'https://eu.registry.corp/v2/', true],
    ['registry.corp', 'https://notregistry.corp/v2/', false],
    ['registry.corp', 'https://registry.corp.evil.test/v2/', false],
    ['REGISTRY.Corp', 'https://registry.corp/v2/', true],
    ['registry.corp.', 'https://registry.corp/v2/', true],
    // Ports limit an entry; the default port is the scheme's.
    ['registry.corp:5000', 'https://registry.corp:5000/v2/', true],
    ['registry.corp:5000', 'https://registry.corp/v2/', false],
    ['registry.corp:443', 'https://registry.corp/v2/', true],
    ['registry.corp:80', 'http://registry.corp/v2/', true],
    // IPs and CIDRs.
    ['10.1.2.3', 'https://10.1.2.3:5000/v2/', true],
    ['10.1.2.3:5000', 'https://10.1.2.3:5001/v2/', false],
    ['10.0.0.0/8', 'https://10.200.3.4/v2/', true],
    ['10.0.0.0/8', 'https://11.0.0.1/v2/', false],
    ['192.168.1.0/24', 'https://192.168.1.77:5000/v2/', true],
    ['192.168.1.0/24', 'https://192.168.2.1/v2/', false],
    ['fd00::/8', 'https://[fd12::1]:5000/v2/', true],
    ['[fd12::1]', 'https://[fd12::1]/v2/', true],
    ['fd12::1', 'https://[fd12::2]/v2/', false],
    // A domain entry does not match an IP, nor a CIDR a name.
    ['10.0.0.0/8', 'https://ten.corp/v2/', false],
    // Lists: commas and spaces, empty entries ignored.
    ['a.test, ,b.test  c.test', 'https://x.c.test/v2/', true],
    ['a.test,b.test', 'https://d.test/v2/', false],
    // Loopback is never proxied (Go), whatever the list says.
    ['', 'http://127.0.0.1:5000/v2/', true],
    ['', 'http://localhost:5000/v2/', true],
    ['', 'http://[::1]:5000/v2/', true],
  ];
  for (const [noProxy, url, bypass] of table) {
    test(`${JSON.stringify(noProxy)} ${bypass ? 'bypasses' : 'proxies'} ${url}`, () => {
      assert.equal(bypassesProxy(new URL(url), parseNoProxy(noProxy)), bypass);
    });
  }
});

describe('http transport through a forward proxy', () => {
  let dir: string;
  let plain: TestServer;
  let secure: TestServer;
  let ca: Buffer;
  let proxy: ForwardProxy;
  let authProxy: ForwardProxy;
  let refusing: ForwardProxy;
  const plainName = 'plain.proxy-only.test';
  const secureName = 'secure.proxy-only.test';

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'gantry-proxy-test-'));
    const tls = await generateTls(join(dir, 'tls'), { dnsNames: [secureName] });
    ca = await readFile(tls.caFile);
    plain = await startServer((req, res) => res.end(`plain ${req.headers.host} ${req.url}`));
    secure = await startServer((req, res) => res.end(`secure ${req.headers.host} ${req.url}`), {
      tls: { cert: await readFile(tls.certFile), key: await readFile(tls.keyFile) },
    });
    const hosts = {
      [`${plainName}:${new URL(plain.url).port}`]: plain.host,
      [`${secureName}:${new URL(secure.url).port}`]: secure.host,
    };
    proxy = await startForwardProxy({ hosts });
    authProxy = await startForwardProxy({ hosts, credentials: { username: 'us er', password: 'p@ss:word' } });
    refusing = await startForwardProxy({ hosts, refuse: true });
  });
  after(async () => {
    await Promise.all([plain.close(), secure.close(), proxy.close(), authProxy.close(), refusing.close()]);
    await rm(dir, { recursive: true, force: true });
  });

  const plainUrl = () => new URL(`http://${plainName}:${new URL(plain.url).port}/v2/`);
  const secureUrl = () => new URL(`https://${secureName}:${new URL(secure.url).port}/v2/`);
  const transport = (proxyUrl: string, noProxy = '') =>
    createHttpTransport({
      proxy: proxyFromEnv({ HTTP_PROXY: proxyUrl, HTTPS_PROXY: proxyUrl, NO_PROXY: noProxy }),
      hostSettings: () => ({ ca: [ca] }),
    });

  test('http goes to the proxy in absolute form, with the target as Host', async () => {
    const http = transport(proxy.url);
    try {
      const res = await http({ method: 'GET', url: plainUrl() });
      assert.equal(res.status, 200);
      assert.equal(await res.text(), `plain ${plainUrl().host} /v2/`);
      assert.deepEqual(
        proxy.seen.filter((s) => s.target === plainUrl().href),
        [{ method: 'GET', target: plainUrl().href, status: 200 }],
      );
    } finally {
      http.close();
    }
  });

  test('https goes through a CONNECT tunnel; TLS is verified against the registry name inside it', async () => {
    const http = transport(proxy.url);
    try {
      const first = await http({ method: 'GET', url: secureUrl() });
      assert.equal(await first.text(), `secure ${secureUrl().host} /v2/`);
      const second = await http({ method: 'GET', url: new URL('/v2/again', secureUrl()) });
      assert.equal(await second.text(), `secure ${secureUrl().host} /v2/again`);
      // The proxy saw only host:port, once: the second request reused the tunnel (keep-alive).
      assert.deepEqual(
        proxy.seen.filter((s) => s.method === 'CONNECT'),
        [{ method: 'CONNECT', target: secureUrl().host, status: 200 }],
      );
    } finally {
      http.close();
    }
  });

  test('a tunnel to a certificate that does not name the registry fails TLS verification', async () => {
    const http = createHttpTransport({
      proxy: proxyFromEnv({ HTTPS_PROXY: proxy.url }),
      hostSettings: () => ({}),
    });
    try {
      await assert.rejects(
        http({ method: 'GET', url: secureUrl() }),
        (err: unknown) => err instanceof TransportError && err.failure === 'tls-verify',
      );
    } finally {
      http.close();
    }
  });

  test('an https:// proxy: TLS to the proxy (its CA), then the tunnel and absolute form inside it', async () => {
    const tls = await generateTls(join(dir, 'proxy-tls'));
    const secureProxy = await startForwardProxy({
      hosts: {
        [`${plainName}:${new URL(plain.url).port}`]: plain.host,
        [`${secureName}:${new URL(secure.url).port}`]: secure.host,
      },
      tls: { cert: await readFile(tls.certFile), key: await readFile(tls.keyFile) },
      credentials: { username: 'u', password: 'p' },
    });
    const proxyUrl = `https://u:p@127.0.0.1:${secureProxy.port}`;
    const http = createHttpTransport({
      proxy: {
        ...proxyFromEnv({ HTTPS_PROXY: proxyUrl, HTTP_PROXY: proxyUrl }),
        proxyCa: [await readFile(tls.caFile)],
      },
      hostSettings: () => ({ ca: [ca] }),
    });
    const untrusting = createHttpTransport({
      proxy: proxyFromEnv({ HTTPS_PROXY: proxyUrl }),
      hostSettings: () => ({ ca: [ca] }),
    });
    try {
      assert.equal(await (await http({ method: 'GET', url: secureUrl() })).text(), `secure ${secureUrl().host} /v2/`);
      assert.equal(await (await http({ method: 'GET', url: plainUrl() })).text(), `plain ${plainUrl().host} /v2/`);
      assert.deepEqual(
        secureProxy.seen.map((s) => [s.method, s.target, s.status]),
        [
          ['CONNECT', secureUrl().host, 200],
          ['GET', plainUrl().href, 200],
        ],
      );
      // The proxy's certificate is checked like any other: without its CA, nothing goes through.
      await assert.rejects(
        untrusting({ method: 'GET', url: secureUrl() }),
        (err: unknown) =>
          err instanceof TransportError && err.message.startsWith(`proxy 127.0.0.1:${secureProxy.port} `),
      );
      assert.equal(secureProxy.seen.length, 2);
    } finally {
      http.close();
      untrusting.close();
      await secureProxy.close();
    }
  });

  test('proxy credentials from the URL go out as Proxy-Authorization, for tunnels and absolute form', async () => {
    const http = transport(`http://us%20er:p%40ss%3Aword@127.0.0.1:${authProxy.port}`);
    try {
      assert.equal((await http({ method: 'GET', url: plainUrl() })).status, 200);
      assert.equal((await http({ method: 'GET', url: secureUrl() })).status, 200);
      const expected = `Basic ${Buffer.from('us er:p@ss:word').toString('base64')}`;
      assert.equal(authProxy.seen.length, 2);
      for (const s of authProxy.seen) {
        assert.equal(s.proxyAuthorization, expected);
        assert.equal(s.status, 200);
      }
    } finally {
      http.close();
    }
  });

  test('missing proxy credentials: one line naming the proxy and the 407, for https and http', async () => {
    const http = transport(authProxy.url);
    try {
      for (const url of [secureUrl(), plainUrl()]) {
        await assert.rejects(
          http({ method: 'GET', url }),
          (err: unknown) =>
            err instanceof TransportError &&
            err.failure === 'proxy' &&
            !err.temporary &&
            err.message ===
              `proxy 127.0.0.1:${authProxy.port} requires credentials: 407 Proxy Authentication Required (for ${url.host})` &&
            /credentials/.test(err.suggestion ?? ''),
        );
      }
    } finally {
      http.close();
    }
  });

  test('a proxy that refuses the tunnel gives one clear line', async () => {
    const http = transport(refusing.url);
    try {
      await assert.rejects(
        http({ method: 'GET', url: secureUrl() }),
        (err: unknown) =>
          err instanceof TransportError &&
          err.failure === 'proxy' &&
          err.message ===
            `proxy 127.0.0.1:${refusing.port} refused the tunnel: 403 Refused (for ${secureUrl().host})` &&
          !err.message.includes('\n'),
      );
    } finally {
      http.close();
    }
  });

  test('a proxy that is not running: the error names the proxy, not the registry', async () => {
    const port = await freePort();
    const http = transport(`http://127.0.0.1:${port}`);
    try {
      for (const url of [secureUrl(), plainUrl()]) {
        await assert.rejects(
          http({ method: 'GET', url }),
          (err: unknown) =>
            err instanceof TransportError &&
            err.failure === 'connect' &&
            err.message.startsWith(`proxy 127.0.0.1:${port} cannot be reached: ECONNREFUSED`) &&
            /HTTPS_PROXY/.test(err.suggestion ?? ''),
        );
      }
    } finally {
      http.close();
    }
  });

  test('a proxy that never answers CONNECT: the connect timeout ends the wait, naming the proxy; abort ends it too', {
    timeout: 30_000,
  }, async () => {
    const sockets = new Set<Socket>();
    const silent = createNetServer((socket) => {
      sockets.add(socket);
      socket.on('error', () => {});
    });
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const port = (silent.address() as AddressInfo).port;
    const http = createHttpTransport({
      proxy: proxyFromEnv({ HTTPS_PROXY: `http://127.0.0.1:${port}` }),
      hostSettings: () => ({ ca: [ca] }),
      connectTimeoutMs: 200,
    });
    try {
      await assert.rejects(
        http({ method: 'GET', url: secureUrl() }),
        (err: unknown) =>
          err instanceof TransportError &&
          err.failure === 'timeout' &&
          err.message === `proxy 127.0.0.1:${port} gave no tunnel within 200 ms (for ${secureUrl().host})`,
      );
      const controller = new AbortController();
      const pending = http({
        method: 'GET',
        url: new URL('/v2/other', secureUrl()),
        signal: controller.signal,
        connectTimeoutMs: 60_000,
      });
      // Abort once the proxy holds the connection: the tunnel must give it up, not wait 60 s.
      const second = await new Promise<Socket>((resolve) => silent.once('connection', resolve));
      controller.abort();
      await assert.rejects(pending, (err: unknown) => GantryError.is(err) && err.code === 'ABORTED');
      if (!second.destroyed) await new Promise((resolve) => second.once('close', resolve));
    } finally {
      http.close();
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => silent.close(() => resolve()));
    }
  });

  test('NO_PROXY sends a host directly (and the proxy never hears of it)', async () => {
    const http = transport(proxy.url, `${secureName},127.0.0.0/8`);
    const before = proxy.seen.length;
    try {
      // Directly, the name does not resolve: the request fails as DNS fails, without the proxy.
      await assert.rejects(
        http({ method: 'GET', url: secureUrl() }),
        (err: unknown) => err instanceof TransportError && err.failure === 'connect',
      );
      assert.equal(proxy.seen.length, before);
    } finally {
      http.close();
    }
  });
});
