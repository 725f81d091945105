/**
 * The tar entry model shared by the writer, the reader, the directory walker and extraction.
 * An entry is what a layer says about one path; its content travels separately as a body.
 */
import type { Readable } from 'node:stream';

export type TarEntryType = 'file' | 'directory' | 'symlink' | 'hardlink' | 'char' | 'block' | 'fifo';

export interface TarEntry {
  /** Relative, '/'-separated, no leading './' or '/', directories WITHOUT trailing '/'. */
  readonly path: string;
  readonly type: TarEntryType;
  /** Permission bits incl. setuid/setgid/sticky (07777), no file-type bits. */
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
  readonly uname?: string;
  readonly gname?: string;
  /** Seconds since the epoch (an integer in deterministic output). */
  readonly mtime: number;
  /** Bytes of content; 0 for everything but 'file'. */
  readonly size: number;
  /** Symlink target, or hardlink target path (relative, like `path`). */
  readonly linkname?: string;
  readonly devmajor?: number;
  readonly devminor?: number;
  readonly xattrs?: Readonly<Record<string, Buffer>>;
}

export interface TarInput {
  readonly entry: TarEntry;
  /** Content for 'file' entries: exactly entry.size bytes. */
  readonly body?: Buffer | (() => Readable | Promise<Readable>);
  /**
   * Sees every chunk of the body as the writer emits it (padding excluded), in order: a content
   * hash taken on the way, so a file is read once for the layer and its digest alike.
   */
  readonly observe?: (chunk: Buffer) => void;
}

/**
 * A file body that can also be read into the tar writer's own buffer: `readInto(scratch)` yields
 * views of `scratch`, each valid only until the next one is asked for. The layer writer, done
 * with each chunk (hashed, copied into a gzip block) before it asks for the next, reads a whole
 * tree through one buffer: no allocation, page faults or garbage per file or per read.
 */
export interface FileOpener {
  (): Promise<Readable>;
  readonly readInto: (scratch: Buffer) => AsyncGenerator<Buffer>;
}
