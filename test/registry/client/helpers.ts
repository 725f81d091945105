/**
 * Helpers for registry client tests: a RegistryClient set up for a test registry (its CA, its
 * basic-auth credentials), random blobs, and a minimal loopback HTTP forwarding proxy that can
 * count bytes, refuse large bodies with 413, cut a response short, ignore Range, or change a byte,
 * so faults come from the wire and never from mocks of our own code.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import {
  createServer,
  request as httpRequest,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { digestOf } from '../../../src/oci/digest.js';
import type { Descriptor } from '../../../src/oci/types.js';
import type { Keychain } from '../../../src/registry/auth/credential.js';
import { RegistryClient } from '../../../src/registry/client/client.js';
import type { ClientOptions } from '../../../src/registry/client/types.js';
import type { HostSettings } from '../../../src/registry/transport/types.js';
import type { ProgressEvent } from '../../../src/util/progress.js';
import type { TestRegistry } from '../../harness/registry.js';

export interface ClientSetup {
  readonly client: RegistryClient;
  readonly events: ProgressEvent[];
}

/** A client that trusts `reg`'s CA, logs in with its credentials, and sends `plainHttp` hosts over http. */
export function clientFor(
  reg: TestRegistry,
  options: Partial<Omit<ClientOptions, 'transport'>> & { plainHttp?: readonly string[] } = {},
): ClientSetup {
  const ca = reg.caFile ? readFileSync(reg.caFile) : undefined;
  const plain = new Set(options.plainHttp ?? []);
  const keychain: Keychain = {
    resolve: async (registry) =>
      registry === reg.host && reg.username !== undefined
        ? { username: reg.username, password: reg.password ?? '', source: 'test' }
        : undefined,
  };
  const hostSettings = (host: string): HostSettings => {
    if (plain.has(host)) return { plainHttp: true };
    if (host === reg.host && reg.mode === 'http') return { plainHttp: true };
    return ca ? { ca: [ca] } : {};
  };
  const events: ProgressEvent[] = [];
  const client = new RegistryClient({
    transport: { keychain, hostSettings, retry: { baseDelayMs: 10, maxDelayMs: 200 } },
    progress: (e) => events.push(e),
    ...(options.concurrency !== undefined ? { concurrency: options.concurrency } : {}),
    ...(options.chunkSize !== undefined ? { chunkSize: options.chunkSize } : {}),
    ...(options.blobLocations !== undefined ? { blobLocations: options.blobLocations } : {}),
  });
  return { client, events };
}

/** A client for two registries at once (copy between them). */
export function clientForMany(regs: readonly TestRegistry[]): RegistryClient {
  const cas = new Map<string, Buffer>();
  for (const r of regs) if (r.caFile) cas.set(r.host, readFileSync(r.caFile));
  const keychain: Keychain = {
    resolve: async (registry) => {
      const r = regs.find((x) => x.host === registry);
      return r?.username !== undefined
        ? { username: r.username, password: r.password ?? '', source: 'test' }
        : undefined;
    },
  };
  return new RegistryClient({
    transport: {
      keychain,
      hostSettings: (host) => {
        const r = regs.find((x) => x.host === host);
        if (r?.mode === 'http') return { plainHttp: true };
        const ca = cas.get(host);
        return ca ? { ca: [ca] } : {};
      },
      retry: { baseDelayMs: 10, maxDelayMs: 200 },
    },
  });
}

export function randomBlob(size: number): { bytes: Buffer; desc: Descriptor } {
  const bytes = randomBytes(size);
  return { bytes, desc: { mediaType: 'application/octet-stream', digest: digestOf(bytes), size } };
}

/** Reopenable source over bytes, streamed in 64 KiB pieces. */
export function opener(bytes: Buffer): () => Readable {
  return () =>
    Readable.from(
      (function* () {
        for (let i = 0; i < bytes.byteLength; i += 64 * 1024) yield bytes.subarray(i, i + 64 * 1024);
      })(),
      { objectMode: false },
    );
}

export async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

export async function withTempDir<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), 'gantry-client-test-'));
  try {
    return await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------------------------
// Loopback proxy

export interface SeenRequest {
  readonly method: string;
  readonly path: string;
  readonly headers: IncomingHttpHeaders;
  /** Request body bytes that went through. */
  bodyBytes: number;
  /** Response status sent back. */
  status?: number;
  /** Response body bytes sent back. */
  responseBytes: number;
}

export interface CannedResponse {
  readonly status: number;
  readonly headers?: Readonly<Record<string, string>>;
  readonly body?: string;
}

/** What to do with one response from upstream. */
export interface ResponsePlan {
  /** Send the head and this many body bytes, then destroy the connection. */
  readonly cutAfter?: number;
  /** Flip one byte of the body at this offset. */
  readonly flipAt?: number;
}

export interface ProxyHooks {
  /** Answer without forwarding (e.g. 413 for large bodies); undefined forwards. */
  readonly intercept?: (
    req: IncomingMessage,
    seen: SeenRequest,
  ) => CannedResponse | undefined | Promise<CannedResponse | undefined>;
  /** Change the request headers before forwarding (e.g. drop Range). */
  readonly rewriteHeaders?: (headers: IncomingHttpHeaders, seen: SeenRequest) => IncomingHttpHeaders;
  /** Destroy the connection once this many request body bytes arrived (a drop mid-upload). */
  readonly cutRequestAfter?: (seen: SeenRequest) => number | undefined;
  readonly plan?: (
    seen: SeenRequest,
    upstreamStatus: number,
    upstreamHeaders: IncomingHttpHeaders,
  ) => ResponsePlan | undefined;
}

export interface TestProxy {
  /** 127.0.0.1:PORT */
  readonly host: string;
  readonly requests: SeenRequest[];
  /** Sum of request body bytes forwarded to the registry. */
  bytesUp(): number;
  /** Sum of response body bytes sent to the client. */
  bytesDown(): number;
  close(): Promise<void>;
}

/** A plain-HTTP forwarding proxy in front of an http-mode test registry. Host headers pass through unchanged. */
export async function startProxy(upstream: TestRegistry, hooks: ProxyHooks = {}): Promise<TestProxy> {
  if (upstream.mode !== 'http') throw new Error('startProxy forwards to http-mode registries only');
  const target = new URL(upstream.url);
  const requests: SeenRequest[] = [];
  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const seen: SeenRequest = {
      method: req.method ?? 'GET',
      path: req.url ?? '/',
      headers: req.headers,
      bodyBytes: 0,
      responseBytes: 0,
    };
    requests.push(seen);
    void Promise.resolve(hooks.intercept?.(req, seen)).then(
      (canned) => {
        if (canned === undefined) {
          forward(req, res, seen);
          return;
        }
        seen.status = canned.status;
        const body = Buffer.from(canned.body ?? '');
        seen.responseBytes += body.byteLength;
        res.writeHead(canned.status, {
          connection: 'close',
          'content-type': 'text/plain',
          'content-length': String(body.byteLength),
          ...canned.headers,
        });
        res.end(body);
        req.resume();
      },
      () => res.destroy(),
    );
  });
  const forward = (req: IncomingMessage, res: ServerResponse, seen: SeenRequest): void => {
    const headers = hooks.rewriteHeaders ? hooks.rewriteHeaders({ ...req.headers }, seen) : req.headers;
    const up = httpRequest(
      { host: target.hostname, port: target.port, method: req.method, path: req.url, headers, agent: false },
      (upRes) => {
        seen.status = upRes.statusCode ?? 0;
        const plan = hooks.plan?.(seen, seen.status, upRes.headers) ?? {};
        res.writeHead(upRes.statusCode ?? 502, upRes.statusMessage, upRes.headers);
        let offset = 0;
        upRes.on('data', (chunk: Buffer) => {
          let out = chunk;
          if (plan.flipAt !== undefined && plan.flipAt >= offset && plan.flipAt < offset + chunk.byteLength) {
            out = Buffer.from(chunk);
            const i = plan.flipAt - offset;
            out[i] = (out[i] ?? 0) ^ 0xff;
          }
          if (plan.cutAfter !== undefined && offset + out.byteLength >= plan.cutAfter) {
            const keep = out.subarray(0, Math.max(0, plan.cutAfter - offset));
            seen.responseBytes += keep.byteLength;
            res.write(keep, () => res.socket?.destroy());
            upRes.destroy();
            offset += out.byteLength;
            return;
          }
          offset += out.byteLength;
          seen.responseBytes += out.byteLength;
          res.write(out);
        });
        upRes.on('end', () => res.end());
        upRes.on('error', () => res.destroy());
      },
    );
    up.on('error', () => res.destroy());
    const cutAt = hooks.cutRequestAfter?.(seen);
    req.on('data', (c: Buffer) => {
      seen.bodyBytes += c.byteLength;
      if (cutAt !== undefined && seen.bodyBytes >= cutAt) {
        seen.status = 0;
        up.destroy();
        req.socket.destroy();
      }
    });
    req.pipe(up);
  };
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    host: `127.0.0.1:${port}`,
    requests,
    bytesUp: () => requests.reduce((n, r) => n + r.bodyBytes, 0),
    bytesDown: () => requests.reduce((n, r) => n + r.responseBytes, 0),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** A TestRegistry-shaped view of a proxy, so clientFor can aim at it. */
export function viaProxy(reg: TestRegistry, proxy: { readonly host: string }): TestRegistry {
  return { ...reg, host: proxy.host, url: `http://${proxy.host}` };
}
