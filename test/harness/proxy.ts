/**
 * Test harness: a fault-injecting HTTP proxy on loopback, placed in front of a plain-HTTP
 * registry. Clients talk to the proxy's host:port as if it were the registry; the proxy forwards
 * every request (Host header unchanged, so the registry's Location URLs name the proxy) unless a
 * rule says otherwise: cut a response body after n bytes, stall it after n bytes (the connection
 * stays open, nothing more is sent), answer with a status (429 with Retry-After, a burst of 503s,
 * a 500 for every nth request), refuse large request bodies with 413 as a size-limited front end
 * would, or wait before forwarding. It counts requests and body bytes per rule and per path, so a
 * test can assert, say, that a cross-repository mount moved no blob bytes. Loopback only, with
 * bounded logs; it is a fixture for faults, never a mock of the client under test.
 */
import {
  type Agent,
  createServer,
  Agent as HttpAgent,
  type IncomingMessage,
  request,
  type ServerResponse,
} from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { GantryError } from '../../src/errors.js';

// ---------------------------------------------------------------------------------------------
// Rules

export type FaultAction =
  | { readonly kind: 'dropAfterBytes'; readonly bytes: number; readonly times: number }
  | { readonly kind: 'stallAfterBytes'; readonly bytes: number; readonly times: number }
  | { readonly kind: 'statusEvery'; readonly status: number; readonly every: number; readonly times: number }
  | {
      readonly kind: 'status';
      readonly status: number;
      readonly headers: Readonly<Record<string, string>>;
      readonly body?: string;
      readonly times: number;
    }
  | { readonly kind: 'rejectLargeBodies'; readonly limit: number; readonly times: number }
  | { readonly kind: 'delay'; readonly ms: number; readonly times: number };

/** Forward the response head and `bytes` bytes of its body, then close the connection; `times` responses. */
export function dropAfterBytes(bytes: number, times = 1): FaultAction {
  return { kind: 'dropAfterBytes', bytes, times };
}

/**
 * Forward the response head and `bytes` bytes of its body, then send nothing more while keeping
 * the connection open (a stalled server or middlebox), until the client gives up; `times` responses.
 */
export function stallAfterBytes(bytes: number, times = 1): FaultAction {
  return { kind: 'stallAfterBytes', bytes, times };
}

/**
 * Answer every `every`th matching request (the `every`th, the 2*`every`th, ...) with `code`
 * without asking the registry; the others pass. `times` faults at most.
 */
export function statusEvery(code: number, every: number, times = Number.POSITIVE_INFINITY): FaultAction {
  return { kind: 'statusEvery', status: code, every, times };
}

/**
 * Answer `times` requests with `code` and `headers` without asking the registry. The body is
 * `body`, or a registry-style error list (TOOMANYREQUESTS for 429, UNAVAILABLE for 503, ...).
 */
export function status(
  code: number,
  headers: Readonly<Record<string, string>> = {},
  times = 1,
  body?: string,
): FaultAction {
  return { kind: 'status', status: code, headers, body, times };
}

/**
 * 413 for requests whose body exceeds `limit` bytes: at once when Content-Length says so (before
 * `100 Continue`), or when a chunked body grows past it. Smaller requests pass.
 */
export function rejectLargeBodies(limit: number, times = Number.POSITIVE_INFINITY): FaultAction {
  return { kind: 'rejectLargeBodies', limit, times };
}

/** Wait `ms` before forwarding; `times` requests. */
export function delay(ms: number, times = Number.POSITIVE_INFINITY): FaultAction {
  return { kind: 'delay', ms, times };
}

export interface FaultRule {
  /** The key of this rule's counters; default `METHOD path-regex`. */
  readonly name?: string;
  /** Any method when absent. */
  readonly method?: string;
  /** Tested against the request target: path and query (`/v2/a/blobs/uploads/?mount=...`). */
  readonly path: RegExp;
  readonly action: FaultAction;
}

// ---------------------------------------------------------------------------------------------
// Stats

export interface TrafficCounters {
  readonly requests: number;
  /** Request body bytes passed on to the registry. */
  readonly requestBytes: number;
  /** Response body bytes passed on to the client. */
  readonly responseBytes: number;
  /** Requests a fault was applied to. */
  readonly faults: number;
}

export type FaultKind = FaultAction['kind'];

export interface ProxyLogEntry {
  readonly method: string;
  /** Path and query as the client sent them. */
  readonly target: string;
  /** 0 until a response head was sent. */
  readonly status: number;
  readonly requestBytes: number;
  readonly responseBytes: number;
  /** The rule that matched, if any. */
  readonly rule?: string;
  /** The fault applied, if any. */
  readonly fault?: FaultKind;
}

export interface ProxyStats {
  readonly total: TrafficCounters;
  /** Counters of the requests a rule matched (zeros for a rule that never did). */
  rule(name: string): TrafficCounters;
  /** Counters by URL path (without the query). */
  path(pathname: string): TrafficCounters;
  /** Sums over the log (the last 10,000 requests) of the entries that match. */
  matching(filter: { readonly method?: string; readonly target?: RegExp }): TrafficCounters;
  readonly log: readonly ProxyLogEntry[];
  reset(): void;
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

function zero(): Mutable<TrafficCounters> {
  return { requests: 0, requestBytes: 0, responseBytes: 0, faults: 0 };
}

const LOG_LIMIT = 10_000;

class Stats implements ProxyStats {
  #total = zero();
  #rules = new Map<string, Mutable<TrafficCounters>>();
  #paths = new Map<string, Mutable<TrafficCounters>>();
  #log: Mutable<ProxyLogEntry>[] = [];

  get total(): TrafficCounters {
    return { ...this.#total };
  }
  get log(): readonly ProxyLogEntry[] {
    return this.#log;
  }
  rule(name: string): TrafficCounters {
    return { ...(this.#rules.get(name) ?? zero()) };
  }
  path(pathname: string): TrafficCounters {
    return { ...(this.#paths.get(pathname) ?? zero()) };
  }
  matching(filter: { readonly method?: string; readonly target?: RegExp }): TrafficCounters {
    const sum = zero();
    for (const e of this.#log) {
      if (filter.method !== undefined && e.method !== filter.method.toUpperCase()) continue;
      if (filter.target && !filter.target.test(e.target)) continue;
      sum.requests++;
      sum.requestBytes += e.requestBytes;
      sum.responseBytes += e.responseBytes;
      if (e.fault) sum.faults++;
    }
    return sum;
  }
  reset(): void {
    this.#total = zero();
    this.#rules.clear();
    this.#paths.clear();
    this.#log = [];
  }

  /** Starts the record of one request; the returned handle updates every counter it belongs to. */
  begin(method: string, target: string): Exchange {
    const entry: Mutable<ProxyLogEntry> = { method, target, status: 0, requestBytes: 0, responseBytes: 0 };
    this.#log.push(entry);
    if (this.#log.length > LOG_LIMIT) this.#log.splice(0, this.#log.length - LOG_LIMIT);
    const pathname = target.split('?')[0] ?? target;
    const pathCounters = this.#paths.get(pathname) ?? zero();
    this.#paths.set(pathname, pathCounters);
    const groups: Mutable<TrafficCounters>[] = [this.#total, pathCounters];
    for (const g of groups) g.requests++;
    const stats = this;
    return {
      entry,
      matched(rule: string) {
        entry.rule = rule;
        const counters = stats.#rules.get(rule) ?? zero();
        stats.#rules.set(rule, counters);
        counters.requests++;
        groups.push(counters);
      },
      fault(kind: FaultKind) {
        if (entry.fault === undefined) for (const g of groups) g.faults++;
        entry.fault = kind;
      },
      unfault() {
        if (entry.fault !== undefined) for (const g of groups) g.faults--;
        entry.fault = undefined;
      },
      sentUp(n: number) {
        entry.requestBytes += n;
        for (const g of groups) g.requestBytes += n;
      },
      sentDown(n: number) {
        entry.responseBytes += n;
        for (const g of groups) g.responseBytes += n;
      },
    };
  }
}

interface Exchange {
  readonly entry: Mutable<ProxyLogEntry>;
  matched(rule: string): void;
  fault(kind: FaultKind): void;
  unfault(): void;
  sentUp(n: number): void;
  sentDown(n: number): void;
}

// ---------------------------------------------------------------------------------------------
// Proxy

export interface FaultProxyOptions {
  /** The registry: a plain-HTTP loopback URL. */
  readonly upstream: URL | string;
  readonly rules?: readonly FaultRule[];
  /** Loopback address to listen on; default 127.0.0.1. */
  readonly host?: string;
  /** Give up on the registry when it does not answer within this time; default 30 s. */
  readonly upstreamTimeoutMs?: number;
}

export interface FaultProxy {
  /** `127.0.0.1:PORT`, to use as the registry host in references. */
  readonly host: string;
  /** `http://127.0.0.1:PORT` */
  readonly url: string;
  readonly stats: ProxyStats;
  /** Replaces the rules; their `times` start afresh. */
  setRules(rules: readonly FaultRule[]): void;
  stop(): Promise<void>;
}

interface RuleState {
  readonly rule: FaultRule;
  readonly name: string;
  remaining: number;
  /** Requests matched so far (for statusEvery). */
  seen: number;
}

// Connection-level headers are the proxy's own business on each side (RFC 9110 7.6.1).
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-authenticate',
  'proxy-authorization',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'expect',
]);

function forwardable(headers: IncomingMessage['headers']): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  const dropped = new Set(HOP_BY_HOP);
  for (const token of String(headers.connection ?? '').split(',')) dropped.add(token.trim().toLowerCase());
  for (const [k, v] of Object.entries(headers)) if (v !== undefined && !dropped.has(k)) out[k] = v;
  return out;
}

const OCI_CODES: Readonly<Record<number, string>> = {
  401: 'UNAUTHORIZED',
  403: 'DENIED',
  404: 'NAME_UNKNOWN',
  413: 'SIZE_INVALID',
  429: 'TOOMANYREQUESTS',
  503: 'UNAVAILABLE',
};

function errorBody(code: number): string {
  const ociCode = OCI_CODES[code] ?? 'UNKNOWN';
  return JSON.stringify({
    errors: [{ code: ociCode, message: `injected by the fault proxy (${code})`, detail: null }],
  });
}

function isLoopback(hostname: string): boolean {
  return (
    /^127\.\d+\.\d+\.\d+$/.test(hostname) || hostname === 'localhost' || hostname === '[::1]' || hostname === '::1'
  );
}

function proxyError(code: string, message: string, suggestion: string): GantryError {
  return new GantryError(code, message, { suggestion });
}

/** Starts the proxy and resolves once it listens. */
export async function startFaultProxy(options: FaultProxyOptions): Promise<FaultProxy> {
  const upstream = new URL(options.upstream);
  if (upstream.protocol !== 'http:') {
    throw proxyError(
      'PROXY_UPSTREAM_NOT_HTTP',
      `fault proxy upstream ${upstream.href} is not plain HTTP`,
      'start the registry in http mode (or token mode with tls: false)',
    );
  }
  if (!isLoopback(upstream.hostname)) {
    throw proxyError(
      'PROXY_NOT_LOOPBACK',
      `fault proxy upstream ${upstream.host} is not on loopback`,
      'proxy only loopback registries',
    );
  }
  const bindHost = options.host ?? '127.0.0.1';
  if (!isLoopback(bindHost)) {
    throw proxyError('PROXY_NOT_LOOPBACK', `fault proxy host ${bindHost} is not a loopback address`, 'use 127.0.0.1');
  }
  const timeoutMs = options.upstreamTimeoutMs ?? 30_000;
  const stats = new Stats();
  const agent: Agent = new HttpAgent({ keepAlive: true, maxSockets: 64 });
  let rules: RuleState[] = [];
  const setRules = (next: readonly FaultRule[]) => {
    rules = next.map((rule) => ({
      rule,
      name: rule.name ?? `${rule.method ?? '*'} ${rule.path.source}`,
      remaining: rule.action.times,
      seen: 0,
    }));
  };
  setRules(options.rules ?? []);

  let origin = '';

  /** The first rule that applies; a size rule applies only to bodies that are, or may grow, too large. */
  const select = (req: IncomingMessage): RuleState | undefined => {
    const target = req.url ?? '/';
    const length = req.headers['content-length'] === undefined ? undefined : Number(req.headers['content-length']);
    for (const state of rules) {
      const { rule } = state;
      if (state.remaining <= 0) continue;
      if (rule.method !== undefined && rule.method.toUpperCase() !== req.method) continue;
      rule.path.lastIndex = 0;
      if (!rule.path.test(target)) continue;
      if (rule.action.kind === 'rejectLargeBodies') {
        const chunked = req.headers['transfer-encoding'] !== undefined;
        if (!(chunked || (length !== undefined && length > rule.action.limit))) continue;
      }
      return state;
    }
    return undefined;
  };

  const respond = (
    res: ServerResponse,
    ex: Exchange,
    code: number,
    headers: Readonly<Record<string, string>>,
    body: string,
  ) => {
    const bytes = Buffer.from(body);
    ex.entry.status = code;
    res.writeHead(code, { 'content-type': 'application/json', ...headers, 'content-length': bytes.length });
    ex.sentDown(bytes.length);
    res.end(bytes);
  };

  const handle = async (req: IncomingMessage, res: ServerResponse, expectContinue: boolean): Promise<void> => {
    const target = req.url ?? '/';
    const ex = stats.begin(req.method ?? 'GET', target);
    const state = select(req);
    const action = state?.rule.action;
    if (state) ex.matched(state.name);

    if (action?.kind === 'delay') {
      state!.remaining--;
      ex.fault('delay');
      await sleep(action.ms);
    }
    if (action?.kind === 'status') {
      state!.remaining--;
      ex.fault('status');
      respond(res, ex, action.status, action.headers, action.body ?? errorBody(action.status));
      return;
    }
    if (action?.kind === 'statusEvery' && ++state!.seen % action.every === 0) {
      state!.remaining--;
      ex.fault('statusEvery');
      // Whatever the client still sends is read and dropped, so the 500 reaches it.
      req.resume();
      respond(res, ex, action.status, {}, errorBody(action.status));
      return;
    }
    const limit = action?.kind === 'rejectLargeBodies' ? action.limit : undefined;
    if (limit !== undefined && Number(req.headers['content-length'] ?? -1) > limit) {
      // Refused before reading the body (and before 100 Continue); Node discards what still arrives.
      state!.remaining--;
      ex.fault('rejectLargeBodies');
      respond(res, ex, 413, {}, errorBody(413));
      return;
    }
    // A cut or a stall is taken when the response arrives, and only by a body that can be cut:
    // a small blob answered first must not use up the rule while a large one asked at the same
    // time passes untouched.
    let drop: number | undefined;
    let stall: number | undefined;
    const takeSizeFault = (announced: string | undefined) => {
      if (action?.kind !== 'dropAfterBytes' && action?.kind !== 'stallAfterBytes') return;
      if (action.kind === 'stallAfterBytes' && req.method === 'HEAD') return;
      if (
        announced !== undefined &&
        Number(announced) <= action.bytes &&
        !(action.bytes === 0 && action.kind === 'stallAfterBytes')
      )
        return;
      if (state!.remaining <= 0) return;
      state!.remaining--;
      ex.fault(action.kind);
      if (action.kind === 'dropAfterBytes') drop = action.bytes;
      else stall = action.bytes;
    };

    const up = request({
      host: upstream.hostname,
      port: upstream.port,
      method: req.method,
      path: target,
      headers: forwardable(req.headers),
      agent,
      timeout: timeoutMs,
    });
    up.on('timeout', () => up.destroy(new Error(`registry did not answer ${req.method} ${target} in time`)));
    let rejected = false;
    let frozen = false;
    up.on('error', (err) => {
      if (rejected || frozen) return;
      if (!res.headersSent)
        respond(res, ex, 502, {}, JSON.stringify({ errors: [{ code: 'UNKNOWN', message: err.message }] }));
      else res.destroy();
    });
    // A client that goes away aborts the registry side too.
    res.on('close', () => {
      if (!res.writableFinished) up.destroy();
    });

    up.on('response', (upRes) => {
      if (rejected) {
        upRes.resume();
        return;
      }
      const headers = forwardable(upRes.headers);
      const location = headers.location;
      if (typeof location === 'string' && location.startsWith(upstream.origin)) {
        headers.location = origin + location.slice(upstream.origin.length);
      }
      ex.entry.status = upRes.statusCode ?? 502;
      takeSizeFault(upRes.headers['content-length']);
      res.writeHead(ex.entry.status, headers);
      let sent = 0;
      const cut = () => {
        upRes.destroy();
        // Flush what was written, then close: the client sees a body shorter than announced.
        if (res.socket) res.socket.destroySoon();
        else res.destroy();
      };
      if (drop === 0 && req.method !== 'HEAD' && upRes.headers['content-length'] !== '0') {
        res.flushHeaders();
        cut();
        return;
      }
      // Stop reading upstream and keep the client's connection open with nothing more to read.
      const freeze = () => {
        frozen = true;
        upRes.destroy();
      };
      if (stall === 0) {
        res.flushHeaders();
        freeze();
        return;
      }
      upRes.on('data', (chunk: Buffer) => {
        if (stall !== undefined && sent + chunk.length > stall) {
          const part = chunk.subarray(0, stall - sent);
          sent += part.length;
          ex.sentDown(part.length);
          res.write(part);
          freeze();
          return;
        }
        if (drop !== undefined && sent + chunk.length > drop) {
          const part = chunk.subarray(0, drop - sent);
          sent += part.length;
          ex.sentDown(part.length);
          res.write(part);
          cut();
          return;
        }
        sent += chunk.length;
        ex.sentDown(chunk.length);
        if (!res.write(chunk)) {
          upRes.pause();
          res.once('drain', () => upRes.resume());
        }
      });
      upRes.on('end', () => {
        if (stall !== undefined && sent <= stall) {
          state!.remaining++;
          ex.unfault();
          stall = undefined;
        }
        if (drop !== undefined && sent <= drop) {
          // The body was too short to cut: this response does not use up one of the rule's times.
          state!.remaining++;
          ex.unfault();
          drop = undefined;
        }
        res.end();
      });
      upRes.on('error', () => {
        if (!frozen) res.destroy();
      });
    });

    if (expectContinue) res.writeContinue();
    let received = 0;
    req.on('data', (chunk: Buffer) => {
      if (rejected) return;
      received += chunk.length;
      if (limit !== undefined && received > limit) {
        // A chunked body outgrew the limit: drop the registry request and refuse, as a front end would.
        rejected = true;
        state!.remaining--;
        ex.fault('rejectLargeBodies');
        up.destroy();
        if (!res.headersSent) respond(res, ex, 413, {}, errorBody(413));
        return;
      }
      ex.sentUp(chunk.length);
      if (!up.write(chunk)) {
        req.pause();
        up.once('drain', () => req.resume());
      }
    });
    req.on('end', () => {
      if (!rejected) up.end();
    });
    req.on('error', () => up.destroy());
  };

  const server = createServer();
  server.maxConnections = 256;
  const onRequest = (expectContinue: boolean) => (req: IncomingMessage, res: ServerResponse) => {
    handle(req, res, expectContinue).catch(() => res.destroy());
  };
  server.on('request', onRequest(false));
  server.on('checkContinue', onRequest(true));
  server.on('clientError', (_err, socket) => socket.destroy());

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, bindHost, () => {
      server.off('error', reject);
      resolve();
    });
  });
  server.unref();
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : 0;
  const host = `${bindHost}:${port}`;
  origin = `http://${host}`;

  let stopped = false;
  return {
    host,
    url: origin,
    stats,
    setRules,
    stop: async () => {
      if (stopped) return;
      stopped = true;
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      agent.destroy();
    },
  };
}
