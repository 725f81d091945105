/**
 * Where a COPY or ADD lands in the stage's root filesystem, as BuildKit and buildah place it: the
 * destination is resolved through the stage's symlinks inside the root (an absolute or `..`
 * target never leaves it, a dangling link is followed too, and the link itself is kept), a file
 * copied to a path that is a directory in the stage goes inside it, and the directories that
 * already exist on the way keep their owner and mode, so only what the copy creates and the files
 * it copies take `--chown`.
 */
import type { Stats } from 'node:fs';
import { lstat } from 'node:fs/promises';
import { join, posix } from 'node:path';
import type { IoOptions } from '../../errors.js';
import { throwIfAborted } from '../../errors.js';
import { resolveInRoot } from '../../util/rootpath.js';
import { type ExistingDirectory, imageOwner } from './copy.js';
import type { CopyPlan, CopyPlanEntry } from './sources.js';

export interface PlacedCopy {
  /** The plans with their destination and targets resolved inside the root. */
  readonly plans: readonly CopyPlan[];
  /** Metadata of the directories the copy passes through or writes into that already exist. */
  readonly existing: (imagePath: string) => ExistingDirectory | undefined;
}

function retarget(path: string, from: string, to: string): string {
  const rel = posix.relative(from, path);
  return rel === '' ? to : posix.join(to, rel);
}

/** The real directory at `imagePath` reached without following any symlink, or undefined. */
async function realDirectory(root: string, imagePath: string): Promise<ExistingDirectory | undefined> {
  let host = root;
  let st: Stats | undefined;
  for (const part of imagePath.split('/').filter(Boolean)) {
    host = join(host, part);
    st = await lstat(host).catch(() => undefined);
    if (!st?.isDirectory()) return undefined;
  }
  if (st === undefined) return undefined;
  return { mode: st.mode & 0o7777, ...imageOwner(st) };
}

/** The image directories a plan's entries create or pass through: every target's parents, and a `contents` target. */
function directoriesOf(entry: CopyPlanEntry): string[] {
  const out: string[] = [];
  const parts = entry.target.split('/').filter(Boolean);
  const upto = entry.kind === 'contents' ? parts.length : parts.length - 1;
  for (let i = 1; i <= upto; i++) out.push(`/${parts.slice(0, i).join('/')}`);
  return out;
}

/** Resolves each plan's destination under `root` (the stage's files) and reads what already exists there. */
export async function placeInRoot(
  root: string,
  plans: readonly CopyPlan[],
  options: IoOptions = {},
): Promise<PlacedCopy> {
  const placed: CopyPlan[] = [];
  for (const plan of plans) {
    throwIfAborted(options.signal);
    const dest = await resolveInRoot(root, plan.dest);
    // A file copied to a path the stage has as a directory goes inside it, as in BuildKit.
    const destIsDir = plan.entries.some((e) => e.intoExisting !== undefined) && (await realDirectory(root, dest));
    const entries = plan.entries.map((e) => {
      if (destIsDir && e.intoExisting !== undefined && e.target === plan.dest) {
        return { ...e, target: posix.join(dest, e.intoExisting) };
      }
      return dest === plan.dest ? e : { ...e, target: retarget(e.target, plan.dest, dest) };
    });
    placed.push({ ...plan, dest, entries });
  }
  const known = new Map<string, ExistingDirectory | undefined>();
  for (const plan of placed) {
    // The destination itself too: ADD extracts an archive into it even when it is not written as a directory.
    if (!known.has(plan.dest)) known.set(plan.dest, await realDirectory(root, plan.dest));
    for (const entry of plan.entries) {
      for (const dir of directoriesOf(entry)) {
        if (!known.has(dir)) known.set(dir, await realDirectory(root, dir));
      }
    }
  }
  return { plans: placed, existing: (imagePath) => known.get(imagePath) };
}
