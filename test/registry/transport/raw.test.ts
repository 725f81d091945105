// Bulk GETs over plain HTTP on a connection of their own (transport/raw.ts), against real loopback
// servers: node:http for well-formed answers (Content-Length, chunked, close-delimited), and bare
// TCP servers for what node:http would never send (split heads, cut bodies, broken framing).
import assert from 'node:assert/strict';
import { createServer as createNetServer, type Server, type Socket } from 'node:net';
import { after, describe, test } from 'node:test';
import { AbortedError, GantryError } from '../../../src/errors.js';
import { drainsTo } from '../../../src/oci/stream.js';
import { createHttpTransport } from '../../../src/registry/transport/http.js';
import { startServer } from './helpers.js';

const payload = Buffer.from(Array.from({ length: 300_000 }, (_, i) => (i * 7) % 251));

async function drained(body: unknown): Promise<Buffer> {
  assert.ok(drainsTo(body), 'a bulk GET over plain HTTP is read by raw.ts');
  const pieces: Buffer[] = [];
  await body.drainTo((piece) => {
    pieces.push(Buffer.from(piece));
  });
  return Buffer.concat(pieces);
}

/** A bare TCP server: `serve` gets each connection and the request head it sent. */
async function tcpServer(serve: (socket: Socket, head: string) => void): Promise<{ url: string; close(): void }> {
  const sockets = new Set<Socket>();
  const server: Server = createNetServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => {});
    let head = '';
    socket.on('data', (d: Buffer) => {
      if (head.includes('\r\n\r\n')) return;
      head += d.toString('latin1');
      if (head.includes('\r\n\r\n')) serve(socket, head);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}`,
    close() {
      for (const s of sockets) s.destroy();
      server.close();
    },
  };
}

const code = (err: unknown): string | undefined => (GantryError.is(err) ? err.code : undefined);

describe('raw bulk reads: framing', () => {
  const http = createHttpTransport();
  after(() => http.close());

  test('Content-Length, chunked and close-delimited bodies, through drainTo and as a stream', async () => {
    const server = await startServer((req, res) => {
      if (req.url === '/length') res.setHeader('content-length', payload.length);
      if (req.url === '/close') res.setHeader('connection', 'close');
      // Written in uneven pieces, so chunks straddle reads.
      for (let at = 0; at < payload.length; at += 70_001) res.write(payload.subarray(at, at + 70_001));
      res.end();
    });
    try {
      for (const path of ['/length', '/chunked', '/close']) {
        const url = new URL(path, server.url);
        const a = await http({ method: 'GET', url, bulk: true });
        assert.equal(a.status, 200);
        assert.deepEqual(await drained(a.body), payload, path);
        const b = await http({ method: 'GET', url, bulk: true });
        const chunks: Buffer[] = [];
        for await (const c of b.body) chunks.push(c as Buffer);
        assert.deepEqual(Buffer.concat(chunks), payload, `${path} as a stream`);
      }
      // What the server saw: our own head, with Connection: close, and no body.
      const seen = server.requests[0];
      assert.equal(seen?.headers.connection, 'close');
      assert.equal(seen?.headers.host, server.host);
      // Without bulk, or with rawBulkReads: false, node:http reads it.
      const plain = await http({ method: 'GET', url: new URL('/length', server.url) });
      assert.equal(drainsTo(plain.body), false);
      await plain.discard();
      const off = createHttpTransport({ rawBulkReads: false });
      const viaNode = await off({ method: 'GET', url: new URL('/length', server.url), bulk: true });
      assert.equal(drainsTo(viaNode.body), false);
      await viaNode.discard();
      off.close();
    } finally {
      await server.close();
    }
  });

  test('a head split across reads, after a 100 Continue, with repeated headers, is parsed', async () => {
    const server = await tcpServer((socket) => {
      const parts = [
        'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nX-A: 1\r\n',
        'x-a: 2\r\nContent-Len',
        'gth: 5\r\n\r',
        '\nhel',
        'lo',
      ];
      let i = 0;
      const next = (): void => {
        if (i < parts.length) socket.write(parts[i++] as string, () => setTimeout(next, 15));
        else socket.end();
      };
      next();
    });
    try {
      const res = await http({ method: 'GET', url: new URL('/x', server.url), bulk: true });
      assert.equal(res.status, 200);
      assert.equal(res.headers['x-a'], '1, 2');
      assert.deepEqual(res.all('X-A'), ['1', '2']);
      assert.equal((await drained(res.body)).toString(), 'hello');
    } finally {
      server.close();
    }
  });

  test('a body cut short is a CONNECTION_FAILED, both ways of reading it', async () => {
    const server = await tcpServer((socket) => {
      socket.end(`HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n${'x'.repeat(400)}`);
    });
    try {
      const a = await http({ method: 'GET', url: new URL('/cut', server.url), bulk: true });
      const err = await drained(a.body).catch((e: unknown) => e);
      assert.equal(code(err), 'CONNECTION_FAILED', String(err));
      const b = await http({ method: 'GET', url: new URL('/cut', server.url), bulk: true });
      const streamErr = await (async () => {
        for await (const _ of b.body) {
          // read until it fails
        }
      })().catch((e: unknown) => e);
      assert.equal(code(streamErr), 'CONNECTION_FAILED', String(streamErr));
    } finally {
      server.close();
    }
  });

  test('broken framing and heads are PROTOCOL_ERRORs naming the host', async () => {
    const answers: Record<string, string> = {
      '/status': 'HTCPCP/1.0 418 teapot\r\n\r\n',
      '/header': 'HTTP/1.1 200 OK\r\nno colon here\r\n\r\n',
      '/length': 'HTTP/1.1 200 OK\r\nContent-Length: 12abc\r\n\r\n',
      '/extra': 'HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabcdef',
      '/chunk': 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n',
      '/te': 'HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n',
    };
    const server = await tcpServer((socket, head) => {
      const path = head.split(' ')[1] ?? '';
      socket.end(answers[path] ?? 'HTTP/1.1 500 x\r\n\r\n');
    });
    try {
      for (const path of Object.keys(answers)) {
        const err = await http({ method: 'GET', url: new URL(path, server.url), bulk: true })
          .then((res) => drained(res.body))
          .catch((e: unknown) => e);
        assert.equal(code(err), 'PROTOCOL_ERROR', `${path}: ${String(err)}`);
        assert.match(String((err as Error).message), /127\.0\.0\.1:\d+ sent a malformed response/);
      }
    } finally {
      server.close();
    }
  });

  test('a redirect to another origin is followed without the credentials, and read raw there too', async () => {
    const target = await startServer((_req, res) => {
      res.setHeader('content-length', payload.length);
      res.end(payload);
    });
    const origin = await startServer((_req, res) => {
      res.writeHead(307, { location: `${target.url}/blob?sig=1` });
      res.end('moved');
    });
    try {
      const res = await http({
        method: 'GET',
        url: new URL('/v2/r/blobs/sha256:x', origin.url),
        headers: { authorization: 'Bearer secret', cookie: 'c=1' },
        bulk: true,
      });
      assert.equal(res.status, 200);
      assert.equal(res.url.href, `${target.url}/blob?sig=1`);
      assert.deepEqual(await drained(res.body), payload);
      assert.equal(origin.requests[0]?.headers.authorization, 'Bearer secret');
      assert.equal(target.requests[0]?.headers.authorization, undefined);
      assert.equal(target.requests[0]?.headers.cookie, undefined);
      assert.equal(target.requests[0]?.url, '/blob?sig=1');
    } finally {
      await origin.close();
      await target.close();
    }
  });

  test('a header value with CR or LF is refused before anything is sent', async () => {
    let connections = 0;
    const server = await tcpServer(() => {
      connections++;
    });
    try {
      const err = await http({
        method: 'GET',
        url: new URL('/x', server.url),
        headers: { authorization: 'Bearer a\r\nx-injected: 1' },
        bulk: true,
      }).catch((e: unknown) => e);
      assert.ok(err instanceof TypeError, String(err));
      await new Promise((r) => setTimeout(r, 50));
      assert.equal(connections, 0);
    } finally {
      server.close();
    }
  });
});

describe('raw bulk reads: time and abort', () => {
  const http = createHttpTransport({ idleTimeoutMs: 300 });
  after(() => http.close());

  test('a body that stops arriving fails after the idle timeout; one nobody reads yet does not', async () => {
    const server = await tcpServer((socket, head) => {
      if (head.startsWith('GET /stall')) socket.write('HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc');
      else socket.end('HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello');
    });
    try {
      const stalled = await http({ method: 'GET', url: new URL('/stall', server.url), bulk: true });
      const err = await drained(stalled.body).catch((e: unknown) => e);
      assert.equal(code(err), 'CONNECTION_FAILED', String(err));
      assert.match(String(err), /stalled/);

      const waiting = await http({ method: 'GET', url: new URL('/ok', server.url), bulk: true });
      await new Promise((r) => setTimeout(r, 700));
      assert.equal((await drained(waiting.body)).toString(), 'hello');
    } finally {
      server.close();
    }
  });

  test('abort before the head rejects with ABORTED; abort during the body fails drainTo with ABORTED', async () => {
    const server = await tcpServer((socket, head) => {
      if (head.startsWith('GET /body')) socket.write('HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nabc');
    });
    try {
      const early = new AbortController();
      const pending = http({ method: 'GET', url: new URL('/head', server.url), bulk: true, signal: early.signal });
      setTimeout(() => early.abort(), 50);
      assert.ok((await pending.catch((e: unknown) => e)) instanceof AbortedError);

      const late = new AbortController();
      const res = await http({ method: 'GET', url: new URL('/body', server.url), bulk: true, signal: late.signal });
      const reading = drained(res.body).catch((e: unknown) => e);
      setTimeout(() => late.abort(), 50);
      assert.ok((await reading) instanceof AbortedError);
    } finally {
      server.close();
    }
  });
});
