/**
 * Next.js standalone output as image layers: `next build` with `output: 'standalone'` writes
 * .next/standalone (server.js, the traced node_modules, the server half of .next) and
 * .next/static (the client assets, which Next leaves for the deployer to put beside it). The
 * image is .next/standalone as the app directory with .next/static at .next/static in it;
 * public/ ships from the sources in the app layer.
 *
 * A workspace member (`dir`, e.g. apps/web): Next traces from the workspace root, so its
 * standalone tree mirrors the monorepo (`<dir>/.next/standalone/<dir>/server.js`, the hoisted
 * node_modules at its top); the static assets go to `<dir>/.next/static` in it and public/ to
 * `<dir>/public`, beside that server.js.
 */
import { existsSync } from 'node:fs';
import { join, posix } from 'node:path';
import type { Solver, StepResult } from '../../engine/solver/solver.js';
import { GantryError } from '../../errors.js';
import type { TarInput } from '../../layer/tar/types.js';
import { walkDirectory } from '../../layer/walk.js';
import { directoryLayer } from '../directory.js';
import type { FileFilter } from '../project/files.js';

export const STANDALONE = '.next/standalone';
export const STATIC = '.next/static';

function missing(where: string, host: boolean): GantryError {
  return new GantryError('NODE_BUILD_OUTPUT_MISSING', `the Next.js build left no ${where}`, {
    phase: 'build',
    suggestion: host
      ? 'run `next build` on the host first (output: "standalone" in next.config), or build in the container'
      : 'check that next.config sets output: "standalone" and that the build script runs `next build`',
  });
}

/** The standalone tree of the member at `dir` ('' for a single package), checked for its server.js. */
function standaloneRoot(root: string, dir: string, host: boolean): string {
  const standalone = join(root, dir, STANDALONE);
  if (!existsSync(standalone)) throw missing(posix.join(dir, STANDALONE), host);
  if (dir && !existsSync(join(standalone, dir, 'server.js'))) {
    const where = posix.join(dir, STANDALONE, dir, 'server.js');
    throw new GantryError('NODE_BUILD_OUTPUT_MISSING', `the Next.js build of workspace ${dir} left no ${where}`, {
      phase: 'build',
      suggestion:
        'trace from the workspace root (outputFileTracingRoot in next.config, the default of Next.js 15 in a workspace)',
    });
  }
  return standalone;
}

/**
 * The entries of the standalone app under `prefix` (`app`): .next/standalone's files, then
 * .next/static's at .next/static beside server.js (the directories both walks emit appear once).
 * `dir`: the workspace member's directory, '' for a single package.
 */
export async function* standaloneEntries(
  appRoot: string,
  prefix: string,
  mtime: number,
  signal?: AbortSignal,
  dir = '',
): AsyncGenerator<TarInput> {
  const standalone = standaloneRoot(appRoot, dir, false);
  const seen = new Set<string>();
  const io = signal ? { signal } : {};
  for await (const e of walkDirectory(standalone, { prefix, mtime, ...io })) {
    if (e.entry.type === 'directory') seen.add(e.entry.path.replace(/\/+$/, ''));
    yield e;
  }
  if (!existsSync(join(appRoot, dir, STATIC))) return;
  const at = posix.join(prefix, dir, STATIC);
  for await (const e of walkDirectory(join(appRoot, dir, STATIC), { prefix: at, mtime, ...io })) {
    if (e.entry.type === 'directory' && seen.has(e.entry.path.replace(/\/+$/, ''))) continue;
    yield e;
  }
}

/** `--build-on host`: the host's .next/standalone and .next/static, each through the file-state cache. */
export async function hostStandaloneLayers(
  solver: Solver,
  root: string,
  dest: string,
  mtime: number,
  dir = '',
): Promise<StepResult[]> {
  const standalone = standaloneRoot(root, dir, true);
  const out = [
    await directoryLayer(solver, {
      root: standalone,
      dest,
      parent: 'directory',
      mtime,
      name: `COPY ${posix.join(dir, STANDALONE)} ${dest} (built on the host)`,
    }),
  ];
  const at = posix.join(dest, dir, STATIC);
  if (existsSync(join(root, dir, STATIC)))
    out.push(
      await directoryLayer(solver, {
        root: join(root, dir, STATIC),
        dest: at,
        parent: 'directory',
        mtime,
        name: `COPY ${posix.join(dir, STATIC)} ${at} (built on the host)`,
      }),
    );
  return out;
}

/** The app layer of a standalone build: the app's public/ only (the rest is in the standalone output). */
export function publicOnly(filter: FileFilter, dir = ''): FileFilter {
  const pub = posix.join(dir, 'public');
  // The member's directories above public/ too, so the walk reaches it.
  return (rel, st) => (rel === pub || rel.startsWith(`${pub}/`) || pub.startsWith(`${rel}/`)) && filter(rel, st);
}
