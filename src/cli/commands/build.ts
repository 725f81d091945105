/** `gantry build`: flags in, `build()` from the library, the digest out. */

import { build as buildImage, planBuild } from '../../api/build.js';
import { checkDockerfile } from '../../api/check.js';
import type { Isolation } from '../../engine/executor/index.js';
import { GantryError } from '../../errors.js';
// The two flag parsers, not the front end's index: a project build does not load the Dockerfile front end.
import { parseBuildContext } from '../../frontend/dockerfile/contexts.js';
import { parseSecretFlag, type SecretSource } from '../../frontend/dockerfile/mounts.js';
import { formatPlan, parseFrontEnd } from '../../frontend/project/index.js';
import { formatPlatform } from '../../oci/platform.js';
import { commandWords, flag, keyValues, list, parse, str } from '../args.js';
import { buildArgs, buildPlatform, checkSecretFiles } from '../build-flags.js';
import { type Command, usageError } from '../context.js';
import { renderHelp } from '../flags.js';
import { explainGiteaPush, idpbuilderNames } from '../idpbuilder.js';
import { buildSpec } from '../specs/build.js';

let helpText: string | undefined;
/** The help of `gantry build`, rendered on first use (~1 ms: not on every build). */
export function buildHelp(): string {
  helpText ??= renderHelp(buildSpec);
  return helpText;
}

function sbomFlag(value: string | undefined): boolean | 'full' | undefined {
  if (value === undefined) return undefined;
  if (value === 'true') return true;
  if (value === 'false') return false;
  if (value === 'full') return 'full';
  throw usageError(`invalid --sbom=${value}`, 'use --sbom, --sbom=true, --sbom=full or --sbom=false');
}

function provenanceFlag(value: string | undefined): boolean | 'min' | 'max' | undefined {
  if (value === undefined) return undefined;
  if (value === 'true' || value === 'false') return value === 'true';
  const mode = /^mode=(min|max)$/.exec(value)?.[1] ?? (value === 'min' || value === 'max' ? value : undefined);
  if (mode === 'min' || mode === 'max') return mode;
  throw usageError(`invalid --provenance=${value}`, 'use --provenance, --provenance=mode=min, mode=max or false');
}

export const build: Command = async (args, ctx) => {
  const p = parse(buildSpec, args);
  if (flag(p, 'help')) {
    ctx.stdout.write(buildHelp());
    return 0;
  }
  if (p.positionals.length !== 1) {
    throw usageError('gantry build takes exactly one context', 'run gantry build DIR|URL|- [-t NAME]');
  }
  if (str(p, 'driver') !== undefined) {
    const { buildWithDriver } = await import('./build-driver.js');
    // The pod's gantry pushes, so it makes the SBOM and provenance (on by default for pushes, as
    // here): --sbom and --provenance go to it as given.
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
  const level = str(p, 'compression-level');
  if (level !== undefined && !/^\d+$/.test(level.trim()))
    throw usageError(`invalid --compression-level ${level}`, 'give a whole number: gzip 0-9, zstd 1-22');
  const compression = str(p, 'compression');
  if (compression !== undefined && compression !== 'gzip' && compression !== 'zstd')
    throw usageError(`invalid --compression ${compression}`, 'use gzip or zstd');
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
      ...(compression === undefined ? {} : { compression: compression as 'gzip' | 'zstd' }),
      ...(level === undefined ? {} : { compressionLevel: Number(level) }),
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
      venv: str(p, 'venv'),
      wheel: flag(p, 'wheel') || undefined,
      workspace: str(p, 'workspace'),
      caCerts: list(p, 'ca-cert'),
      buildOn: buildOn as 'container' | 'host' | undefined,
      // Supply chain
      sbom: sbomFlag(str(p, 'sbom')),
      sbomFormat: sbomFormat as 'cyclonedx' | 'spdx' | undefined,
      sbomOutput: str(p, 'sbom-output'),
      provenance: provenanceFlag(str(p, 'provenance')),
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
