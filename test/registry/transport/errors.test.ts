// registryError on real responses: OCI error bodies become codes and messages that say what to do.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { GantryError } from '../../../src/errors.js';
import { isTemporary, RegistryError, registryError } from '../../../src/registry/errors.js';
import { createHttpTransport } from '../../../src/registry/transport/http.js';
import type { HttpMethod } from '../../../src/registry/transport/types.js';
import { startServer, type TestServer } from './helpers.js';

interface Reply {
  readonly status: number;
  readonly body?: string;
  readonly headers?: Record<string, string>;
}

describe('registryError', () => {
  const http = createHttpTransport();
  let server: TestServer;
  let next: Reply = { status: 500 };
  before(async () => {
    server = await startServer((_req, res) => {
      res.writeHead(next.status, { 'content-type': 'application/json', ...next.headers });
      res.end(next.body ?? '');
    });
  });
  after(async () => {
    http.close();
    await server.close();
  });

  async function errorFor(
    reply: Reply,
    context: { registry: string; repository?: string; what?: string },
    method: HttpMethod = 'GET',
  ): Promise<RegistryError> {
    next = reply;
    const res = await http({ method, url: new URL('/v2/x/manifests/v1', server.url) });
    return registryError(res, context);
  }

  const oci = (code: string, message: string, detail?: unknown): string =>
    JSON.stringify({ errors: [{ code, message, ...(detail === undefined ? {} : { detail }) }] });

  const cases: [string, Reply, { registry: string; repository?: string; what?: string }, HttpMethod, RegExp, string][] =
    [
      [
        'UNAUTHORIZED',
        { status: 401, body: oci('UNAUTHORIZED', 'authentication required') },
        { registry: 'ghcr.io', repository: 'o/r' },
        'GET',
        /^login required for ghcr\.io: run gantry login ghcr\.io$/,
        'UNAUTHORIZED',
      ],
      [
        'DENIED on push',
        { status: 403, body: oci('DENIED', 'requested access to the resource is denied') },
        { registry: 'docker.io', repository: 'library/alpine' },
        'PUT',
        /^access to library\/alpine on docker\.io denied: check that your account may push there/,
        'DENIED',
      ],
      [
        'NAME_UNKNOWN',
        { status: 404, body: oci('NAME_UNKNOWN', 'repository name not known to registry') },
        { registry: 'localhost:5000', repository: 'nope' },
        'GET',
        /^repository nope not found on localhost:5000: /,
        'NAME_UNKNOWN',
      ],
      [
        'MANIFEST_UNKNOWN',
        { status: 404, body: oci('MANIFEST_UNKNOWN', 'manifest unknown', { Tag: 'v9' }) },
        { registry: 'quay.io', repository: 'a/b', what: 'manifest v9' },
        'GET',
        /^manifest v9 not found in a\/b on quay\.io: check the tag or digest; gantry tags quay\.io\/a\/b lists the tags$/,
        'MANIFEST_UNKNOWN',
      ],
      [
        'BLOB_UNKNOWN',
        { status: 404, body: oci('BLOB_UNKNOWN', 'blob unknown to registry') },
        { registry: 'r.io', repository: 'a', what: 'blob sha256:abc' },
        'GET',
        /^blob sha256:abc not found in a on r\.io: /,
        'BLOB_UNKNOWN',
      ],
      [
        'TOOMANYREQUESTS with the wait',
        {
          status: 429,
          body: oci('TOOMANYREQUESTS', 'You have reached your pull rate limit.'),
          headers: { 'retry-after': '42' },
        },
        { registry: 'docker.io', repository: 'library/alpine' },
        'GET',
        /^rate limited by docker\.io: retry after 42 s$/,
        'TOOMANYREQUESTS',
      ],
      [
        'MANIFEST_INVALID keeps the registry words',
        { status: 400, body: oci('MANIFEST_INVALID', 'manifest invalid', 'missing layers') },
        { registry: 'r.io', repository: 'a', what: 'manifest v1' },
        'PUT',
        /^a on r\.io rejected manifest v1 as invalid \(manifest invalid\)/,
        'MANIFEST_INVALID',
      ],
      [
        'a 503 from a proxy with an HTML body',
        { status: 503, body: '<html><body>Service Unavailable</body></html>' },
        { registry: 'r.io' },
        'GET',
        /^r\.io is unavailable \(HTTP 503 Service Unavailable\): the registry has a problem; retry later$/,
        'REGISTRY_UNAVAILABLE',
      ],
      [
        '413 without a body suggests --chunk-size',
        { status: 413 },
        { registry: 'r.io', repository: 'a', what: 'blob sha256:abc' },
        'PUT',
        /^r\.io rejected blob sha256:abc as too large \(HTTP 413\): use --chunk-size/,
        'TOO_LARGE',
      ],
      [
        '413 for a manifest does not suggest --chunk-size, which splits only blob uploads',
        { status: 413 },
        { registry: 'r.io', repository: 'a', what: 'manifest sha256:abc' },
        'PUT',
        /^r\.io rejected manifest sha256:abc as too large \(HTTP 413\): the registry \(or a proxy in front of it\) limits the size of a manifest/,
        'TOO_LARGE',
      ],
      [
        'an unknown code keeps the code and the message',
        { status: 400, body: oci('SOMETHING_NEW', 'the registry says no') },
        { registry: 'r.io' },
        'GET',
        /the registry says no/,
        'SOMETHING_NEW',
      ],
    ];

  for (const [name, reply, context, method, message, code] of cases) {
    test(name, async () => {
      const err = await errorFor(reply, context, method);
      assert.ok(err instanceof RegistryError);
      assert.ok(GantryError.is(err));
      assert.equal(err.code, code);
      assert.equal(err.status, reply.status);
      assert.match(err.oneLine(), message);
      assert.equal(err.phase, method === 'GET' ? 'pull' : 'push');
    });
  }

  test('temporary for 408/429/5xx, not for 4xx; retryAfterMs and ociCode kept', async () => {
    const busy = await errorFor({ status: 429, headers: { 'retry-after': '3' } }, { registry: 'r' });
    assert.equal(busy.temporary, true);
    assert.equal(busy.retryAfterMs, 3000);
    assert.ok(isTemporary(busy));
    const gone = await errorFor({ status: 404, body: oci('MANIFEST_UNKNOWN', 'x') }, { registry: 'r' });
    assert.equal(gone.temporary, false);
    assert.equal(gone.ociCode, 'MANIFEST_UNKNOWN');
    assert.equal(gone.errors.length, 1);
    assert.ok(!isTemporary(gone));
    assert.equal((await errorFor({ status: 502 }, { registry: 'r' })).temporary, true);
  });

  test('a HEAD response (no body) still maps by status', async () => {
    const err = await errorFor({ status: 404 }, { registry: 'r.io', repository: 'a', what: 'manifest v1' }, 'HEAD');
    assert.equal(err.code, 'NOT_FOUND');
    assert.match(err.message, /manifest v1 not found in a on r\.io/);
  });

  test('reads at most a bounded body', async () => {
    const huge = `{"errors":[{"code":"DENIED","message":"${'x'.repeat(200_000)}"}]}`;
    const err = await errorFor({ status: 403, body: huge }, { registry: 'r.io', repository: 'a' });
    // The body was cut before its end, so it is not JSON: the status decides the code.
    assert.equal(err.code, 'DENIED');
    assert.ok(err.message.length < 1000);
  });
});
