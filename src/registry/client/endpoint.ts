/**
 * The client's door to registries: one transport stack per registry host (auth, retry and scheme
 * live there), URLs under the registry's base, and requests that either get a status the caller
 * expects or throw the registry's own error, worded for the user.
 */
import type { Readable } from 'node:stream';
import { throwIfAborted } from '../../errors.js';
import { readBounded } from '../../oci/stream.js';
import { type RegistryErrorContext, registryError } from '../errors.js';
import { createRegistryTransport, registryBaseUrl, type TransportOptions } from '../transport/stack.js';
import type { HttpMethod, HttpRequest, HttpResponse, RoundTripper } from '../transport/types.js';

export interface SendOptions {
  readonly method: HttpMethod;
  readonly url: URL;
  readonly headers?: Readonly<Record<string, string>>;
  readonly body?: Buffer | (() => Readable | Promise<Readable>);
  readonly bodyLength?: number;
  readonly scopes?: readonly string[];
  readonly followRedirects?: boolean;
  readonly signal?: AbortSignal;
  /** See HttpRequest.bulk. */
  readonly bulk?: boolean;
}

export class Endpoints {
  readonly #options: TransportOptions;
  readonly #transports = new Map<string, RoundTripper>();
  readonly #bases = new Map<string, Promise<URL>>();

  constructor(options: TransportOptions) {
    this.#options = options;
  }

  get transportOptions(): TransportOptions {
    return this.#options;
  }

  #transport(registry: string): RoundTripper {
    let rt = this.#transports.get(registry);
    if (rt === undefined) {
      rt = createRegistryTransport(registry, this.#options);
      this.#transports.set(registry, rt);
    }
    return rt;
  }

  /** The registry's base URL (scheme decided once by the transport); a failed lookup is not cached. */
  base(registry: string): Promise<URL> {
    let p = this.#bases.get(registry);
    if (p === undefined) {
      p = registryBaseUrl(registry, this.#options);
      p.catch(() => {
        if (this.#bases.get(registry) === p) this.#bases.delete(registry);
      });
      this.#bases.set(registry, p);
    }
    return p;
  }

  /** `base + path` with query parameters (undefined values left out). */
  async url(registry: string, path: string, query: Readonly<Record<string, string | undefined>> = {}): Promise<URL> {
    const url = new URL(path, await this.base(registry));
    for (const [k, v] of Object.entries(query)) if (v !== undefined) url.searchParams.set(k, v);
    return url;
  }

  async send(registry: string, options: SendOptions): Promise<HttpResponse> {
    throwIfAborted(options.signal);
    const request: HttpRequest = {
      method: options.method,
      url: options.url,
      ...(options.headers ? { headers: options.headers } : {}),
      ...(options.body !== undefined ? { body: options.body } : {}),
      ...(options.bodyLength !== undefined ? { bodyLength: options.bodyLength } : {}),
      ...(options.scopes ? { scopes: options.scopes } : {}),
      ...(options.followRedirects !== undefined ? { followRedirects: options.followRedirects } : {}),
      ...(options.signal ? { signal: options.signal } : {}),
      ...(options.bulk ? { bulk: true } : {}),
    };
    return this.#transport(registry)(request);
  }

  /** Sends and returns the response when its status is one of `ok`; otherwise throws the registry's error. */
  async expect(
    registry: string,
    options: SendOptions,
    ok: readonly number[],
    context: Omit<RegistryErrorContext, 'registry'>,
  ): Promise<HttpResponse> {
    const res = await this.send(registry, options);
    if (ok.includes(res.status)) return res;
    throw await registryError(res, { registry, ...context });
  }

  /** The registry's error for a response the caller did not expect. */
  error(registry: string, res: HttpResponse, context: Omit<RegistryErrorContext, 'registry'>) {
    return registryError(res, { registry, ...context });
  }
}

/** Reads a small JSON or manifest body, refusing more than `limit` bytes. */
export function readBody(res: HttpResponse, limit: number, what: string, signal?: AbortSignal): Promise<Buffer> {
  return readBounded(res.body, limit, { what, ...(signal ? { signal } : {}) });
}

/** A response header's value without parameters (`application/json; charset=utf-8` -> `application/json`). */
export function mediaTypeOf(value: string | undefined): string | undefined {
  const v = value?.split(';')[0]?.trim();
  return v === undefined || v === '' ? undefined : v;
}

/** The Location header of an upload or blob response, resolved against the URL that answered. */
export function locationOf(res: HttpResponse): URL | undefined {
  const loc = res.headers.location;
  if (loc === undefined || loc === '') return undefined;
  try {
    return new URL(loc, res.url);
  } catch {
    return undefined;
  }
}

/** Adds `name=value` to a URL's query without re-encoding what is there (upload URLs carry opaque state). */
export function appendQuery(url: URL, name: string, value: string): URL {
  const out = new URL(url.href);
  const pair = `${encodeURIComponent(name)}=${encodeURIComponent(value)}`;
  out.search = out.search.length > 1 ? `${out.search}&${pair}` : `?${pair}`;
  return out;
}

/**
 * The `rel="next"` target of a Link header (RFC 8288), resolved against the URL that answered,
 * as registries paginate tags, catalogs and referrers.
 */
export function nextLink(res: HttpResponse): URL | undefined {
  const header = res.headers.link;
  if (header === undefined) return undefined;
  for (const m of header.matchAll(/<([^>]*)>\s*((?:;\s*[^;,]*)*)/g)) {
    const params = m[2] ?? '';
    if (/;\s*rel\s*=\s*"?([^";]*\s)?next(\s[^";]*)?"?\s*(;|$)/i.test(params)) {
      try {
        return new URL(m[1] ?? '', res.url);
      } catch {
        return undefined;
      }
    }
  }
  return undefined;
}
