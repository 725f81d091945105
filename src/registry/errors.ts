/**
 * Registry errors: what a failed registry exchange means for the user. `RegistryError` is a
 * non-2xx answer (the OCI error code kept as `code`, a temporary/permanent verdict for retries);
 * `TransportError` is a request that got no answer (connection, TLS, redirects). Messages say
 * what to do, because they are what the CLI prints.
 */
import { GantryError, type GantryErrorOptions, type Phase } from '../errors.js';
import type { HttpResponse } from './transport/types.js';

/** Status codes worth retrying: the registry or something in front of it may answer next time. */
export const TEMPORARY_STATUSES: ReadonlySet<number> = new Set([408, 429, 500, 502, 503, 504]);

/** The error codes of the OCI distribution spec (and docker's additions), as registries send them. */
export type OciErrorCode =
  | 'BLOB_UNKNOWN'
  | 'BLOB_UPLOAD_INVALID'
  | 'BLOB_UPLOAD_UNKNOWN'
  | 'DIGEST_INVALID'
  | 'MANIFEST_BLOB_UNKNOWN'
  | 'MANIFEST_INVALID'
  | 'MANIFEST_UNKNOWN'
  | 'MANIFEST_UNVERIFIED'
  | 'NAME_INVALID'
  | 'NAME_UNKNOWN'
  | 'SIZE_INVALID'
  | 'TAG_INVALID'
  | 'UNAUTHORIZED'
  | 'DENIED'
  | 'UNSUPPORTED'
  | 'TOOMANYREQUESTS'
  | 'RANGE_INVALID'
  | 'PAGINATION_NUMBER_INVALID'
  | 'UNAVAILABLE';

/** One entry of an OCI error body `{"errors":[{code,message,detail}]}`. */
export interface OciErrorEntry {
  readonly code: string;
  readonly message?: string;
  readonly detail?: unknown;
}

export interface RegistryErrorContext {
  /** The registry host as the user wrote it ('docker.io', 'localhost:5000'). */
  readonly registry: string;
  readonly repository?: string;
  /** What was asked for, in words: 'manifest v1', 'blob sha256:...', 'tags'. */
  readonly what?: string;
}

export interface RegistryErrorInit extends GantryErrorOptions {
  readonly status: number;
  readonly temporary?: boolean;
  readonly ociCode?: string;
  readonly retryAfterMs?: number;
  readonly errors?: readonly OciErrorEntry[];
  readonly registry?: string;
}

/** A registry answered with a non-2xx status. `code` is the OCI error code when it sent one. */
export class RegistryError extends GantryError {
  readonly status: number;
  readonly temporary: boolean;
  readonly ociCode?: string;
  readonly retryAfterMs?: number;
  /** Every entry of the error body, for `--debug`. */
  readonly errors: readonly OciErrorEntry[];
  readonly registry?: string;

  constructor(code: string, message: string, init: RegistryErrorInit) {
    super(code, message, init);
    this.name = 'RegistryError';
    this.status = init.status;
    this.temporary = init.temporary ?? TEMPORARY_STATUSES.has(init.status);
    if (init.ociCode !== undefined) this.ociCode = init.ociCode;
    if (init.retryAfterMs !== undefined) this.retryAfterMs = init.retryAfterMs;
    this.errors = init.errors ?? [];
    if (init.registry !== undefined) this.registry = init.registry;
  }
}

/** Why a request got no HTTP answer. */
export type TransportFailure =
  | 'connect'
  | 'timeout'
  | 'reset'
  | 'tls-verify'
  | 'tls-plain-http'
  | 'tls'
  | 'redirect'
  | 'protocol'
  | 'proxy';

/** A request that got no usable answer: refused, reset, timed out, TLS failed, redirect loop. */
export class TransportError extends GantryError {
  /** The host:port the request went to. */
  readonly host: string;
  readonly failure: TransportFailure;
  /** True when trying again may help (connection refused/reset/timeout), false for TLS and redirect problems. */
  readonly temporary: boolean;

  constructor(
    code: 'CONNECTION_FAILED' | 'TLS_ERROR' | 'TOO_MANY_REDIRECTS' | 'PROTOCOL_ERROR',
    failure: TransportFailure,
    host: string,
    message: string,
    options: GantryErrorOptions = {},
  ) {
    super(code, message, options);
    this.name = 'TransportError';
    this.host = host;
    this.failure = failure;
    this.temporary = failure === 'connect' || failure === 'timeout' || failure === 'reset';
  }
}

/** True for errors a retry may cure: connection failures and 408/429/5xx answers. */
export function isTemporary(err: unknown): boolean {
  if (!GantryError.is(err)) return false;
  const t = (err as GantryError & { temporary?: unknown }).temporary;
  return t === true;
}

/**
 * Parses Retry-After (RFC 9110 §10.2.3): delay seconds or an HTTP date. Returns milliseconds from
 * `now`, or undefined when absent or unreadable.
 */
export function parseRetryAfter(value: string | undefined, now: number = Date.now()): number | undefined {
  if (value === undefined) return undefined;
  const v = value.trim();
  if (/^\d+$/.test(v)) return Number(v) * 1000;
  const at = Date.parse(v);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, at - now);
}

/** The bytes of an error body worth reading: registries send small JSON, proxies small HTML. */
const ERROR_BODY_LIMIT = 64 * 1024;

function parseErrorBody(text: string): OciErrorEntry[] {
  if (text.trim() === '') return [];
  try {
    const doc = JSON.parse(text) as unknown;
    const list = typeof doc === 'object' && doc !== null ? (doc as { errors?: unknown }).errors : undefined;
    if (!Array.isArray(list)) return [];
    const out: OciErrorEntry[] = [];
    for (const e of list) {
      if (typeof e !== 'object' || e === null) continue;
      const { code, message, detail } = e as { code?: unknown; message?: unknown; detail?: unknown };
      if (typeof code !== 'string') continue;
      out.push({
        code: code.toUpperCase(),
        ...(typeof message === 'string' ? { message } : {}),
        ...(detail !== undefined ? { detail } : {}),
      });
    }
    return out;
  } catch {
    return [];
  }
}

function oneLine(text: string, max = 200): string {
  const t = text.replace(/\s+/g, ' ').trim();
  return t.length > max ? `${t.slice(0, max)}...` : t;
}

function statusCode(status: number): string {
  switch (status) {
    case 400:
      return 'BAD_REQUEST';
    case 401:
      return 'UNAUTHORIZED';
    case 403:
      return 'DENIED';
    case 404:
      return 'NOT_FOUND';
    case 405:
      return 'UNSUPPORTED';
    case 408:
      return 'REQUEST_TIMEOUT';
    case 413:
      return 'TOO_LARGE';
    case 416:
      return 'RANGE_INVALID';
    case 429:
      return 'TOOMANYREQUESTS';
    default:
      return status >= 500 ? 'REGISTRY_UNAVAILABLE' : 'REGISTRY_ERROR';
  }
}

function isWrite(response: HttpResponse): boolean {
  const m = response.request.method;
  return m === 'PUT' || m === 'POST' || m === 'PATCH' || m === 'DELETE';
}

function phaseOf(response: HttpResponse): Phase {
  return isWrite(response) ? 'push' : 'pull';
}

interface Described {
  readonly message: string;
  readonly suggestion: string;
}

/** The message for one error code; `said` is the registry's own words, when they add something. */
function describe(
  code: string,
  response: HttpResponse,
  ctx: RegistryErrorContext,
  said: string,
  retryAfterMs: number | undefined,
): Described {
  const host = ctx.registry;
  const repo = ctx.repository ?? '(registry)';
  const where = ctx.repository ? `${ctx.repository} on ${host}` : host;
  const what = ctx.what;
  const tail = said ? ` (${said})` : '';
  switch (code) {
    case 'UNAUTHORIZED':
      return { message: `login required for ${host}`, suggestion: `run gantry login ${host}` };
    case 'DENIED':
      return isWrite(response)
        ? {
            message: `access to ${repo} on ${host} denied`,
            suggestion: `check that your account may push there (gantry login ${host} to change accounts)`,
          }
        : {
            message: `access to ${repo} on ${host} denied`,
            suggestion: `check that your account may pull from there, or run gantry login ${host}`,
          };
    case 'NAME_UNKNOWN':
      return {
        message: `repository ${repo} not found on ${host}`,
        suggestion: 'check the repository name (a private repository also needs gantry login)',
      };
    case 'MANIFEST_UNKNOWN':
      return {
        message: `${what ?? 'manifest'} not found in ${repo} on ${host}`,
        suggestion: ctx.repository
          ? `check the tag or digest; gantry tags ${host}/${ctx.repository} lists the tags`
          : 'check the tag or digest',
      };
    case 'BLOB_UNKNOWN':
      return {
        message: `${what ?? 'blob'} not found in ${where}`,
        suggestion: 'the image refers to content the registry does not have; push the image again',
      };
    case 'MANIFEST_BLOB_UNKNOWN':
      return {
        message: `${where} rejected ${what ?? 'the manifest'}: it refers to blobs the repository does not have${tail}`,
        suggestion: 'push the layers and config before the manifest (retry the push)',
      };
    case 'MANIFEST_INVALID':
    case 'MANIFEST_UNVERIFIED':
      return {
        message: `${where} rejected ${what ?? 'the manifest'} as invalid${tail}`,
        suggestion: 'the registry may not accept this manifest type; try --format docker or an OCI-capable registry',
      };
    case 'TAG_INVALID':
      return {
        message: `${where} rejected the tag${tail}`,
        suggestion: 'use a tag of letters, digits, _ . - (at most 128)',
      };
    case 'NAME_INVALID':
      return {
        message: `${host} rejected the repository name ${repo}${tail}`,
        suggestion: 'use lowercase letters, digits and separators (. _ - /)',
      };
    case 'DIGEST_INVALID':
      return {
        message: `${where} says the uploaded ${what ?? 'content'} does not match its digest${tail}`,
        suggestion: 'the data changed in transit or on disk; retry, and check the local store with gantry images',
      };
    case 'SIZE_INVALID':
      return {
        message: `${where} says the uploaded ${what ?? 'content'} has the wrong size${tail}`,
        suggestion: 'the data changed in transit or on disk; retry the push',
      };
    case 'BLOB_UPLOAD_INVALID':
    case 'BLOB_UPLOAD_UNKNOWN':
      return {
        message: `${where} lost or rejected the upload of ${what ?? 'a blob'}${tail}`,
        suggestion: 'retry the push; with a proxy in front of the registry, try --chunk-size',
      };
    case 'RANGE_INVALID':
      return {
        message: `${where} rejected the byte range for ${what ?? 'a blob'}${tail}`,
        suggestion: 'retry; if it persists, try a different --chunk-size',
      };
    case 'UNSUPPORTED':
      return {
        message: `${host} does not support this operation${what ? ` (${what})` : ''}${tail}`,
        suggestion: 'the registry or its configuration does not allow it (e.g. deletes may be disabled)',
      };
    case 'PAGINATION_NUMBER_INVALID':
      return {
        message: `${host} rejected the page size${tail}`,
        suggestion: 'retry with a smaller page size',
      };
    case 'TOOMANYREQUESTS':
      return {
        message: `rate limited by ${host}`,
        suggestion:
          retryAfterMs !== undefined
            ? `retry after ${Math.ceil(retryAfterMs / 1000)} s`
            : `retry later (logging in with gantry login ${host} often raises the limit)`,
      };
    case 'NOT_FOUND':
      return {
        message: `${what ?? 'resource'} not found in ${where}`,
        suggestion: 'check the name, tag or digest',
      };
    case 'TOO_LARGE':
      return {
        message: `${host} rejected ${what ?? 'the request'} as too large (HTTP 413)`,
        // --chunk-size splits blob uploads only: a manifest goes in one request whatever it is.
        suggestion: (what === undefined ? /\/manifests\//.test(response.url.pathname) : what.startsWith('manifest'))
          ? 'the registry (or a proxy in front of it) limits the size of a manifest (distribution: 4 MiB): push fewer layers, platforms or annotations, or raise that limit'
          : 'use --chunk-size to upload in smaller pieces',
      };
    case 'REQUEST_TIMEOUT':
      return {
        message: `${host} timed out waiting for ${what ?? 'the request'} (HTTP 408)`,
        suggestion: 'retry; check the network between you and the registry',
      };
    case 'UNAVAILABLE':
    case 'REGISTRY_UNAVAILABLE':
      return {
        message: `${host} is unavailable (HTTP ${response.status}${response.statusText ? ` ${response.statusText}` : ''})${tail}`,
        suggestion: 'the registry has a problem; retry later',
      };
    default:
      return {
        message: `${host} answered ${response.request.method} ${what ?? response.url.pathname} with HTTP ${response.status}${tail}`,
        suggestion: 'see the registry message; run with --debug for details',
      };
  }
}

/**
 * Turns a non-2xx registry response into a RegistryError whose message says what to do. Reads at
 * most a small bounded body (and discards the rest), so the connection is not held.
 */
export async function registryError(response: HttpResponse, context: RegistryErrorContext): Promise<RegistryError> {
  let text = '';
  if (response.request.method !== 'HEAD') {
    try {
      text = await response.text(ERROR_BODY_LIMIT);
    } catch {
      // The body is only a nicer message; the status still says what happened.
    }
  } else {
    await response.discard().catch(() => {});
  }
  const errors = parseErrorBody(text);
  const first = errors[0];
  const retryAfterMs = parseRetryAfter(response.headers['retry-after']);
  // A 401 is about credentials whatever code the body carries; a 429 is a rate limit.
  let code = first?.code ?? statusCode(response.status);
  if (response.status === 401) code = 'UNAUTHORIZED';
  if (response.status === 429) code = 'TOOMANYREQUESTS';
  if (response.status === 403 && code === 'UNAUTHORIZED') code = 'DENIED';
  let said = first?.message ?? '';
  if (!first && text && !/^\s*</.test(text)) said = text;
  said = oneLine(said);
  // Restating a message the code already says adds noise, not information.
  if (/^(blob|manifest|repository name) unknown( to registry)?$/i.test(said)) said = '';
  const d = describe(code, response, context, said, retryAfterMs);
  return new RegistryError(code, d.message, {
    status: response.status,
    phase: phaseOf(response),
    suggestion: d.suggestion,
    ...(first ? { ociCode: first.code } : {}),
    ...(retryAfterMs !== undefined ? { retryAfterMs } : {}),
    errors,
    registry: context.registry,
  });
}
