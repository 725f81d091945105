/** `gantry build`: flags in, `build()` from the library, the digest out. */

import { build as buildImage, planBuild } from '../../api/build.js';
import type { Isolation } from '../../engine/executor/index.js';
import { parseSecretFlag, type SecretSource } from '../../frontend/dockerfile/index.js';
import { formatPlan, parseFrontEnd } from '../../frontend/project/index.js';
import { parsePlatform } from '../../oci/platform.js';
import { commandWords, flag, keyValues, list, parse, str } from '../args.js';
import { type Command, usageError } from '../context.js';
import { explainGiteaPush, idpbuilderNames } from '../idpbuilder.js';
import { createRenderer } from '../progress.js';

export const buildHelp = `Usage: gantry build [OPTIONS] CONTEXT

Build an image from a Dockerfile (-f, or CONTEXT/Dockerfile); for a directory without one, from
its project files (a Python project: pyproject.toml, requirements*.txt, setup.py, setup.cfg);
else turn its files into one layer on top of --from.

      --frontend NAME      dockerfile, python, node or dir (default: detected, in that order)
      --dry-run            print the plan of a project build (base, layers, entrypoint, ports,
                           user and why) without building
  -v, --verbose            with --dry-run: explain every decision

Project options (Python; the directory options below apply too, and win over gantry.toml or
[tool.gantry]):
      --index-url URL      the package index (default: pip's, or $PIP_INDEX_URL)
      --extra-index-url URL  another index (repeatable)
      --find-links DIR     a directory of wheels (repeatable; or $PIP_FIND_LINKS)
      --no-deps            no dependency layer
      --secret id=netrc,src=FILE  index credentials, --secret id=ca,src=FILE an extra CA: given
                           to pip for the install only, never in a layer or the history

Dockerfile options:
  -f, --file PATH          the Dockerfile (default CONTEXT/Dockerfile)
      --target STAGE       build this stage and what it needs
      --build-arg K=V      a build argument (repeatable)
      --no-cache           run every step again
      --no-cache-filter S  run the steps of stage S again (repeatable)
      --isolation MODE     RUN sandbox: bwrap, chroot or none (default: the strongest available)
      --secret id=ID,src=FILE  a secret for RUN --mount=type=secret (or id=ID,env=VAR; repeatable)

Directory options:
  -t, --tag NAME[:TAG]     name the image in the store (repeatable)
      --from BASE          base image: scratch (default) or an image in the store; for a
                           project, any image (default python:X.Y-slim, or $GANTRY_PYTHON_BASE)
      --platform P[,P]     platforms to build, e.g. linux/amd64,linux/arm64
      --workdir DIR        working directory; the files are placed there (default /)
      --entrypoint CMD     entrypoint, JSON array or words
      --cmd CMD            default command, JSON array or words
  -e, --env KEY=VALUE      environment variable (repeatable)
      --label KEY=VALUE    label (repeatable)
      --user USER[:GROUP]  user the container runs as
      --expose PORT[/PROTO] port the container listens on (repeatable)
  -o, --output SPEC        type=oci|docker|local|tar,dest=PATH, or type=registry (repeatable)
      --media-types oci|docker  manifest and config media types (default oci)
      --push               push the image to the registry of every -t name (and not into the
                           store, as buildx does: add --load to keep it there too)
      --load               also name the image in the store when pushing
      --idpbuilder         push to the Gitea of the idpbuilder cluster of the kubeconfig:
                           -t NAME[:TAG] becomes GITEA/OWNER/NAME[:TAG], with the cluster's
                           credential and CA (see --kube-context)
      --iidfile FILE       write the image digest to FILE
      --metadata-file FILE write build metadata (JSON) to FILE
      --progress MODE      auto, tty, plain, json or quiet

Supply chain (attached to pushed images as referrers, and to type=oci outputs):
      --sbom[=true|false]  an SBOM of the image (default: on when pushing)
      --sbom-format F      cyclonedx (default, CycloneDX 1.6) or spdx (SPDX 2.3)
      --sbom-output FILE   also write the SBOM to FILE (several platforms: FILE.os-arch)
      --provenance[=mode=min|max|false]  SLSA v1 provenance (default: mode=min when pushing)
      --sign-key KEY       sign what is pushed (ECDSA P-256 PEM file or env://VAR), cosign-style

Prints NAME@DIGEST for every name the image was given (stored or pushed); without -t or
--output the image is stored under its digest, which is printed.
`;

/** `--sbom`, `--sbom=false`, `--provenance=mode=max`: flags whose value is optional, taken out before parsing. */
function optionalValues(args: readonly string[], names: readonly string[]) {
  const values = new Map<string, string>();
  const rest: string[] = [];
  for (const [i, a] of args.entries()) {
    if (a === '--') {
      rest.push(...args.slice(i));
      break;
    }
    const name = names.find((n) => a === `--${n}` || a.startsWith(`--${n}=`));
    if (name === undefined) rest.push(a);
    else values.set(name, a.length > name.length + 2 ? a.slice(name.length + 3) : 'true');
  }
  return { values, rest };
}

function sbomFlag(value: string | undefined): boolean | undefined {
  if (value === undefined) return undefined;
  if (value === 'true') return true;
  if (value === 'false') return false;
  throw usageError(`invalid --sbom=${value}`, 'use --sbom, --sbom=true or --sbom=false');
}

function provenanceFlag(value: string | undefined): boolean | 'min' | 'max' | undefined {
  if (value === undefined) return undefined;
  if (value === 'true' || value === 'false') return value === 'true';
  const mode = /^mode=(min|max)$/.exec(value)?.[1] ?? (value === 'min' || value === 'max' ? value : undefined);
  if (mode === 'min' || mode === 'max') return mode;
  throw usageError(`invalid --provenance=${value}`, 'use --provenance, --provenance=mode=min, mode=max or false');
}

export const build: Command = async (argv, ctx) => {
  const { values: optional, rest: args } = optionalValues(argv, ['sbom', 'provenance']);
  const p = parse('build', args, {
    tag: { type: 'string', short: 't', multiple: true },
    from: { type: 'string' },
    platform: { type: 'string', multiple: true },
    workdir: { type: 'string' },
    entrypoint: { type: 'string' },
    cmd: { type: 'string' },
    env: { type: 'string', short: 'e', multiple: true },
    label: { type: 'string', multiple: true },
    user: { type: 'string' },
    expose: { type: 'string', multiple: true },
    output: { type: 'string', short: 'o', multiple: true },
    'media-types': { type: 'string' },
    file: { type: 'string', short: 'f' },
    target: { type: 'string' },
    'build-arg': { type: 'string', multiple: true },
    'no-cache': { type: 'boolean' },
    'no-cache-filter': { type: 'string', multiple: true },
    isolation: { type: 'string' },
    secret: { type: 'string', multiple: true },
    iidfile: { type: 'string' },
    'metadata-file': { type: 'string' },
    push: { type: 'boolean' },
    load: { type: 'boolean' },
    idpbuilder: { type: 'boolean' },
    frontend: { type: 'string' },
    'dry-run': { type: 'boolean' },
    verbose: { type: 'boolean', short: 'v' },
    'index-url': { type: 'string' },
    'extra-index-url': { type: 'string', multiple: true },
    'find-links': { type: 'string', multiple: true },
    'no-deps': { type: 'boolean' },
    'sbom-format': { type: 'string' },
    'sbom-output': { type: 'string' },
    'sign-key': { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  });
  if (flag(p, 'help')) {
    ctx.stdout.write(buildHelp);
    return 0;
  }
  if (p.positionals.length !== 1) {
    throw usageError('gantry build takes exactly one directory', 'run gantry build DIR [-t NAME]');
  }
  const idp = flag(p, 'idpbuilder');
  if (idp && list(p, 'tag').length === 0)
    throw usageError('--idpbuilder needs a name to push to', 'add -t NAME[:TAG] (it lands in GITEA/OWNER/NAME[:TAG])');
  // Before any work: the cluster is read and the names checked (upper case is refused).
  const gitea = idp ? await idpbuilderNames(list(p, 'tag'), ctx) : undefined;
  const platforms = list(p, 'platform')
    .flatMap((v) => v.split(','))
    .filter((v) => v.trim() !== '')
    .map((v) => parsePlatform(v.trim()));
  const mediaTypes = str(p, 'media-types') ?? 'oci';
  if (mediaTypes !== 'oci' && mediaTypes !== 'docker') {
    throw usageError(`invalid --media-types ${mediaTypes}`, 'use oci or docker');
  }
  const isolation = str(p, 'isolation');
  if (isolation !== undefined && !['bwrap', 'chroot', 'none'].includes(isolation)) {
    throw usageError(`invalid --isolation ${isolation}`, 'use bwrap, chroot or none');
  }
  const secrets: Record<string, SecretSource> = {};
  for (const value of list(p, 'secret')) {
    const { id, source } = parseSecretFlag(value);
    secrets[id] = source;
  }
  const sbomFormat = str(p, 'sbom-format');
  if (sbomFormat !== undefined && sbomFormat !== 'cyclonedx' && sbomFormat !== 'spdx') {
    throw usageError(`invalid --sbom-format ${sbomFormat}`, 'use cyclonedx or spdx');
  }
  const entrypoint = str(p, 'entrypoint');
  const cmd = str(p, 'cmd');
  const frontend = str(p, 'frontend');
  const renderer = createRenderer(ctx.flags.progress, ctx.stderr);
  try {
    const options = {
      context: p.positionals[0] as string,
      session: ctx.session,
      progress: renderer.sink,
      signal: ctx.signal,
      tags: gitea?.names ?? list(p, 'tag'),
      outputs: list(p, 'output'),
      push: flag(p, 'push') || idp,
      load: flag(p, 'load'),
      iidfile: str(p, 'iidfile'),
      metadataFile: str(p, 'metadata-file'),
      platforms,
      mediaType: mediaTypes,
      labels: keyValues(list(p, 'label'), 'label'),
      // Dockerfile builds
      dockerfile: str(p, 'file'),
      target: str(p, 'target'),
      buildArgs: keyValues(list(p, 'build-arg'), '--build-arg'),
      noCache: flag(p, 'no-cache'),
      noCacheFilter: list(p, 'no-cache-filter'),
      isolation: isolation as Isolation | undefined,
      secrets,
      // Directory builds
      from: str(p, 'from'),
      workdir: str(p, 'workdir'),
      entrypoint: entrypoint === undefined ? undefined : commandWords(entrypoint, '--entrypoint'),
      cmd: cmd === undefined ? undefined : commandWords(cmd, '--cmd'),
      env: list(p, 'env'),
      user: str(p, 'user'),
      expose: list(p, 'expose'),
      // Project builds
      ...(frontend === undefined ? {} : { frontend: parseFrontEnd(frontend) }),
      indexUrl: str(p, 'index-url'),
      extraIndexUrls: list(p, 'extra-index-url'),
      findLinks: list(p, 'find-links'),
      noDeps: flag(p, 'no-deps') || undefined,
      // Supply chain
      sbom: sbomFlag(optional.get('sbom')),
      sbomFormat: sbomFormat as 'cyclonedx' | 'spdx' | undefined,
      sbomOutput: str(p, 'sbom-output'),
      provenance: provenanceFlag(optional.get('provenance')),
      signKey: str(p, 'sign-key'),
    } as const;
    if (flag(p, 'dry-run')) {
      const plan = await planBuild(options);
      renderer.close();
      ctx.stdout.write(formatPlan(plan, { verbose: flag(p, 'verbose') }));
      return 0;
    }
    const outcome = await buildImage(options).catch((err: unknown) => {
      throw gitea ? explainGiteaPush(err, gitea.cluster) : err;
    });
    renderer.close();
    // What scripts capture, as ko and crane print it: every name the image got, with its digest;
    // an unnamed image only its digest; file outputs alone print nothing.
    const named = new Map<string, string>(outcome.stored ? outcome.names.map((n) => [n, outcome.digest]) : []);
    for (const p of outcome.pushed) named.set(p.name, p.digest);
    for (const [name, digest] of named) ctx.stdout.write(`${name}@${digest}\n`);
    if (named.size === 0 && outcome.outputs.length === 0) ctx.stdout.write(`${outcome.digest}\n`);
    return 0;
  } finally {
    renderer.close();
  }
};
