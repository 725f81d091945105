/** `gantry build DIR --from BASE -t NAME[:TAG]`: a directory as one layer on a base image. */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Isolation } from '../../engine/executor/index.js';
import { type OutputSpec, parseOutput, writeOutput } from '../../engine/output.js';
import { parseSecretFlag, type SecretSource } from '../../engine/solver/mounts.js';
import { writeImage } from '../../engine/source.js';
import { buildDirectory } from '../../frontend/directory.js';
import { buildDockerfile } from '../../frontend/dockerfile.js';
import { parsePlatform } from '../../oci/platform.js';
import type { Descriptor } from '../../oci/types.js';
import { parseReference } from '../../reference/index.js';
import { normalizeName } from '../../store/store.js';
import { writeFileAtomic } from '../../util/fs.js';
import { commandWords, flag, keyValues, list, parse, str } from '../args.js';
import { type Command, usageError } from '../context.js';
import { createRenderer } from '../progress.js';

export const buildHelp = `Usage: gantry build [OPTIONS] CONTEXT

Build an image from a Dockerfile (-f, or CONTEXT/Dockerfile), or, for a directory without one,
turn its files into one layer on top of --from.

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
      --from BASE          base image: scratch (default) or an image in the store
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
      --iidfile FILE       write the image digest to FILE
      --metadata-file FILE write build metadata (JSON) to FILE
      --progress MODE      auto, tty, plain, json or quiet

Without -t or --output the image is stored under its digest, which is printed.
`;

export const build: Command = async (args, ctx) => {
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
    help: { type: 'boolean', short: 'h' },
  });
  if (flag(p, 'help')) {
    ctx.stdout.write(buildHelp);
    return 0;
  }
  if (p.positionals.length !== 1) {
    throw usageError('gantry build takes exactly one directory', 'run gantry build DIR [-t NAME]');
  }
  const dir = p.positionals[0] as string;
  // Validate everything before any work, so bad input writes nothing.
  const names = list(p, 'tag').map(normalizeName);
  const allOutputs: OutputSpec[] = list(p, 'output').map(parseOutput);
  const outputs = allOutputs.filter((o) => o.type !== 'registry');
  // --push and type=registry push to the -t names (or the output's own name).
  const pushTo = new Set<string>();
  for (const o of allOutputs) {
    if (o.type !== 'registry') continue;
    if (o.name) pushTo.add(normalizeName(o.name));
    else for (const n of names) pushTo.add(n);
  }
  if (flag(p, 'push')) for (const n of names) pushTo.add(n);
  if ((flag(p, 'push') || allOutputs.some((o) => o.type === 'registry')) && pushTo.size === 0) {
    throw usageError('nothing to push to: the image has no name', 'add -t REGISTRY/REPO:TAG');
  }
  const platforms = list(p, 'platform')
    .flatMap((v) => v.split(','))
    .filter((v) => v.trim() !== '')
    .map((v) => parsePlatform(v.trim()));
  const mediaTypes = str(p, 'media-types') ?? 'oci';
  if (mediaTypes !== 'oci' && mediaTypes !== 'docker') {
    throw usageError(`invalid --media-types ${mediaTypes}`, 'use oci or docker');
  }
  const entrypoint = str(p, 'entrypoint');
  const cmd = str(p, 'cmd');
  const workdir = str(p, 'workdir');
  const user = str(p, 'user');
  const from = str(p, 'from');
  const iidfile = str(p, 'iidfile');
  const metadataFile = str(p, 'metadata-file');

  // A Dockerfile (given with -f, or in the directory) makes a Dockerfile build; a plain directory
  // (or --from) makes the one-layer directory build.
  const dirOnly = ['from', 'workdir', 'entrypoint', 'cmd', 'env', 'user', 'expose'].filter(
    (k) => p.values[k] !== undefined,
  );
  let dockerfile = str(p, 'file');
  if (dockerfile === undefined && dirOnly.length === 0 && existsSync(join(dir, 'Dockerfile')))
    dockerfile = join(dir, 'Dockerfile');
  if (dockerfile !== undefined && dirOnly.length > 0) {
    throw usageError(
      `--${dirOnly[0]} is for directory builds, not Dockerfile builds`,
      'set it in the Dockerfile instead',
    );
  }
  const target = str(p, 'target');
  const buildArgs = keyValues(list(p, 'build-arg'), '--build-arg');
  const isolationFlag = str(p, 'isolation');
  if (isolationFlag !== undefined && !['bwrap', 'chroot', 'none'].includes(isolationFlag)) {
    throw usageError(`invalid --isolation ${isolationFlag}`, 'use bwrap, chroot or none');
  }
  const isolation = isolationFlag as Isolation | undefined;
  const secrets: Record<string, SecretSource> = {};
  for (const value of list(p, 'secret')) {
    const { id, source } = parseSecretFlag(value);
    secrets[id] = source;
  }
  const store = await ctx.store();
  const renderer = createRenderer(ctx.flags.progress, ctx.stderr);
  try {
    return await store.lease(async () => {
      const result = dockerfile
        ? await buildDockerfile({
            context: dir,
            dockerfile,
            store,
            ...(target !== undefined ? { target } : {}),
            buildArgs,
            ...(platforms.length > 0 ? { platforms } : {}),
            noCache: flag(p, 'no-cache'),
            noCacheFilter: list(p, 'no-cache-filter'),
            ...(isolation ? { isolation } : {}),
            labels: keyValues(list(p, 'label'), 'label'),
            secrets,
            client: () => ctx.client(renderer.sink),
            progress: renderer.sink,
            mediaType: mediaTypes,
            signal: ctx.signal,
          })
        : await buildDirectory({
            context: dir,
            store,
            ...(from ? { from } : {}),
            ...(platforms.length > 0 ? { platforms } : {}),
            ...(workdir !== undefined ? { workdir } : {}),
            ...(entrypoint !== undefined ? { entrypoint: commandWords(entrypoint, '--entrypoint') } : {}),
            ...(cmd !== undefined ? { cmd: commandWords(cmd, '--cmd') } : {}),
            env: list(p, 'env'),
            labels: keyValues(list(p, 'label'), 'label'),
            ...(user !== undefined ? { user } : {}),
            expose: list(p, 'expose'),
            mediaType: mediaTypes,
            progress: renderer.sink,
            signal: ctx.signal,
          });
      const item = result.item;
      for (const [i, spec] of outputs.entries()) {
        renderer.sink({ type: 'start', id: `output-${i}`, name: `exporting to ${spec.type} ${spec.dest}` });
        await writeOutput(item, spec, names, { signal: ctx.signal });
        renderer.sink({ type: 'done', id: `output-${i}` });
      }
      for (const name of pushTo) {
        renderer.sink({ type: 'start', id: `push-${name}`, name: `pushing ${name}` });
        await writeImage(
          item,
          { kind: 'registry', ref: parseReference(name) },
          {
            store: () => ctx.store(),
            client: () => ctx.client(renderer.sink),
          },
          { signal: ctx.signal },
        );
        renderer.sink({ type: 'done', id: `push-${name}` });
      }
      let descriptor: Descriptor;
      // A pushed image is not copied into the store unless asked (--load): naming it there would
      // fetch every layer of a registry base, which the push itself never moves.
      const keep = pushTo.size === 0 ? names.length > 0 || outputs.length === 0 : flag(p, 'load');
      if (keep) {
        renderer.sink({ type: 'start', id: 'store', name: `naming ${names.length > 0 ? names.join(', ') : 'image'}` });
        descriptor = await store.put(item, names, { signal: ctx.signal });
        renderer.sink({ type: 'done', id: 'store', detail: descriptor.digest });
      } else {
        descriptor = { mediaType: await item.mediaType(), digest: await item.digest(), size: await item.size() };
      }
      renderer.close();
      if (iidfile) await writeFileAtomic(iidfile, descriptor.digest, { signal: ctx.signal });
      if (metadataFile) {
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
        await writeFileAtomic(metadataFile, `${JSON.stringify(meta, null, 2)}\n`, { signal: ctx.signal });
      }
      if (names.length === 0 && outputs.length === 0 && pushTo.size === 0) ctx.stdout.write(`${descriptor.digest}\n`);
      return 0;
    });
  } finally {
    renderer.close();
  }
};
