/**
 * The composed transport for one registry: user agent and the command's signal -> auth (ping,
 * challenge, basic/bearer, token cache) -> retry -> http; token requests go through retry -> http
 * as well. Also decides the scheme for a registry (registryBaseUrl).
 */
import { readFileSync } from 'node:fs';
import { registryHost } from '../../reference/index.js';
import type { Keychain } from '../auth/credential.js';
import { withAuth } from './auth.js';
import { createHttpTransport, type HttpTransport, isPlainHttpAnswer, isTlsHandshakeStall } from './http.js';
import type { ProxySettings } from './proxy.js';
import { type RetryOptions, withRetry } from './retry.js';
import type { HostSettings, HostSettingsResolver, HttpRequest, RoundTripper } from './types.js';

export interface TransportOptions {
  readonly keychain: Keychain;
  readonly hostSettings?: HostSettingsResolver;
  /** Default `gantry/<version>`. */
  readonly userAgent?: string;
  readonly retry?: RetryOptions;
  /** The command's overall deadline/cancel; combined with each request's own signal. */
  readonly signal?: AbortSignal;
  /**
   * The HTTP layer to send through; default one shared by every transport with the same
   * hostSettings resolver, so keep-alive connections are reused across registries' transports.
   */
  readonly http?: RoundTripper;
  /** Connect timeout of the default HTTP layer; default 30 s. */
  readonly connectTimeoutMs?: number;
  /** Idle timeout of every request (see HttpRequest.idleTimeoutMs); default the HTTP layer's. */
  readonly idleTimeoutMs?: number;
  /** Forward proxies of the default HTTP layer; default from the environment (proxy.ts). */
  readonly proxy?: ProxySettings;
}

let cachedUserAgent: string | undefined;

/** `gantry/<version>` from the package's own package.json. */
export function defaultUserAgent(): string {
  if (cachedUserAgent === undefined) {
    try {
      const pkg = JSON.parse(readFileSync(new URL('../../../../package.json', import.meta.url), 'utf8')) as {
        version?: unknown;
      };
      cachedUserAgent = typeof pkg.version === 'string' ? `gantry/${pkg.version}` : 'gantry';
    } catch {
      cachedUserAgent = 'gantry';
    }
  }
  return cachedUserAgent;
}

const sharedByResolver = new WeakMap<HostSettingsResolver, HttpTransport>();
const sharedByTimeout = new Map<number, HttpTransport>();

const ownProxied = new WeakMap<TransportOptions, HttpTransport>();

function httpFor(options: TransportOptions): RoundTripper {
  if (options.http) return options.http;
  if (options.proxy) {
    // Explicit proxies (tests, library callers) get their own connections.
    let t = ownProxied.get(options);
    if (!t) {
      t = createHttpTransport({
        proxy: options.proxy,
        ...(options.hostSettings ? { hostSettings: options.hostSettings } : {}),
        ...(options.connectTimeoutMs !== undefined ? { connectTimeoutMs: options.connectTimeoutMs } : {}),
      });
      ownProxied.set(options, t);
    }
    return t;
  }
  const timeout = options.connectTimeoutMs ?? 30_000;
  const resolver = options.hostSettings;
  if (resolver && options.connectTimeoutMs === undefined) {
    let t = sharedByResolver.get(resolver);
    if (!t) {
      t = createHttpTransport({ hostSettings: resolver });
      sharedByResolver.set(resolver, t);
    }
    return t;
  }
  if (resolver) return createHttpTransport({ hostSettings: resolver, connectTimeoutMs: timeout });
  let t = sharedByTimeout.get(timeout);
  if (!t) {
    t = createHttpTransport({ connectTimeoutMs: timeout });
    sharedByTimeout.set(timeout, t);
  }
  return t;
}

/**
 * One signal per request that follows both. Always a fresh one: every request then listens on its
 * own signal, and many concurrent requests do not pile listeners onto the command's signal.
 */
function combine(a: AbortSignal | undefined, b: AbortSignal | undefined): AbortSignal | undefined {
  const list = [a, b].filter((s): s is AbortSignal => s !== undefined);
  return list.length === 0 ? undefined : AbortSignal.any(list);
}

function withDefaults(
  inner: RoundTripper,
  userAgent: string,
  signal: AbortSignal | undefined,
  idleTimeoutMs: number | undefined,
): RoundTripper {
  return (request) => {
    const hasAgent = Object.keys(request.headers ?? {}).some((k) => k.toLowerCase() === 'user-agent');
    const merged = combine(signal, request.signal);
    const out: HttpRequest = {
      ...request,
      headers: hasAgent ? { ...request.headers } : { 'user-agent': userAgent, ...request.headers },
      ...(merged ? { signal: merged } : {}),
      ...(idleTimeoutMs !== undefined && request.idleTimeoutMs === undefined ? { idleTimeoutMs } : {}),
    };
    return inner(out);
  };
}

/** A RoundTripper for one registry: user agent -> auth -> retry -> http. */
export function createRegistryTransport(registry: string, options: TransportOptions): RoundTripper {
  const userAgent = options.userAgent ?? defaultUserAgent();
  const retrying = withRetry(httpFor(options), options.retry);
  const tokenTransport = withDefaults(retrying, userAgent, options.signal, options.idleTimeoutMs);
  const authed = withAuth(retrying, {
    registry,
    host: registryHost(registry),
    keychain: options.keychain,
    tokenTransport,
    userAgent,
  });
  return withDefaults(authed, userAgent, options.signal, options.idleTimeoutMs);
}

function isLoopback(hostname: string): boolean {
  const h = hostname.replace(/^\[|\]$/g, '').toLowerCase();
  return h === 'localhost' || h.endsWith('.localhost') || h === '::1' || /^127\.\d+\.\d+\.\d+$/.test(h);
}

/** Whether the scheme must be found out: loopback or insecure hosts without an explicit plain-HTTP setting. */
function probes(hostname: string, settings: HostSettings): boolean {
  if (settings.ca?.length || settings.clientCert) return false;
  return settings.insecure === true || isLoopback(hostname);
}

const schemeCache = new WeakMap<TransportOptions, Map<string, Promise<URL>>>();

/**
 * How long a loopback probe waits for a TLS answer once TCP is connected. A TLS server on this
 * machine answers a ClientHello in milliseconds; a plain HTTP front end that waits for a request
 * line (a raw forwarder) never answers it, and waiting the whole connect timeout for that would
 * end in "timed out" instead of the http fallback.
 */
const LOOPBACK_TLS_WAIT_MS = 2_000;

/** What a TLS server's plain-HTTP listener says (Go: "Client sent an HTTP request to an HTTPS server"). */
function isHttpsPortAnswer(status: number, text: string): boolean {
  return status === 400 && /\bHTTPS\b/.test(text);
}

async function probe(host: string, hostname: string, options: TransportOptions): Promise<URL> {
  const https = new URL(`https://${host}`);
  const http = new URL(`http://${host}`);
  const send = httpFor(options);
  const headers = { 'user-agent': options.userAgent ?? defaultUserAgent() };
  const signal = options.signal ? { signal: options.signal } : {};
  const timeout = Math.min(LOOPBACK_TLS_WAIT_MS, options.connectTimeoutMs ?? LOOPBACK_TLS_WAIT_MS);
  try {
    const res = await send({
      method: 'GET',
      url: new URL('/v2/', https),
      headers,
      ...(isLoopback(hostname) ? { connectTimeoutMs: timeout } : {}),
      ...signal,
    });
    await res.discard();
    return https;
  } catch (err) {
    // Only a server that answers TLS in plain HTTP proves the scheme; anything else (refused,
    // untrusted certificate) is for the real request to report.
    if (isPlainHttpAnswer(err)) return http;
    if (options.signal?.aborted) throw err;
    if (!isTlsHandshakeStall(err)) return https;
  }
  // TLS went unanswered on loopback: the scheme is http when the server answers it in HTTP, unless
  // the answer is a TLS server's "plain HTTP sent to an HTTPS port" (a handshake slower than our wait).
  try {
    const res = await send({ method: 'GET', url: new URL('/v2/', http), headers, ...signal });
    const text = res.status === 400 ? await res.text(4096) : '';
    await res.discard();
    return isHttpsPortAnswer(res.status, text) ? https : http;
  } catch (err) {
    if (options.signal?.aborted) throw err;
    return https;
  }
}

/**
 * The base URL for a registry, e.g. https://registry-1.docker.io. Plain HTTP when the settings
 * say so; https otherwise, except that loopback (and --insecure) hosts without settings fall back
 * to http when their TLS handshake is answered in plain HTTP, and loopback hosts also when it goes
 * unanswered for a short while but HTTP is answered (found out once, then cached).
 */
export async function registryBaseUrl(registry: string, options: TransportOptions): Promise<URL> {
  const host = registryHost(registry);
  const settings = (await options.hostSettings?.(host)) ?? {};
  if (settings.plainHttp) return new URL(`http://${host}`);
  const hostname = new URL(`https://${host}`).hostname;
  if (!probes(hostname, settings)) return new URL(`https://${host}`);
  let perOptions = schemeCache.get(options);
  if (!perOptions) {
    perOptions = new Map();
    schemeCache.set(options, perOptions);
  }
  let decided = perOptions.get(host);
  if (!decided) {
    decided = probe(host, hostname, options);
    perOptions.set(host, decided);
    const cache = perOptions;
    decided.catch(() => cache.delete(host));
  }
  return new URL((await decided).href);
}
