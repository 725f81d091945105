/**
 * Mount stubs: a bind mount needs a file or directory to mount over. When the rootfs lacks one
 * (/proc, /dev, /etc/resolv.conf in a minimal image), we create it before the run and remove it
 * afterwards, as BuildKit's MountStubsCleaner does, so it never reaches a layer. Creating and
 * removing an entry changes its parent's mtime; we put it back to the nanosecond (unless the run
 * itself changed the directory), so a walk-and-compare snapshot of a no-op RUN stays empty.
 */
import { lstat, mkdir, readdir, rmdir, stat, unlink, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { execHost, findTool } from './host.js';

export interface StubRequest {
  /** A canonical in-root path (from resolveInRoot). */
  readonly path: string;
  readonly kind: 'dir' | 'file';
}

interface Created {
  readonly host: string;
  readonly kind: 'dir' | 'file';
}

interface ParentTimes {
  /** mtime before we touched the directory, as `sec.nsec`. */
  readonly before: string;
  /** mtime right after our last stub in it was created. */
  after: string;
}

async function mtimeOf(path: string): Promise<string | undefined> {
  try {
    const st = await stat(path, { bigint: true });
    const ns = st.mtimeNs;
    return `${ns / 1_000_000_000n}.${String(ns % 1_000_000_000n).padStart(9, '0')}`;
  } catch {
    return undefined;
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await lstat(path);
    return true;
  } catch {
    return false;
  }
}

/** Sets a directory's mtime with nanosecond precision (fs.utimes rounds through a double). */
async function setMtime(path: string, mtime: string): Promise<void> {
  const touch = await findTool('touch');
  if (touch) await execHost(touch, ['-c', '-h', '-m', '-d', `@${mtime}`, path]);
}

export class MountStubs {
  readonly #created: Created[];
  readonly #parents: Map<string, ParentTimes>;

  private constructor(created: Created[], parents: Map<string, ParentTimes>) {
    this.#created = created;
    this.#parents = parents;
  }

  /** Host paths created for the run, outermost first. */
  get created(): readonly string[] {
    return this.#created.map((c) => c.host);
  }

  /** Creates what is missing of each requested path (parents as 0755 directories). */
  static async create(root: string, requests: readonly StubRequest[]): Promise<MountStubs> {
    const created: Created[] = [];
    const parents = new Map<string, ParentTimes>();
    const stubs = new MountStubs(created, parents);
    try {
      for (const req of requests) {
        const parts = req.path.split('/').filter((p) => p !== '');
        for (let i = 0; i < parts.length; i++) {
          const host = join(root, ...parts.slice(0, i + 1));
          if (await exists(host)) continue;
          const parent = dirname(host);
          if (!parents.has(parent)) {
            const before = await mtimeOf(parent);
            if (before !== undefined) parents.set(parent, { before, after: before });
          }
          const kind = i === parts.length - 1 ? req.kind : 'dir';
          if (kind === 'dir') await mkdir(host, { mode: 0o755 });
          else await writeFile(host, '', { flag: 'wx', mode: 0o644 });
          created.push({ host, kind });
          const p = parents.get(parent);
          const after = await mtimeOf(parent);
          if (p && after !== undefined) p.after = after;
        }
      }
    } catch (err) {
      await stubs.remove();
      throw err;
    }
    return stubs;
  }

  /**
   * Removes the stubs that are still empty (with `everything`, every non-directory we created,
   * whatever it holds now) and restores their parents' mtimes. Never throws.
   */
  async remove(options: { readonly everything?: boolean } = {}): Promise<void> {
    const restore = new Map<string, string>();
    for (const [parent, times] of this.#parents) {
      const now = await mtimeOf(parent);
      if (now !== undefined) restore.set(parent, now === times.after ? times.before : now);
    }
    for (const c of [...this.#created].reverse()) {
      try {
        const st = await lstat(c.host);
        if (c.kind === 'dir' && st.isDirectory() && (await readdir(c.host)).length === 0) await rmdir(c.host);
        else if (c.kind === 'file' && !st.isDirectory() && (options.everything || (st.isFile() && st.size === 0)))
          await unlink(c.host);
      } catch {}
    }
    this.#created.length = 0;
    const deepestFirst = [...restore].sort((a, b) => b[0].length - a[0].length);
    for (const [parent, mtime] of deepestFirst) {
      if (await exists(parent)) await setMtime(parent, mtime).catch(() => {});
    }
    this.#parents.clear();
  }
}
