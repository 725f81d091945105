/**
 * A Dockerfile build: parse once, report the parser's and linter's warnings, then convert the
 * stages for every requested platform at once on one solver, which runs a step that two
 * platforms share (same key) once.
 */
import { readFile } from 'node:fs/promises';
import { posix, resolve } from 'node:path';
import { parse, parseInstructions } from '../../dockerfile/index.js';
import { FileHashCache, loadIgnore } from '../../engine/context/index.js';
import { Solver } from '../../engine/solver/solver.js';
import { GantryError } from '../../errors.js';
import type { Image } from '../../oci/image.js';
import { newIndex } from '../../oci/mutate.js';
import { hostPlatform } from '../../oci/platform.js';
import type { Platform } from '../../oci/types.js';
import type { DockerfileBuildOptions, DockerfileBuildResult } from './options.js';
import { PlatformBuild } from './platform.js';

/** Runs one Dockerfile build for every requested platform. */
export async function buildDockerfile(options: DockerfileBuildOptions): Promise<DockerfileBuildResult> {
  const context = resolve(options.context);
  const dockerfile = resolve(options.dockerfile ?? posix.join(context, 'Dockerfile'));
  const text = await readFile(dockerfile, 'utf8').catch((err: NodeJS.ErrnoException) => {
    throw new GantryError('DOCKERFILE_NOT_FOUND', `cannot read Dockerfile ${dockerfile}: ${err.code ?? err.message}`, {
      phase: 'build',
      suggestion: 'give its path with -f',
    });
  });
  const parsed = parse(text, { file: options.dockerfile ?? 'Dockerfile' });
  const instructions = parseInstructions(parsed, { file: options.dockerfile ?? 'Dockerfile' });
  const platforms = options.platforms && options.platforms.length > 0 ? options.platforms : [hostPlatform()];
  const solver = new Solver({
    store: options.store,
    ...(options.progress ? { progress: options.progress } : {}),
    ...(options.client ? { client: options.client } : {}),
    ...(options.isolation ? { isolation: options.isolation } : {}),
    ...(options.snapshotter ? { snapshotter: options.snapshotter } : {}),
    ...(options.signal ? { signal: options.signal } : {}),
  });
  for (const w of [...parsed.warnings, ...instructions.warnings].sort((a, b) => a.line - b.line))
    solver.warn(`${w.code}: ${w.message} (line ${w.line})`, w.code);
  const shared = {
    solver,
    context,
    hashes: await FileHashCache.open(posix.join(options.store.dir, 'cache', 'context'), options),
    ignore: await loadIgnore(context, dockerfile, options),
    escape: parsed.directives.escape,
  };
  try {
    const settled = await Promise.allSettled(
      platforms.map(async (platform) => {
        const build = new PlatformBuild(options, instructions, platform, shared);
        return { image: await build.run(), platform };
      }),
    );
    const images: { image: Image; platform: Platform }[] = [];
    for (const r of settled) {
      if (r.status === 'rejected') throw r.reason;
      images.push(r.value);
    }
    const first = images[0] as { image: Image };
    const item =
      images.length === 1
        ? first.image
        : await newIndex(images, { signal: options.signal, mediaType: options.mediaType ?? 'oci' });
    return { item, platforms, bases: solver.resolvedImages() };
  } finally {
    await shared.hashes.save(options).catch(() => {});
  }
}
