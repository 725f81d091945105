/**
 * Referrers of a manifest (distribution-spec 1.1): the referrers API, and the referrers tag schema
 * for registries without it (distribution 2.8, Gitea): an image index tagged `<alg>-<hex>` that
 * lists the manifests whose `subject` is that digest. Reading falls back on a 404 from the API;
 * writing updates the tag's index when the registry did not say (OCI-Subject) that it indexed the
 * subject itself.
 */
import { GantryError, type IoOptions, throwIfAborted } from '../../errors.js';
import { parseDigest } from '../../oci/digest.js';
import { parseIndex, parseManifest } from '../../oci/parse.js';
import { type Descriptor, type Digest, type Index, MediaType } from '../../oci/types.js';
import { type Endpoints, nextLink, readBody } from './endpoint.js';
import { getManifest, MAX_MANIFEST_SIZE, putManifest } from './manifests.js';
import { pullScope, type Repo } from './types.js';

const MAX_PAGES = 10_000;

/** The referrers tag of a digest: `<alg>-<hex>`, algorithm cut to 32 and hex to 64 characters. */
export function referrersTag(digest: Digest): string {
  const { algorithm, hex } = parseDigest(digest);
  return `${algorithm.slice(0, 32)}-${hex.slice(0, 64)}`;
}

/**
 * Whether a tag is a referrers-fallback or cosign tag (`sha256-<hex>`, `sha256-<hex>.sig|.att|.sbom`):
 * it holds artifacts about an image, not an image, so listings leave it out unless asked.
 */
export function isReferrersTag(tag: string): boolean {
  return /^sha256-[a-f0-9]{64}(?:\.(?:sig|att|sbom))?$/.test(tag);
}

function isNotFound(err: unknown): boolean {
  return GantryError.is(err) && (err as GantryError & { status?: unknown }).status === 404;
}

function filterByType(list: readonly Descriptor[], artifactType: string | undefined): Descriptor[] {
  return artifactType === undefined ? [...list] : list.filter((d) => d.artifactType === artifactType);
}

export interface ReferrersOptions extends IoOptions {
  readonly artifactType?: string;
}

/** The referrers index behind the tag schema, or undefined when the tag does not exist. */
async function readTagIndex(
  ep: Endpoints,
  repo: Repo,
  subject: Digest,
  options: IoOptions,
): Promise<Index | undefined> {
  const ref = { registry: repo.registry, repository: repo.repository, tag: referrersTag(subject) };
  try {
    const got = await getManifest(ep, ref, options);
    if (got.descriptor.mediaType !== MediaType.OciIndex) {
      throw new GantryError(
        'REFERRERS_TAG_CONFLICT',
        `tag ${ref.tag} in ${repo.repository} on ${repo.registry} is not a referrers index (it is ${got.descriptor.mediaType})`,
        {
          phase: 'pull',
          suggestion: 'something else uses the referrers tag; delete or rename that tag',
        },
      );
    }
    return parseIndex(got.bytes);
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw err;
  }
}

export async function listReferrers(
  ep: Endpoints,
  repo: Repo,
  subject: Digest,
  options: ReferrersOptions = {},
): Promise<Descriptor[]> {
  throwIfAborted(options.signal);
  parseDigest(subject);
  const { artifactType } = options;
  let url: URL | undefined = await ep.url(repo.registry, `/v2/${repo.repository}/referrers/${subject}`, {
    artifactType,
  });
  const out: Descriptor[] = [];
  const seen = new Set<string>();
  for (let page = 0; url !== undefined && page < MAX_PAGES && !seen.has(url.href); page++) {
    seen.add(url.href);
    const res = await ep.send(repo.registry, {
      method: 'GET',
      url,
      headers: { accept: MediaType.OciIndex },
      scopes: [pullScope(repo.repository)],
      signal: options.signal,
    });
    if (res.status === 404 && page === 0) {
      // No referrers API here: the tag schema holds the list.
      await res.discard().catch(() => {});
      const index = await readTagIndex(ep, repo, subject, options);
      return filterByType(index?.manifests ?? [], artifactType);
    }
    if (res.status !== 200) {
      throw await ep.error(repo.registry, res, { repository: repo.repository, what: `referrers of ${subject}` });
    }
    const filtered = (res.headers['oci-filters-applied'] ?? '').split(',').some((f) => f.trim() === 'artifactType');
    const index = parseIndex(await readBody(res, MAX_MANIFEST_SIZE, `referrers of ${subject}`, options.signal));
    out.push(...(filtered ? index.manifests : filterByType(index.manifests, artifactType)));
    url = nextLink(res);
  }
  return out;
}

/** The descriptor a referrers list holds for a manifest: its artifactType (or config type) and annotations. */
export function referrerDescriptor(bytes: Buffer, descriptor: Descriptor, artifactType?: string): Descriptor {
  const doc = JSON.parse(bytes.toString('utf8')) as {
    artifactType?: unknown;
    config?: { mediaType?: unknown };
    manifests?: unknown;
    annotations?: Record<string, string>;
  };
  let type = artifactType ?? (typeof doc.artifactType === 'string' ? doc.artifactType : undefined);
  if (type === undefined && doc.manifests === undefined) {
    const config = parseManifest(bytes).config;
    type = config.mediaType;
  }
  return {
    mediaType: descriptor.mediaType,
    digest: descriptor.digest,
    size: descriptor.size,
    ...(type !== undefined && type !== '' ? { artifactType: type } : {}),
    ...(doc.annotations !== undefined ? { annotations: doc.annotations } : {}),
  };
}

/**
 * Adds `entry` to the referrers tag index of `subject` (creating the index when there is none);
 * nothing is written when the entry is already listed.
 */
export async function addToReferrersTag(
  ep: Endpoints,
  repo: Repo,
  subject: Digest,
  entry: Descriptor | readonly Descriptor[],
  options: IoOptions = {},
): Promise<void> {
  const current = await readTagIndex(ep, repo, subject, options);
  const manifests = current?.manifests ?? [];
  const added = (Array.isArray(entry) ? entry : [entry]).filter(
    (e, i, all) => !manifests.some((d) => d.digest === e.digest) && all.findIndex((x) => x.digest === e.digest) === i,
  );
  if (added.length === 0) return;
  const next: Index = {
    schemaVersion: 2,
    mediaType: MediaType.OciIndex,
    manifests: [...manifests, ...added],
    ...(current?.annotations !== undefined ? { annotations: current.annotations } : {}),
  };
  const bytes = Buffer.from(JSON.stringify(next));
  await putManifest(ep, repo, referrersTag(subject), bytes, MediaType.OciIndex, options);
}
