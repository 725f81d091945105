/**
 * Reading an archive's files safely before anything reaches the target. Every file is copied into
 * a staging directory under a numbered name while its sha256 is computed, so nothing an archive
 * says about paths ever becomes a path on disk: archive paths and symlinks are resolved logically,
 * inside the archive, and a path that climbs out of it is refused.
 */
import { createReadStream, createWriteStream } from 'node:fs';
import { readFile, realpath, stat } from 'node:fs/promises';
import { join, posix, sep } from 'node:path';
import { type Readable, Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { GantryError, type IoOptions, throwIfAborted, UnsafePathError } from '../../errors.js';
import { createDigester } from '../../oci/digest.js';
import { MAX_SMALL_BLOB } from '../../oci/stream.js';
import type { Digest } from '../../oci/types.js';
import { readTar } from '../tar/reader.js';
import { rethrowAbort } from './output.js';

/** A file copied into staging: where it is now, and what it is. */
export interface StagedFile {
  readonly file: string;
  readonly size: number;
  readonly sha256: Digest;
}

/** The files of an archive (a tar, or a directory), read on demand into staging. */
export interface ArchiveFiles {
  has(path: string): Promise<boolean>;
  /** The staged copy of the file at `path`, undefined when there is none. */
  stage(path: string, options?: IoOptions): Promise<StagedFile | undefined>;
}

const MAX_SYMLINK_HOPS = 40;

/** Copies `source` to `file`, hashing on the way. */
export async function stageStream(source: Readable, file: string, options: IoOptions = {}): Promise<StagedFile> {
  const digester = createDigester('sha256');
  const tap = new Transform({
    transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
      digester.update(chunk);
      callback(null, chunk);
    },
  });
  try {
    await pipeline(source, tap, createWriteStream(file, { flags: 'wx', mode: 0o644 }), { signal: options.signal });
  } catch (err) {
    rethrowAbort(err, options.signal);
  }
  return { file, size: digester.size, sha256: digester.digest() };
}

/** Reads a small staged file (a manifest, a config, index.json) whole. */
export async function readStaged(staged: StagedFile, what: string): Promise<Buffer> {
  if (staged.size > MAX_SMALL_BLOB) {
    throw new GantryError('BLOB_TOO_LARGE', `${what} is larger than ${MAX_SMALL_BLOB} bytes`, {
      phase: 'import',
      suggestion: 'the archive is malformed: this file should be small JSON',
    });
  }
  return readFile(staged.file);
}

/**
 * `path` as a normalized path inside the archive ('' for its root); refused when it is absolute or
 * climbs out with '..'.
 */
export function archivePath(path: string, what = 'archive path'): string {
  if (path.includes('\0')) throw new UnsafePathError(path, `${what} contains a NUL byte`, { phase: 'import' });
  if (posix.isAbsolute(path)) throw new UnsafePathError(path, `${what} is absolute`, { phase: 'import' });
  const normal = posix.normalize(path);
  if (normal === '..' || normal.startsWith('../')) {
    throw new UnsafePathError(path, `${what} points outside the archive`, { phase: 'import' });
  }
  return normal === '.' || normal === './' ? '' : normal.replace(/\/+$/, '');
}

type TarNode =
  | { readonly kind: 'file'; readonly staged: StagedFile }
  | { readonly kind: 'directory' }
  | { readonly kind: 'symlink'; readonly target: string };

/** A tar archive, staged whole in one pass (a tar can only be read front to back). */
export class TarArchiveFiles implements ArchiveFiles {
  readonly #nodes = new Map<string, TarNode>();

  private constructor() {}

  /** Reads every entry of the (uncompressed) tar `source`; regular files go to `stagingDir`. */
  static async read(source: Readable, stagingDir: string, options: IoOptions = {}): Promise<TarArchiveFiles> {
    const files = new TarArchiveFiles();
    let n = 0;
    for await (const { entry, body } of readTar(source, options)) {
      throwIfAborted(options.signal);
      const path = archivePath(entry.path, 'tar entry');
      if (path === '') continue;
      switch (entry.type) {
        case 'file':
          files.#nodes.set(path, {
            kind: 'file',
            staged: await stageStream(body, join(stagingDir, `f${n++}`), options),
          });
          break;
        case 'directory':
          files.#nodes.set(path, { kind: 'directory' });
          break;
        case 'symlink':
          files.#nodes.set(path, { kind: 'symlink', target: entry.linkname ?? '' });
          break;
        case 'hardlink': {
          const target = files.#nodes.get(archivePath(entry.linkname ?? '', 'hardlink target'));
          if (target?.kind === 'file') files.#nodes.set(path, target);
          break;
        }
        default:
          // Devices and fifos have no place in an image archive; nothing will ever read them.
          break;
      }
    }
    return files;
  }

  /** Follows symlinks inside the archive; the path of the node `path` names, or undefined. */
  #resolve(path: string, hops = 0): string | undefined {
    const parts = archivePath(path).split('/');
    const done: string[] = [];
    for (let i = 0; i < parts.length; i++) {
      const part = parts[i] as string;
      if (part === '' || part === '.') continue;
      done.push(part);
      const node = this.#nodes.get(done.join('/'));
      if (node?.kind !== 'symlink') continue;
      if (hops >= MAX_SYMLINK_HOPS) {
        throw new UnsafePathError(path, 'too many levels of symbolic links in the archive', { phase: 'import' });
      }
      if (posix.isAbsolute(node.target)) {
        throw new UnsafePathError(path, `symlink ${done.join('/')} points to an absolute path`, { phase: 'import' });
      }
      const rest = [...done.slice(0, -1), node.target, ...parts.slice(i + 1)].join('/');
      return this.#resolve(archivePath(rest, `symlink ${done.join('/')}`), hops + 1);
    }
    return done.join('/');
  }

  #file(path: string): StagedFile | undefined {
    const resolved = this.#resolve(path);
    const node = resolved === undefined ? undefined : this.#nodes.get(resolved);
    return node?.kind === 'file' ? node.staged : undefined;
  }

  async has(path: string): Promise<boolean> {
    return this.#file(path) !== undefined;
  }

  async stage(path: string): Promise<StagedFile | undefined> {
    return this.#file(path);
  }
}

/** An unpacked layout or docker-archive directory; files are staged when asked for. */
export class DirectoryArchiveFiles implements ArchiveFiles {
  readonly #root: string;
  readonly #staging: string;
  readonly #staged = new Map<string, StagedFile>();
  #n = 0;

  private constructor(root: string, staging: string) {
    this.#root = root;
    this.#staging = staging;
  }

  static async open(root: string, stagingDir: string): Promise<DirectoryArchiveFiles> {
    return new DirectoryArchiveFiles(await realpath(root), stagingDir);
  }

  /** The real path of `path`, checked to stay inside the directory even through symlinks. */
  async #real(path: string): Promise<string | undefined> {
    const rel = archivePath(path);
    let real: string;
    try {
      real = await realpath(join(this.#root, rel));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
    if (!real.startsWith(this.#root + sep)) {
      throw new UnsafePathError(path, 'resolves outside the archive directory', { phase: 'import' });
    }
    return (await stat(real)).isFile() ? real : undefined;
  }

  async has(path: string): Promise<boolean> {
    return (await this.#real(path)) !== undefined;
  }

  async stage(path: string, options: IoOptions = {}): Promise<StagedFile | undefined> {
    const real = await this.#real(path);
    if (real === undefined) return undefined;
    let staged = this.#staged.get(real);
    if (staged === undefined) {
      staged = await stageStream(createReadStream(real), join(this.#staging, `f${this.#n++}`), options);
      this.#staged.set(real, staged);
    }
    return staged;
  }
}
