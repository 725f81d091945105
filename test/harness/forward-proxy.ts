/**
 * Test harness: a loopback forward proxy as corporate networks run them. It answers CONNECT with a
 * tunnel and forwards absolute-form requests (`GET http://host:port/path`), optionally demands
 * basic credentials (407 with Proxy-Authenticate), and resolves names itself from a table
 * (`registry.proxy-only.test:5000` -> `127.0.0.1:5000`), so a request that reaches the target by
 * such a name can only have come through it. It records what it saw.
 */
import {
  createServer,
  request as httpRequest,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { type AddressInfo, connect as netConnect, type Socket } from 'node:net';

export interface ForwardProxyOptions {
  /** Names only the proxy resolves: 'name:port' -> 'ip:port'. Other targets get 502. */
  readonly hosts: Readonly<Record<string, string>>;
  /** Demand these credentials (Proxy-Authorization: Basic). */
  readonly credentials?: { readonly username: string; readonly password: string };
  /** Refuse every request and tunnel with 403. */
  readonly refuse?: boolean;
  /** Serve the proxy itself over TLS (an https:// proxy) with this certificate. */
  readonly tls?: { readonly cert: Buffer; readonly key: Buffer };
}

export interface ProxySighting {
  readonly method: string;
  /** CONNECT's host:port, or the absolute URL of a forwarded request. */
  readonly target: string;
  readonly proxyAuthorization?: string;
  /** The status the proxy answered (200 for an established tunnel). */
  readonly status: number;
}

export interface ForwardProxy {
  /** `http://127.0.0.1:PORT`, or `https://...` with `tls` */
  readonly url: string;
  readonly port: number;
  readonly seen: ProxySighting[];
  close(): Promise<void>;
}

export async function startForwardProxy(options: ForwardProxyOptions): Promise<ForwardProxy> {
  const seen: ProxySighting[] = [];
  const sockets = new Set<Socket>();
  const expected = options.credentials
    ? `Basic ${Buffer.from(`${options.credentials.username}:${options.credentials.password}`).toString('base64')}`
    : undefined;

  /** The status to refuse with, or undefined to go ahead. */
  const verdict = (req: IncomingMessage): number | undefined => {
    if (options.refuse) return 403;
    if (expected !== undefined && req.headers['proxy-authorization'] !== expected) return 407;
    return undefined;
  };
  const record = (req: IncomingMessage, target: string, status: number): void => {
    const auth = req.headers['proxy-authorization'];
    seen.push({ method: req.method ?? '', target, status, ...(auth ? { proxyAuthorization: auth } : {}) });
  };

  const handler = (req: IncomingMessage, res: ServerResponse): void => {
    const target = req.url ?? '';
    let url: URL;
    try {
      url = new URL(target);
    } catch {
      record(req, target, 400);
      res.writeHead(400).end('absolute-form request expected');
      return;
    }
    const refused = verdict(req);
    const mapped = options.hosts[url.host];
    const status = refused ?? (mapped === undefined || url.protocol !== 'http:' ? 502 : 0);
    if (status !== 0) {
      record(req, target, status);
      res.writeHead(status, status === 407 ? { 'proxy-authenticate': 'Basic realm="test proxy"' } : {}).end();
      return;
    }
    const [host, port] = (mapped as string).split(':');
    const headers = { ...req.headers };
    delete headers['proxy-authorization'];
    delete headers['proxy-connection'];
    const upstream = httpRequest(
      { host, port: Number(port), method: req.method, path: `${url.pathname}${url.search}`, headers },
      (up) => {
        record(req, target, up.statusCode ?? 0);
        res.writeHead(up.statusCode ?? 502, up.headers);
        up.pipe(res);
      },
    );
    upstream.on('error', () => {
      if (!res.headersSent) res.writeHead(502);
      res.end();
    });
    req.pipe(upstream);
  };
  const server: Server = options.tls ? createHttpsServer({ ...options.tls }, handler) : createServer(handler);

  server.on(options.tls ? 'secureConnection' : 'connection', (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });

  server.on('connect', (req: IncomingMessage, client: Socket, head: Buffer) => {
    const target = req.url ?? '';
    const refused = verdict(req);
    const mapped = options.hosts[target];
    const status = refused ?? (mapped === undefined ? 502 : 0);
    if (status !== 0) {
      record(req, target, status);
      const extra = status === 407 ? 'Proxy-Authenticate: Basic realm="test proxy"\r\n' : '';
      client.end(
        `HTTP/1.1 ${status} ${status === 407 ? 'Proxy Authentication Required' : 'Refused'}\r\n${extra}Content-Length: 0\r\n\r\n`,
      );
      return;
    }
    const [host, port] = (mapped as string).split(':');
    const upstream = netConnect({ host: host as string, port: Number(port) }, () => {
      record(req, target, 200);
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      if (head.length > 0) upstream.write(head);
      upstream.pipe(client);
      client.pipe(upstream);
    });
    sockets.add(upstream);
    upstream.on('close', () => sockets.delete(upstream));
    upstream.on('error', () => client.destroy());
    client.on('error', () => upstream.destroy());
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  return {
    url: `${options.tls ? 'https' : 'http'}://127.0.0.1:${port}`,
    port,
    seen,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
