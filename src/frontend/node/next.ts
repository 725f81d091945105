/**
 * Next.js standalone output as image layers: `next build` with `output: 'standalone'` writes
 * .next/standalone (server.js, the traced node_modules, the server half of .next) and
 * .next/static (the client assets, which Next leaves for the deployer to put beside it). The
 * image is .next/standalone as the app directory with .next/static at .next/static in it;
 * public/ ships from the sources in the app layer.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
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

/**
 * The entries of the standalone app under `prefix` (`app`): .next/standalone's files, then
 * .next/static's at .next/static (the directories both walks emit appear once).
 */
export async function* standaloneEntries(
  appRoot: string,
  prefix: string,
  mtime: number,
  signal?: AbortSignal,
): AsyncGenerator<TarInput> {
  if (!existsSync(join(appRoot, STANDALONE))) throw missing(STANDALONE, false);
  const seen = new Set<string>();
  const io = signal ? { signal } : {};
  for await (const e of walkDirectory(join(appRoot, STANDALONE), { prefix, mtime, ...io })) {
    if (e.entry.type === 'directory') seen.add(e.entry.path.replace(/\/+$/, ''));
    yield e;
  }
  if (!existsSync(join(appRoot, STATIC))) return;
  for await (const e of walkDirectory(join(appRoot, STATIC), { prefix: `${prefix}/${STATIC}`, mtime, ...io })) {
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
): Promise<StepResult[]> {
  if (!existsSync(join(root, STANDALONE))) throw missing(STANDALONE, true);
  const out = [
    await directoryLayer(solver, {
      root: join(root, STANDALONE),
      dest,
      parent: 'directory',
      mtime,
      name: `COPY ${STANDALONE} ${dest} (built on the host)`,
    }),
  ];
  if (existsSync(join(root, STATIC)))
    out.push(
      await directoryLayer(solver, {
        root: join(root, STATIC),
        dest: `${dest}/${STATIC}`,
        parent: 'directory',
        mtime,
        name: `COPY ${STATIC} ${dest}/${STATIC} (built on the host)`,
      }),
    );
  return out;
}

/** The app layer of a standalone build: public/ only (the rest is in the standalone output). */
export function publicOnly(filter: FileFilter): FileFilter {
  return (rel, st) => (rel === 'public' || rel.startsWith('public/')) && filter(rel, st);
}
