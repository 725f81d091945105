/**
 * A Dockerfile build: parse once, report the parser's and linter's warnings, then convert the
 * stages for every requested platform at once on one solver, which runs a step that two
 * platforms share (same key) once.
 */
import { readFile } from 'node:fs/promises';
import { posix, resolve } from 'node:path';
import { baseImages, lint, type ParseResult, parse, parseInstructions, type Warning } from '../../dockerfile/index.js';
import { FileHashCache, loadIgnore } from '../../engine/context/index.js';
import { Solver } from '../../engine/solver/solver.js';
import { GantryError } from '../../errors.js';
import type { Image } from '../../oci/image.js';
import { newIndex } from '../../oci/mutate.js';
import { hostPlatform } from '../../oci/platform.js';
import type { Platform } from '../../oci/types.js';
import type { DockerfileBuildOptions, DockerfileBuildResult } from './options.js';
import { PlatformBuild } from './platform.js';

/** The parser's and converter's warnings with the linter's, once each, in line order. */
export function mergeWarnings(a: readonly Warning[], b: readonly Warning[]): Warning[] {
  const seen = new Set<string>();
  const out: Warning[] = [];
  for (const w of [...a, ...b]) {
    const k = `${w.code}\u0000${w.line}\u0000${w.message}`;
    if (seen.has(k)) continue;
    seen.add(k);
    out.push(w);
  }
  return out.sort((x, y) => x.line - y.line);
}

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
    ...(options.layerFormat ? { layerFormat: options.layerFormat } : {}),
    store: options.store,
    ...(options.progress ? { progress: options.progress } : {}),
    ...(options.client ? { client: options.client } : {}),
    ...(options.isolation ? { isolation: options.isolation } : {}),
    ...(options.snapshotter ? { snapshotter: options.snapshotter } : {}),
    ...(options.signal ? { signal: options.signal } : {}),
    ...(options.cacheImports ? { imports: options.cacheImports } : {}),
    ...(options.noCache ? { fresh: true } : {}),
  });
  const ignore = await loadIgnore(context, dockerfile, options);
  const lintOptions = { ignored: (p: string) => ignore.matches(p), buildArgs: options.buildArgs ?? {} };
  let linted = lint(parsed, lintOptions);
  // A variable the base image's ENV sets is not undefined: the bases are read (manifest and config,
  // once per build, as the build reads them) only when the check would otherwise fire.
  if (linted.some((w) => w.code === 'UndefinedVar')) {
    const env = await baseEnvironments(parsed, options, solver, platforms[0] as Platform);
    linted = lint(parsed, { ...lintOptions, baseEnv: (image) => env.get(image) });
  }
  const warnings = mergeWarnings([...parsed.warnings, ...instructions.warnings], linted);
  for (const w of warnings) solver.warn(`${w.code}: ${w.message} (line ${w.line})`, w.code);
  if (parsed.directives.check?.error && warnings.length > 0) {
    const first = warnings[0] as Warning;
    throw new GantryError(
      'DOCKERFILE_CHECK_FAILED',
      `${warnings.length} build check(s) failed, first ${first.code}: ${first.message} (line ${first.line})`,
      { phase: 'build', suggestion: 'fix them, or skip rules with # check=skip=RULE (error=true makes them fatal)' },
    );
  }
  const shared = {
    ...(parsed.directives.check ? { check: parsed.directives.check } : {}),
    solver,
    context,
    hashes: await FileHashCache.open(posix.join(options.store.dir, 'cache', 'context'), options),
    ignore,
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
    return { item, platforms, usedRecords: solver.usedRecords(), bases: solver.resolvedImages() };
  } finally {
    await shared.hashes.save(options).catch(() => {});
  }
}

/**
 * The ENV names each base image sets, by the name FROM gives it; a base that cannot be resolved
 * here is left out (the build reports it when it gets there) and the check keeps its fallback.
 */
async function baseEnvironments(
  parsed: ParseResult,
  options: DockerfileBuildOptions,
  solver: Solver,
  platform: Platform,
): Promise<Map<string, ReadonlySet<string>>> {
  const out = new Map<string, ReadonlySet<string>>();
  const contexts = options.buildContexts ?? {};
  for (const name of baseImages(parsed, options.buildArgs ?? {})) {
    const named = contexts[name] ?? contexts[name.toLowerCase()];
    if (named && named.kind !== 'image') continue;
    try {
      const image = await solver.image(named?.kind === 'image' ? named.ref : name, platform);
      const env = (await image.configFile({ signal: options.signal })).config?.Env ?? [];
      out.set(name, new Set(env.map((e) => e.slice(0, e.includes('=') ? e.indexOf('=') : e.length))));
    } catch (err) {
      if (options.signal?.aborted) throw err;
    }
  }
  return out;
}
