// Shared helpers for the snapshot tests: temp dirs, real layers in a real OCI layout, a comparable
// description of a directory tree (with owners and device numbers), and a snapshot's layer
// entries with their content hashed.
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { lstat, mkdtemp, readdir, readFile, readlink, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { writeLayer } from '../../../src/layer/layer.js';
import type { TarEntry, TarInput } from '../../../src/layer/tar/types.js';
import type { Layer } from '../../../src/oci/image.js';
import { OciLayout } from '../../../src/oci/layout.js';
import { layerFromDescriptor } from '../../../src/oci/partial.js';
import { run } from '../../harness/run.js';

export async function tempDir(
  t: { after: (fn: () => Promise<void>) => void },
  prefix = 'gantry-snap-',
): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

export interface NodeInfo {
  readonly type: string;
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
  readonly size: number;
  readonly sha256?: string;
  readonly link?: string;
  readonly rdev?: number;
  /** The first path (sorted) sharing this inode, for non-directories with nlink > 1. */
  readonly inodeGroup?: string;
}

/** Every path under root with what a layer must reproduce (mtimes aside). */
export async function describeTree(root: string, skip: readonly string[] = []): Promise<Record<string, NodeInfo>> {
  const out: Record<string, NodeInfo> = {};
  const inodes = new Map<number, string>();
  const visit = async (dir: string, rel: string): Promise<void> => {
    for (const name of (await readdir(dir)).sort()) {
      const abs = join(dir, name);
      const path = rel === '' ? name : `${rel}/${name}`;
      if (skip.includes(path)) continue;
      const st = await lstat(abs);
      const type = st.isDirectory()
        ? 'directory'
        : st.isFile()
          ? 'file'
          : st.isSymbolicLink()
            ? 'symlink'
            : st.isFIFO()
              ? 'fifo'
              : st.isCharacterDevice()
                ? 'char'
                : 'other';
      let info: NodeInfo = {
        type,
        mode: type === 'symlink' ? 0 : st.mode & 0o7777,
        uid: st.uid,
        gid: st.gid,
        size: type === 'file' ? st.size : 0,
      };
      if (type === 'file')
        info = {
          ...info,
          sha256: createHash('sha256')
            .update(await readFile(abs))
            .digest('hex'),
        };
      if (type === 'symlink') info = { ...info, link: await readlink(abs) };
      if (type === 'char') info = { ...info, rdev: st.rdev };
      if (type !== 'directory' && st.nlink > 1) {
        const first = inodes.get(st.ino) ?? path;
        inodes.set(st.ino, first);
        info = { ...info, inodeGroup: first };
      }
      out[path] = info;
      if (type === 'directory') await visit(abs, path);
    }
  };
  await visit(root, '');
  return out;
}

export type EntryInfo = Omit<TarEntry, 'mtime' | 'xattrs'> & { readonly sha256?: string; readonly xattrs?: string[] };

async function bodyHash(input: TarInput): Promise<string | undefined> {
  if (input.body === undefined) return undefined;
  const h = createHash('sha256');
  if (Buffer.isBuffer(input.body)) return h.update(input.body).digest('hex');
  const stream: Readable = await input.body();
  for await (const chunk of stream) h.update(chunk as Buffer);
  return h.digest('hex');
}

/** A snapshot's layer entries, mtimes aside, with file content hashed. */
export async function entriesOf(entries: AsyncIterable<TarInput>): Promise<EntryInfo[]> {
  const out: EntryInfo[] = [];
  for await (const input of entries) {
    const { mtime: _mtime, xattrs, ...rest } = input.entry;
    const sha256 = await bodyHash(input);
    out.push({
      ...rest,
      ...(sha256 ? { sha256 } : {}),
      ...(xattrs ? { xattrs: Object.keys(xattrs).sort() } : {}),
    });
  }
  return out;
}

/** Collects an async iterable (small test layers only). */
export async function collect<T>(items: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of items) out.push(item);
  return out;
}

/** Writes `entries` as a gzip layer blob into a layout under `dir` and returns it as a Layer. */
export async function layerOf(
  dir: string,
  name: string,
  entries: Iterable<TarInput> | AsyncIterable<TarInput>,
): Promise<Layer> {
  const layout = await OciLayout.init(join(dir, 'layout'));
  const file = join(dir, `${name}.tar.gz`);
  const info = await writeLayer(entries, createWriteStream(file), { compression: 'gzip' });
  await layout.writeBlob(createReadStream(file), { digest: info.digest, size: info.size });
  await rm(file);
  return layerFromDescriptor(layout, { mediaType: info.mediaType, digest: info.digest, size: info.size }, info.diffID);
}

/** A real Layer that counts how often its tar is read, to see whether a cache extracted it. */
export function countingLayer(layer: Layer): { layer: Layer; reads: () => number } {
  let reads = 0;
  const counted: Layer = {
    digest: (o) => layer.digest(o),
    diffID: (o) => layer.diffID(o),
    size: (o) => layer.size(o),
    mediaType: (o) => layer.mediaType(o),
    compressed: (o) => layer.compressed(o),
    uncompressed: (o) => {
      reads++;
      return layer.uncompressed(o);
    },
  };
  return { layer: counted, reads: () => reads };
}

/** Copies a tree with owners, modes, links and devices (GNU cp -a). */
export async function copyTree(from: string, to: string): Promise<void> {
  await run('cp', ['-a', '--', `${from}/.`, to]);
}
