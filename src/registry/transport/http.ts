/**
 * The bottom of the transport stack: one HTTP(S) exchange over node:http/https. Owns keep-alive
 * agents (one per host and TLS settings), TLS options from HostSettings, forward proxies from the
 * environment (CONNECT tunnels for https, absolute form for http; see proxy.ts), streamed request
 * bodies, redirects for GET/HEAD (credentials never cross to another origin), the connect
 * timeout, the idle timeout (a response that stops sending), abort and the mapping of socket/TLS
 * failures to TransportError.
 */
import { createHash } from 'node:crypto';
import { type ClientRequest, Agent as HttpAgent, request as httpRequest, type IncomingMessage } from 'node:http';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { AbortedError, GantryError } from '../../errors.js';
import { drainsTo } from '../../oci/stream.js';
import { nodeHttps, nodeTls } from '../../util/node-tls.js';
import { TransportError } from '../errors.js';
import { refuseBlocked } from './blocked.js';
import { DEFAULT_TEXT_LIMIT, discardBody, flatHeaders, readText, sendDrained } from './body.js';
import {
  createTunnelAgent,
  type ProxySettings,
  proxyAuthorization,
  proxyError,
  proxyFor,
  proxyFromEnv,
  proxyHeaders,
  proxyPort,
  proxyTlsOptions,
  tunnelOption,
} from './proxy.js';
import { rawGet } from './raw.js';
import type { HostSettings, HostSettingsResolver, HttpRequest, HttpResponse, RoundTripper } from './types.js';

export interface HttpTransportOptions {
  readonly hostSettings?: HostSettingsResolver;
  /** Give up connecting (TCP + TLS handshake) after this long; default 30 s. */
  readonly connectTimeoutMs?: number;
  /** Redirects followed at most; default 10. */
  readonly maxRedirects?: number;
  /** Default of HttpRequest.idleTimeoutMs; default 60 s. */
  readonly idleTimeoutMs?: number;
  /** Forward proxies; default from the environment (HTTPS_PROXY, HTTP_PROXY, NO_PROXY, ...). */
  readonly proxy?: ProxySettings;
  /**
   * Bulk GETs (HttpRequest.bulk) over plain HTTP without a proxy read on a connection of their own
   * (raw.ts); default true. false: every request goes through node:http.
   */
  readonly rawBulkReads?: boolean;
}

export type HttpTransport = RoundTripper & {
  /** Closes idle keep-alive sockets and forgets the agents. */
  close(): void;
};

const DEFAULT_CONNECT_TIMEOUT_MS = 30_000;
/** No byte for this long: the attempt is given up (containerd and regctl use 30 s to minutes). */
const DEFAULT_IDLE_TIMEOUT_MS = 60_000;
const IDLE_TIMEOUT = 'IDLE_TIMEOUT';

function idleError(ms: number): Error {
  return Object.assign(new Error(`no data for ${ms / 1000}s`), { code: IDLE_TIMEOUT });
}
const DEFAULT_MAX_REDIRECTS = 10;
const REDIRECT_STATUSES: ReadonlySet<number> = new Set([301, 302, 303, 307, 308]);

/** Headers that carry credentials: never sent to an origin other than the one they were meant for. */
const CREDENTIAL_HEADERS = ['authorization', 'cookie', 'proxy-authorization'];

/** OpenSSL/Node verification codes: the server is reachable but its certificate is not trusted. */
const TLS_VERIFY_CODES: ReadonlySet<string> = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'CERT_UNTRUSTED',
  'CERT_REJECTED',
  'CERT_SIGNATURE_FAILURE',
  'INVALID_CA',
  'ERR_TLS_CERT_ALTNAME_INVALID',
  'HOSTNAME_MISMATCH',
]);

const CONNECT_CODES: ReadonlySet<string> = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EADDRNOTAVAIL',
]);

/** True when a TLS client hello was answered by a plain HTTP server (used to pick the scheme). */
export function isPlainHttpAnswer(err: unknown): boolean {
  return err instanceof TransportError && err.failure === 'tls-plain-http';
}

/** The cause code of a timeout that struck after TCP connected, while TLS was still unanswered. */
const TLS_HANDSHAKE_TIMEOUT = 'TLS_HANDSHAKE_TIMEOUT';

/**
 * True when the TCP connection was accepted but the TLS handshake got no answer in time: a sign
 * (used to pick the scheme) that the server speaks something else and waits for it, as a plain
 * HTTP forwarder that reads a request line before connecting upstream does.
 */
export function isTlsHandshakeStall(err: unknown): boolean {
  return err instanceof TransportError && err.failure === 'timeout' && errnoCode(err.cause) === TLS_HANDSHAKE_TIMEOUT;
}

function errnoCode(err: unknown): string | undefined {
  const c = (err as { code?: unknown } | null)?.code;
  return typeof c === 'string' ? c : undefined;
}

/**
 * Maps a socket-level failure to a TransportError naming the host. `connected` tells a refused
 * connection from one dropped after the request went out.
 */
export function transportError(err: unknown, url: URL, connected: boolean): GantryError {
  if (GantryError.is(err)) return err;
  const host = url.host;
  const code = errnoCode(err);
  const detail = err instanceof Error ? err.message : String(err);
  if (code && TLS_VERIFY_CODES.has(code)) {
    return new TransportError('TLS_ERROR', 'tls-verify', host, `TLS certificate of ${host} not trusted: ${detail}`, {
      suggestion: `add its CA as ~/.docker/certs.d/${host}/ca.crt or /etc/docker/certs.d/${host}/ca.crt, or use --insecure`,
      cause: err,
    });
  }
  if (
    code === 'ERR_SSL_WRONG_VERSION_NUMBER' ||
    code === 'ERR_SSL_PACKET_LENGTH_TOO_LONG' ||
    /wrong version number|packet length too long|http request/i.test(detail)
  ) {
    return new TransportError('TLS_ERROR', 'tls-plain-http', host, `${host} answered TLS with plain HTTP`, {
      suggestion: `use --plain-http, or set http = true for ${host} in registries.toml`,
      cause: err,
    });
  }
  if (code?.startsWith('ERR_SSL_') || code === 'EPROTO' || code?.startsWith('ERR_TLS_')) {
    return new TransportError('TLS_ERROR', 'tls', host, `TLS handshake with ${host} failed: ${detail}`, {
      suggestion: `check the registry's TLS setup and client certificates under ~/.docker/certs.d/${host}/`,
      cause: err,
    });
  }
  if (code === TLS_HANDSHAKE_TIMEOUT) {
    return new TransportError('CONNECTION_FAILED', 'timeout', host, `TLS handshake with ${host} timed out`, {
      suggestion: `if ${host} serves plain HTTP, use --plain-http or set http = true for ${host} in registries.toml`,
      cause: err,
    });
  }
  if (code === IDLE_TIMEOUT) {
    return new TransportError('CONNECTION_FAILED', 'timeout', host, `${host} stalled: ${detail}`, {
      suggestion: 'gantry retries or resumes a stalled transfer; raise --idle-timeout for a slow link',
      cause: err,
    });
  }
  if (code === 'ETIMEDOUT' || code === 'CONNECT_TIMEOUT') {
    return new TransportError('CONNECTION_FAILED', 'timeout', host, `connection to ${host} timed out`, {
      suggestion: `check that ${host} is reachable from here (network, proxy, firewall)`,
      cause: err,
    });
  }
  if (!connected || (code && CONNECT_CODES.has(code))) {
    return new TransportError('CONNECTION_FAILED', 'connect', host, `cannot connect to ${host}: ${code ?? detail}`, {
      suggestion:
        code === 'ENOTFOUND' || code === 'EAI_AGAIN'
          ? `check the registry name ${url.hostname} and your DNS`
          : `check that the registry at ${host} is running and reachable`,
      cause: err,
    });
  }
  return new TransportError('CONNECTION_FAILED', 'reset', host, `connection to ${host} failed: ${code ?? detail}`, {
    suggestion: 'the connection dropped; gantry retries what it safely can, so try again',
    cause: err,
  });
}

function settingsKey(protocol: string, host: string, s: HostSettings): string {
  const h = createHash('sha256');
  h.update(`${protocol}//${host}\0${s.insecure ? 1 : 0}\0`);
  for (const ca of s.ca ?? []) h.update(ca).update('\0');
  if (s.clientCert) h.update(s.clientCert.cert).update('\0').update(s.clientCert.key);
  return h.digest('hex');
}

interface Attempt {
  readonly res: IncomingMessage;
  readonly req: ClientRequest;
}

/**
 * Creates the HTTP transport. Each request is sent to exactly the URL it names (the scheme is the
 * caller's choice; see registryBaseUrl); TLS settings come from `hostSettings(url.host)`.
 */
export function createHttpTransport(options: HttpTransportOptions = {}): HttpTransport {
  const agents = new Map<string, HttpAgent>();
  const staleFailures = new WeakSet<object>();
  const connectTimeoutMs = options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
  const maxRedirects = options.maxRedirects ?? DEFAULT_MAX_REDIRECTS;
  const idleFor = (request: HttpRequest): number =>
    request.idleTimeoutMs ?? options.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS;
  const proxies = options.proxy ?? proxyFromEnv();

  function agentFor(url: URL, proxy: URL | undefined, settings: HostSettings): HttpAgent {
    if (proxy && url.protocol === 'http:') {
      // Absolute-form requests share the connections to the proxy, whatever their target.
      const key = `proxy\0${proxy.href}`;
      let agent = agents.get(key);
      if (!agent) {
        agent =
          proxy.protocol === 'https:'
            ? new (nodeHttps().Agent)({ keepAlive: true, ...proxyTlsOptions(proxy, proxies.proxyCa) })
            : new HttpAgent({ keepAlive: true });
        agents.set(key, agent);
      }
      return agent;
    }
    const key = `${settingsKey(url.protocol, url.host, settings)}${proxy ? `\0${proxy.href}` : ''}`;
    let agent = agents.get(key);
    if (agent) return agent;
    if (url.protocol === 'https:') {
      const tls = {
        keepAlive: true,
        // Extra CAs are added to the system's: a registry's own CA must not distrust the rest.
        ...(settings.ca && settings.ca.length > 0
          ? { ca: [...nodeTls().rootCertificates, ...settings.ca.map((c) => c.toString('utf8'))] }
          : {}),
        ...(settings.clientCert ? { cert: settings.clientCert.cert, key: settings.clientCert.key } : {}),
        rejectUnauthorized: settings.insecure !== true,
      };
      agent = proxy ? createTunnelAgent(proxy, tls, proxies.proxyCa) : new (nodeHttps().Agent)(tls);
    } else {
      agent = new HttpAgent({ keepAlive: true });
    }
    agents.set(key, agent);
    return agent;
  }

  /**
   * One exchange with one URL, no redirects. Resolves when the response head arrives. A request
   * reset on a reused keep-alive socket before any answer is sent once more on a fresh connection,
   * whatever its method, when it carried no body byte: the server closed that idle socket as the
   * request went out, so it never saw the request (the retry Node's docs recommend for
   * `reusedSocket`). With body bytes on the wire the server may have been reading them, and a body
   * factory may be one-shot (an upload's PATCH stream), so that failure is left to the caller as a
   * temporary one: the retry layer or the upload decides whether asking again is safe.
   */
  async function exchange(
    request: HttpRequest,
    url: URL,
    headers: Record<string, string>,
    withBody: boolean,
  ): Promise<Attempt> {
    try {
      return await exchangeOnce(request, url, headers, withBody);
    } catch (err) {
      if (!staleFailures.has(err as object)) throw err;
      return exchangeOnce(request, url, headers, withBody);
    }
  }

  async function exchangeOnce(
    request: HttpRequest,
    url: URL,
    headers: Record<string, string>,
    withBody: boolean,
  ): Promise<Attempt> {
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      throw new TransportError('PROTOCOL_ERROR', 'protocol', url.host, `unsupported URL scheme ${url.protocol}`, {
        suggestion: 'registries are reached over http or https',
      });
    }
    const signal = request.signal;
    if (signal?.aborted) throw new AbortedError({ cause: signal.reason });
    const settings = (await options.hostSettings?.(url.host)) ?? {};
    // A block, or a proxy variable that cannot be used, fails the request before anything is sent.
    if (settings.blocked) refuseBlocked(url, settings.blocked);
    const proxy = proxyFor(url, proxies);
    const agent = agentFor(url, proxy, settings);
    const body = withBody ? request.body : undefined;
    const outHeaders: Record<string, string> = { ...headers };
    if (body === undefined) {
      // An empty POST/PUT would otherwise go out chunked, which some proxies refuse.
      if (request.method !== 'GET' && request.method !== 'HEAD') outHeaders['content-length'] = '0';
    } else if (Buffer.isBuffer(body)) {
      outHeaders['content-length'] = String(body.length);
    } else if (request.bodyLength !== undefined) {
      outHeaders['content-length'] = String(request.bodyLength);
    }
    // The body is opened before the request goes out, so a failing opener sends nothing.
    const source = typeof body === 'function' ? await body() : undefined;
    // A Buffer goes out with the head in one write, and a factory's stream starts flowing at once,
    // so "no body byte written" holds exactly for requests without a body or with an empty one.
    const resendable = body === undefined || (Buffer.isBuffer(body) && body.length === 0);
    const timeoutMs = request.connectTimeoutMs ?? connectTimeoutMs;

    return new Promise<Attempt>((resolve, reject) => {
      let settled = false;
      let connected = false;
      let bodyError: unknown;
      let timer: NodeJS.Timeout | undefined;
      let headTimer: NodeJS.Timeout | undefined;
      const send = url.protocol === 'https:' ? nodeHttps().request : httpRequest;
      const req =
        proxy && url.protocol === 'http:'
          ? (proxy.protocol === 'https:' ? nodeHttps().request : httpRequest)({
              // Absolute form: the proxy reads the target from the request line.
              host: proxy.hostname.replace(/^\[|\]$/g, ''),
              port: proxyPort(proxy),
              path: url.href,
              ...(proxy.protocol === 'https:' ? proxyTlsOptions(proxy, proxies.proxyCa) : {}),
              method: request.method,
              headers: { ...outHeaders, host: url.host, ...proxyHeaders(proxy) },
              agent,
            })
          : send(url, {
              method: request.method,
              headers: outHeaders,
              agent,
              ...(proxy ? tunnelOption({ timeoutMs, ...(signal ? { signal } : {}) }) : {}),
            });
      // A request without a body waits for the head at most the idle timeout once it is sent (with
      // a body, the server may rightly take its time to commit what it received).
      const idleMs = idleFor(request);
      if (resendable && idleMs > 0) {
        req.once('finish', () => {
          if (!settled) headTimer = setTimeout(() => req.destroy(idleError(idleMs)), idleMs);
        });
      }

      const fail = (err: unknown): void => {
        if (timer) clearTimeout(timer);
        if (headTimer) clearTimeout(headTimer);
        signal?.removeEventListener('abort', onAbort);
        if (settled) return;
        settled = true;
        source?.destroy();
        if (bodyError !== undefined) {
          reject(bodyError);
          return;
        }
        if (signal?.aborted) {
          reject(new AbortedError({ cause: signal.reason }));
          return;
        }
        const mapped =
          proxy && url.protocol === 'http:' && !connected && !GantryError.is(err)
            ? proxyError(proxy, url.host, `cannot be reached: ${errnoCode(err) ?? String(err)}`, 'connect', err)
            : transportError(err, url, connected);
        const code = errnoCode(err);
        if (resendable && req.reusedSocket && (code === 'ECONNRESET' || code === 'EPIPE')) staleFailures.add(mapped);
        reject(mapped);
      };
      const onAbort = (): void => {
        req.destroy(new AbortedError({ cause: signal?.reason }));
      };
      signal?.addEventListener('abort', onAbort, { once: true });

      req.on('socket', (socket) => {
        // A reused keep-alive socket is connected already; only a new one gets the timeout.
        if (!socket.connecting) {
          connected = true;
          return;
        }
        let tcpConnected = false;
        timer = setTimeout(() => {
          const stalled = tcpConnected && url.protocol === 'https:';
          const message = stalled
            ? `no TLS answer within ${timeoutMs} ms of connecting`
            : `no connection within ${timeoutMs} ms`;
          req.destroy(Object.assign(new Error(message), { code: stalled ? TLS_HANDSHAKE_TIMEOUT : 'CONNECT_TIMEOUT' }));
        }, timeoutMs);
        socket.once('connect', () => {
          tcpConnected = true;
        });
        // Through an https:// proxy the first TLS handshake is with the proxy.
        const secureHop = url.protocol === 'https:' || proxy?.protocol === 'https:';
        socket.once(secureHop ? 'secureConnect' : 'connect', () => {
          connected = true;
          if (timer) clearTimeout(timer);
        });
      });
      req.on('error', fail);
      req.on('response', (res) => {
        if (timer) clearTimeout(timer);
        if (headTimer) clearTimeout(headTimer);
        connected = true;
        if (settled) {
          res.destroy();
          return;
        }
        if (proxy && url.protocol === 'http:' && res.statusCode === 407) {
          // The proxy's answer, not the registry's: no auth layer above can cure it.
          res.destroy();
          fail(
            proxyError(
              proxy,
              url.host,
              `${proxyAuthorization(proxy) ? 'rejected the credentials' : 'requires credentials'}: 407 ${res.statusMessage ?? ''}`.trimEnd(),
              'proxy',
            ),
          );
          return;
        }
        settled = true;
        // The abort listener stays until the body is done: aborting mid-body destroys the socket.
        res.once('close', () => signal?.removeEventListener('abort', onAbort));
        resolve({ res, req });
      });

      if (source) {
        // A failure of the body's own source is the caller's error, not a connection problem.
        const onSourceError = (err: unknown): void => {
          if (!settled) bodyError ??= err;
        };
        source.once('error', onSourceError);
        if (drainsTo(source)) sendDrained(source, req, onSourceError);
        else
          pipeline(source, req).catch(() => {
            // Reported through req's 'error' (fail). After the response head arrived the server has
            // spoken (e.g. 413 before reading the whole body), so a broken upload no longer matters.
          });
      } else if (Buffer.isBuffer(body)) {
        req.end(body);
      } else {
        req.end();
      }
    });
  }

  function wrapResponse(request: HttpRequest, url: URL, res: IncomingMessage, req: ClientRequest): HttpResponse {
    const { headers, all } = flatHeaders(res.rawHeaders);
    // Socket errors in the body become TransportErrors too, so a reader (e.g. a resuming blob
    // fetch) can tell a dropped connection from its own failures. The body is a Readable fed by
    // res's 'data' events (no PassThrough: one stream hop less per chunk); res is paused while the
    // body holds a mark's worth the reader has not taken, and resumed whenever the reader asks.
    const body = new Readable({
      highWaterMark: 64 * 1024,
      read() {
        if (res.isPaused()) res.resume();
      },
    });
    const fail = (err: unknown): void => {
      if (body.destroyed) return;
      const signal = request.signal;
      body.destroy(signal?.aborted ? new AbortedError({ cause: signal.reason }) : transportError(err, url, true));
    };
    res.on('error', fail);
    // A body that stops arriving for the idle timeout fails as a dropped connection would, so a
    // resuming reader (blob GET) carries on with Range. A consumer that is not reading (backpressure
    // pauses res) is no stall of the server.
    const idleMs = idleFor(request);
    let idle: NodeJS.Timeout | undefined;
    const arm = (): void => {
      if (idle) clearTimeout(idle);
      idle = idleMs > 0 && !res.complete && !body.destroyed ? setTimeout(onIdle, idleMs) : undefined;
    };
    const onIdle = (): void => {
      if (res.isPaused() || body.readableLength >= body.readableHighWaterMark) arm();
      else fail(idleError(idleMs));
    };
    res.on('data', (chunk: Buffer) => {
      arm();
      if (!body.push(chunk)) res.pause();
    });
    res.once('end', () => {
      clearTimeout(idle);
      body.push(null);
    });
    arm();
    body.on('close', () => {
      clearTimeout(idle);
      if (!res.complete) {
        res.destroy();
        req.destroy();
      }
    });
    // Node reports a response cut short (Content-Length not reached) as an error on res; where it
    // only emits 'aborted', that is turned into one.
    res.on('aborted', () => fail(Object.assign(new Error('aborted'), { code: 'ECONNRESET' })));
    return {
      status: res.statusCode ?? 0,
      statusText: res.statusMessage ?? '',
      headers,
      all,
      url,
      request,
      body,
      text: (limit = DEFAULT_TEXT_LIMIT) => readText(body, limit),
      discard: () => discardBody(body, headers['content-length']),
    };
  }

  /** A bulk GET over plain HTTP with no proxy: read by raw.ts on a connection of its own. */
  const rawEligible = (request: HttpRequest, url: URL): boolean =>
    request.bulk === true && request.method === 'GET' && options.rawBulkReads !== false && url.protocol === 'http:'
      ? proxyFor(url, proxies) === undefined
      : false;

  async function rawExchange(request: HttpRequest, url: URL, headers: Record<string, string>): Promise<HttpResponse> {
    const settings = (await options.hostSettings?.(url.host)) ?? {};
    if (settings.blocked) refuseBlocked(url, settings.blocked);
    const res = await rawGet(url, {
      headers,
      connectTimeoutMs: request.connectTimeoutMs ?? connectTimeoutMs,
      idleTimeoutMs: idleFor(request),
      ...(request.signal ? { signal: request.signal } : {}),
      mapError: (err, connected) => transportError(err, url, connected),
      idleError,
      connectTimeoutError: (ms) =>
        Object.assign(new Error(`no connection within ${ms} ms`), { code: 'CONNECT_TIMEOUT' }),
    });
    return {
      status: res.status,
      statusText: res.statusText,
      headers: res.headers,
      all: res.all,
      url,
      request,
      body: res.body,
      text: (limit = DEFAULT_TEXT_LIMIT) => readText(res.body, limit),
      discard: () => discardBody(res.body, res.headers['content-length']),
    };
  }

  /** One exchange; `redirected` (the response's body already dropped) when it is a redirect to follow. */
  async function exchangeFollowing(
    request: HttpRequest,
    url: URL,
    headers: Record<string, string>,
    first: boolean,
    follow: boolean,
  ): Promise<{ response: HttpResponse; location?: undefined } | { response?: undefined; location: string }> {
    if (rawEligible(request, url)) {
      const response = await rawExchange(request, url, headers);
      const location = response.headers.location;
      if (!follow || !REDIRECT_STATUSES.has(response.status) || location === undefined) return { response };
      response.body.destroy();
      return { location };
    }
    const { res, req } = await exchange(request, url, headers, first);
    const location = res.headers.location;
    if (!follow || !REDIRECT_STATUSES.has(res.statusCode ?? 0) || location === undefined) {
      return { response: wrapResponse(request, url, res, req) };
    }
    res.resume();
    return { location };
  }

  const roundTrip = async (request: HttpRequest): Promise<HttpResponse> => {
    const follow = request.followRedirects ?? (request.method === 'GET' || request.method === 'HEAD');
    let url = request.url;
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(request.headers ?? {})) headers[k.toLowerCase()] = v;
    const origin = request.url.origin;
    for (let hop = 0; ; hop++) {
      const { response, location } = await exchangeFollowing(request, url, headers, hop === 0, follow);
      if (response) return response;
      if (hop >= maxRedirects) {
        throw new TransportError(
          'TOO_MANY_REDIRECTS',
          'redirect',
          url.host,
          `more than ${maxRedirects} redirects from ${request.url.host}`,
          { suggestion: 'the registry or a proxy in front of it is misconfigured (redirect loop)' },
        );
      }
      let next: URL;
      try {
        next = new URL(location, url);
      } catch (err) {
        throw new TransportError('PROTOCOL_ERROR', 'protocol', url.host, `${url.host} redirected to an invalid URL`, {
          suggestion: 'the registry or a proxy in front of it is misconfigured',
          cause: err,
        });
      }
      if (next.protocol === 'http:' && url.protocol === 'https:' && next.host === url.host) {
        // A downgrade on the same host would expose the credentials in clear text.
        for (const h of CREDENTIAL_HEADERS) delete headers[h];
      }
      // Credentials belong to the origin of the original request (scheme, host and port): a
      // redirect to blob storage elsewhere must not carry them, and they do not come back.
      if (next.origin !== origin) for (const h of CREDENTIAL_HEADERS) delete headers[h];
      url = next;
    }
  };

  return Object.assign(roundTrip, {
    close(): void {
      for (const agent of agents.values()) agent.destroy();
      agents.clear();
    },
  });
}
