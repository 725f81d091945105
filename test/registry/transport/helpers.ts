/**
 * Helpers for the transport tests: small real HTTP(S) servers on loopback that record what they
 * were sent, a keychain over a fixed table, and temp dirs.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Credential, Keychain } from '../../../src/registry/auth/credential.js';

export interface Recorded {
  readonly method: string;
  readonly url: string;
  readonly headers: IncomingMessage['headers'];
  readonly body: Buffer;
}

export interface TestServer {
  /** `http(s)://HOST:PORT` */
  readonly url: string;
  /** `HOST:PORT` */
  readonly host: string;
  readonly requests: Recorded[];
  close(): Promise<void>;
}

export type Handler = (req: IncomingMessage, res: ServerResponse, body: Buffer) => unknown;

export interface ServerOptions {
  /** Loopback address; default 127.0.0.1. */
  readonly host?: string;
  readonly tls?: { readonly cert: Buffer; readonly key: Buffer; readonly ca?: Buffer; readonly requestCert?: boolean };
  /** Hand the request over before reading its body (the handler reads it, or not). */
  readonly raw?: boolean;
}

/** Starts a server; unless `raw`, the body is read first and recorded. */
export async function startServer(handler: Handler, options: ServerOptions = {}): Promise<TestServer> {
  const requests: Recorded[] = [];
  const listener = (req: IncomingMessage, res: ServerResponse): void => {
    const finish = (body: Buffer): void => {
      requests.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body });
      Promise.resolve(handler(req, res, body)).catch((err: unknown) => {
        res.destroy(err instanceof Error ? err : new Error(String(err)));
      });
    };
    if (options.raw) {
      finish(Buffer.alloc(0));
      return;
    }
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => finish(Buffer.concat(chunks)));
    req.on('error', () => {});
  };
  const server: Server = options.tls
    ? createHttpsServer(
        {
          cert: options.tls.cert,
          key: options.tls.key,
          ...(options.tls.ca ? { ca: options.tls.ca } : {}),
          requestCert: options.tls.requestCert === true,
          rejectUnauthorized: options.tls.requestCert === true,
        },
        listener,
      )
    : createHttpServer(listener);
  const address = options.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, address, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  const host = `${address}:${port}`;
  return {
    url: `${options.tls ? 'https' : 'http'}://${host}`,
    host,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** A keychain over a fixed table, counting lookups. */
export function tableKeychain(table: Readonly<Record<string, Credential>>): Keychain & { lookups: string[] } {
  const lookups: string[] = [];
  return {
    lookups,
    resolve(registry: string): Promise<Credential | undefined> {
      lookups.push(registry);
      return Promise.resolve(table[registry]);
    },
  };
}

export const anonymous: Keychain = { resolve: () => Promise.resolve(undefined) };

export async function withTempDir<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), 'gantry-transport-'));
  try {
    return await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

export function basicOf(header: string | undefined): { username: string; password: string } | undefined {
  if (!header?.startsWith('Basic ')) return undefined;
  const text = Buffer.from(header.slice(6), 'base64').toString('utf8');
  const i = text.indexOf(':');
  return { username: text.slice(0, i), password: text.slice(i + 1) };
}
