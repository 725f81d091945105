/**
 * SLSA v1 provenance as an in-toto v1 statement: which builder made the image, from what exact
 * inputs (the Dockerfile's digest, the context's digest, the base images' digests, and in max mode
 * the build arguments and target), and when. Secrets never appear: they are not build arguments,
 * and build arguments whose names say they hold a credential are redacted.
 */
import { parseDigest } from '../oci/digest.js';
import type { Descriptor } from '../oci/types.js';
import type { Artifact } from './artifact.js';
import { artifactManifest } from './artifact.js';

export const IN_TOTO_MEDIA_TYPE = 'application/vnd.in-toto+json';
export const SLSA_PROVENANCE_V1 = 'https://slsa.dev/provenance/v1';
/** The build type this statement's parameters follow (gantry's own; documented in the README). */
export const GANTRY_BUILD_TYPE = 'urn:gantry:build-type:v1';
export const PREDICATE_TYPE_ANNOTATION = 'in-toto.io/predicate-type';

export type ProvenanceMode = 'min' | 'max';

export interface ProvenanceInput {
  readonly mode: ProvenanceMode;
  /** What the statement is about. */
  readonly subject: { readonly name: string; readonly digest: string };
  readonly builderId: string;
  readonly frontend: string;
  /** The Dockerfile (its name in the context, and sha256 of its bytes), for Dockerfile builds. */
  readonly dockerfile?: { readonly path: string; readonly digest: string };
  /** sha256 over the context's visible files (names, modes, contents). */
  readonly contextDigest?: string;
  readonly bases: readonly { readonly name: string; readonly digest: string; readonly platform?: string }[];
  readonly platform?: string;
  readonly buildArgs?: Readonly<Record<string, string>>;
  readonly target?: string;
  readonly labels?: Readonly<Record<string, string>>;
  readonly startedOn: string;
  readonly finishedOn: string;
  readonly invocationId: string;
  readonly toolVersion?: string;
}

const CREDENTIAL = /(PASSWORD|PASSWD|SECRET|TOKEN|API_?KEY|PRIVATE_?KEY|CREDENTIAL|AUTH)/i;

function digestSet(d: string): Record<string, string> {
  const { algorithm, hex } = parseDigest(d);
  return { [algorithm]: hex };
}

function imageUri(name: string, platform: string | undefined): string {
  const bare = name.replace(/@.*$/, '');
  const at = bare.lastIndexOf(':');
  const repo = at > bare.lastIndexOf('/') ? bare.slice(0, at) : bare;
  const tag = at > bare.lastIndexOf('/') ? bare.slice(at + 1) : 'latest';
  return `pkg:docker/${repo}@${tag}${platform ? `?platform=${encodeURIComponent(platform)}` : ''}`;
}

/** The in-toto statement (as a plain object). */
export function provenanceStatement(input: ProvenanceInput): Record<string, unknown> {
  const max = input.mode === 'max';
  const args = Object.fromEntries(
    Object.entries(input.buildArgs ?? {})
      .sort(([a], [b]) => (a < b ? -1 : 1))
      .map(([k, v]) => [k, CREDENTIAL.test(k) ? '<redacted>' : v]),
  );
  const externalParameters: Record<string, unknown> = {
    frontend: input.frontend,
    ...(input.dockerfile ? { dockerfile: input.dockerfile.path } : {}),
    ...(input.platform ? { platform: input.platform } : {}),
    ...(max && input.target ? { target: input.target } : {}),
    ...(max && Object.keys(args).length > 0 ? { buildArgs: args } : {}),
    ...(max && input.labels && Object.keys(input.labels).length > 0 ? { labels: { ...input.labels } } : {}),
  };
  const resolvedDependencies: Record<string, unknown>[] = [];
  if (input.dockerfile)
    resolvedDependencies.push({
      uri: 'dockerfile',
      name: input.dockerfile.path,
      digest: digestSet(input.dockerfile.digest),
    });
  if (input.contextDigest) resolvedDependencies.push({ uri: 'context', digest: digestSet(input.contextDigest) });
  for (const b of input.bases)
    resolvedDependencies.push({ uri: imageUri(b.name, b.platform), name: b.name, digest: digestSet(b.digest) });
  return {
    _type: 'https://in-toto.io/Statement/v1',
    subject: [{ name: input.subject.name, digest: digestSet(input.subject.digest) }],
    predicateType: SLSA_PROVENANCE_V1,
    predicate: {
      buildDefinition: {
        buildType: GANTRY_BUILD_TYPE,
        externalParameters,
        internalParameters: { mode: input.mode },
        resolvedDependencies,
      },
      runDetails: {
        builder: {
          id: input.builderId,
          ...(input.toolVersion ? { version: { gantry: input.toolVersion } } : {}),
        },
        metadata: { invocationId: input.invocationId, startedOn: input.startedOn, finishedOn: input.finishedOn },
      },
    },
  };
}

/** The statement as a referrer of `subject` (artifactType application/vnd.in-toto+json). */
export function provenanceArtifact(subject: Descriptor, input: ProvenanceInput): Artifact {
  const bytes = Buffer.from(`${JSON.stringify(provenanceStatement(input), null, 2)}\n`);
  return artifactManifest({
    subject,
    artifactType: IN_TOTO_MEDIA_TYPE,
    layers: [
      { mediaType: IN_TOTO_MEDIA_TYPE, bytes, annotations: { [PREDICATE_TYPE_ANNOTATION]: SLSA_PROVENANCE_V1 } },
    ],
    annotations: {
      [PREDICATE_TYPE_ANNOTATION]: SLSA_PROVENANCE_V1,
      'org.opencontainers.image.created': input.finishedOn,
    },
  });
}
