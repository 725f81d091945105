// Pins the fault proxy: each fault is observed with plain node:http requests (a cut body, an
// injected status that runs out after `times`, 413 for large bodies whether announced, chunked
// or behind 100-continue, a delay), the counters per rule and per path, and forwarding in front
// of the real registry (Location names the proxy, Range passes, a mount moves no blob bytes).
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, request, type Server } from 'node:http';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { delay, dropAfterBytes, type FaultProxy, rejectLargeBodies, startFaultProxy, status } from './proxy.js';
import { startRegistry, type TestRegistry } from './registry.js';

interface Sent {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: Buffer;
  /** Set when the connection ended before the response did. */
  readonly error?: string;
  /** Whether the server asked for the body with 100 Continue. */
  readonly continued: boolean;
}

interface SendOptions {
  readonly method?: string;
  readonly headers?: Record<string, string>;
  /** One buffer: sent with Content-Length; several: sent chunked, one write each. */
  readonly body?: Buffer | readonly Buffer[];
  readonly expectContinue?: boolean;
}

function send(url: string, options: SendOptions = {}): Promise<Sent> {
  const headers: Record<string, string> = { ...options.headers };
  const body = options.body;
  if (Buffer.isBuffer(body)) headers['content-length'] = String(body.length);
  if (options.expectContinue) headers.expect = '100-continue';
  return new Promise((resolve, reject) => {
    let continued = false;
    const req = request(url, { method: options.method ?? 'GET', headers, agent: false });
    const writeBody = () => {
      if (Buffer.isBuffer(body)) req.end(body);
      else if (body) {
        for (const b of body) req.write(b);
        req.end();
      } else req.end();
    };
    req.on('continue', () => {
      continued = true;
      writeBody();
    });
    req.on('error', (err) => reject(err));
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      let error: string | undefined;
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', (err) => {
        error = err.message;
      });
      res.on('close', () => {
        if (!res.complete) error ??= 'aborted';
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks), error, continued });
      });
    });
    if (options.expectContinue) req.flushHeaders();
    else writeBody();
  });
}

function pattern(n: number): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = i % 251;
  return b;
}

/** The registry stand-in: /bytes/N serves N bytes, /echo counts what it was sent. */
interface Upstream {
  readonly url: string;
  readonly seen: { method: string; url: string; bytes: number; host: string }[];
  stop(): Promise<void>;
}

async function startUpstream(): Promise<Upstream> {
  const seen: Upstream['seen'] = [];
  let origin = '';
  const server: Server = createServer((req, res) => {
    let bytes = 0;
    req.on('data', (c: Buffer) => {
      bytes += c.length;
    });
    req.on('end', () => {
      seen.push({ method: req.method ?? '', url: req.url ?? '', bytes, host: String(req.headers.host) });
      const m = /^\/bytes\/(\d+)/.exec(req.url ?? '');
      if (m) {
        const body = pattern(Number(m[1]));
        res.writeHead(200, { 'content-length': body.length, 'content-type': 'application/octet-stream' });
        res.end(req.method === 'HEAD' ? undefined : body);
        return;
      }
      const json = JSON.stringify({ method: req.method, bytes, host: req.headers.host });
      res.writeHead(201, { 'content-type': 'application/json', location: `${origin}/bytes/1` });
      res.end(json);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const addr = server.address();
  origin = `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}`;
  return {
    url: origin,
    seen,
    stop: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

describe('fault proxy', () => {
  let upstream: Upstream;
  let proxy: FaultProxy;
  before(async () => {
    upstream = await startUpstream();
    proxy = await startFaultProxy({ upstream: upstream.url });
  });
  after(async () => {
    await proxy.stop();
    await upstream.stop();
  });
  const reset = () => {
    proxy.setRules([]);
    proxy.stats.reset();
    upstream.seen.length = 0;
  };

  test('without rules it forwards: same bytes, Host of the proxy, Location rewritten, counters per path', async () => {
    reset();
    const got = await send(`${proxy.url}/bytes/100000`);
    assert.equal(got.status, 200);
    assert.equal(got.error, undefined);
    assert.deepEqual(got.body, pattern(100000));
    const echo = await send(`${proxy.url}/echo?x=1`, { method: 'PUT', body: pattern(5000) });
    assert.equal(echo.status, 201);
    assert.deepEqual(JSON.parse(echo.body.toString()), { method: 'PUT', bytes: 5000, host: proxy.host });
    assert.equal(echo.headers.location, `${proxy.url}/bytes/1`);
    assert.deepEqual(proxy.stats.path('/bytes/100000'), {
      requests: 1,
      requestBytes: 0,
      responseBytes: 100000,
      faults: 0,
    });
    assert.equal(proxy.stats.path('/echo').requestBytes, 5000);
    assert.equal(proxy.stats.total.requests, 2);
    assert.deepEqual(
      proxy.stats.log.map((e) => [e.method, e.target, e.status]),
      [
        ['GET', '/bytes/100000', 200],
        ['PUT', '/echo?x=1', 201],
      ],
    );
  });

  test('dropAfterBytes(n, k): k responses cut after exactly n bytes, then bodies pass whole', async () => {
    reset();
    proxy.setRules([{ name: 'cut', method: 'GET', path: /^\/bytes\/(70000|500)$/, action: dropAfterBytes(1234, 2) }]);
    // A body shorter than n cannot be cut and does not use up the rule.
    const short = await send(`${proxy.url}/bytes/500`);
    assert.equal(short.error, undefined);
    assert.equal(short.body.length, 500);
    for (let i = 0; i < 2; i++) {
      const cut = await send(`${proxy.url}/bytes/70000`);
      assert.equal(cut.status, 200);
      assert.equal(cut.headers['content-length'], '70000');
      assert.ok(cut.error, 'the client sees the connection end early');
      assert.deepEqual(cut.body, pattern(70000).subarray(0, 1234));
    }
    const whole = await send(`${proxy.url}/bytes/70000`);
    assert.equal(whole.error, undefined);
    assert.equal(whole.body.length, 70000);
    assert.deepEqual(proxy.stats.rule('cut'), {
      requests: 3,
      requestBytes: 0,
      responseBytes: 500 + 2 * 1234,
      faults: 2,
    });
    assert.deepEqual(
      proxy.stats.log.map((e) => e.fault),
      [undefined, 'dropAfterBytes', 'dropAfterBytes', undefined],
    );
  });

  test('dropAfterBytes(0): the head arrives, no body', async () => {
    reset();
    proxy.setRules([{ path: /^\/bytes\//, action: dropAfterBytes(0) }]);
    const cut = await send(`${proxy.url}/bytes/10`);
    assert.equal(cut.status, 200);
    assert.ok(cut.error);
    assert.equal(cut.body.length, 0);
  });

  test('status(429, Retry-After) once, then a 503 burst x3, each answered without the registry', async () => {
    reset();
    proxy.setRules([
      { name: '429', method: 'GET', path: /^\/bytes\/1$/, action: status(429, { 'retry-after': '2' }) },
      { name: '503', method: 'GET', path: /^\/bytes\/2$/, action: status(503, {}, 3) },
      { name: 'put', method: 'PUT', path: /^\/bytes\//, action: status(500, {}, 10, 'nope') },
    ]);
    const limited = await send(`${proxy.url}/bytes/1`);
    assert.equal(limited.status, 429);
    assert.equal(limited.headers['retry-after'], '2');
    assert.equal(
      (JSON.parse(limited.body.toString()) as { errors: { code: string }[] }).errors[0]?.code,
      'TOOMANYREQUESTS',
    );
    assert.equal((await send(`${proxy.url}/bytes/1`)).status, 200);
    const burst = [];
    for (let i = 0; i < 4; i++) burst.push((await send(`${proxy.url}/bytes/2`)).status);
    assert.deepEqual(burst, [503, 503, 503, 200]);
    assert.deepEqual(
      upstream.seen.map((s) => s.url),
      ['/bytes/1', '/bytes/2'],
      'injected answers never reach the registry',
    );
    assert.equal(proxy.stats.rule('503').faults, 3);
    assert.equal(proxy.stats.rule('put').requests, 0, 'a rule for another method does not match');
    const put = await send(`${proxy.url}/bytes/3`, { method: 'PUT', body: Buffer.from('x') });
    assert.equal(put.status, 500);
    assert.equal(put.body.toString(), 'nope');
  });

  test('rejectLargeBodies: 413 by Content-Length, for a chunked body that outgrows it, and before 100 Continue', async () => {
    reset();
    proxy.setRules([{ name: 'size', path: /^\/echo/, action: rejectLargeBodies(10000) }]);
    const big = await send(`${proxy.url}/echo`, { method: 'PATCH', body: pattern(50000) });
    assert.equal(big.status, 413);
    assert.equal((JSON.parse(big.body.toString()) as { errors: { code: string }[] }).errors[0]?.code, 'SIZE_INVALID');
    const small = await send(`${proxy.url}/echo`, { method: 'PATCH', body: pattern(10000) });
    assert.equal(small.status, 201);
    const chunks = [pattern(3000), pattern(3000), pattern(3000)];
    const chunkedSmall = await send(`${proxy.url}/echo`, { method: 'PATCH', body: chunks });
    assert.equal(chunkedSmall.status, 201);
    assert.equal((JSON.parse(chunkedSmall.body.toString()) as { bytes: number }).bytes, 9000);
    const chunkedBig = await send(`${proxy.url}/echo`, { method: 'PATCH', body: [...chunks, ...chunks] });
    assert.equal(chunkedBig.status, 413);
    const expecting = await send(`${proxy.url}/echo`, { method: 'PUT', body: pattern(20000), expectContinue: true });
    assert.equal(expecting.status, 413);
    assert.equal(expecting.continued, false, 'refused before the body was asked for');
    const expectingSmall = await send(`${proxy.url}/echo`, { method: 'PUT', body: pattern(20), expectContinue: true });
    assert.equal(expectingSmall.status, 201);
    assert.equal(expectingSmall.continued, true);
    await sleep(50);
    assert.deepEqual(
      upstream.seen.map((s) => s.bytes),
      [10000, 9000, 20],
      'only the bodies under the limit reached the registry whole',
    );
    assert.equal(proxy.stats.rule('size').faults, 3);
  });

  test('delay(ms): a delayed request is overtaken by one sent after it', async () => {
    reset();
    proxy.setRules([{ name: 'slow', path: /^\/bytes\/11$/, action: delay(1000, 1) }]);
    const slow = send(`${proxy.url}/bytes/11`);
    while (proxy.stats.log.length === 0) await sleep(5);
    const fast = await send(`${proxy.url}/bytes/22`);
    assert.equal(fast.status, 200);
    assert.deepEqual(
      upstream.seen.map((s) => s.url),
      ['/bytes/22'],
    );
    assert.equal((await slow).body.length, 11);
    assert.deepEqual(
      upstream.seen.map((s) => s.url),
      ['/bytes/22', '/bytes/11'],
    );
    assert.equal(proxy.stats.rule('slow').faults, 1);
    // times: 1 is used up; the next one is not delayed.
    await send(`${proxy.url}/bytes/11`);
    assert.equal(proxy.stats.rule('slow').requests, 1);
  });

  test('refuses upstreams that are not plain HTTP on loopback', async () => {
    await assert.rejects(startFaultProxy({ upstream: 'https://127.0.0.1:1' }), { code: 'PROXY_UPSTREAM_NOT_HTTP' });
    await assert.rejects(startFaultProxy({ upstream: 'http://example.com' }), { code: 'PROXY_NOT_LOOPBACK' });
    await assert.rejects(startFaultProxy({ upstream: upstream.url, host: '0.0.0.0' }), { code: 'PROXY_NOT_LOOPBACK' });
  });

  test('an unreachable registry is a 502; stop() closes the proxy', async () => {
    const dead = await startUpstream();
    await dead.stop();
    const p = await startFaultProxy({ upstream: dead.url });
    assert.equal((await send(`${p.url}/bytes/1`)).status, 502);
    await p.stop();
    await p.stop();
    await assert.rejects(send(`${p.url}/bytes/1`), /ECONNREFUSED/);
  });
});

describe('fault proxy in front of the real registry', () => {
  let reg: TestRegistry;
  let proxy: FaultProxy;
  before(async () => {
    reg = await startRegistry({ mode: 'http' });
    proxy = await startFaultProxy({ upstream: reg.url });
  });
  after(async () => {
    await proxy.stop();
    await reg.stop();
  });

  test('upload, resume a cut download with Range, mount with no blob bytes moved', async () => {
    const blob = pattern(300_000);
    const digest = `sha256:${createHash('sha256').update(blob).digest('hex')}`;
    // distribution 2.8 ignores a digest on POST (no single-request upload): POST, then PUT the bytes.
    const post = await send(`${proxy.url}/v2/src/app/blobs/uploads/`, { method: 'POST', body: Buffer.alloc(0) });
    assert.equal(post.status, 202, post.body.toString());
    const location = new URL(String(post.headers.location));
    assert.equal(location.host, proxy.host, 'the registry names the proxy');
    location.searchParams.set('digest', digest);
    const put = await send(location.href, {
      method: 'PUT',
      headers: { 'content-type': 'application/octet-stream' },
      body: blob,
    });
    assert.equal(put.status, 201, put.body.toString());
    assert.equal(proxy.stats.matching({ method: 'PUT', target: /\/blobs\/uploads\// }).requestBytes, blob.length);
    assert.equal(put.headers.location, `${proxy.url}/v2/src/app/blobs/${digest}`, 'the registry names the proxy');

    proxy.setRules([{ name: 'cut', method: 'GET', path: /\/blobs\/sha256:/, action: dropAfterBytes(100_000) }]);
    const first = await send(`${proxy.url}/v2/src/app/blobs/${digest}`);
    assert.ok(first.error);
    assert.equal(first.body.length, 100_000);
    const rest = await send(`${proxy.url}/v2/src/app/blobs/${digest}`, { headers: { range: 'bytes=100000-' } });
    assert.equal(rest.status, 206);
    assert.equal(rest.error, undefined);
    assert.deepEqual(Buffer.concat([first.body, rest.body]), blob);

    proxy.stats.reset();
    const mount = await send(`${proxy.url}/v2/dst/app/blobs/uploads/?mount=${digest}&from=src/app`, {
      method: 'POST',
      body: Buffer.alloc(0),
    });
    assert.equal(mount.status, 201, mount.body.toString());
    assert.equal(mount.headers.location, `${proxy.url}/v2/dst/app/blobs/${digest}`);
    const head = await send(`${proxy.url}/v2/dst/app/blobs/${digest}`, { method: 'HEAD' });
    assert.equal(head.status, 200);
    assert.equal(head.headers['content-length'], String(blob.length));
    assert.equal(proxy.stats.matching({ target: /\/blobs\// }).requestBytes, 0);
    assert.equal(proxy.stats.matching({ target: /\/blobs\// }).responseBytes, 0);
    assert.equal(proxy.stats.path('/v2/dst/app/blobs/uploads/').requests, 1);
  });
});
