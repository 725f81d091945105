/**
 * Building an image, as `gantry build` does: pick the front end (a Dockerfile, or a directory as
 * one layer), build, then deliver the result: file outputs (`type=oci|docker|local|tar`), pushes
 * (to the tags, or an output's own name), the store (named, or under its digest), the image id
 * file and the buildx-style metadata file. Every input is checked before any work, so bad input
 * writes nothing.
 */

import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { annotate, descriptorAnnotations, parseAnnotation } from '../engine/annotate.js';
import { corruptCacheLayer, exportCache, importCaches, layerDigests } from '../engine/cache/remote.js';
import { parseCacheSpec } from '../engine/cache/spec.js';
import { isRemoteContext } from '../engine/context/remote-spec.js';
import { type OutputSpec, parseOutput, toStdout, writeOutput } from '../engine/output.js';
import { writeImage } from '../engine/source.js';
import { GantryError } from '../errors.js';
import { buildDirectory as directoryFrontEnd } from '../frontend/directory.js';
import type { BuildContext } from '../frontend/dockerfile/index.js';
import {
  type Detection,
  detectProject,
  type ProjectBuildOptions,
  type ProjectFrontEnd,
  type ProjectKind,
  type ProjectPlan,
} from '../frontend/project/index.js';
import { isArtifactContext, withArtifactContext } from '../integrations/kubernetes/context-artifact.js';
import type { Image, ImageIndex } from '../oci/image.js';
import { parsePlatform } from '../oci/platform.js';
import type { Descriptor, Digest, Platform } from '../oci/types.js';
import { parseReference } from '../reference/index.js';
import { type PushImageOptions, type PushState, pushState } from '../registry/ops/push.js';
import { writeFileAtomic } from '../util/fs.js';
import { noProgress, type ProgressSink } from '../util/progress.js';
import { resolveInRoot } from '../util/rootpath.js';
import {
  alreadyAttested,
  attachPushed,
  layoutArtifacts,
  makeAttestations,
  planSupply,
  writeSbomOutput,
} from './attest.js';
import type { BuildBaseOptions, BuildOptions, DirectoryOptions, DockerfileOptions, FrontEnd } from './build-options.js';
import { callerName } from './input.js';
import { buildLayerFormat } from './layer-format.js';
import { sessionOf } from './session.js';

export type {
  BuildBaseOptions,
  BuildOptions,
  DirectoryOptions,
  DockerfileOptions,
  FrontEnd,
  ProjectOptions,
} from './build-options.js';

/**
 * The project front ends this build of gantry has. A kind missing here is never detected, and
 * asking for it with `frontend` is an error.
 */
const PROJECT_FRONTENDS: Partial<Record<ProjectKind, ProjectFrontEnd>> = {
  python: lazyFrontEnd(async () => (await import('../frontend/python/index.js')).pythonFrontEnd),
  node: lazyFrontEnd(async () => (await import('../frontend/node/build.js')).nodeFrontEnd),
};

/**
 * A front end whose module is loaded when a build uses it: a Python build does not load the
 * Dockerfile and Node.js code (about 0.1 s of CPU per process, a fixed cost of every no-change
 * rebuild), nor does a Dockerfile build load the project front ends.
 */
function lazyFrontEnd(load: () => Promise<ProjectFrontEnd>): ProjectFrontEnd {
  return {
    plan: async (options) => (await load()).plan(options),
    build: async (options) => (await load()).build(options),
  };
}

/** The Dockerfile front end, loaded when a build needs it (see lazyFrontEnd). */
function dockerfileModule(): Promise<typeof import('../frontend/dockerfile/index.js')> {
  return import('../frontend/dockerfile/index.js');
}

const PROJECT_ONLY = [
  'indexUrl',
  'extraIndexUrls',
  'findLinks',
  'noDeps',
  'venv',
  'wheel',
  'workspace',
  'caCerts',
  'buildOn',
] as const;

export interface BuildOutcome {
  readonly frontend: FrontEnd;
  /** The image, or an index when more than one platform was built. */
  readonly item: Image | ImageIndex;
  readonly descriptor: Descriptor;
  readonly digest: string;
  readonly platforms: readonly Platform[];
  /** The normalized tags. */
  readonly names: readonly string[];
  /** True when the image was written to the store (named, or under its digest). */
  readonly stored: boolean;
  /** Every registry reference the image was pushed to, with the digest it has there. */
  readonly pushed: readonly { readonly name: string; readonly digest: string }[];
  /** The file outputs written. */
  readonly outputs: readonly OutputSpec[];
}

const DIRECTORY_ONLY = ['from', 'workdir', 'entrypoint', 'cmd', 'env', 'user', 'expose'] as const;

function usage(message: string, suggestion: string): GantryError {
  return new GantryError('USAGE', message, { phase: 'usage', suggestion });
}

function given(value: unknown): boolean {
  return Array.isArray(value) ? value.length > 0 : value !== undefined;
}

function projectFrontEnd(kind: ProjectKind): ProjectFrontEnd {
  const fe = PROJECT_FRONTENDS[kind];
  if (!fe) {
    throw new GantryError('PROJECT_FRONTEND_UNAVAILABLE', `this gantry has no ${kind} front end`, {
      phase: 'usage',
      suggestion: `use one of ${['dockerfile', ...Object.keys(PROJECT_FRONTENDS), 'dir'].join(', ')}`,
    });
  }
  return fe;
}

interface Picked {
  readonly frontend: FrontEnd;
  readonly dockerfile?: string;
  readonly detection?: Detection;
}

/** Which front end a build uses, with the reason it refuses a mix. */
function pickFrontEnd(options: BuildOptions): Picked {
  const picked = pickBasic(options);
  const projectOnly = PROJECT_ONLY.find((k) => given(options[k]));
  if (projectOnly !== undefined && (picked.frontend === 'dockerfile' || picked.frontend === 'directory')) {
    const flag = projectOnly.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`).replace(/s$/, '');
    throw usage(`--${flag} is for project builds (Python, Node.js)`, 'use --frontend python or node');
  }
  return picked;
}

function pickBasic(options: BuildOptions): Picked {
  if (options.frontend === 'directory' || options.frontend === 'dir') return { frontend: 'directory' };
  if (options.frontend === 'python' || options.frontend === 'node') {
    projectFrontEnd(options.frontend);
    return {
      frontend: options.frontend,
      detection: detectProject(options.context, { frontend: options.frontend, kinds: [] }),
    };
  }
  const dirOnly = DIRECTORY_ONLY.filter((k) => given(options[k]));
  let dockerfile = options.dockerfile;
  const hasDockerfile = dockerfile === undefined && existsSync(join(options.context, 'Dockerfile'));
  // A command (or what to pack) for a context that has a Dockerfile is a mistake, not a reason
  // to skip the Dockerfile.
  const command = (['cmd', 'entrypoint'] as const).find((k) => given(options[k]));
  if (hasDockerfile && command !== undefined && options.frontend === undefined) {
    throw usage(
      `--${command} is for directory builds, and ${options.context} has a Dockerfile`,
      `set ${command.toUpperCase()} in the Dockerfile instead`,
    );
  }
  const packing = given(options.exclude) ? '--exclude' : options.includeVcs ? '--include-vcs' : undefined;
  if (packing !== undefined && (hasDockerfile || dockerfile !== undefined || options.frontend === 'dockerfile')) {
    throw usage(
      `${packing} is for directory builds, and this build uses a Dockerfile`,
      'list what to leave out in .dockerignore beside the Dockerfile',
    );
  }
  if (dockerfile === undefined && (options.frontend === 'dockerfile' || (dirOnly.length === 0 && hasDockerfile)))
    dockerfile = join(options.context, 'Dockerfile');
  if (dockerfile !== undefined && dirOnly.length > 0) {
    throw usage(`--${dirOnly[0]} is for directory builds, not Dockerfile builds`, 'set it in the Dockerfile instead');
  }
  if (dockerfile !== undefined) return { frontend: 'dockerfile', dockerfile };
  if (options.frontend === undefined && !hasDockerfile) {
    const detection = detectProject(options.context, { kinds: Object.keys(PROJECT_FRONTENDS) as ProjectKind[] });
    if (detection.frontend === 'python' || detection.frontend === 'node')
      return { frontend: detection.frontend, detection };
  }
  return { frontend: 'directory' };
}

/** Where the image goes: file outputs, registry names, and whether the store keeps it. */
function plan(options: BuildOptions) {
  const names = (options.tags ?? []).map(callerName);
  const all = (options.outputs ?? []).map((o) => (typeof o === 'string' ? parseOutput(o) : o));
  const outputs = all.filter((o) => o.type !== 'registry');
  if (outputs.filter(toStdout).length > 1) {
    throw new GantryError('INVALID_OUTPUT', 'two outputs write to stdout (dest=-)', {
      phase: 'usage',
      suggestion: 'send one output to stdout and give the others a file',
    });
  }
  // push and type=registry push to the tags (or the output's own name).
  const pushTo = new Set<string>();
  for (const o of all) {
    if (o.type !== 'registry') continue;
    if (o.name) pushTo.add(callerName(o.name));
    else for (const n of names) pushTo.add(n);
  }
  if (options.push) for (const n of names) pushTo.add(n);
  if ((options.push || all.some((o) => o.type === 'registry')) && pushTo.size === 0) {
    throw usage('nothing to push to: the image has no name', 'add -t REGISTRY/REPO:TAG');
  }
  // A pushed image is not copied into the store unless asked (load): naming it there would
  // fetch every layer of a registry base, which the push itself never moves.
  const keep = pushTo.size === 0 ? names.length > 0 || outputs.length === 0 : options.load === true;
  return { names, outputs, pushTo: [...pushTo], keep, layerFormat: buildLayerFormat(options, all) };
}

/** Builds an image from a Dockerfile or a directory and delivers it, as `gantry build` does. */
export async function build(options: BuildOptions): Promise<BuildOutcome> {
  if (isArtifactContext(options.context)) return withArtifactContext(sessionOf(options), options, plan, build);
  if (!isRemoteContext(options.context)) return buildLocal(options);
  // Checked before anything is fetched: a bad flag costs no download.
  plan(options);
  const { fetchContext } = await import('../engine/context/remote.js');
  const fetched = await fetchContext(options.context, {
    progress: options.progress ?? noProgress,
    ...(options.stdin ? { stdin: options.stdin } : {}),
    ...(options.signal ? { signal: options.signal } : {}),
  });
  try {
    // -f names a file inside the fetched context, as docker build reads it for URL contexts.
    const dockerfile =
      options.dockerfile !== undefined
        ? join(fetched.dir, await resolveInRoot(fetched.dir, options.dockerfile, { phase: 'usage' }))
        : fetched.dockerfile;
    return await buildLocal({ ...options, context: fetched.dir, ...(dockerfile ? { dockerfile } : {}) });
  } finally {
    await fetched.cleanup();
  }
}

/**
 * A cache layer whose bytes changed is found only when fetched (a later step, or the export):
 * one warning, and the build runs again without that layer's records (what it built is kept).
 */
async function buildLocal(options: BuildOptions, distrust: ReadonlySet<Digest> = new Set()): Promise<BuildOutcome> {
  try {
    return await buildOnce(options, distrust);
  } catch (err) {
    const bad = corruptCacheLayer(err);
    if (bad === undefined || distrust.has(bad) || options.signal?.aborted) throw err;
    (options.progress ?? noProgress)({
      type: 'warning',
      code: 'CACHE_LAYER_CORRUPT',
      message: `${(err as Error).message}: running the steps that made it instead`,
    });
    return buildLocal(options, new Set([...distrust, bad]));
  }
}

async function buildOnce(options: BuildOptions, distrust: ReadonlySet<Digest>): Promise<BuildOutcome> {
  const { frontend, dockerfile, detection } = pickFrontEnd(options);
  const { names, outputs, pushTo, keep, layerFormat } = plan(options);
  const platforms = (options.platforms ?? []).map((p) => (typeof p === 'string' ? parsePlatform(p.trim()) : p));
  const mediaType = options.mediaType ?? 'oci';
  if (mediaType !== 'oci' && mediaType !== 'docker') {
    throw usage(`invalid --media-types ${String(mediaType)}`, 'use oci or docker');
  }
  const cacheTo = (options.cacheTo ?? []).map((c) => (typeof c === 'string' ? parseCacheSpec(c, 'to') : c));
  const cacheFrom = (options.cacheFrom ?? []).map((c) => (typeof c === 'string' ? parseCacheSpec(c, 'from') : c));
  if (frontend !== 'dockerfile' && (cacheTo.length > 0 || cacheFrom.length > 0)) {
    throw usage('--cache-to and --cache-from are for Dockerfile builds', 'drop them, or build from a Dockerfile');
  }
  const annotations = (options.annotations ?? []).map((a) => (typeof a === 'string' ? parseAnnotation(a) : a));
  if (
    platforms.length < 2 &&
    annotations.some((a) => a.levels.includes('index') || a.levels.includes('manifest-descriptor'))
  )
    throw usage(
      'index annotations are not supported for a single-platform image',
      'build several platforms (--platform a,b), or annotate the manifest',
    );
  const buildContexts: Record<string, BuildContext> = {};
  const contextFlags = Object.entries(options.buildContexts ?? {});
  const sshFlags = options.ssh ?? [];
  const df = contextFlags.length > 0 || sshFlags.length > 0 ? await dockerfileModule() : undefined;
  for (const [name, c] of contextFlags)
    buildContexts[name] =
      typeof c === 'string' ? (df as NonNullable<typeof df>).parseBuildContext(`${name}=${c}`).context : c;
  if (df) await df.checkBuildContexts(buildContexts);
  const sshSpecs = sshFlags.map((v) => (typeof v === 'string' ? (df as NonNullable<typeof df>).parseSshFlag(v) : v));
  const startedOn = new Date().toISOString();
  const supply = await planSupply(options, pushTo.length > 0);
  const told = options.progress ?? noProgress;
  // Whether a build step ran (not a cache hit): a build that ran none made an image made before.
  let stepRan = false;
  const progress: ProgressSink = (event) => {
    if (event.type === 'done' && event.id.startsWith('step-') && !event.cached) stepRan = true;
    told(event);
  };
  const signal = options.signal;
  const io = signal ? { signal } : {};
  const session = sessionOf(options);
  const store = await session.store();
  return store.lease(async () => {
    const common = {
      context: options.context,
      store,
      ...(platforms.length > 0 ? { platforms } : {}),
      labels: options.labels ?? {},
      mediaType,
      progress,
      ...(layerFormat ? { layerFormat } : {}),
      ...io,
    };
    const cacheContext = { store, client: () => session.client(progress), progress, distrust, ...io };
    const cacheImports = cacheFrom.length > 0 ? await importCaches(cacheFrom, cacheContext) : [];
    const agents =
      frontend === 'dockerfile' && sshSpecs.length > 0
        ? await (await dockerfileModule()).prepareSsh(sshSpecs)
        : undefined;
    const result =
      frontend === 'python' || frontend === 'node'
        ? await projectFrontEnd(frontend).build(
            projectOptions(
              options,
              {
                store,
                client: () => session.client(progress),
                mirrors: (registry: string) => session.mirrors(registry),
                platforms,
                mediaType,
                progress,
                ...(layerFormat ? { layerFormat } : {}),
              },
              detection,
            ),
          )
        : frontend === 'dockerfile'
          ? await (await dockerfileModule())
              .buildDockerfile({
                ...common,
                ...(dockerfile !== undefined ? { dockerfile } : {}),
                ...(options.target !== undefined ? { target: options.target } : {}),
                buildArgs: options.buildArgs ?? {},
                noCache: options.noCache ?? false,
                noCacheFilter: options.noCacheFilter ?? [],
                ...(options.isolation ? { isolation: options.isolation } : {}),
                secrets: options.secrets ?? {},
                client: () => session.client(progress),
                ...(cacheImports.length > 0 ? { cacheImports } : {}),
                ...(Object.keys(buildContexts).length > 0 ? { buildContexts } : {}),
                ...(agents ? { sshSockets: agents.sockets } : {}),
              })
              .finally(() => agents?.close())
          : await directoryFrontEnd({
              ...common,
              ...(options.from ? { from: options.from } : {}),
              ...(options.workdir !== undefined ? { workdir: options.workdir } : {}),
              ...(options.entrypoint !== undefined ? { entrypoint: options.entrypoint } : {}),
              ...(options.cmd !== undefined ? { cmd: options.cmd } : {}),
              env: options.env ?? [],
              ...(options.user !== undefined ? { user: options.user } : {}),
              expose: options.expose ?? [],
              ...(options.exclude !== undefined ? { exclude: options.exclude } : {}),
              ...(options.includeVcs ? { includeVcs: true } : {}),
              ...(options.noCache ? { noCache: true } : {}),
            });
    const item = await annotate(result.item, annotations, io);
    const descriptorAnn = descriptorAnnotations(annotations);
    // What each repository pushed to holds of this image (its tag and manifest HEADs; the push then
    // asks nothing again). A rebuild that changed nothing: the registry holds the image, and then
    // maybe its SBOM and provenance, looked up only then (a new image has none); when no step ran
    // (every one a cache hit), the image was made before and the lookup runs beside the HEADs.
    const states = new Map<string, PushState>();
    const lookAttested = () => alreadyAttested(item, supply, pushTo, () => session.client(progress), io);
    let attestedEarly: Promise<boolean> | undefined;
    if (pushTo.length > 0) {
      const digest = await item.digest(io);
      if (!outputs.some((o) => o.type === 'oci') && !stepRan) {
        attestedEarly = lookAttested();
        attestedEarly.catch(() => {});
      }
      const client = await session.client(progress);
      await Promise.all(
        pushTo.map(async (name) => states.set(name, await pushState(client, parseReference(name), digest, io))),
      );
    }
    const attested =
      !outputs.some((o) => o.type === 'oci') &&
      pushTo.length > 0 &&
      [...states.values()].every((s) => s.present) &&
      (await (attestedEarly ?? lookAttested()));
    if (attested) {
      progress({
        type: 'start',
        id: 'attest',
        name: 'SBOM and provenance: already attached to this image in the registry',
      });
      progress({ type: 'done', id: 'attest', cached: true });
    }
    const attestations = await makeAttestations(
      item,
      attested ? { ...supply, sbom: false, provenance: false } : supply,
      {
        frontend,
        context: options.context,
        ...(dockerfile !== undefined ? { dockerfile } : {}),
        bases: 'bases' in result ? result.bases : [],
        ...(options.buildArgs ? { buildArgs: options.buildArgs } : {}),
        ...(options.target ? { target: options.target } : {}),
        ...(options.labels ? { labels: options.labels } : {}),
        names: pushTo.length > 0 ? pushTo : names,
        startedOn,
        store,
        progress,
        client: () => session.client(progress),
      },
      io,
    );
    await writeSbomOutput(attestations, io);
    for (const [i, spec] of outputs.entries()) {
      progress({ type: 'start', id: `output-${i}`, name: `exporting to ${spec.type} ${spec.dest}` });
      await writeOutput(
        item,
        spec,
        names,
        {
          ...io,
          ...(Object.keys(descriptorAnn).length > 0 ? { descriptorAnnotations: descriptorAnn } : {}),
          ...(options.stdout ? { stdout: options.stdout } : {}),
        },
        spec.type === 'oci' ? await layoutArtifacts(attestations) : [],
      );
      progress({ type: 'done', id: `output-${i}` });
    }
    const pushed: { name: string; digest: string }[] = [];
    for (const name of pushTo) {
      progress({ type: 'start', id: `push-${name}`, name: `pushing ${name}` });
      const state = states.get(name);
      const pushOptions: PushImageOptions = state ? { ...io, state } : io;
      const desc = await writeImage(
        item,
        { kind: 'registry', ref: parseReference(name) },
        { store: () => session.store(), client: () => session.client(progress) },
        pushOptions,
      );
      await attachPushed(await session.client(progress), parseReference(name), desc, attestations, io);
      pushed.push({ name, digest: desc.digest });
      progress({ type: 'done', id: `push-${name}` });
    }
    if (cacheTo.length > 0 && 'usedRecords' in result) {
      const finalLayers = await layerDigests(item, io);
      const pushedTo = pushed.map((p) => {
        const ref = parseReference(p.name);
        return { registry: ref.registry, repository: ref.repository };
      });
      for (const spec of cacheTo)
        await exportCache(spec, result.usedRecords, { ...cacheContext, finalLayers, pushedTo });
    }
    let descriptor: Descriptor;
    if (keep) {
      progress({ type: 'start', id: 'store', name: `naming ${names.length > 0 ? names.join(', ') : 'image'}` });
      descriptor = await store.put(item, names, io);
      progress({ type: 'done', id: 'store', detail: descriptor.digest });
    } else {
      descriptor = { mediaType: await item.mediaType(), digest: await item.digest(), size: await item.size() };
    }
    if (options.iidfile) await writeFileAtomic(options.iidfile, descriptor.digest, io);
    if (options.metadataFile) {
      const meta: Record<string, unknown> = {
        'containerimage.digest': descriptor.digest,
        'containerimage.descriptor': {
          mediaType: descriptor.mediaType,
          digest: descriptor.digest,
          size: descriptor.size,
        },
      };
      if ('configName' in item) meta['containerimage.config.digest'] = await item.configName();
      if (names.length > 0) meta['image.name'] = names.join(',');
      await writeFileAtomic(options.metadataFile, `${JSON.stringify(meta, null, 2)}\n`, io);
    }
    return {
      frontend,
      item,
      descriptor,
      digest: descriptor.digest,
      platforms: result.platforms,
      names,
      stored: keep,
      pushed,
      outputs,
    };
  });
}

function projectOptions(
  options: BuildOptions,
  made: Pick<
    ProjectBuildOptions,
    'store' | 'client' | 'platforms' | 'mediaType' | 'progress' | 'mirrors' | 'layerFormat'
  >,
  detection: Detection | undefined,
): ProjectBuildOptions {
  const pick = <K extends keyof BuildOptions>(k: K) => (options[k] === undefined ? {} : { [k]: options[k] });
  return {
    context: options.context,
    ...made,
    ...(made.platforms && made.platforms.length === 0 ? { platforms: undefined } : {}),
    ...pick('from'),
    ...pick('workdir'),
    ...pick('entrypoint'),
    ...pick('cmd'),
    ...pick('env'),
    ...pick('user'),
    ...pick('expose'),
    ...pick('labels'),
    ...pick('indexUrl'),
    ...pick('extraIndexUrls'),
    ...pick('findLinks'),
    ...pick('noDeps'),
    ...pick('venv'),
    ...pick('wheel'),
    ...pick('isolation'),
    ...pick('noCache'),
    ...pick('secrets'),
    ...pick('environment'),
    ...pick('workspace'),
    ...pick('caCerts'),
    ...pick('buildOn'),
    ...pick('signal'),
    ...(detection ? { detection } : {}),
  } as ProjectBuildOptions;
}

/** What a project build would do (`--dry-run`): nothing is built or pushed. */
export async function planBuild(options: BuildOptions): Promise<ProjectPlan> {
  const { frontend, detection } = pickFrontEnd(options);
  if (frontend !== 'python' && frontend !== 'node') {
    throw usage(
      `--dry-run plans project builds; ${options.context} is a ${frontend} build`,
      'use --frontend python or node, or drop --dry-run',
    );
  }
  const platforms = (options.platforms ?? []).map((p) => (typeof p === 'string' ? parsePlatform(p.trim()) : p));
  const progress = options.progress ?? noProgress;
  const session = sessionOf(options);
  const store = await session.store();
  return store.lease(() =>
    projectFrontEnd(frontend).plan(
      projectOptions(
        options,
        {
          store,
          client: () => session.client(progress),
          mirrors: (r) => session.mirrors(r),
          platforms,
          mediaType: options.mediaType ?? 'oci',
          progress,
        },
        detection,
      ),
    ),
  );
}

/** A Dockerfile build (CONTEXT/Dockerfile unless `dockerfile` names another). */
export function buildDockerfile(options: BuildBaseOptions & DockerfileOptions): Promise<BuildOutcome> {
  return build({ ...options, frontend: 'dockerfile' });
}

/** A directory build: the context's files as one layer on `from` (default scratch). */
export function buildDirectory(options: BuildBaseOptions & DirectoryOptions): Promise<BuildOutcome> {
  return build({ ...options, frontend: 'directory' });
}
