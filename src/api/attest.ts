/**
 * The supply-chain part of a build: which attestations it makes (an SBOM and SLSA provenance, on by
 * default when the build pushes, as ko and buildx do), made once per platform image after the
 * build, then attached wherever the image goes: as referrers in every registry it is pushed to
 * (referrers API, or the tag schema on registries without it), beside it in an OCI layout output,
 * and to `--sbom-output`. `--sign-key` signs every pushed digest, cosign style.
 */
import { type KeyObject, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { basename, isAbsolute, join, relative, resolve } from 'node:path';
import { type Artifact, artifactImage, artifactManifest } from '../attest/artifact.js';
import { loadPrivateKey } from '../attest/keys.js';
import { IN_TOTO_MEDIA_TYPE, type ProvenanceMode, provenanceArtifact } from '../attest/provenance.js';
import { checksumSources } from '../engine/context/checksum.js';
import { loadIgnore } from '../engine/context/ignore.js';
import type { ResolvedImage } from '../engine/solver/solver.js';
import { GantryError, type IoOptions } from '../errors.js';
import { digestOf } from '../oci/digest.js';
import { type Image, type ImageIndex, isImageIndex } from '../oci/image.js';
import { parseManifest } from '../oci/parse.js';
import { formatPlatform } from '../oci/platform.js';
import type { Descriptor } from '../oci/types.js';
import { parseReference, type Reference } from '../reference/index.js';
import type { RegistryClient } from '../registry/client/client.js';
import { MAX_SBOM_FILE } from '../sbom/files.js';
import { imageSbom, SBOM_MEDIA_TYPES, type Sbom, type SbomFormat } from '../sbom/index.js';
import type { Store } from '../store/store.js';
import { writeFileAtomic } from '../util/fs.js';
import { noProgress, type ProgressSink, step } from '../util/progress.js';
import { pushArtifactsTo } from './referrer-push.js';
import { signImage } from './sign.js';

/** What a build attests and signs: an SBOM and min provenance when it pushes, unless turned off. */
export interface SupplyChainOptions {
  /**
   * An SBOM of every platform image; default on when the build pushes (or `sbomOutput` is given).
   * A base image's layers that are not in the store are not downloaded for it: the base's own SBOM
   * referrer gives its packages, else the document marks them unknown. 'full' reads (downloads)
   * every layer instead.
   */
  readonly sbom?: boolean | 'full';
  /** Default cyclonedx. */
  readonly sbomFormat?: SbomFormat;
  /** Also write the SBOM here (several platforms: `FILE` gets `.os-arch` before its extension). */
  readonly sbomOutput?: string;
  /** SLSA v1 provenance: 'min' (the default when the build pushes), 'max' (adds build args, target, labels), or false. */
  readonly provenance?: boolean | ProvenanceMode;
  /** Sign every pushed digest with this ECDSA P-256 key (a PEM file, or env://VAR). */
  readonly signKey?: string;
}

export interface SupplyPlan {
  readonly sbom: boolean;
  /** Read every layer for the SBOM, downloading those not in the store. */
  readonly sbomFull: boolean;
  readonly format: SbomFormat;
  readonly provenance: false | ProvenanceMode;
  readonly sbomOutput?: string;
  readonly signKey?: string;
  /** The signing key, read before the build so that a bad key fails before any work. */
  readonly key?: KeyObject;
}

function usage(message: string, suggestion: string): GantryError {
  return new GantryError('USAGE', message, { phase: 'usage', suggestion });
}

/** The plan of a build, checked (and the signing key read) before any work. */
export async function planSupply(options: SupplyChainOptions, pushing: boolean): Promise<SupplyPlan> {
  const format = options.sbomFormat ?? 'cyclonedx';
  if (format !== 'cyclonedx' && format !== 'spdx') {
    throw usage(`invalid --sbom-format ${String(format)}`, 'use cyclonedx or spdx');
  }
  const p = options.provenance;
  if (p !== undefined && p !== true && p !== false && p !== 'min' && p !== 'max') {
    throw usage(`invalid provenance mode ${String(p)}`, 'use --provenance=mode=min or --provenance=mode=max');
  }
  const s = options.sbom;
  if (s !== undefined && s !== true && s !== false && s !== 'full') {
    throw usage(`invalid --sbom=${String(s)}`, 'use --sbom, --sbom=true, --sbom=full or --sbom=false');
  }
  // On for pushes, as ko and buildx do; an SBOM downloads no base layer the push only mounts.
  const provenance = p === undefined ? (pushing ? 'min' : false) : p === true ? 'min' : p;
  if (options.signKey !== undefined && !pushing) {
    throw usage(
      '--sign-key signs what the build pushes, and this build pushes nothing',
      'add --push, or sign later with gantry sign',
    );
  }
  return {
    sbom: s === undefined ? pushing || options.sbomOutput !== undefined : s !== false,
    sbomFull: s === 'full',
    format,
    provenance,
    ...(options.sbomOutput !== undefined ? { sbomOutput: options.sbomOutput } : {}),
    ...(options.signKey !== undefined ? { signKey: options.signKey, key: await loadPrivateKey(options.signKey) } : {}),
  };
}

/** What the build was given and used, for provenance. */
export interface BuildFacts {
  readonly frontend: string;
  readonly context: string;
  readonly dockerfile?: string;
  readonly bases: readonly ResolvedImage[];
  readonly buildArgs?: Readonly<Record<string, string>>;
  readonly target?: string;
  readonly labels?: Readonly<Record<string, string>>;
  readonly names: readonly string[];
  readonly startedOn: string;
  readonly store: Store;
  readonly progress?: ProgressSink;
  /** For the base images' own SBOM referrers. */
  readonly client?: () => Promise<RegistryClient>;
}

export interface PlatformAttestations {
  readonly subject: Descriptor;
  readonly platform?: string;
  readonly sbom?: Sbom;
  readonly artifacts: readonly Artifact[];
}

export interface Attestations {
  readonly plan: SupplyPlan;
  readonly images: readonly PlatformAttestations[];
}

let versionCache: string | undefined;
/** gantry's version, from its package.json. */
export function gantryVersion(): string {
  versionCache ??= (
    JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string }
  ).version;
  return versionCache;
}

/** Every single-platform image of `item`, with the descriptor a referrer names it by. */
async function platformImages(item: Image | ImageIndex, options: IoOptions) {
  if (!isImageIndex(item)) {
    const subject: Descriptor = {
      mediaType: await item.mediaType(options),
      digest: await item.digest(options),
      size: await item.size(options),
    };
    return [{ image: item, subject }];
  }
  const out: { image: Image; subject: Descriptor }[] = [];
  for (const d of (await item.indexManifest(options)).manifests) {
    const image = await item.image(d.digest, options);
    out.push({ image, subject: { mediaType: d.mediaType, digest: d.digest, size: d.size } });
  }
  return out;
}

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

/**
 * Whether every platform image of `item` already has, in every repository it is pushed to, the
 * SBOM and provenance `plan` would attach: a rebuild that changed nothing (the same digests) then
 * makes and pushes none again, as the image push itself skips what the registry holds. Not with
 * --sbom=full, --sbom-output, an OCI layout output (they need the documents) or provenance
 * mode=max (its build args may differ for the same image). A failed lookup answers no.
 */
export async function alreadyAttested(
  item: Image | ImageIndex,
  plan: SupplyPlan,
  pushTo: readonly string[],
  client: () => Promise<RegistryClient>,
  options: IoOptions = {},
): Promise<boolean> {
  if (pushTo.length === 0 || plan.sbomFull || plan.sbomOutput !== undefined || plan.provenance === 'max') return false;
  const wanted = [
    ...(plan.sbom ? [SBOM_MEDIA_TYPES[plan.format]] : []),
    ...(plan.provenance !== false ? [IN_TOTO_MEDIA_TYPE] : []),
  ];
  if (wanted.length === 0) return false;
  try {
    const c = await client();
    for (const { subject } of await platformImages(item, options)) {
      for (const name of pushTo) {
        const ref = parseReference(name);
        const found = await c.referrers(
          { registry: ref.registry, repository: ref.repository },
          subject.digest,
          options,
        );
        if (!wanted.every((t) => found.some((d) => d.artifactType === t))) return false;
      }
    }
    return true;
  } catch (err) {
    if (options.signal?.aborted) throw err;
    return false;
  }
}

/** The SBOMs and provenance of every platform image of a finished build. */
export async function makeAttestations(
  item: Image | ImageIndex,
  plan: SupplyPlan,
  facts: BuildFacts,
  options: IoOptions = {},
): Promise<Attestations> {
  if (!plan.sbom && plan.provenance === false) return { plan, images: [] };
  const what = [plan.sbom ? 'SBOM' : '', plan.provenance !== false ? 'provenance' : ''].filter(Boolean).join(' and ');
  return step(facts.progress ?? noProgress, 'attest', `generating ${what}`, () => attest(item, plan, facts, options));
}

async function attest(
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

/** Writes `--sbom-output` (one file per platform when there are several). */
export async function writeSbomOutput(att: Attestations, options: IoOptions = {}): Promise<void> {
  const file = att.plan.sbomOutput;
  if (file === undefined) return;
  const sboms = att.images.filter((i) => i.sbom !== undefined);
  for (const i of sboms) {
    let path = file;
    if (sboms.length > 1) {
      const suffix = `.${(i.platform ?? i.subject.digest.slice(7, 19)).replace(/\//g, '-')}`;
      const dot = file.lastIndexOf('.');
      path =
        dot > file.lastIndexOf('/') && dot > 0
          ? `${file.slice(0, dot)}${suffix}${file.slice(dot)}`
          : `${file}${suffix}`;
    }
    await writeFileAtomic(path, (i.sbom as Sbom).bytes, options);
  }
}

/** The attestations as images for an OCI layout output, each entry marked with its artifactType. */
export function layoutArtifacts(att: Attestations): { item: Image; artifactType: string }[] {
  return att.images.flatMap((i) => i.artifacts.map((a) => ({ item: artifactImage(a), artifactType: a.artifactType })));
}

/** After a push: the attestations as referrers in that repository, then the signature. */
export async function attachPushed(
  client: RegistryClient,
  ref: Reference,
  pushed: Descriptor,
  att: Attestations,
  options: IoOptions = {},
): Promise<void> {
  const artifacts = att.images.flatMap((i) => i.artifacts);
  if (artifacts.length > 0) await pushArtifactsTo(client, ref, artifacts, options);
  if (att.plan.key !== undefined) await signImage(client, ref, pushed, att.plan.key, options);
}
