// Shared helpers for the layer tests: temp dirs, running real tools, and a comparable snapshot
// of a directory tree (types, modes, sizes, content hashes, link targets, hardlink groups).
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { lstatSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable, Writable } from 'node:stream';

export function tempDir(t: { after: (fn: () => void) => void }, name = 'gantry-layer-'): string {
  const dir = mkdtempSync(join(tmpdir(), name));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

export function run(cmd: string, args: string[], input?: Buffer): { stdout: Buffer; stderr: string; status: number } {
  const res = spawnSync(cmd, args, { input, maxBuffer: 256 * 1024 * 1024 });
  if (res.error) throw res.error;
  return { stdout: res.stdout, stderr: res.stderr.toString(), status: res.status ?? -1 };
}

export function sh(script: string): string {
  const res = run('sh', ['-c', script]);
  if (res.status !== 0) throw new Error(`sh -c ${script} failed: ${res.stderr}`);
  return res.stdout.toString();
}

export interface NodeInfo {
  readonly type: string;
  readonly mode: number;
  readonly size: number;
  readonly sha256?: string;
  readonly link?: string;
  /** The first path (in sorted order) sharing this node's inode, for files with nlink > 1. */
  readonly inodeGroup?: string;
  readonly mtime?: number;
}

/** A comparable description of every path under `root`. */
export function snapshot(root: string, options: { mtimes?: boolean } = {}): Record<string, NodeInfo> {
  const out: Record<string, NodeInfo> = {};
  const inodes = new Map<number, string>();
  const visit = (dir: string, rel: string) => {
    for (const name of readdirSync(dir).sort()) {
      const abs = join(dir, name);
      const path = rel === '' ? name : `${rel}/${name}`;
      const st = lstatSync(abs);
      const type = st.isDirectory()
        ? 'directory'
        : st.isFile()
          ? 'file'
          : st.isSymbolicLink()
            ? 'symlink'
            : st.isFIFO()
              ? 'fifo'
              : 'other';
      let info: NodeInfo = { type, mode: st.mode & 0o7777, size: type === 'file' ? st.size : 0 };
      if (type === 'file') info = { ...info, sha256: createHash('sha256').update(readFileSync(abs)).digest('hex') };
      if (type === 'symlink') info = { ...info, link: readlinkSync(abs), mode: 0 };
      if (type !== 'directory' && st.nlink > 1) {
        const first = inodes.get(st.ino) ?? path;
        inodes.set(st.ino, first);
        info = { ...info, inodeGroup: first };
      }
      if (options.mtimes) info = { ...info, mtime: Math.floor(st.mtimeMs / 1000) };
      out[path] = info;
      if (type === 'directory') visit(abs, path);
    }
  };
  visit(root, '');
  return out;
}

/** A Writable that collects everything into one Buffer (for small test layers only). */
export function collector(): { sink: Writable; bytes: () => Buffer } {
  const chunks: Buffer[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      chunks.push(chunk);
      cb();
    },
  });
  return { sink, bytes: () => Buffer.concat(chunks) };
}

export async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

export function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

export function bufferStream(...chunks: Buffer[]): Readable {
  return Readable.from(chunks, { objectMode: false });
}

/** True when `dir` holds no entries at all (nothing escaped into it). */
export function isEmptyDir(dir: string): boolean {
  return readdirSync(dir).length === 0;
}
