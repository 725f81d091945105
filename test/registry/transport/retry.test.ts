// The retry layer against real loopback servers that fail on purpose: which requests are retried,
// how often, with which waits (read from onRetry, never from the clock), and abort during backoff.
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { after, describe, test } from 'node:test';
import { GantryError } from '../../../src/errors.js';
import { parseRetryAfter } from '../../../src/registry/errors.js';
import { createHttpTransport } from '../../../src/registry/transport/http.js';
import { backoffDelay, type RetryInfo, withRetry } from '../../../src/registry/transport/retry.js';
import { startServer } from './helpers.js';

describe('withRetry', () => {
  const http = createHttpTransport();
  after(() => http.close());

  function retrying(extra: { attempts?: number; maxDelayMs?: number } = {}): {
    rt: ReturnType<typeof withRetry>;
    retries: RetryInfo[];
  } {
    const retries: RetryInfo[] = [];
    const rt = withRetry(http, {
      baseDelayMs: 5,
      maxDelayMs: extra.maxDelayMs ?? 20,
      attempts: extra.attempts ?? 5,
      onRetry: (i) => retries.push(i),
    });
    return { rt, retries };
  }

  test('503 twice, then 200: three requests, the 200 is returned', async () => {
    let n = 0;
    const server = await startServer((_req, res) => {
      n++;
      if (n <= 2) res.writeHead(503).end('busy');
      else res.end('ok');
    });
    try {
      const { rt, retries } = retrying();
      const res = await rt({ method: 'GET', url: new URL('/v2/', server.url) });
      assert.equal(res.status, 200);
      assert.equal(await res.text(), 'ok');
      assert.equal(server.requests.length, 3);
      assert.deepEqual(
        retries.map((r) => [r.attempt, r.reason]),
        [
          [1, 'HTTP 503'],
          [2, 'HTTP 503'],
        ],
      );
    } finally {
      await server.close();
    }
  });

  test('408, 429, 500, 502, 504 are retried', async () => {
    for (const status of [408, 429, 500, 502, 504]) {
      let n = 0;
      const server = await startServer((_req, res) => {
        n++;
        res.writeHead(n === 1 ? status : 200).end();
      });
      try {
        const res = await retrying().rt({ method: 'HEAD', url: new URL('/', server.url) });
        assert.equal(res.status, 200, `after ${status}`);
        assert.equal(server.requests.length, 2, `after ${status}`);
      } finally {
        await server.close();
      }
    }
  });

  test('429 with Retry-After: 1 waits the one second the registry asked for', async () => {
    let n = 0;
    const server = await startServer((_req, res) => {
      n++;
      if (n === 1) res.writeHead(429, { 'retry-after': '1' }).end();
      else res.end('ok');
    });
    try {
      const { rt, retries } = retrying({ maxDelayMs: 5000 });
      const res = await rt({ method: 'GET', url: new URL('/', server.url) });
      assert.equal(res.status, 200);
      assert.deepEqual(
        retries.map((r) => [r.reason, r.delayMs]),
        [['HTTP 429', 1000]],
      );
    } finally {
      await server.close();
    }
  });

  test('Retry-After is capped by maxDelayMs', async () => {
    let n = 0;
    const server = await startServer((_req, res) => {
      n++;
      if (n === 1) res.writeHead(503, { 'retry-after': '3600' }).end();
      else res.end('ok');
    });
    try {
      const { rt, retries } = retrying({ maxDelayMs: 15 });
      assert.equal((await rt({ method: 'GET', url: new URL('/', server.url) })).status, 200);
      assert.equal(retries[0]?.delayMs, 15);
    } finally {
      await server.close();
    }
  });

  test('401, 403 and 404 are never retried', async () => {
    for (const status of [401, 403, 404]) {
      const server = await startServer((_req, res) => res.writeHead(status).end());
      try {
        const { rt, retries } = retrying();
        const res = await rt({ method: 'GET', url: new URL('/', server.url) });
        assert.equal(res.status, status);
        assert.equal(server.requests.length, 1, `status ${status}`);
        assert.equal(retries.length, 0);
      } finally {
        await server.close();
      }
    }
  });

  test('POST and PATCH are never retried, not even on 503', async () => {
    const server = await startServer((_req, res) => res.writeHead(503).end());
    try {
      const { rt } = retrying();
      assert.equal((await rt({ method: 'POST', url: new URL('/v2/x/blobs/uploads/', server.url) })).status, 503);
      assert.equal(
        (await rt({ method: 'PATCH', url: new URL('/v2/x/blobs/uploads/u', server.url), body: Buffer.from('ab') }))
          .status,
        503,
      );
      assert.equal(server.requests.length, 2);
    } finally {
      await server.close();
    }
  });

  test('a PUT with a body factory is retried with the body opened again', async () => {
    let n = 0;
    const server = await startServer((_req, res, body) => {
      n++;
      if (n === 1) res.writeHead(502).end();
      else res.writeHead(201).end(body);
    });
    try {
      let opened = 0;
      const res = await retrying().rt({
        method: 'PUT',
        url: new URL('/', server.url),
        body: () => {
          opened++;
          return Readable.from([Buffer.from('hello '), Buffer.from('world')]);
        },
        bodyLength: 11,
      });
      assert.equal(res.status, 201);
      assert.equal(await res.text(), 'hello world');
      assert.equal(opened, 2);
      assert.deepEqual(
        server.requests.map((r) => r.body.toString()),
        ['hello world', 'hello world'],
      );
    } finally {
      await server.close();
    }
  });

  test('dropped connections are retried, and the last 503 is returned when attempts run out', async () => {
    let n = 0;
    const server = await startServer((req, res) => {
      n++;
      if (n === 1) req.socket.destroy();
      else res.writeHead(503).end('still busy');
    });
    try {
      const { rt, retries } = retrying({ attempts: 3 });
      const res = await rt({ method: 'GET', url: new URL('/', server.url) });
      assert.equal(res.status, 503);
      assert.equal(await res.text(), 'still busy');
      assert.equal(server.requests.length, 3);
      assert.deepEqual(
        retries.map((r) => r.reason),
        ['CONNECTION_FAILED', 'HTTP 503'],
      );
    } finally {
      await server.close();
    }
  });

  test('a refused connection is retried and then reported as CONNECTION_FAILED', async () => {
    const server = await startServer((_req, res) => res.end());
    const url = new URL('/', server.url);
    await server.close();
    const { rt, retries } = retrying({ attempts: 3 });
    await assert.rejects(
      rt({ method: 'GET', url }),
      (err: unknown) => GantryError.is(err) && err.code === 'CONNECTION_FAILED',
    );
    assert.equal(retries.length, 2);
  });

  test('abort during the backoff wait stops at once with ABORTED', async () => {
    const server = await startServer((_req, res) => res.writeHead(503, { 'retry-after': '60' }).end());
    try {
      const ac = new AbortController();
      const rt = withRetry(http, {
        maxDelayMs: 60_000,
        onRetry: () => setImmediate(() => ac.abort()),
      });
      await assert.rejects(
        rt({ method: 'GET', url: new URL('/', server.url), signal: ac.signal }),
        (err: unknown) => GantryError.is(err) && err.code === 'ABORTED',
      );
      assert.equal(server.requests.length, 1);
    } finally {
      await server.close();
    }
  });
});

describe('retry helpers', () => {
  test('parseRetryAfter reads seconds and HTTP dates', () => {
    const now = Date.parse('2024-01-01T00:00:00Z');
    assert.equal(parseRetryAfter('7', now), 7000);
    assert.equal(parseRetryAfter(' 0 ', now), 0);
    assert.equal(parseRetryAfter('Mon, 01 Jan 2024 00:00:30 GMT', now), 30_000);
    assert.equal(parseRetryAfter('Sun, 31 Dec 2023 23:00:00 GMT', now), 0);
    assert.equal(parseRetryAfter('soon', now), undefined);
    assert.equal(parseRetryAfter(undefined, now), undefined);
  });

  test('backoffDelay stays under an exponential ceiling capped by the maximum', () => {
    for (let i = 0; i < 200; i++) {
      assert.ok(backoffDelay(1, 100, 10_000) < 100);
      assert.ok(backoffDelay(3, 100, 10_000) < 400);
      assert.ok(backoffDelay(30, 100, 1000) < 1000);
    }
  });
});
