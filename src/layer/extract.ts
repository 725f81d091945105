/**
 * Safe extraction of one layer's tar stream into a root directory that may already hold the
 * layers below it. Owns the OCI whiteout rules and the path safety rules: every entry lands
 * inside the root. Member names are read as containerd reads them: a leading `/` or `./` is
 * dropped (absolute names are relative to the root) and the root entry (`/`, `./`, `.`) is the
 * root itself; a name with a `..` component or a NUL byte is refused. Parent components are
 * resolved chroot-style by util/rootpath (symlinks followed, clamped at the root), so nothing is
 * ever written outside it. The final component of a path is never followed: it is replaced.
 *
 * Device nodes are never usable on the host unless the caller asks for real ones (`devices:
 * true`, for a rootfs the user exports): with `devices: 'placeholder'` a char or block device
 * becomes an empty regular file with the entry's owner and mode, and is reported in the stats so
 * that the caller can mark it and turn it back into the device entry when it writes a layer.
 */
import { execFile } from 'node:child_process';
import type { Stats } from 'node:fs';
import { constants } from 'node:fs';
import {
  chmod,
  copyFile,
  lchown,
  link,
  lstat,
  lutimes,
  mkdir,
  open,
  readdir,
  realpath,
  rm,
  symlink,
} from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import {
  AbortedError,
  abbreviate,
  explainSystemError,
  GantryError,
  type IoOptions,
  throwIfAborted,
  UnsafePathError,
} from '../errors.js';
import { lstatOrUndefined, mkdirp } from '../util/fs.js';
import { rootPath } from '../util/rootpath.js';
import { readTar } from './tar/reader.js';
import type { TarEntry } from './tar/types.js';
import { writeXattrs, type XattrMap, xattrsToApply } from './xattr.js';

export interface ExtractOptions extends IoOptions {
  /** Chown to entry uid/gid; default: process.getuid() === 0. */
  readonly owners?: boolean;
  /**
   * Char/block/fifo entries. Default false: refused (UnsafePathError). true: created with mknod
   * (needs root for char/block). 'placeholder': fifos are created, char and block devices become
   * empty regular files listed in ExtractStats.devices, never device nodes.
   */
  readonly devices?: boolean | 'placeholder';
  /** Default 'apply' (OCI .wh. files and .wh..wh..opq). */
  readonly whiteouts?: 'apply' | 'keep';
  /**
   * Where a hardlink target that this root lacks lives in the layers below (a host path to a
   * regular file), for a layer extracted on its own; undefined when it is nowhere. The file is
   * copied into place first, as overlayfs copies a lower file up before linking to it.
   */
  readonly lowerFile?: (rel: string) => Promise<string | undefined>;
}

/** A char or block device extracted as a placeholder file. */
export interface DevicePlaceholder {
  /** Root-relative path of the placeholder file. */
  readonly path: string;
  readonly type: 'char' | 'block';
  readonly major: number;
  readonly minor: number;
}

export interface ExtractStats {
  readonly entries: number;
  readonly bytes: number;
  /** The device placeholders made with `devices: 'placeholder'`, in extraction order. */
  readonly devices: readonly DevicePlaceholder[];
}

const WHITEOUT = '.wh.';
const OPAQUE = '.wh..wh..opq';

/**
 * The components of a member name (or hardlink target) relative to the root: a leading `/` and
 * `.` components are dropped, as containerd's filepath.Clean does; `..` and NUL are refused.
 * The root entry gives no components.
 */
export function memberParts(path: string, what = 'path'): string[] {
  if (path.includes('\0')) throw new UnsafePathError(path, `NUL byte in ${what}`);
  const parts = path.split('/').filter((p) => p !== '' && p !== '.');
  if (parts.includes('..')) throw new UnsafePathError(path, `${what} contains ".."`);
  return parts;
}

function mknod(path: string, entry: TarEntry, signal: AbortSignal | undefined): Promise<void> {
  // Node has no mknod(2); coreutils' mknod does the same call.
  const args =
    entry.type === 'fifo'
      ? ['-m', (entry.mode & 0o7777).toString(8), path, 'p']
      : [
          '-m',
          (entry.mode & 0o7777).toString(8),
          path,
          entry.type === 'char' ? 'c' : 'b',
          String(entry.devmajor ?? 0),
          String(entry.devminor ?? 0),
        ];
  return new Promise((resolvePromise, reject) => {
    execFile('mknod', args, { signal }, (err, _stdout, stderr) => {
      if (err) reject(new Error(`mknod failed: ${String(stderr).trim() || err.message}`, { cause: err }));
      else resolvePromise();
    });
  });
}

function notADirectory(entryPath: string, key: string): GantryError {
  return new GantryError(
    'EXTRACT_NOT_A_DIRECTORY',
    `cannot extract ${JSON.stringify(entryPath)}: ${key} is not a directory`,
    {
      phase: 'layer',
      suggestion: 'the layer puts a path under a file; the layer or the one below it is malformed',
    },
  );
}

/** One extraction: the root, what this layer wrote, and directory metadata applied at the end. */
class Extraction {
  readonly #root: string;
  readonly #options: ExtractOptions;
  readonly #owners: boolean;
  /** Real (symlink-free) relative paths known to be directories; cleared when anything is removed. */
  readonly #dirs = new Set<string>();
  /** Real relative paths this layer wrote: whiteouts and opaque markers never hide these. */
  readonly #written = new Set<string>();
  /** Directory metadata, applied last so that writing children does not disturb mtimes. */
  readonly #dirMeta = new Map<string, TarEntry>();
  /** The layer's SCHILY.xattr records by real relative path, set after every entry is in place. */
  readonly #xattrs: XattrMap = new Map();
  readonly devices: DevicePlaceholder[] = [];
  entries = 0;
  bytes = 0;

  constructor(root: string, options: ExtractOptions) {
    this.#root = root;
    this.#options = options;
    this.#owners = options.owners ?? process.getuid?.() === 0;
  }

  /**
   * The real (symlink-free) components of a directory inside the root, resolved chroot-style.
   * Missing directories are made (0755, as the runtime would) when `create`, else the result is
   * undefined.
   */
  async #resolveDir(parts: readonly string[], create: boolean, entryPath: string): Promise<string[] | undefined> {
    const { path } = await rootPath(this.#root, parts.join('/'), { knownDirs: this.#dirs, phase: 'layer' });
    const real = path === '' ? [] : path.split('/');
    for (let i = 1; i <= real.length; i++) {
      const key = real.slice(0, i).join('/');
      if (this.#dirs.has(key)) continue;
      const abs = join(this.#root, key);
      const st = await lstatOrUndefined(abs);
      if (st === undefined) {
        if (!create) return undefined;
        await mkdir(abs);
        await chmod(abs, 0o755);
      } else if (st.isSymbolicLink()) {
        // rootPath followed every symlink; one here was swapped in since, by nobody we know.
        throw new UnsafePathError(entryPath, `${key} changed into a symlink while extracting`);
      } else if (!st.isDirectory()) {
        throw notADirectory(entryPath, key);
      }
      this.#dirs.add(key);
    }
    return real;
  }

  async #remove(abs: string, st: Stats): Promise<void> {
    // rm does not follow a symlink it is given; recursive removal stays inside real directories.
    await rm(abs, { recursive: st.isDirectory(), force: true });
    if (st.isDirectory()) this.#dirs.clear();
  }

  async apply(entry: TarEntry, body: Readable): Promise<void> {
    throwIfAborted(this.#options.signal);
    this.entries++;
    const parts = memberParts(entry.path);
    const name = parts.pop();
    if (name === undefined) return; // the root itself: its metadata belongs to whoever owns root
    if ((this.#options.whiteouts ?? 'apply') === 'apply' && name.startsWith(WHITEOUT)) {
      await this.#applyWhiteout(entry, parts, name);
      return;
    }
    const special = entry.type === 'char' || entry.type === 'block' || entry.type === 'fifo';
    if (special && !this.#options.devices) {
      throw new UnsafePathError(entry.path, `${entry.type} device entries are not allowed`, {
        suggestion: 'pass devices: true to extract device and fifo entries (needs root for char/block)',
      });
    }
    const parent = (await this.#resolveDir(parts, true, entry.path)) as string[];
    const key = [...parent, name].join('/');
    const abs = join(this.#root, key);
    const existing = await lstatOrUndefined(abs);
    this.#recordXattrs(key, entry);

    if (entry.type === 'directory') {
      if (!existing?.isDirectory()) {
        if (existing) await this.#remove(abs, existing);
        await mkdir(abs, 0o700);
      }
      this.#dirs.add(key);
      this.#dirMeta.set(key, entry);
      this.#written.add(key);
      return;
    }

    if (entry.type === 'hardlink') {
      await this.#hardlink(entry, abs, existing);
      this.#written.add(key);
      return;
    }

    if (existing) await this.#remove(abs, existing);
    switch (entry.type) {
      case 'file': {
        await pipeline(body, (await createExclusive(abs)).createWriteStream(), { signal: this.#options.signal });
        this.bytes += entry.size;
        break;
      }
      case 'symlink':
        await symlink(entry.linkname ?? '', abs);
        break;
      case 'char':
      case 'block':
        if (this.#options.devices === 'placeholder') {
          await (await createExclusive(abs)).close();
          this.devices.push({ path: key, type: entry.type, major: entry.devmajor ?? 0, minor: entry.devminor ?? 0 });
          break;
        }
        await mknod(abs, entry, this.#options.signal);
        break;
      default:
        await mknod(abs, entry, this.#options.signal);
    }
    this.#written.add(key);
    await this.#applyMetadata(abs, entry);
  }

  /**
   * Owner, mode and times of a non-directory entry just written at `abs` (directories get theirs
   * in `finish`). Per-entry metadata that needs the finished file (xattrs) belongs here too.
   */
  async #applyMetadata(abs: string, entry: TarEntry): Promise<void> {
    if (this.#owners) await lchown(abs, entry.uid, entry.gid);
    // chmod after chown: chown clears setuid/setgid. Symlink modes mean nothing on Linux.
    if (entry.type !== 'symlink') await chmod(abs, entry.mode & 0o7777);
    await lutimes(abs, entry.mtime, entry.mtime);
  }

  async #hardlink(entry: TarEntry, abs: string, existing: Stats | undefined): Promise<void> {
    const targetParts = memberParts(entry.linkname ?? '', 'hardlink target');
    const targetName = targetParts.pop();
    if (targetName === undefined) throw new UnsafePathError(entry.path, 'hardlink to the root');
    const targetParent = await this.#resolveDir(targetParts, false, entry.linkname ?? '');
    let targetAbs = targetParent && join(this.#root, ...targetParent, targetName);
    let target = targetAbs && (await lstatOrUndefined(targetAbs));
    if (!target && this.#options.lowerFile) {
      const rel = [...targetParts, targetName].join('/');
      const lower = await this.#options.lowerFile(rel);
      if (lower !== undefined) {
        targetAbs = await this.#copyUp(lower, targetParts, targetName, entry.linkname ?? '');
        target = await lstat(targetAbs);
      }
    }
    if (!targetAbs || !target) {
      throw new GantryError(
        'EXTRACT_LINK_TARGET_MISSING',
        `hardlink ${JSON.stringify(entry.path)} points at missing ${JSON.stringify(entry.linkname)}`,
        {
          phase: 'layer',
          suggestion: 'the layer is malformed: a hardlink must follow the entry it links to',
        },
      );
    }
    if (target.isDirectory()) throw new UnsafePathError(entry.path, 'hardlink to a directory');
    if (targetAbs === abs) return;
    // link(2) does not follow a symlink target: at worst this links the symlink itself.
    if (existing) await this.#remove(abs, existing);
    await link(targetAbs, abs);
    // A link to a device placeholder is a device too when the layer is written again.
    const device = this.devices.find((d) => join(this.#root, d.path) === targetAbs);
    if (device) this.devices.push({ ...device, path: abs.slice(this.#root.length + 1) });
  }

  /** Copies a lower layer's regular file into this root at its path, with its owner, mode and times. */
  async #copyUp(lower: string, parts: readonly string[], name: string, linkname: string): Promise<string> {
    const st = await lstat(lower);
    if (!st.isFile()) throw new UnsafePathError(linkname, 'hardlink to a lower entry that is not a regular file');
    const parent = (await this.#resolveDir(parts, true, linkname)) as string[];
    const abs = join(this.#root, ...parent, name);
    const fh = await createExclusive(abs);
    await fh.close();
    await copyFile(lower, abs);
    if (this.#owners) await lchown(abs, st.uid, st.gid);
    await chmod(abs, st.mode & 0o7777);
    await lutimes(abs, st.atime, st.mtime);
    return abs;
  }

  async #applyWhiteout(entry: TarEntry, parentParts: readonly string[], name: string): Promise<void> {
    const parent = await this.#resolveDir(parentParts, false, entry.path);
    if (parent === undefined) return; // nothing below to hide
    if (name === OPAQUE) {
      await this.#clearLower(parent);
      return;
    }
    if (name.startsWith(`${WHITEOUT}${WHITEOUT}`)) return; // other AUFS metadata, not a path
    const hidden = name.slice(WHITEOUT.length);
    if (hidden === '' || hidden === '.' || hidden === '..')
      throw new UnsafePathError(entry.path, 'whiteout of a non-name');
    const key = [...parent, hidden].join('/');
    if (this.#written.has(key)) return; // a whiteout only hides lower layers
    const abs = join(this.#root, key);
    const st = await lstatOrUndefined(abs);
    if (st) await this.#remove(abs, st);
  }

  /** Opaque directory: remove every child that did not come from this layer. */
  async #clearLower(dir: readonly string[]): Promise<void> {
    const dirAbs = join(this.#root, ...dir);
    for (const child of await readdir(dirAbs)) {
      const key = [...dir, child].join('/');
      const abs = join(this.#root, key);
      const st = await lstat(abs);
      if (!this.#written.has(key)) await this.#remove(abs, st);
      else if (st.isDirectory()) await this.#clearLower([...dir, child]);
    }
  }

  #recordXattrs(key: string, entry: TarEntry): void {
    const attrs = entry.type === 'hardlink' ? undefined : xattrsToApply(entry.xattrs, this.#owners);
    if (attrs) this.#xattrs.set(key, attrs);
    else this.#xattrs.delete(key);
  }

  /** Applies directory owners, modes and mtimes, deepest last-written state wins; then xattrs. */
  async finish(): Promise<void> {
    for (const [key, entry] of this.#dirMeta) {
      throwIfAborted(this.#options.signal);
      // Re-check that the path is still a real directory reached without symlinks: a later
      // entry may have replaced a component, and chmod/utimes follow symlinks.
      const real = await rootPath(this.#root, key, { phase: 'layer' });
      if (real.path !== key || real.links.length > 0) continue;
      const abs = join(this.#root, key);
      const st = await lstatOrUndefined(abs);
      if (!st?.isDirectory()) continue;
      if (this.#owners) await lchown(abs, entry.uid, entry.gid);
      await chmod(abs, entry.mode & 0o7777);
      await lutimes(abs, entry.mtime, entry.mtime);
    }
    // Last: chown would clear security.capability. Only paths still reached without symlinks.
    const xattrs: XattrMap = new Map();
    for (const [key, attrs] of this.#xattrs) {
      const parent = key.split('/').slice(0, -1);
      if ((await this.#resolveDir(parent, false, key))?.join('/') === parent.join('/')) {
        xattrs.set(join(this.#root, key), attrs);
      }
    }
    await writeXattrs(xattrs, { signal: this.#options.signal, skipMissing: true });
  }
}

/** A new regular file, never through a symlink, private until its metadata is applied. */
function createExclusive(abs: string) {
  return open(abs, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
}

/** Extracts an (uncompressed) tar stream into root, which may already hold lower layers. */
export async function extractLayer(tar: Readable, root: string, options: ExtractOptions = {}): Promise<ExtractStats> {
  const { signal } = options;
  throwIfAborted(signal);
  await mkdirp(resolve(root));
  const extraction = new Extraction(await realpath(resolve(root)), options);
  let current = '';
  try {
    for await (const { entry, body } of readTar(tar, { signal })) {
      current = entry.path;
      await extraction.apply(entry, body);
    }
    current = '';
    await extraction.finish();
  } catch (err) {
    if (GantryError.is(err)) throw err;
    if (signal?.aborted) throw new AbortedError({ phase: 'layer', cause: err });
    const what = `cannot extract ${JSON.stringify(abbreviate(current || root, 120))}`;
    const system = explainSystemError(err);
    if (system?.code === 'FS_NAME_TOO_LONG') {
      throw new GantryError(system.code, `${what}: the name is too long (a file name may have at most 255 bytes)`, {
        phase: 'layer',
        suggestion: 'the archive names a file longer than Linux allows; rebuild it with shorter names',
        cause: err,
      });
    }
    if (system)
      throw new GantryError(system.code, `${what}: ${system.message}`, {
        phase: 'layer',
        suggestion: system.suggestion,
        cause: err,
      });
    const message = err instanceof Error ? err.message : String(err);
    throw new GantryError('EXTRACT_FAILED', `${what}: ${message}`, {
      phase: 'layer',
      suggestion: 'check that the target directory is writable and has free space',
      cause: err,
    });
  }
  return { entries: extraction.entries, bytes: extraction.bytes, devices: extraction.devices };
}
