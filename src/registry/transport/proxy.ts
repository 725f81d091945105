/**
 * Forward proxies from the environment, as curl and Go read them: which proxy (if any) a request
 * goes through (http_proxy / https_proxy / all_proxy, lowercase first as curl does, then
 * uppercase), the NO_PROXY list (domains with or without a leading dot, IPs, CIDRs, ports, `*`),
 * and the CONNECT tunnel that carries https through an http:// proxy. Plain http goes to the
 * proxy in absolute form (http.ts). Loopback hosts are never proxied, as in Go.
 */
import type { Agent as HttpsAgent, AgentOptions as HttpsAgentOptions } from 'node:https';
import { isIP, connect as netConnect, type Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { GantryError } from '../../errors.js';
import { nodeHttps, nodeTls } from '../../util/node-tls.js';
import { TransportError } from '../errors.js';

/** The proxies of one environment. */
export interface ProxySettings {
  /** For http:// requests. */
  readonly http?: URL;
  /** For https:// requests. */
  readonly https?: URL;
  /** Extra CAs for https:// proxies' own certificates, added to the system's (library callers, tests). */
  readonly proxyCa?: readonly Buffer[];
  /** The parsed NO_PROXY list. */
  readonly noProxy: readonly NoProxyRule[];
  /** Proxy variables that could not be used, per scheme, reported when a request needs one. */
  readonly invalid?: { readonly http?: InvalidProxy; readonly https?: InvalidProxy };
}

export interface InvalidProxy {
  readonly variable: string;
  /** The value with any credentials masked. */
  readonly value: string;
  readonly reason: string;
}

export type NoProxyRule =
  | { readonly kind: 'all' }
  | { readonly kind: 'domain'; readonly domain: string; readonly port?: number }
  | { readonly kind: 'ip'; readonly ip: string; readonly port?: number }
  | {
      readonly kind: 'cidr';
      readonly family: 4 | 6;
      readonly bits: bigint;
      readonly prefix: number;
      /** As written, for messages. */
      readonly text: string;
    };

export const NO_PROXIES: ProxySettings = Object.freeze({ noProxy: [] });

function envAny(env: NodeJS.ProcessEnv, names: readonly string[]): { name: string; value: string } | undefined {
  for (const name of names) {
    const value = env[name]?.trim();
    if (value) return { name, value };
  }
  return undefined;
}

/** Reads the proxy variables: lowercase wins over uppercase (as curl), all_proxy is the fallback. */
export function proxyFromEnv(env: NodeJS.ProcessEnv = process.env): ProxySettings {
  const noProxy = parseNoProxy(envAny(env, ['no_proxy', 'NO_PROXY'])?.value ?? '');
  const all = envAny(env, ['all_proxy', 'ALL_PROXY']);
  const out: { http?: URL; https?: URL; noProxy: readonly NoProxyRule[] } = { noProxy };
  const invalid: { http?: InvalidProxy; https?: InvalidProxy } = {};
  for (const [key, names] of [
    ['http', ['http_proxy', 'HTTP_PROXY']],
    ['https', ['https_proxy', 'HTTPS_PROXY']],
  ] as const) {
    const found = envAny(env, names) ?? all;
    if (!found) continue;
    const parsed = parseProxyUrl(found.value);
    if (typeof parsed === 'string') invalid[key] = { variable: found.name, value: redact(found.value), reason: parsed };
    else out[key] = parsed;
  }
  return Object.freeze(invalid.http || invalid.https ? { ...out, invalid } : out);
}

function redact(value: string): string {
  return value.replace(/\/\/[^@/]*@/, '//***@');
}

/** A proxy URL, or why it cannot be used. `proxy:3128` means http://proxy:3128, as curl and Go read it. */
function parseProxyUrl(value: string): URL | string {
  let url: URL;
  try {
    url = new URL(/^[a-z][a-z0-9+.-]*:\/\//i.test(value) ? value : `http://${value}`);
  } catch {
    return 'not a URL';
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    return `${url.protocol.slice(0, -1)} proxies are not supported (use an http:// or https:// proxy)`;
  }
  if (url.hostname === '') return 'names no host';
  return url;
}

function stripBrackets(host: string): string {
  return host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
}

function ipBits(ip: string): { family: 4 | 6; bits: bigint } | undefined {
  const family = isIP(ip);
  if (family === 4) {
    const parts = ip.split('.').map(Number);
    return { family: 4, bits: parts.reduce((acc, p) => (acc << 8n) | BigInt(p), 0n) };
  }
  if (family === 6) {
    let text = ip.toLowerCase();
    // An embedded IPv4 tail (::ffff:1.2.3.4) becomes two hex groups.
    const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
    if (v4?.[1]) {
      const n = ipBits(v4[1])?.bits ?? 0n;
      text = `${text.slice(0, -v4[1].length)}${(n >> 16n).toString(16)}:${(n & 0xffffn).toString(16)}`;
    }
    const [head = '', tail] = text.split('::');
    const h = head === '' ? [] : head.split(':');
    const t = tail === undefined || tail === '' ? [] : tail.split(':');
    const groups = tail === undefined ? h : [...h, ...new Array<string>(8 - h.length - t.length).fill('0'), ...t];
    return { family: 6, bits: groups.reduce((acc, g) => (acc << 16n) | BigInt(Number.parseInt(g, 16)), 0n) };
  }
  return undefined;
}

function splitPort(entry: string): { host: string; port?: number } {
  const bracket = /^\[([^\]]+)\](?::(\d+))?$/.exec(entry);
  if (bracket)
    return bracket[2] ? { host: bracket[1] as string, port: Number(bracket[2]) } : { host: bracket[1] as string };
  if (isIP(entry) === 6) return { host: entry };
  const m = /^(.*):(\d+)$/.exec(entry);
  return m ? { host: m[1] as string, port: Number(m[2]) } : { host: entry };
}

/**
 * Parses NO_PROXY: comma- or space-separated entries. `*` disables proxies; `10.0.0.0/8` and
 * `fd00::/8` are CIDRs; `1.2.3.4` and `[::1]` are IPs; anything else is a domain that matches
 * itself and its subdomains, written with or without a leading `.` or `*.` (curl's reading);
 * a `:port` suffix limits an IP or domain entry to that port. Unparseable entries are ignored.
 */
export function parseNoProxy(value: string): NoProxyRule[] {
  const rules: NoProxyRule[] = [];
  for (const raw of value.split(/[\s,]+/)) {
    const entry = raw.trim().toLowerCase();
    if (entry === '') continue;
    if (entry === '*') {
      rules.push({ kind: 'all' });
      continue;
    }
    const slash = entry.indexOf('/');
    if (slash >= 0) {
      const ip = ipBits(stripBrackets(entry.slice(0, slash)));
      const prefix = Number(entry.slice(slash + 1));
      if (!ip || !Number.isInteger(prefix) || prefix < 0 || prefix > (ip.family === 4 ? 32 : 128)) continue;
      rules.push({ kind: 'cidr', family: ip.family, bits: ip.bits, prefix, text: entry });
      continue;
    }
    const { host, port } = splitPort(entry);
    if (isIP(host)) {
      rules.push(port === undefined ? { kind: 'ip', ip: host } : { kind: 'ip', ip: host, port });
      continue;
    }
    const domain = host.replace(/^\*?\./, '').replace(/\.$/, '');
    if (domain === '') continue;
    rules.push(port === undefined ? { kind: 'domain', domain } : { kind: 'domain', domain, port });
  }
  return rules;
}

function inCidr(ip: { family: 4 | 6; bits: bigint }, rule: Extract<NoProxyRule, { kind: 'cidr' }>): boolean {
  if (ip.family !== rule.family) return false;
  const width = BigInt(rule.family === 4 ? 32 : 128);
  const shift = width - BigInt(rule.prefix);
  return ip.bits >> shift === rule.bits >> shift;
}

function isLoopback(host: string): boolean {
  if (host === 'localhost' || host.endsWith('.localhost')) return true;
  const ip = ipBits(host);
  if (!ip) return false;
  return ip.family === 4
    ? ip.bits >> 24n === 127n
    : ip.bits === 1n || (ip.bits >> 32n === 0xffffn && ip.bits >> 24n === 0xffff7fn);
}

/** Whether NO_PROXY (or loopback) sends `url` directly. */
export function bypassesProxy(url: URL, rules: readonly NoProxyRule[]): boolean {
  const host = stripBrackets(url.hostname.toLowerCase()).replace(/\.$/, '');
  if (isLoopback(host)) return true;
  const port = url.port === '' ? (url.protocol === 'https:' ? 443 : 80) : Number(url.port);
  const ip = ipBits(host);
  for (const rule of rules) {
    switch (rule.kind) {
      case 'all':
        return true;
      case 'cidr':
        if (ip && inCidr(ip, rule)) return true;
        break;
      case 'ip':
        if (ip && (rule.port === undefined || rule.port === port)) {
          const other = ipBits(rule.ip);
          if (other && other.family === ip.family && other.bits === ip.bits) return true;
        }
        break;
      case 'domain':
        if (!ip && (rule.port === undefined || rule.port === port)) {
          if (host === rule.domain || host.endsWith(`.${rule.domain}`)) return true;
        }
        break;
    }
  }
  return false;
}

/** The proxy `url` goes through, if any; throws when the variable that applies cannot be used. */
export function proxyFor(url: URL, settings: ProxySettings): URL | undefined {
  const proxy = url.protocol === 'https:' ? settings.https : url.protocol === 'http:' ? settings.http : undefined;
  const invalid = url.protocol === 'https:' ? settings.invalid?.https : settings.invalid?.http;
  if (proxy === undefined && invalid === undefined) return undefined;
  if (bypassesProxy(url, settings.noProxy)) return undefined;
  if (proxy === undefined && invalid) {
    const { variable, value, reason } = invalid;
    throw new GantryError('BAD_CONFIG', `proxy ${variable}=${value}: ${reason}`, {
      phase: 'config',
      suggestion: `set ${variable} to http://[user:password@]host:port, or add ${url.hostname} to NO_PROXY`,
    });
  }
  return proxy;
}

/**
 * The proxies in use, one line each and without credentials (for `gantry info`), e.g.
 * 'https: http://***@proxy.corp:3128', 'http: direct', 'no proxy: corp.example, 10.0.0.0/8'.
 */
export function describeProxies(settings: ProxySettings): string[] {
  const lines: string[] = [];
  for (const key of ['http', 'https'] as const) {
    const proxy = settings[key];
    const invalid = settings.invalid?.[key];
    if (proxy) lines.push(`${key}: ${proxy.protocol}//${proxy.username || proxy.password ? '***@' : ''}${proxy.host}`);
    else if (invalid) lines.push(`${key}: ${invalid.variable}=${invalid.value} cannot be used: ${invalid.reason}`);
    else lines.push(`${key}: direct`);
  }
  if (settings.noProxy.length > 0)
    lines.push(`no proxy: ${settings.noProxy.map(formatRule).join(', ')} (and loopback)`);
  return lines;
}

function formatRule(rule: NoProxyRule): string {
  switch (rule.kind) {
    case 'all':
      return '*';
    case 'cidr':
      return rule.text;
    case 'ip':
      return rule.port === undefined ? rule.ip : `${rule.ip.includes(':') ? `[${rule.ip}]` : rule.ip}:${rule.port}`;
    case 'domain':
      return rule.port === undefined ? rule.domain : `${rule.domain}:${rule.port}`;
  }
}

/** `Basic ...` for a proxy URL's user:password (percent-decoded), if it has any. */
export function proxyAuthorization(proxy: URL): string | undefined {
  if (proxy.username === '' && proxy.password === '') return undefined;
  const user = `${decodeURIComponent(proxy.username)}:${decodeURIComponent(proxy.password)}`;
  return `Basic ${Buffer.from(user, 'utf8').toString('base64')}`;
}

/** host:port of a proxy, for messages (never its credentials). */
export function proxyHost(proxy: URL): string {
  return `${proxy.hostname}:${proxyPort(proxy)}`;
}

export function proxyPort(proxy: URL): number {
  return Number(proxy.port || (proxy.protocol === 'https:' ? 443 : 80));
}

/** TLS options for talking to an https:// proxy: its name, and extra CAs added to the system's. */
export function proxyTlsOptions(proxy: URL, ca: readonly Buffer[] | undefined): { servername: string; ca?: string[] } {
  const host = proxy.hostname.replace(/^\[|\]$/g, '');
  return {
    // Named explicitly: node would otherwise take the SNI name from the Host header (the registry's).
    servername: isIP(host) ? '' : host,
    ...(ca && ca.length > 0 ? { ca: [...nodeTls().rootCertificates, ...ca.map((c) => c.toString('utf8'))] } : {}),
  };
}

/** Maps a failure to reach or use the proxy to an error that names the proxy and the target. */
export function proxyError(
  proxy: URL,
  target: string,
  detail: string,
  failure: 'connect' | 'timeout' | 'proxy',
  cause?: unknown,
): TransportError {
  const via = proxyHost(proxy);
  const suggestion =
    failure === 'proxy'
      ? `check the proxy's credentials and rules for ${target}, or add ${target.replace(/:\d+$/, '')} to NO_PROXY`
      : `check that the proxy ${via} (from HTTPS_PROXY/HTTP_PROXY) is running and reachable, or unset it`;
  return new TransportError('CONNECTION_FAILED', failure, target, `proxy ${via} ${detail} (for ${target})`, {
    suggestion,
    ...(cause === undefined ? {} : { cause }),
  });
}

/** Per-request inputs of the tunnel, passed through node's request options. */
export interface TunnelRequestOptions {
  readonly timeoutMs: number;
  readonly signal?: AbortSignal;
}

export const TUNNEL_OPTION = 'gantryTunnel';

export function proxyHeaders(proxy: URL): Record<string, string> {
  const auth = proxyAuthorization(proxy);
  return auth ? { 'proxy-authorization': auth } : {};
}

/** The tunnel's timeout and signal ride in node's request options to TunnelAgent.createConnection. */
export function tunnelOption(tunnel: TunnelRequestOptions): Record<string, TunnelRequestOptions> {
  return { [TUNNEL_OPTION]: tunnel };
}

type ConnectOptions = Parameters<HttpsAgent['createConnection']>[0];
type ConnectCallback = Parameters<HttpsAgent['createConnection']>[1];

/**
 * An https keep-alive agent whose connections are CONNECT tunnels through an http:// proxy: the
 * tunnel is opened, then TLS to the registry runs inside it (SNI and verification against the
 * registry's name), so the proxy sees only the host:port. The connect timeout and abort cover
 * the proxy connection, the CONNECT answer and the TLS handshake.
 */
export function createTunnelAgent(proxy: URL, options: HttpsAgentOptions, proxyCa?: readonly Buffer[]): HttpsAgent {
  tunnelAgentClass ??= defineTunnelAgent(nodeHttps().Agent);
  return new tunnelAgentClass(proxy, options, proxyCa);
}

type TunnelAgentClass = new (proxy: URL, options: HttpsAgentOptions, proxyCa?: readonly Buffer[]) => HttpsAgent;
let tunnelAgentClass: TunnelAgentClass | undefined;

/** The class, defined once node:https is loaded (only when a tunnel is needed). */
function defineTunnelAgent(Base: typeof HttpsAgent): TunnelAgentClass {
  return class TunnelAgent extends Base {
    readonly #proxy: URL;
    readonly #proxyCa: readonly Buffer[] | undefined;

    /** `proxyCa`: extra CAs for an https:// proxy's own certificate (the system's are trusted). */
    constructor(proxy: URL, options: HttpsAgentOptions, proxyCa?: readonly Buffer[]) {
      super(options);
      this.#proxy = proxy;
      this.#proxyCa = proxyCa;
    }

    // Node's Agent accepts an asynchronous createConnection that answers through the callback.
    override createConnection(options: ConnectOptions, callback?: ConnectCallback): undefined {
      if (!callback) throw new Error('TunnelAgent.createConnection needs a callback');
      const target = `${options.host}:${options.port}`;
      const tunnel = ((options as Record<string, unknown>)[TUNNEL_OPTION] as TunnelRequestOptions | undefined) ?? {
        timeoutMs: 30_000,
      };
      this.#open(target, tunnel).then(
        (socket) => {
          const tls = (Base.prototype.createConnection as (o: object) => TLSSocket).call(this, {
            ...options,
            socket,
          });
          let timer: NodeJS.Timeout | undefined;
          const done = (err: Error | null): void => {
            if (timer) clearTimeout(timer);
            tunnel.signal?.removeEventListener('abort', onAbort);
            tls.off('secureConnect', onSecure);
            tls.off('error', onError);
            if (err) {
              tls.destroy();
              (callback as (err: Error) => void)(err);
            } else callback(null, tls);
          };
          const onSecure = (): void => done(null);
          const onError = (err: Error): void => done(err);
          const onAbort = (): void => done(new Error('aborted'));
          timer = setTimeout(
            () => done(Object.assign(new Error('TLS handshake timed out'), { code: 'TLS_HANDSHAKE_TIMEOUT' })),
            tunnel.timeoutMs,
          );
          tunnel.signal?.addEventListener('abort', onAbort, { once: true });
          tls.once('secureConnect', onSecure);
          tls.once('error', onError);
        },
        (err: Error) => (callback as (err: Error) => void)(err),
      );
      return undefined;
    }

    /** Connects to the proxy and asks it for a tunnel to `target`; resolves with the raw socket. */
    #open(target: string, tunnel: TunnelRequestOptions): Promise<Socket> {
      const proxy = this.#proxy;
      return new Promise<Socket>((resolve, reject) => {
        const host = proxy.hostname.replace(/^\[|\]$/g, '');
        const secure = proxy.protocol === 'https:';
        const socket: Socket = secure
          ? nodeTls().connect({ host, port: proxyPort(proxy), ...proxyTlsOptions(proxy, this.#proxyCa) })
          : netConnect({ host, port: proxyPort(proxy) });
        let settled = false;
        let head = Buffer.alloc(0);
        const finish = (err: Error | null): void => {
          if (settled) return;
          settled = true;
          clearTimeout(timer);
          tunnel.signal?.removeEventListener('abort', onAbort);
          socket.off('data', onData);
          socket.off('error', onError);
          socket.off('close', onClose);
          socket.pause();
          if (err) {
            socket.destroy();
            reject(err);
          } else resolve(socket);
        };
        const timer = setTimeout(
          () => finish(proxyError(proxy, target, `gave no tunnel within ${tunnel.timeoutMs} ms`, 'timeout')),
          tunnel.timeoutMs,
        );
        const onAbort = (): void => finish(new Error('aborted'));
        const onError = (err: NodeJS.ErrnoException): void =>
          finish(proxyError(proxy, target, `cannot be reached: ${err.code ?? err.message}`, 'connect', err));
        const onClose = (): void =>
          finish(proxyError(proxy, target, 'closed the connection before answering CONNECT', 'connect'));
        const onData = (chunk: Buffer): void => {
          head = Buffer.concat([head, chunk]);
          const end = head.indexOf('\r\n\r\n');
          if (end < 0) {
            if (head.length > 64 * 1024) finish(proxyError(proxy, target, 'sent an oversized CONNECT answer', 'proxy'));
            return;
          }
          const statusLine = head.subarray(0, head.indexOf('\r\n')).toString('latin1');
          const m = /^HTTP\/1\.[01] (\d{3})\s*(.*)$/.exec(statusLine);
          if (!m) {
            finish(
              proxyError(proxy, target, `answered CONNECT with ${JSON.stringify(statusLine.slice(0, 80))}`, 'proxy'),
            );
            return;
          }
          const status = Number(m[1]);
          if (status < 200 || status > 299) {
            const why =
              status === 407
                ? proxyAuthorization(proxy)
                  ? 'rejected the credentials'
                  : 'requires credentials'
                : 'refused the tunnel';
            finish(proxyError(proxy, target, `${why}: ${status} ${m[2] ?? ''}`.trimEnd(), 'proxy'));
            return;
          }
          // Bytes after the answer belong to the tunnel (a server speaking first); give them back.
          const rest = head.subarray(end + 4);
          finish(null);
          if (rest.length > 0) socket.unshift(rest);
        };
        tunnel.signal?.addEventListener('abort', onAbort, { once: true });
        socket.on('error', onError);
        socket.on('close', onClose);
        socket.on('data', onData);
        socket.once(secure ? 'secureConnect' : 'connect', () => {
          const auth = proxyAuthorization(proxy);
          socket.write(
            `CONNECT ${target} HTTP/1.1\r\nHost: ${target}\r\n${auth ? `Proxy-Authorization: ${auth}\r\n` : ''}\r\n`,
          );
        });
      });
    }
  };
}
