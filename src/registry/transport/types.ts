/**
 * The HTTP vocabulary of the registry client. A RoundTripper sends one request and returns the
 * response with its body unread; wrappers (user agent, retry, auth, ...) compose by taking an
 * inner RoundTripper and returning another, as go-containerregistry's transports and undici's
 * interceptors do.
 */
import type { Readable } from 'node:stream';

export type HttpMethod = 'GET' | 'HEAD' | 'PUT' | 'POST' | 'PATCH' | 'DELETE';

export interface HttpRequest {
  readonly method: HttpMethod;
  readonly url: URL;
  readonly headers?: Readonly<Record<string, string>>;
  /**
   * The body: bytes, or a factory that opens it (called again for each retry, so a stream body
   * is reopenable). `bodyLength` is required with a factory (Content-Length); omit it only to
   * send chunked.
   */
  readonly body?: Buffer | (() => Readable | Promise<Readable>);
  readonly bodyLength?: number;
  readonly signal?: AbortSignal;
  /**
   * Scopes the request needs, as docker's token spec writes them
   * (`repository:library/alpine:pull,push`); the auth wrapper asks for them up front.
   */
  readonly scopes?: readonly string[];
  /**
   * Give up connecting (TCP + TLS handshake) after this long, instead of the transport's own
   * connect timeout; the scheme probe uses it to stop waiting on a server that never answers TLS.
   */
  readonly connectTimeoutMs?: number;
  /**
   * Abort the attempt when no byte of the response (its head, for a request without a body, and
   * its body) arrives for this long; the retry layer or a resuming reader carries on. 0: never.
   * Default the HTTP layer's (60 s).
   */
  readonly idleTimeoutMs?: number;
  /** Whether redirects are followed (default true for GET/HEAD, false otherwise). */
  readonly followRedirects?: boolean;
  /**
   * A GET of bulk data (a blob) whose body is read once, start to end: over plain HTTP without a
   * proxy the transport reads it on a connection of its own into a reused buffer (raw.ts).
   */
  readonly bulk?: boolean;
}

export interface HttpResponse {
  readonly status: number;
  readonly statusText: string;
  /** Lower-cased names; repeated headers joined with ', ' except set-cookie/www-authenticate (see `all`). */
  readonly headers: Readonly<Record<string, string>>;
  /** Every value of a header (e.g. several WWW-Authenticate challenges). */
  all(name: string): readonly string[];
  /** The final URL after redirects. */
  readonly url: URL;
  readonly request: HttpRequest;
  readonly body: Readable;
  /** Reads the body as text, at most `limit` bytes (default 4 MiB). */
  text(limit?: number): Promise<string>;
  /** Reads and drops the body so the connection can be reused. */
  discard(): Promise<void>;
}

export type RoundTripper = (request: HttpRequest) => Promise<HttpResponse>;

/** Per-host TLS and scheme settings, resolved from certs.d, registries.toml and flags. */
export interface HostSettings {
  /** Use plain HTTP. */
  readonly plainHttp?: boolean;
  /** Skip TLS verification. */
  readonly insecure?: boolean;
  /** Extra CA certificates (PEM), added to the system's. */
  readonly ca?: readonly Buffer[];
  /** A client certificate and key (PEM). */
  readonly clientCert?: { readonly cert: Buffer; readonly key: Buffer };
  /**
   * Repository prefixes nothing may be sent to ('' blocks the whole host), each with the file
   * that blocks it (containers registries.conf `blocked = true`).
   */
  readonly blocked?: readonly { readonly prefix: string; readonly file: string }[];
}

export type HostSettingsResolver = (host: string) => HostSettings | Promise<HostSettings>;
