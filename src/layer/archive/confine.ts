/**
 * The extraction rules for outputs that never touch the disk (the merged root filesystem tar):
 * what `extractLayer` refuses is refused here too, and what it confines is confined the same way,
 * so a hostile base image cannot smuggle `../x`, `/abs` or a hardlink to the host's `/etc/passwd`
 * into a tar that a less careful tool then extracts: `/abs` is written as `abs`, a symlink that
 * climbs out stops at the root, `..` in a name is refused. Paths are resolved against the entries
 * already written, chroot-style (an absolute symlink target means the root), and written at the
 * path they resolve to, as extraction writes them; a hardlink must point at a non-directory
 * written before it.
 */
import { GantryError, UnsafePathError } from '../../errors.js';
import type { TarEntry } from '../tar/types.js';

const MAX_SYMLINKS = 40;

/**
 * The components of an entry path, as extraction reads them: an absolute name is taken relative to
 * the root (as containerd does); NUL bytes and `..` are refused.
 */
export function safeParts(path: string, what = 'path'): string[] {
  if (path.includes('\0')) throw new UnsafePathError(path, `NUL byte in ${what}`);
  const parts = path.split('/').filter((p) => p !== '' && p !== '.');
  if (parts.includes('..')) throw new UnsafePathError(path, `${what} contains ".."`);
  return parts;
}

/** A root filesystem being written as a stream of entries: where each one really lands. */
export class ConfinedTree {
  /** Real path -> symlink target, for symlinks written so far. */
  readonly #links = new Map<string, string>();
  /** Real path -> type, of everything written so far. */
  readonly #written = new Map<string, TarEntry['type']>();

  /** Resolves directory components through the symlinks written so far, inside the root. */
  #resolveDir(parts: readonly string[], entryPath: string): string[] {
    const real: string[] = [];
    const queue = [...parts];
    let hops = 0;
    while (queue.length > 0) {
      const name = queue.shift() as string;
      if (name === '' || name === '.') continue;
      if (name === '..') {
        // A symlink that climbs above the root stops at it (chroot semantics, as extraction).
        real.pop();
        continue;
      }
      real.push(name);
      const target = this.#links.get(real.join('/'));
      if (target === undefined) continue;
      if (++hops > MAX_SYMLINKS) throw new UnsafePathError(entryPath, 'too many levels of symlinks in its parent');
      real.pop();
      if (target.startsWith('/')) real.length = 0;
      queue.unshift(...target.split('/'));
    }
    return real;
  }

  #realPath(path: string, what: string): string | undefined {
    const parts = safeParts(path, what);
    const name = parts.pop();
    if (name === undefined) return undefined;
    return [...this.#resolveDir(parts, path), name].join('/');
  }

  /**
   * The entry as it may be written: at its real path, a hardlink pointing at its target's real
   * path. Undefined for the root itself (its metadata belongs to whoever extracts). Throws
   * UnsafePathError (or EXTRACT_LINK_TARGET_MISSING) for what extraction refuses.
   */
  place(entry: TarEntry): TarEntry | undefined {
    const path = this.#realPath(entry.path, 'path');
    if (path === undefined) return undefined;
    let out: TarEntry = path === entry.path ? entry : { ...entry, path };
    if (entry.type === 'hardlink') {
      const target = this.#realPath(entry.linkname ?? '', 'hardlink target');
      if (target === undefined) throw new UnsafePathError(entry.path, 'hardlink to the root');
      const kind = this.#written.get(target);
      if (kind === undefined) {
        throw new GantryError(
          'EXTRACT_LINK_TARGET_MISSING',
          `hardlink ${JSON.stringify(entry.path)} points at missing ${JSON.stringify(entry.linkname)}`,
          { phase: 'layer', suggestion: 'the layer is malformed: a hardlink must follow the entry it links to' },
        );
      }
      if (kind === 'directory') throw new UnsafePathError(entry.path, 'hardlink to a directory');
      if (target !== entry.linkname) out = { ...out, linkname: target };
    }
    if (entry.type === 'symlink') this.#links.set(path, entry.linkname ?? '');
    else this.#links.delete(path);
    this.#written.set(path, entry.type);
    return out;
  }
}
