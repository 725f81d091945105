// The HTTP layer against real loopback servers: bodies, redirects (credentials never cross to
// another host:port), connection failures, abort, and TLS from HostSettings.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer as createNetServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { GantryError } from '../../../src/errors.js';
import { TransportError } from '../../../src/registry/errors.js';
import { createHttpTransport, isPlainHttpAnswer } from '../../../src/registry/transport/http.js';
import type { HostSettings } from '../../../src/registry/transport/types.js';
import { generateTls, type TlsMaterial } from '../../harness/registry.js';
import { run } from '../../harness/run.js';
import { startServer, type TestServer } from './helpers.js';

function chunks(total: number, size = 64 * 1024): Readable {
  let sent = 0;
  return new Readable({
    read() {
      if (sent >= total) {
        this.push(null);
        return;
      }
      const n = Math.min(size, total - sent);
      const buf = Buffer.alloc(n, sent % 251);
      sent += n;
      this.push(buf);
    },
  });
}

describe('http transport: requests and bodies', () => {
  const http = createHttpTransport();
  after(() => http.close());

  test('returns status, flattened headers, every challenge and the body', async () => {
    const server = await startServer((_req, res) => {
      res.setHeader('www-authenticate', ['Bearer realm="https://a/token"', 'Basic realm="x"']);
      res.setHeader('x-one', 'value');
      res.end('hello');
    });
    try {
      const res = await http({ method: 'GET', url: new URL('/v2/', server.url) });
      assert.equal(res.status, 200);
      assert.equal(res.headers['x-one'], 'value');
      assert.deepEqual(res.all('WWW-Authenticate'), ['Bearer realm="https://a/token"', 'Basic realm="x"']);
      assert.equal(res.headers['www-authenticate'], 'Bearer realm="https://a/token"');
      assert.equal(await res.text(), 'hello');
    } finally {
      await server.close();
    }
  });

  test('text() stops at its limit', async () => {
    const server = await startServer((_req, res) => res.end('x'.repeat(100_000)));
    try {
      const res = await http({ method: 'GET', url: new URL('/', server.url) });
      assert.equal((await res.text(10)).length, 10);
    } finally {
      await server.close();
    }
  });

  test('streams a body factory with Content-Length, and reopens it for a second request', async () => {
    const size = 8 * 1024 * 1024 + 17;
    const server = await startServer((req, res, body) => {
      res.end(
        `${req.headers['content-length']} ${req.headers['transfer-encoding'] ?? '-'} ${createHash('sha256').update(body).digest('hex')}`,
      );
    });
    try {
      const expected = createHash('sha256');
      for await (const c of chunks(size)) expected.update(c as Buffer);
      const digest = expected.digest('hex');
      let opened = 0;
      const request = {
        method: 'PUT' as const,
        url: new URL('/upload', server.url),
        body: () => {
          opened++;
          return chunks(size);
        },
        bodyLength: size,
      };
      for (let i = 0; i < 2; i++) {
        const res = await http(request);
        assert.equal(await res.text(), `${size} - ${digest}`);
      }
      assert.equal(opened, 2);
    } finally {
      await server.close();
    }
  });

  test('a body without a length goes chunked; an empty POST says Content-Length: 0', async () => {
    const server = await startServer((req, res, body) => {
      res.end(`${req.headers['content-length'] ?? '-'} ${req.headers['transfer-encoding'] ?? '-'} ${body.length}`);
    });
    try {
      const chunked = await http({ method: 'PATCH', url: new URL('/', server.url), body: () => chunks(1000) });
      assert.equal(await chunked.text(), '- chunked 1000');
      const empty = await http({ method: 'POST', url: new URL('/', server.url) });
      assert.equal(await empty.text(), '0 - 0');
    } finally {
      await server.close();
    }
  });

  test("a failing body source rejects with the source's own error, not a connection error", async () => {
    const server = await startServer((_req, res) => res.end('ok'));
    try {
      const boom = new Error('disk read failed');
      const source = () =>
        new Readable({
          read() {
            this.destroy(boom);
          },
        });
      await assert.rejects(
        http({ method: 'PUT', url: new URL('/', server.url), body: source, bodyLength: 10 }),
        (err) => err === boom,
      );
    } finally {
      await server.close();
    }
  });

  test('a server that answers 413 before reading the body yields the 413 response, not an upload error', async () => {
    const server = await startServer(
      (_req, res) => {
        res.writeHead(413, { connection: 'close' });
        res.end('too large');
      },
      { raw: true },
    );
    try {
      const res = await http({
        method: 'PUT',
        url: new URL('/', server.url),
        body: () => chunks(64 * 1024 * 1024),
        bodyLength: 64 * 1024 * 1024,
      });
      assert.equal(res.status, 413);
      await res.discard();
    } finally {
      await server.close();
    }
  });
});

describe('http transport: redirects', () => {
  const http = createHttpTransport();
  let target: TestServer;
  let otherIp: TestServer;
  let origin: TestServer;
  before(async () => {
    const echo = (req: import('node:http').IncomingMessage, res: import('node:http').ServerResponse): void => {
      res.end(JSON.stringify({ authorization: req.headers.authorization ?? null, cookie: req.headers.cookie ?? null }));
    };
    target = await startServer(echo);
    otherIp = await startServer(echo, { host: '127.0.0.2' });
    origin = await startServer((req, res) => {
      const u = new URL(req.url ?? '/', 'http://x');
      if (u.pathname === '/same') res.writeHead(307, { location: '/final' }).end();
      else if (u.pathname === '/other-port') res.writeHead(302, { location: `${target.url}/blob` }).end();
      else if (u.pathname === '/other-host') res.writeHead(307, { location: `${otherIp.url}/blob` }).end();
      else if (u.pathname === '/loop') res.writeHead(302, { location: '/loop' }).end();
      else if (u.pathname === '/back') res.writeHead(302, { location: `${target.url}/bounce` }).end();
      else echo(req, res);
    });
  });
  after(async () => {
    http.close();
    await Promise.all([target.close(), otherIp.close(), origin.close()]);
  });

  const secret = { authorization: 'Bearer secret-token', cookie: 'session=secret' };

  test('a same-origin redirect keeps the credentials and reports the final URL', async () => {
    const res = await http({ method: 'GET', url: new URL('/same', origin.url), headers: secret });
    assert.equal(res.url.href, `${origin.url}/final`);
    assert.deepEqual(JSON.parse(await res.text()), { authorization: 'Bearer secret-token', cookie: 'session=secret' });
  });

  // Pins the rule that credentials belong to one host:port: blob storage elsewhere never sees them.
  test('a redirect to another port on the same IP drops Authorization and Cookie', async () => {
    const res = await http({ method: 'GET', url: new URL('/other-port', origin.url), headers: secret });
    assert.equal(res.url.host, target.host);
    assert.deepEqual(JSON.parse(await res.text()), { authorization: null, cookie: null });
  });

  test('a redirect to another host (127.0.0.2) drops Authorization and Cookie, for HEAD too', async () => {
    const res = await http({ method: 'GET', url: new URL('/other-host', origin.url), headers: secret });
    assert.equal(res.url.host, otherIp.host);
    assert.deepEqual(JSON.parse(await res.text()), { authorization: null, cookie: null });
    const before = otherIp.requests.length;
    const head = await http({ method: 'HEAD', url: new URL('/other-host', origin.url), headers: secret });
    assert.equal(head.status, 200);
    assert.equal(otherIp.requests.length, before + 1);
    assert.equal(otherIp.requests.at(-1)?.headers.authorization, undefined);
  });

  test('PUT and followRedirects: false return the redirect itself', async () => {
    const put = await http({ method: 'PUT', url: new URL('/same', origin.url), body: Buffer.from('x') });
    assert.equal(put.status, 307);
    assert.equal(put.headers.location, '/final');
    await put.discard();
    const get = await http({ method: 'GET', url: new URL('/same', origin.url), followRedirects: false });
    assert.equal(get.status, 307);
    await get.discard();
  });

  test('a redirect loop ends with TOO_MANY_REDIRECTS', async () => {
    await assert.rejects(http({ method: 'GET', url: new URL('/loop', origin.url) }), (err: unknown) => {
      assert.ok(err instanceof TransportError);
      assert.equal(err.code, 'TOO_MANY_REDIRECTS');
      assert.equal(err.temporary, false);
      return true;
    });
  });
});

describe('http transport: failures and abort', () => {
  const http = createHttpTransport({ connectTimeoutMs: 300 });
  after(() => http.close());

  test('a refused connection is a temporary CONNECTION_FAILED naming the host', async () => {
    const server = await startServer((_req, res) => res.end());
    const url = new URL('/v2/', server.url);
    await server.close();
    await assert.rejects(http({ method: 'GET', url }), (err: unknown) => {
      assert.ok(err instanceof TransportError);
      assert.equal(err.code, 'CONNECTION_FAILED');
      assert.equal(err.failure, 'connect');
      assert.equal(err.temporary, true);
      assert.match(err.message, new RegExp(`cannot connect to ${url.host.replace(/\./g, '\\.')}`));
      assert.ok(err.suggestion);
      return true;
    });
  });

  test('a connection dropped in the middle of a body fails the body with CONNECTION_FAILED', async () => {
    const server = await startServer((_req, res) => {
      res.writeHead(200, { 'content-length': '100000' });
      res.write(Buffer.alloc(1000));
      setImmediate(() => res.socket?.destroy());
    });
    try {
      const res = await http({ method: 'GET', url: new URL('/blob', server.url) });
      assert.equal(res.status, 200);
      await assert.rejects(res.text(), (err: unknown) => {
        assert.ok(err instanceof TransportError, String(err));
        assert.equal(err.code, 'CONNECTION_FAILED');
        assert.equal(err.failure, 'reset');
        assert.equal(err.temporary, true);
        return true;
      });
    } finally {
      await server.close();
    }
  });

  // The race every keep-alive client meets: the server drops an idle connection just as the next
  // request goes out on it. Even a POST (never retried by the retry layer) must survive it.
  test('a request reset on a reused keep-alive socket is sent again on a fresh connection', async () => {
    let connections = 0;
    const raw = createNetServer((socket) => {
      connections++;
      let seen = '';
      let served = 0;
      socket.on('error', () => {});
      socket.on('data', (chunk: Buffer) => {
        seen += chunk.toString('latin1');
        while (seen.includes('\r\n\r\n')) {
          seen = seen.slice(seen.indexOf('\r\n\r\n') + 4);
          served++;
          if (served === 1) socket.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: keep-alive\r\n\r\nok');
          else socket.resetAndDestroy();
        }
      });
    });
    await new Promise<void>((resolve) => raw.listen(0, '127.0.0.1', resolve));
    const port = (raw.address() as import('node:net').AddressInfo).port;
    const keepAlive = createHttpTransport();
    try {
      const first = await keepAlive({ method: 'GET', url: new URL(`http://127.0.0.1:${port}/v2/`) });
      assert.equal(await first.text(), 'ok');
      const second = await keepAlive({ method: 'POST', url: new URL(`http://127.0.0.1:${port}/v2/x/blobs/uploads/`) });
      assert.equal(await second.text(), 'ok');
      assert.equal(connections, 2);
    } finally {
      keepAlive.close();
      raw.close();
    }
  });

  /**
   * A keep-alive server that answers the first request of each connection and resets the second
   * one once `bodyBytes` of its body arrived (headers only when 0): the server saw the request.
   */
  async function resetSecondRequest(
    bodyBytes: number,
  ): Promise<{ port: number; connections: () => number; close(): void }> {
    let connections = 0;
    const raw = createNetServer((socket) => {
      connections++;
      let seen = Buffer.alloc(0);
      let served = 0;
      socket.on('error', () => {});
      socket.on('data', (chunk: Buffer) => {
        seen = Buffer.concat([seen, chunk]);
        for (;;) {
          const end = seen.indexOf('\r\n\r\n');
          if (end < 0) return;
          if (served === 0) {
            served++;
            seen = seen.subarray(end + 4);
            socket.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: keep-alive\r\n\r\nok');
            continue;
          }
          if (seen.length - (end + 4) >= bodyBytes) socket.resetAndDestroy();
          return;
        }
      });
    });
    await new Promise<void>((resolve) => raw.listen(0, '127.0.0.1', resolve));
    return {
      port: (raw.address() as import('node:net').AddressInfo).port,
      connections: () => connections,
      close: () => raw.close(),
    };
  }

  // Regression: the stale-socket resend also fired after body bytes had gone out (the server was
  // reading them), and called the body factory a second time, which a one-shot upload stream
  // cannot serve. Now the reset is a temporary failure for the caller's retry logic.
  test('a reset on a reused socket after body bytes went out is not resent: temporary, factory opened once', async () => {
    const server = await resetSecondRequest(1);
    const keepAlive = createHttpTransport();
    try {
      const base = `http://127.0.0.1:${server.port}`;
      await (await keepAlive({ method: 'GET', url: new URL('/v2/', base) })).discard();
      let opened = 0;
      const size = 4 * 1024 * 1024;
      await assert.rejects(
        keepAlive({
          method: 'PATCH',
          url: new URL('/v2/x/blobs/uploads/1', base),
          body: () => {
            opened++;
            return chunks(size);
          },
          bodyLength: size,
        }),
        (err: unknown) => {
          assert.ok(err instanceof TransportError, String(err));
          assert.equal(err.failure, 'reset');
          assert.equal(err.temporary, true);
          return true;
        },
      );
      assert.equal(opened, 1);
      // A Buffer body goes out with the head: the same rule holds for it.
      await (await keepAlive({ method: 'GET', url: new URL('/v2/', base) })).discard();
      await assert.rejects(
        keepAlive({ method: 'PUT', url: new URL('/v2/x/manifests/v1', base), body: Buffer.from('{"a":1}') }),
        (err: unknown) => err instanceof TransportError && err.failure === 'reset' && err.temporary,
      );
      // Two GETs opened one connection each; nothing was sent on a third.
      assert.equal(server.connections(), 2);
    } finally {
      keepAlive.close();
      server.close();
    }
  });

  test('a TCP server that never completes the TLS handshake hits the connect timeout', async () => {
    const sockets = new Set<Socket>();
    const silent = createNetServer((s) => {
      sockets.add(s);
      s.on('error', () => {});
    });
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const port = (silent.address() as import('node:net').AddressInfo).port;
    try {
      await assert.rejects(http({ method: 'GET', url: new URL(`https://127.0.0.1:${port}/v2/`) }), (err: unknown) => {
        assert.ok(err instanceof TransportError);
        assert.equal(err.failure, 'timeout');
        assert.equal(err.code, 'CONNECTION_FAILED');
        return true;
      });
    } finally {
      for (const s of sockets) s.destroy();
      silent.close();
    }
  });

  test('abort before the response rejects with ABORTED; abort during the body fails the body with ABORTED', async () => {
    const server = await startServer(
      (req, res) => {
        if (req.url === '/hang') return; // never answers
        res.writeHead(200, { 'content-length': '10000000' });
        res.write(Buffer.alloc(1000));
      },
      { raw: true },
    );
    try {
      const early = new AbortController();
      const pending = http({ method: 'GET', url: new URL('/hang', server.url), signal: early.signal });
      setTimeout(() => early.abort(), 20);
      await assert.rejects(pending, (err: unknown) => GantryError.is(err) && err.code === 'ABORTED');

      const late = new AbortController();
      const res = await http({ method: 'GET', url: new URL('/body', server.url), signal: late.signal });
      const reading = res.text();
      late.abort();
      await assert.rejects(reading, (err: unknown) => GantryError.is(err) && err.code === 'ABORTED');

      const already = new AbortController();
      already.abort();
      await assert.rejects(
        http({ method: 'GET', url: new URL('/body', server.url), signal: already.signal }),
        (err: unknown) => GantryError.is(err) && err.code === 'ABORTED',
      );
    } finally {
      await server.close();
    }
  });
});

describe('http transport: TLS from HostSettings', () => {
  let tls: TlsMaterial;
  let dir: string;
  let server: TestServer;
  let mtlsServer: TestServer;
  let plain: TestServer;
  let client: { cert: Buffer; key: Buffer };
  let ca: Buffer;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'gantry-transport-tls-'));
    tls = await generateTls(join(dir, 'tls'));
    ca = await readFile(tls.caFile);
    const cert = await readFile(tls.certFile);
    const key = await readFile(tls.keyFile);
    // A client certificate signed by the same CA, for a server that demands one.
    const p = (n: string) => join(dir, n);
    await run('openssl', [
      'req',
      '-new',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-keyout',
      p('client.key'),
      '-out',
      p('client.csr'),
      '-subj',
      '/CN=gantry client',
    ]);
    await writeFile(p('client.ext'), 'extendedKeyUsage=clientAuth\n');
    await run('openssl', [
      'x509',
      '-req',
      '-in',
      p('client.csr'),
      '-CA',
      tls.caFile,
      '-CAkey',
      tls.caKey,
      '-CAcreateserial',
      '-out',
      p('client.crt'),
      '-days',
      '1',
      '-extfile',
      p('client.ext'),
    ]);
    client = { cert: await readFile(p('client.crt')), key: await readFile(p('client.key')) };
    server = await startServer((_req, res) => res.end('secure'), { tls: { cert, key } });
    mtlsServer = await startServer(
      (req, res) => res.end(`client ${(req.socket as import('node:tls').TLSSocket).getPeerCertificate().subject.CN}`),
      { tls: { cert, key, ca, requestCert: true } },
    );
    plain = await startServer((_req, res) => res.end('plain'));
  });
  after(async () => {
    await Promise.all([server.close(), mtlsServer.close(), plain.close()]);
    await rm(dir, { recursive: true, force: true });
  });

  test('an unknown CA is a TLS_ERROR that says where to put the CA or to use --insecure', async () => {
    const http = createHttpTransport();
    try {
      await assert.rejects(http({ method: 'GET', url: new URL('/v2/', server.url) }), (err: unknown) => {
        assert.ok(err instanceof TransportError);
        assert.equal(err.code, 'TLS_ERROR');
        assert.equal(err.failure, 'tls-verify');
        assert.equal(err.temporary, false);
        assert.match(err.suggestion ?? '', new RegExp(`certs\\.d/${server.host.replace(/\./g, '\\.')}/ca\\.crt`));
        assert.match(err.suggestion ?? '', /--insecure/);
        return true;
      });
    } finally {
      http.close();
    }
  });

  test('the CA from HostSettings is trusted (added to the system CAs), per host', async () => {
    const seen: string[] = [];
    const http = createHttpTransport({
      hostSettings: (host): HostSettings => {
        seen.push(host);
        return host === server.host ? { ca: [ca] } : {};
      },
    });
    try {
      const res = await http({ method: 'GET', url: new URL('/v2/', server.url) });
      assert.equal(await res.text(), 'secure');
      assert.deepEqual(seen, [server.host]);
    } finally {
      http.close();
    }
  });

  test('insecure skips verification', async () => {
    const http = createHttpTransport({ hostSettings: () => ({ insecure: true }) });
    try {
      const res = await http({ method: 'GET', url: new URL('/v2/', server.url) });
      assert.equal(await res.text(), 'secure');
    } finally {
      http.close();
    }
  });

  test('a client certificate from HostSettings is presented to a server that demands one', async () => {
    const without = createHttpTransport({ hostSettings: () => ({ ca: [ca] }) });
    const withCert = createHttpTransport({ hostSettings: () => ({ ca: [ca], clientCert: client }) });
    try {
      await assert.rejects(without({ method: 'GET', url: new URL('/v2/', mtlsServer.url) }), (err: unknown) =>
        GantryError.is(err),
      );
      const res = await withCert({ method: 'GET', url: new URL('/v2/', mtlsServer.url) });
      assert.equal(await res.text(), 'client gantry client');
    } finally {
      without.close();
      withCert.close();
    }
  });

  test('https to a plain HTTP server is recognized (the scheme fallback relies on it)', async () => {
    const http = createHttpTransport();
    try {
      await assert.rejects(http({ method: 'GET', url: new URL('/v2/', `https://${plain.host}`) }), (err: unknown) => {
        assert.ok(isPlainHttpAnswer(err), String(err));
        assert.equal((err as TransportError).code, 'TLS_ERROR');
        assert.match((err as TransportError).suggestion ?? '', /--plain-http/);
        return true;
      });
    } finally {
      http.close();
    }
  });
});
