/**
 * The making of a build's SBOMs and provenance (api/attest.ts's makeAttestations), loaded only
 * when a build makes some: a rebuild whose image the registry already holds with its attestations
 * (a no-change build) never loads the SBOM catalogers, the provenance writer or the context hash.
 */
import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { basename, isAbsolute, join, relative, resolve } from 'node:path';
import { type Artifact, artifactManifest } from '../attest/artifact.js';
import { provenanceArtifact } from '../attest/provenance.js';
import { checksumSources } from '../engine/context/checksum.js';
import { loadIgnore } from '../engine/context/ignore.js';
import type { IoOptions } from '../errors.js';
import { digestOf } from '../oci/digest.js';
import type { Image, ImageIndex } from '../oci/image.js';
import { parseManifest } from '../oci/parse.js';
import { formatPlatform } from '../oci/platform.js';
import type { Descriptor } from '../oci/types.js';
import { parseReference, type Reference } from '../reference/index.js';
import { MAX_SBOM_FILE } from '../sbom/files.js';
import { imageSbom, SBOM_MEDIA_TYPES, type Sbom } from '../sbom/index.js';
import { noProgress } from '../util/progress.js';
import {
  type Attestations,
  type BuildFacts,
  gantryVersion,
  type PlatformAttestations,
  platformImages,
  type SupplyPlan,
} from './attest.js';

/** sha256 over the context as a COPY of all of it sees it (.dockerignore applied), reusing the build's hash cache. */
async function contextDigest(facts: BuildFacts, options: IoOptions): Promise<string> {
  const abs = resolve(facts.context);
  const ignore = await loadIgnore(abs, facts.dockerfile, options);
  return checksumSources(
    {
      dest: '/',
      entries: [{ kind: 'contents', source: abs, sourcePath: '', type: 'directory', target: '/', excludePath: '' }],
      filter: { ignore, exclude: undefined },
    },
    { cacheDir: join(facts.store.dir, 'cache', 'context'), ...options },
  );
}

export async function attest(
  item: Image | ImageIndex,
  plan: SupplyPlan,
  facts: BuildFacts,
  options: IoOptions,
): Promise<Attestations> {
  const finishedOn = new Date().toISOString();
  let dockerfile: { path: string; digest: string } | undefined;
  let context: string | undefined;
  if (plan.provenance !== false) {
    if (facts.dockerfile !== undefined) {
      const rel = relative(resolve(facts.context), resolve(facts.dockerfile));
      const path = rel.startsWith('..') || isAbsolute(rel) ? basename(facts.dockerfile) : rel;
      dockerfile = { path, digest: digestOf(await readFile(facts.dockerfile)) };
    }
    context = await contextDigest(facts, options);
  }
  const name = facts.names[0];
  const images: PlatformAttestations[] = [];
  const unknownBases = new Set<string>();
  let unreadLayers = 0;
  for (const { image, subject } of await platformImages(item, options)) {
    const config = await image.configFile(options);
    const platform =
      config.os && config.architecture
        ? formatPlatform({
            os: config.os,
            architecture: config.architecture,
            ...(config.variant ? { variant: config.variant } : {}),
          })
        : undefined;
    const artifacts: Artifact[] = [];
    let sbom: Sbom | undefined;
    if (plan.sbom) {
      let counts = { read: 0, total: 0 };
      sbom = await imageSbom(image, {
        ...options,
        format: plan.format,
        ...(name !== undefined ? { name } : {}),
        bases: facts.bases.map((b) => ({ name: b.name, image: b.image })),
        toolVersion: gantryVersion(),
        cacheDir: join(facts.store.dir, 'cache', 'sbom'),
        ...(plan.sbomFull ? {} : { readable: (d: Descriptor) => facts.store.layout.hasBlob(d.digest) }),
        baseSbom: (base) => baseSbomReferrer(facts, base, options),
        onRead: (read, total) => {
          counts = { read, total };
        },
      });
      const unread = sbom.subject.incomplete;
      const others = [
        ...(sbom.subject.base?.sbom ? [`the base's from its SBOM ${sbom.subject.base.sbom.slice(7, 19)}`] : []),
        ...(unread ? ['those not in the store: unknown'] : []),
      ];
      (facts.progress ?? noProgress)({
        type: 'log',
        id: 'attest',
        line: `SBOM: read ${counts.read} of ${counts.total} layers (the others: ${others.length > 0 ? others.join(', ') : "from the store's SBOM cache"})`,
      });
      if (sbom.subject.incomplete?.base && sbom.subject.base) unknownBases.add(sbom.subject.base.name);
      unreadLayers += sbom.subject.incomplete?.layers.length ?? 0;
      artifacts.push(
        artifactManifest({
          subject,
          artifactType: sbom.mediaType,
          layers: [{ mediaType: sbom.mediaType, bytes: sbom.bytes }],
          annotations: { 'org.opencontainers.image.created': sbom.subject.created },
        }),
      );
    }
    if (plan.provenance !== false) {
      const bases = [];
      for (const b of facts.bases) {
        if (platform !== undefined && formatPlatform(b.platform) !== platform) continue;
        bases.push({ name: b.name, digest: await b.image.digest(options), platform: formatPlatform(b.platform) });
      }
      artifacts.push(
        provenanceArtifact(subject, {
          mode: plan.provenance,
          subject: { name: name ?? 'image', digest: subject.digest },
          builderId: process.env.GANTRY_BUILDER_ID ?? 'urn:gantry:builder:local',
          frontend: facts.frontend,
          ...(dockerfile ? { dockerfile } : {}),
          ...(context ? { contextDigest: context } : {}),
          bases,
          ...(platform ? { platform } : {}),
          ...(facts.buildArgs ? { buildArgs: facts.buildArgs } : {}),
          ...(facts.target ? { target: facts.target } : {}),
          ...(facts.labels ? { labels: facts.labels } : {}),
          startedOn: facts.startedOn,
          finishedOn,
          invocationId: randomUUID(),
          toolVersion: gantryVersion(),
        }),
      );
    }
    images.push({ subject, ...(platform ? { platform } : {}), ...(sbom ? { sbom } : {}), artifacts });
  }
  if (unknownBases.size > 0 || unreadLayers > 0) {
    const what = [
      ...(unknownBases.size > 0
        ? [`the contents of ${[...unknownBases].join(', ')} (not in the store, no SBOM of its own)`]
        : []),
      ...(unreadLayers > 0
        ? [`${unreadLayers} layer${unreadLayers === 1 ? '' : 's'} of the build cache not in the store`]
        : []),
    ].join(' and ');
    (facts.progress ?? noProgress)({
      type: 'warning',
      code: 'SBOM_BASE_UNKNOWN',
      message: `the SBOM does not list ${what}: they are marked unknown rather than downloaded; for a full SBOM use --sbom=full, or pull the base first (gantry pull)`,
    });
  }
  return { plan, images };
}

/** The newest CycloneDX SBOM referrer of a base image in its registry, if it has one (any failure: none). */
async function baseSbomReferrer(
  facts: BuildFacts,
  base: { name: string; digest: string },
  options: IoOptions,
): Promise<{ digest: string; bytes: Buffer } | undefined> {
  if (facts.client === undefined) return undefined;
  let ref: Reference;
  try {
    ref = parseReference(base.name);
  } catch {
    return undefined; // a build context or a store name: not a registry image
  }
  try {
    const client = await facts.client();
    const repo = { registry: ref.registry, repository: ref.repository };
    const found = await client.referrers(repo, base.digest, { ...options, artifactType: SBOM_MEDIA_TYPES.cyclonedx });
    const last = found[found.length - 1];
    if (!last) return undefined;
    const m = parseManifest((await client.getManifest({ ...repo, digest: last.digest }, options)).bytes);
    const layer = m.layers[0];
    if (!layer || layer.size > MAX_SBOM_FILE) return undefined;
    const chunks: Buffer[] = [];
    for await (const c of await client.openBlob(repo, layer, options)) chunks.push(c as Buffer);
    return { digest: last.digest, bytes: Buffer.concat(chunks) };
  } catch (err) {
    if (options.signal?.aborted) throw err;
    return undefined;
  }
}
