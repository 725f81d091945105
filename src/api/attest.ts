/**
 * The supply-chain part of a build: which attestations it makes (an SBOM and SLSA provenance, on by
 * default when the build pushes, as ko and buildx do), made once per platform image after the
 * build, then attached wherever the image goes: as referrers in every registry it is pushed to
 * (referrers API, or the tag schema on registries without it), beside it in an OCI layout output,
 * and to `--sbom-output`. `--sign-key` signs every pushed digest, cosign style.
 */
import type { KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { Artifact } from '../attest/artifact.js';
import { IN_TOTO_MEDIA_TYPE, type ProvenanceMode } from '../attest/provenance.js';
import type { ResolvedImage } from '../engine/solver/solver.js';
import { GantryError, type IoOptions } from '../errors.js';
import { type Image, type ImageIndex, isImageIndex } from '../oci/image.js';
import type { Descriptor } from '../oci/types.js';
import { parseReference, type Reference } from '../reference/index.js';
import type { RegistryClient } from '../registry/client/client.js';
import type { Sbom, SbomFormat } from '../sbom/index.js';
import { SBOM_MEDIA_TYPES } from '../sbom/media-types.js';
import type { Store } from '../store/store.js';
import { writeFileAtomic } from '../util/fs.js';
import { noProgress, type ProgressSink, step } from '../util/progress.js';

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
    ...(options.signKey !== undefined
      ? { signKey: options.signKey, key: await (await import('../attest/keys.js')).loadPrivateKey(options.signKey) }
      : {}),
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
export async function platformImages(item: Image | ImageIndex, options: IoOptions) {
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
  return step(facts.progress ?? noProgress, 'attest', `generating ${what}`, async () =>
    (await import('./attest-make.js')).attest(item, plan, facts, options),
  );
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
export async function layoutArtifacts(att: Attestations): Promise<{ item: Image; artifactType: string }[]> {
  const artifacts = att.images.flatMap((i) => i.artifacts);
  if (artifacts.length === 0) return [];
  const { artifactImage } = await import('../attest/artifact.js');
  return artifacts.map((a) => ({ item: artifactImage(a), artifactType: a.artifactType }));
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
  if (artifacts.length > 0) await (await import('./referrer-push.js')).pushArtifactsTo(client, ref, artifacts, options);
  if (att.plan.key !== undefined)
    await (await import('./sign.js')).signImage(client, ref, pushed, att.plan.key, options);
}
