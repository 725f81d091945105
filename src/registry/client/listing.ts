/**
 * Lists that registries hand out in pages: tags of a repository and the catalog of repositories.
 * `n` asks for a page size; pages are followed through `Link: <...>; rel="next"` until there is
 * none (a link already visited ends the walk, so a looping registry cannot hang us).
 */
import { GantryError, type IoOptions, throwIfAborted } from '../../errors.js';
import { type Endpoints, nextLink, readBody } from './endpoint.js';
import { CATALOG_SCOPE, pullScope, type Repo } from './types.js';

/** One page of JSON is at most this large. */
const PAGE_LIMIT = 16 * 1024 * 1024;
const MAX_PAGES = 100_000;

export interface ListOptions extends IoOptions {
  /** Entries asked for per page (`n`); the registry's default when absent. */
  readonly pageSize?: number;
}

function malformed(registry: string, what: string): GantryError {
  return new GantryError('MALFORMED_RESPONSE', `${registry} sent a malformed ${what} page`, {
    phase: 'pull',
    suggestion: 'the registry does not follow the distribution spec; run with --debug to see its answer',
  });
}

async function collect(
  ep: Endpoints,
  registry: string,
  first: URL,
  field: 'tags' | 'repositories',
  scopes: readonly string[],
  context: { repository?: string; what: string },
  options: ListOptions,
): Promise<string[]> {
  const out: string[] = [];
  const seen = new Set<string>();
  let url: URL | undefined = first;
  for (let page = 0; url !== undefined && page < MAX_PAGES; page++) {
    throwIfAborted(options.signal);
    if (seen.has(url.href)) break;
    seen.add(url.href);
    const res = await ep.expect(registry, { method: 'GET', url, scopes, signal: options.signal }, [200], context);
    const body = await readBody(res, PAGE_LIMIT, context.what, options.signal);
    let doc: unknown;
    try {
      doc = JSON.parse(body.toString('utf8'));
    } catch {
      throw malformed(registry, context.what);
    }
    const list = typeof doc === 'object' && doc !== null ? (doc as Record<string, unknown>)[field] : undefined;
    // distribution answers `"tags": null` for a repository whose tags were all deleted.
    if (list !== null && list !== undefined) {
      if (!Array.isArray(list) || !list.every((t) => typeof t === 'string')) throw malformed(registry, context.what);
      out.push(...(list as string[]));
    }
    url = nextLink(res);
  }
  return out;
}

function pageQuery(options: ListOptions): Record<string, string | undefined> {
  if (options.pageSize === undefined) return {};
  if (!Number.isSafeInteger(options.pageSize) || options.pageSize < 1) {
    throw new GantryError('INVALID_PAGE_SIZE', `page size must be a positive integer, got ${options.pageSize}`, {
      phase: 'usage',
      suggestion: 'give a page size of 1 or more',
    });
  }
  return { n: String(options.pageSize) };
}

export async function listTags(ep: Endpoints, repo: Repo, options: ListOptions = {}): Promise<string[]> {
  const first = await ep.url(repo.registry, `/v2/${repo.repository}/tags/list`, pageQuery(options));
  return collect(
    ep,
    repo.registry,
    first,
    'tags',
    [pullScope(repo.repository)],
    { repository: repo.repository, what: 'tags' },
    options,
  );
}

export async function listCatalog(ep: Endpoints, registry: string, options: ListOptions = {}): Promise<string[]> {
  const first = await ep.url(registry, '/v2/_catalog', pageQuery(options));
  return collect(ep, registry, first, 'repositories', [CATALOG_SCOPE], { what: 'catalog' }, options);
}
