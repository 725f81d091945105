/** `gantry build`: flags in, `build()` from the library, the digest out. */

import { build as buildImage, planBuild } from '../../api/build.js';
import { checkDockerfile } from '../../api/check.js';
import type { Isolation } from '../../engine/executor/index.js';
import { GantryError } from '../../errors.js';
import { parseBuildContext, parseSecretFlag, type SecretSource } from '../../frontend/dockerfile/index.js';
import { formatPlan, parseFrontEnd } from '../../frontend/project/index.js';
import { formatPlatform } from '../../oci/platform.js';
import { commandWords, flag, keyValues, list, parse, str } from '../args.js';
import { buildArgs, buildPlatform, checkSecretFiles } from '../build-flags.js';
import { type Command, usageError } from '../context.js';
import { explainGiteaPush, idpbuilderNames } from '../idpbuilder.js';

export const buildHelp = `Usage: gantry build [OPTIONS] CONTEXT

Build an image from a Dockerfile (-f, or CONTEXT/Dockerfile); for a directory without one, from
its project files (a Python project: pyproject.toml, requirements*.txt, setup.py, setup.cfg; a
Node.js project: package.json); else turn its files into one layer on top of --from.

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

CONTEXT is a directory, - (a tar, tar.gz or Dockerfile on stdin), an https:// URL of a tar.gz,
or a git repository: https://host/repo.git#REF:DIR (also git@host:repo.git, ssh://, git://).

Node.js project options (the directory options below apply too; "gantry" in package.json or
gantry.toml sets the same):
      --workspace NAME     build one workspace package (name or directory) with only what it needs
      --ca-cert FILE       an extra CA for dependency installs (repeatable); handed to the install
                           as a secret, as are the host's NODE_EXTRA_CA_CERTS, .npmrc and proxy
                           variables: never in a layer, the config or the history
      --build-on WHERE     container (default: the build script runs in a build stage on the
                           base) or host (ship the output the host already built)

Dockerfile options:
  -f, --file PATH          the Dockerfile (default CONTEXT/Dockerfile)
      --target STAGE       build this stage and what it needs
      --build-arg K[=V]    a build argument; K alone takes K's value from the environment (repeatable)
      --no-cache           run every step again
      --no-cache-filter S  run the steps of stage S again (repeatable)
      --isolation MODE     RUN sandbox: bwrap, chroot or none (default: the strongest available)
      --secret id=ID,src=FILE  a secret for RUN --mount=type=secret (or id=ID,env=VAR; repeatable)
      --check, --call check  run the Dockerfile's build checks (BuildKit's lint rules) and build
                           nothing; exits 1 when a check finds something
      --ssh default|ID=PATH  an SSH agent for RUN --mount=type=ssh: default is $SSH_AUTH_SOCK;
                           PATH is an agent socket or private key files (repeatable)
      --build-context NAME=VALUE  replace the stage or image NAME (FROM, COPY --from, RUN --mount
                           from=) with a directory, docker-image://REF or oci-layout://DIR[:TAG]
      --cache-to SPEC      export the build cache: type=registry,ref=REF[,mode=min|max] or
                           type=local,dest=DIR[,mode=min|max] (mode=max: intermediate stages too)
      --cache-from SPEC    import a build cache: type=registry,ref=REF (or REF) or
                           type=local,src=DIR (repeatable; a bad cache is ignored with a warning)

Options for every build:
  -t, --tag NAME[:TAG]     name the image in the store (repeatable)
      --platform P[,P]     platforms to build, e.g. linux/amd64,linux/arm64
      --label KEY=VALUE    label (repeatable)
      --annotation [TYPE[PLATFORM]:]KEY=VALUE  OCI annotation (repeatable); TYPE manifest (default),
                           index, manifest-descriptor, index-descriptor (type=oci outputs)
      --progress MODE      auto, tty, plain, json or quiet

Directory options (a context without a Dockerfile):
      --from BASE          base image: scratch (default) or an image in the store; for a
                           project, any image (default python:X.Y-slim or node:N-slim, or
                           $GANTRY_PYTHON_BASE / $GANTRY_NODE_BASE)
      --workdir DIR        working directory; the files are placed there (default /)
      --entrypoint CMD     entrypoint, JSON array or words
      --cmd CMD            default command, JSON array or words
  -e, --env KEY=VALUE      environment variable (repeatable)
      --user USER[:GROUP]  user the container runs as
      --expose PORT[/PROTO] port the container listens on (repeatable)
      --exclude PATTERN    leave out what PATTERN matches (.dockerignore syntax; repeatable),
                           after CONTEXT/.dockerignore and CONTEXT/.gantryignore
      --include-vcs        also pack .git directories (left out by default)

Output options:
  -o, --output SPEC        type=oci|docker|local|tar,dest=PATH, or type=registry (repeatable);
                           dest=- (or -o - for type=tar) writes the tar to stdout
      --media-types oci|docker  manifest and config media types (default oci)
      --iidfile FILE       write the image digest to FILE
      --metadata-file FILE write build metadata (JSON) to FILE

Push options:
      --push               push the image to the registry of every -t name (and not into the
                           store, as buildx does: add --load to keep it there too)
      --load               also name the image in the store when pushing
      --idpbuilder         push to the Gitea of the idpbuilder cluster of the kubeconfig:
                           -t NAME[:TAG] becomes GITEA/OWNER/NAME[:TAG], with the cluster's
                           credential and CA (see --kube-context)
      --driver kubernetes[,namespace=NS,image=REF,cpu=N,memory=SIZE,ttl=SECONDS]
                           run the build as a Job in the kubeconfig's cluster (see
                           --kube-context): the context goes up as a ConfigMap, the push
                           credentials as a short-lived Secret; logs and the digest come back

Supply chain (attached to pushed images as referrers, and to type=oci outputs):
      --sbom[=true|false]  an SBOM of the image (default: off)
      --sbom-format F      cyclonedx (default, CycloneDX 1.6) or spdx (SPDX 2.3)
      --sbom-output FILE   also write the SBOM to FILE (several platforms: FILE.os-arch)
      --provenance[=mode=min|max|false]  SLSA v1 provenance (default: off; --provenance is mode=min)
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
    annotation: { type: 'string', multiple: true },
    user: { type: 'string' },
    expose: { type: 'string', multiple: true },
    exclude: { type: 'string', multiple: true },
    'include-vcs': { type: 'boolean' },
    output: { type: 'string', short: 'o', multiple: true },
    'media-types': { type: 'string' },
    file: { type: 'string', short: 'f' },
    target: { type: 'string' },
    'build-arg': { type: 'string', multiple: true },
    'no-cache': { type: 'boolean' },
    'no-cache-filter': { type: 'string', multiple: true },
    isolation: { type: 'string' },
    secret: { type: 'string', multiple: true },
    'cache-to': { type: 'string', multiple: true },
    'cache-from': { type: 'string', multiple: true },
    check: { type: 'boolean' },
    'build-context': { type: 'string', multiple: true },
    ssh: { type: 'string', multiple: true },
    call: { type: 'string' },
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
    workspace: { type: 'string' },
    'ca-cert': { type: 'string', multiple: true },
    'build-on': { type: 'string' },
    driver: { type: 'string' },
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
    throw usageError('gantry build takes exactly one context', 'run gantry build DIR|URL|- [-t NAME]');
  }
  if (str(p, 'driver') !== undefined) {
    const { buildWithDriver } = await import('./build-driver.js');
    return buildWithDriver(args, p, ctx);
  }
  const call = str(p, 'call');
  if (call !== undefined && call !== 'build' && call !== 'check')
    throw usageError(`--call ${call} is not supported`, 'use --call check or --call build');
  if (flag(p, 'check') || call === 'check') {
    const context = p.positionals[0] as string;
    const file = str(p, 'file');
    const result = await checkDockerfile({ context, ...(file ? { dockerfile: file } : {}), signal: ctx.signal });
    for (const w of result.warnings) ctx.stdout.write(`WARNING: ${w.code} - ${w.message} (line ${w.line})\n`);
    const n = result.warnings.length;
    ctx.stdout.write(
      n === 0
        ? 'Check complete, no warnings found.\n'
        : `Check complete, ${n} warning${n === 1 ? ' has' : 's have'} been found!\n`,
    );
    return n === 0 ? 0 : 1;
  }
  const idp = flag(p, 'idpbuilder');
  if (idp && list(p, 'tag').length === 0)
    throw usageError('--idpbuilder needs a name to push to', 'add -t NAME[:TAG] (it lands in GITEA/OWNER/NAME[:TAG])');
  // Before any work: the cluster is read and the names checked (upper case is refused).
  const gitea = idp ? await idpbuilderNames(list(p, 'tag'), ctx) : undefined;
  const platforms = list(p, 'platform')
    .flatMap((v) => v.split(','))
    .filter((v) => v.trim() !== '')
    .map((v) => buildPlatform(v.trim()));
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
  await checkSecretFiles(secrets);
  const sbomFormat = str(p, 'sbom-format');
  if (sbomFormat !== undefined && sbomFormat !== 'cyclonedx' && sbomFormat !== 'spdx') {
    throw usageError(`invalid --sbom-format ${sbomFormat}`, 'use cyclonedx or spdx');
  }
  const entrypoint = str(p, 'entrypoint');
  const cmd = str(p, 'cmd');
  const frontend = str(p, 'frontend');
  // As buildx: a tar on stdout is for a pipe or a file, never for a terminal.
  const toStdout = list(p, 'output').some((o) => o.trim() === '-' || /(^|,)\s*dest=-\s*(,|$)/.test(o));
  if (toStdout && ctx.stdout.isTTY) {
    throw new GantryError('OUTPUT_TO_TERMINAL', 'refusing to write a tar to the terminal (-o - / dest=-)', {
      phase: 'usage',
      suggestion: 'redirect stdout to a file or a pipe (gantry build -o - DIR > image.tar), or give dest=FILE',
    });
  }
  const buildOn = str(p, 'build-on');
  if (buildOn !== undefined && buildOn !== 'container' && buildOn !== 'host')
    throw usageError(`invalid --build-on ${buildOn}`, 'use container or host');
  const renderer = ctx.renderer();
  try {
    const options = {
      context: p.positionals[0] as string,
      session: ctx.session,
      stdin: process.stdin,
      progress: renderer.sink,
      signal: ctx.signal,
      tags: gitea?.names ?? list(p, 'tag'),
      outputs: list(p, 'output'),
      stdout: ctx.stdout,
      push: flag(p, 'push') || idp,
      load: flag(p, 'load'),
      iidfile: str(p, 'iidfile'),
      metadataFile: str(p, 'metadata-file'),
      platforms,
      mediaType: mediaTypes,
      labels: keyValues(list(p, 'label'), 'label'),
      annotations: list(p, 'annotation'),
      // Dockerfile builds
      dockerfile: str(p, 'file'),
      target: str(p, 'target'),
      buildArgs: buildArgs(list(p, 'build-arg')),
      noCache: flag(p, 'no-cache'),
      noCacheFilter: list(p, 'no-cache-filter'),
      isolation: isolation as Isolation | undefined,
      secrets,
      buildContexts: Object.fromEntries(
        list(p, 'build-context').map((v) => {
          const { name, context } = parseBuildContext(v);
          return [name, context];
        }),
      ),
      ssh: list(p, 'ssh'),
      cacheTo: list(p, 'cache-to'),
      cacheFrom: list(p, 'cache-from'),
      // Directory builds
      from: str(p, 'from'),
      workdir: str(p, 'workdir'),
      entrypoint: entrypoint === undefined ? undefined : commandWords(entrypoint, '--entrypoint'),
      cmd: cmd === undefined ? undefined : commandWords(cmd, '--cmd'),
      env: list(p, 'env'),
      user: str(p, 'user'),
      expose: list(p, 'expose'),
      exclude: list(p, 'exclude'),
      includeVcs: flag(p, 'include-vcs'),
      // Project builds
      ...(frontend === undefined ? {} : { frontend: parseFrontEnd(frontend) }),
      indexUrl: str(p, 'index-url'),
      extraIndexUrls: list(p, 'extra-index-url'),
      findLinks: list(p, 'find-links'),
      noDeps: flag(p, 'no-deps') || undefined,
      workspace: str(p, 'workspace'),
      caCerts: list(p, 'ca-cert'),
      buildOn: buildOn as 'container' | 'host' | undefined,
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
    // With the image's tar on stdout (-o -), the names go to stderr so the tar stays whole.
    const out = toStdout ? ctx.stderr : ctx.stdout;
    for (const [name, digest] of named) out.write(`${name}@${digest}\n`);
    ctx.report({
      digest: outcome.digest,
      references: [...named].map(([name, digest]) => `${name}@${digest}`),
      ...(outcome.platforms.length > 0 ? { platforms: outcome.platforms.map(formatPlatform) } : {}),
    });
    if (named.size === 0 && outcome.outputs.length === 0) out.write(`${outcome.digest}\n`);
    return 0;
  } finally {
    renderer.close();
  }
};
