// The scheme probe for loopback registries without settings, against front ends that never answer
// a TLS ClientHello: a raw TCP forwarder that waits for an HTTP request line before it connects
// upstream (as a plain-HTTP proxy in front of a registry does), and a TLS server's plain-HTTP
// listener that only speaks after a request line.
import assert from 'node:assert/strict';
import { createConnection, createServer as createNetServer, type Server, type Socket } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { TransportError } from '../../../src/registry/errors.js';
import { createHttpTransport, isTlsHandshakeStall } from '../../../src/registry/transport/http.js';
import { createRegistryTransport, registryBaseUrl } from '../../../src/registry/transport/stack.js';
import { anonymous, startServer, type TestServer } from './helpers.js';

const REQUEST_LINE = /^[A-Z]+ \S+ HTTP\/1\.[01]\r\n/;

interface RawServer {
  readonly host: string;
  close(): Promise<void>;
}

/**
 * A TCP server that reads until the bytes start with an HTTP request line, then hands the socket
 * to `onRequest` with what it read. Anything else (a TLS ClientHello) is left unanswered.
 */
async function startRequestLineServer(onRequest: (socket: Socket, head: Buffer) => void): Promise<RawServer> {
  const sockets = new Set<Socket>();
  const server: Server = createNetServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    let head = Buffer.alloc(0);
    const onData = (chunk: Buffer): void => {
      head = Buffer.concat([head, chunk]);
      if (!REQUEST_LINE.test(head.toString('latin1'))) return;
      socket.off('data', onData);
      onRequest(socket, head);
    };
    socket.on('data', onData);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as import('node:net').AddressInfo).port;
  return {
    host: `127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/** Forwards each connection to `upstream` once a request line arrived. */
function startForwarder(upstream: TestServer): Promise<RawServer> {
  const [hostname, port] = upstream.host.split(':') as [string, string];
  return startRequestLineServer((socket, head) => {
    const up = createConnection({ host: hostname, port: Number(port) });
    up.on('error', () => socket.destroy());
    socket.on('close', () => up.destroy());
    up.write(head);
    socket.pipe(up).pipe(socket);
  });
}

describe('scheme probe: loopback front ends that never answer TLS', () => {
  let registry: TestServer;
  let forwarder: RawServer;
  let httpsPort: RawServer;
  before(async () => {
    registry = await startServer((req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ path: req.url }));
    });
    forwarder = await startForwarder(registry);
    // What Go's TLS server (the distribution registry) answers a plain HTTP request with.
    httpsPort = await startRequestLineServer((socket) => {
      socket.end('HTTP/1.0 400 Bad Request\r\n\r\nClient sent an HTTP request to an HTTPS server.\n');
    });
  });
  after(async () => {
    await Promise.all([forwarder.close(), httpsPort.close(), registry.close()]);
  });

  // Regression: the https probe waited the whole connect timeout on the forwarder, then chose
  // https, and every request failed with "connection timed out" instead of falling back to http.
  test('a plain-HTTP forwarder that waits for a request line falls back to http', async () => {
    // A connect timeout far above the probe's TLS wait, so the old behaviour fails here visibly.
    const options = { keychain: anonymous, connectTimeoutMs: 10_000, retry: { attempts: 1 } };
    const base = await registryBaseUrl(forwarder.host, options);
    assert.equal(base.href, `http://${forwarder.host}/`);
    const rt = createRegistryTransport(forwarder.host, options);
    const res = await rt({ method: 'GET', url: new URL('/v2/', base) });
    assert.equal(res.status, 200);
    assert.deepEqual(JSON.parse(await res.text()), { path: '/v2/' });
  });

  test('a TLS port whose plain-HTTP answer says so keeps https', async () => {
    const base = await registryBaseUrl(httpsPort.host, { keychain: anonymous });
    assert.equal(base.href, `https://${httpsPort.host}/`);
  });
});

describe('http transport: a TLS handshake left unanswered', () => {
  let silent: RawServer;
  before(async () => {
    silent = await startRequestLineServer((socket) => socket.destroy());
  });
  after(() => silent.close());

  test('is a stall after TCP connected, with a per-request timeout and a --plain-http hint', async () => {
    const http = createHttpTransport();
    try {
      await assert.rejects(
        http({ method: 'GET', url: new URL(`https://${silent.host}/v2/`), connectTimeoutMs: 200 }),
        (err: unknown) => {
          assert.ok(err instanceof TransportError, String(err));
          assert.ok(isTlsHandshakeStall(err));
          assert.equal(err.failure, 'timeout');
          assert.equal(err.message, `TLS handshake with ${silent.host} timed out`);
          assert.match(err.suggestion ?? '', /--plain-http/);
          return true;
        },
      );
    } finally {
      http.close();
    }
  });
});
