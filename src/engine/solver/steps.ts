/**
 * The steps that touch files: RUN in a sandbox on a snapshot of the stage, COPY and ADD from the
 * build context, another stage or an image. Each returns the layer it made (or none) and is only
 * called on a cache miss; the caller keys, records and chains.
 */
import { createReadStream, createWriteStream } from 'node:fs';
import { chmod, lchown, lstat, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, posix } from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { GantryError, type IoOptions } from '../../errors.js';
import { extractLayer } from '../../layer/extract.js';
import { decompressStream } from '../../layer/layer.js';
import type { TarInput } from '../../layer/tar/types.js';
import { walkDirectory } from '../../layer/walk.js';
import { createDigester } from '../../oci/digest.js';
import type { Layer } from '../../oci/image.js';
import { layerFromDescriptor } from '../../oci/partial.js';
import type { Descriptor, Digest } from '../../oci/types.js';
import type { Store } from '../../store/store.js';
import { type CopyPlan, copyEntries, type IgnoreMatcher, planCopy, resolveSources } from '../context/index.js';
import {
  EPHEMERAL_PATHS,
  type Isolation,
  type RunSpec,
  resolveInRoot,
  resolveUser,
  runOrThrow,
} from '../executor/index.js';
import type { Snapshot } from '../snapshot/index.js';
import type { Filesystems } from './rootfs.js';

export interface StepContext extends IoOptions {
  readonly store: Store;
  readonly fs: Filesystems;
  readonly isolation?: Isolation;
}

export interface StepLayer {
  readonly layer: Layer;
  readonly descriptor: Descriptor;
  readonly diffID: Digest;
}

async function commitSnapshot(snapshot: Snapshot, ctx: StepContext): Promise<StepLayer | undefined> {
  const ignore = EPHEMERAL_PATHS.map((p) => p.replace(/^\/+/, ''));
  // One diff, not two: the first entry tells whether there is a layer at all.
  const it = snapshot.commit({ ignore, signal: ctx.signal })[Symbol.asyncIterator]();
  const first = await it.next();
  if (first.done) return undefined;
  async function* all(): AsyncGenerator<TarInput> {
    yield first.value;
    for (let next = await it.next(); !next.done; next = await it.next()) yield next.value;
  }
  return writeEntries(all(), ctx);
}

export async function writeEntries(
  entries: AsyncIterable<TarInput> | Iterable<TarInput>,
  ctx: StepContext,
): Promise<StepLayer> {
  const { info, layer } = await ctx.store.writeLayer(entries, { signal: ctx.signal });
  return {
    layer,
    descriptor: { mediaType: info.mediaType, digest: info.digest, size: info.size },
    diffID: info.diffID,
  };
}

export function storedLayer(store: Store, descriptor: Descriptor, diffID: Digest): Layer {
  return layerFromDescriptor(store.layout, descriptor, diffID);
}

/** RUN: the command in a sandbox on the stage's files; the changes become the layer. */
export async function runStep(
  layers: readonly Layer[],
  spec: Omit<RunSpec, 'rootfs'>,
  inlineFile: { name: string; content: string } | undefined,
  ctx: StepContext,
): Promise<StepLayer | undefined> {
  return ctx.fs.with(
    layers,
    async (snapshot) => {
      let tmp: string | undefined;
      const mounts = [...(spec.mounts ?? [])];
      let args = spec.args;
      if (inlineFile) {
        // `RUN <<EOF` with a #! line: the body runs as a file, mounted in for the step only.
        tmp = await mkdtemp(join(tmpdir(), 'gantry-heredoc-'));
        const file = join(tmp, 'script');
        await writeFile(file, inlineFile.content);
        await chmod(file, 0o755);
        const target = `/dev/pipes/${inlineFile.name}`;
        mounts.push({ source: file, target, readonly: true });
        args = [target];
      }
      try {
        await runOrThrow(
          { ...spec, args, mounts, rootfs: snapshot.root, signal: ctx.signal },
          ctx.isolation ? { isolation: ctx.isolation } : {},
        );
      } finally {
        if (tmp) await rm(tmp, { recursive: true, force: true });
      }
      return commitSnapshot(snapshot, ctx);
    },
    ctx,
  );
}

/**
 * WORKDIR: the directory and its missing parents, created as BuildKit's `Mkdir(dir, 0755,
 * WithParents, WithUser(USER))` creates them: mode 0755, owned by the stage's USER, existing
 * directories left as they are. Returns no layer when everything already existed.
 */
export async function workdirStep(
  layers: readonly Layer[],
  dir: string,
  user: string | undefined,
  ctx: StepContext,
): Promise<StepLayer | undefined> {
  return ctx.fs.with(
    layers,
    async (snapshot) => {
      // Symlinks in the path are followed inside the root, never out of it.
      const inRoot = await resolveInRoot(snapshot.root, dir);
      const owner = user ? await resolveUser(snapshot.root, user) : undefined;
      let host = snapshot.root;
      for (const part of inRoot.split('/').filter(Boolean)) {
        host = join(host, part);
        const st = await lstat(host).catch((err: NodeJS.ErrnoException) => {
          if (err.code === 'ENOENT') return undefined;
          throw err;
        });
        if (st) {
          if (!st.isDirectory()) {
            throw new GantryError('WORKDIR_NOT_DIRECTORY', `WORKDIR ${dir}: ${inRoot} exists and is not a directory`, {
              phase: 'build',
              suggestion: 'choose another WORKDIR or remove that file in an earlier step',
            });
          }
          continue;
        }
        await mkdir(host);
        await chmod(host, 0o755); // whatever the umask
        if (owner) await lchown(host, owner.uid, owner.gid);
      }
      return commitSnapshot(snapshot, ctx);
    },
    ctx,
  );
}

/** Resolves `--chown` (names through the stage's /etc/passwd and /etc/group). */
export async function resolveChown(
  chown: string | undefined,
  layers: readonly Layer[],
  ctx: StepContext,
): Promise<{ uid: number; gid: number } | undefined> {
  if (chown === undefined || chown === '') return undefined;
  const m = /^(\d+)(?::(\d+))?$/.exec(chown);
  if (m) return { uid: Number(m[1]), gid: Number(m[2] ?? m[1]) };
  return ctx.fs.with(
    layers,
    async (snapshot) => {
      const user = await resolveUser(snapshot.root, chown);
      return { uid: user.uid, gid: user.gid };
    },
    ctx,
  );
}

export interface CopySource {
  /** The directory the sources are relative to (the context, or a stage's root). */
  readonly root: string;
  readonly ignore?: IgnoreMatcher;
}

export interface CopyOptions {
  readonly sources: readonly string[];
  readonly dest: string;
  readonly workdir: string;
  readonly chown?: { uid: number; gid: number };
  readonly chmod?: string;
  readonly exclude: readonly string[];
  readonly parents: boolean;
  /** ADD: unpack local tar archives into dest. */
  readonly unpack?: boolean;
}

/** Plans a copy from `from`: what is read (for the cache key) and where it lands. */
export async function planFrom(from: CopySource, o: CopyOptions, ctx: StepContext): Promise<CopyPlan> {
  const resolved = await resolveSources(from.root, [...o.sources], {
    ...(from.ignore ? { ignore: from.ignore } : {}),
    exclude: o.exclude,
    parents: o.parents,
    signal: ctx.signal,
  });
  return planCopy(resolved, o.dest, o.workdir);
}

function isArchiveMagic(head: Buffer): boolean {
  if (head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b) return true; // gzip
  if (head.length >= 3 && head.toString('latin1', 0, 3) === 'BZh') return true;
  if (head.length >= 6 && head.subarray(0, 6).equals(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]))) return true; // xz
  if (head.length >= 4 && head.readUInt32LE(0) === 0xfd2fb528) return true; // zstd
  return head.length >= 262 && head.toString('latin1', 257, 262) === 'ustar';
}

async function readHead(path: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const chunk of createReadStream(path, { start: 0, end: 511 })) {
    chunks.push(chunk as Buffer);
    n += (chunk as Buffer).length;
  }
  return Buffer.concat(chunks, n);
}

/** COPY/ADD: the planned files as a layer. ADD unpacks local archives (gzip or plain tar). */
export async function copyStep(plan: CopyPlan, o: CopyOptions, ctx: StepContext): Promise<StepLayer> {
  if (!o.unpack) {
    return writeEntries(
      copyEntries(plan, {
        ...(o.chown ? { chown: o.chown } : {}),
        ...(o.chmod ? { chmod: o.chmod } : {}),
        signal: ctx.signal,
      }),
      ctx,
    );
  }
  const archives = [];
  const plain = [];
  for (const entry of plan.entries) {
    if (entry.type === 'file' && isArchiveMagic(await readHead(entry.source))) archives.push(entry);
    else plain.push(entry);
  }
  if (archives.length === 0) return copyStep(plan, { ...o, unpack: false }, ctx);
  // Unpack each archive into a staging tree placed at dest, then one walk makes the layer.
  const stage = await mkdtemp(join(tmpdir(), 'gantry-add-'));
  try {
    const destDir = join(stage, 'root', ...plan.dest.split('/').filter(Boolean));
    await mkdir(destDir, { recursive: true });
    for (const a of archives) {
      const tar = await decompressStream(createReadStream(a.source));
      await extractLayer(tar, destDir, { owners: false, whiteouts: 'keep', signal: ctx.signal });
    }
    const rest = { ...plan, entries: plain };
    const archiveEntries = walkDirectory(join(stage, 'root'), {
      keepModes: true,
      ...(o.chown ? { owner: o.chown } : {}),
      signal: ctx.signal,
    });
    async function* both(): AsyncGenerator<TarInput> {
      // Later entries win on extraction, so plain copies follow the unpacked trees.
      yield* archiveEntries;
      if (plain.length > 0) yield* copyEntries(rest, { ...(o.chown ? { chown: o.chown } : {}), signal: ctx.signal });
    }
    return await writeEntries(both(), ctx);
  } finally {
    await rm(stage, { recursive: true, force: true });
  }
}

/** ADD https://...: fetched, checked against --checksum, written as one file. */
export async function fetchRemote(
  url: string,
  checksum: string | undefined,
  signal: AbortSignal | undefined,
): Promise<{ dir: string; name: string }> {
  const response = await fetch(url, signal ? { signal } : {}).catch((err: unknown) => {
    throw new GantryError('ADD_FETCH_FAILED', `ADD could not fetch ${url}: ${(err as Error).message}`, {
      phase: 'build',
      suggestion: 'check the URL and the network',
      cause: err,
    });
  });
  if (!response.ok || !response.body) {
    throw new GantryError('ADD_FETCH_FAILED', `ADD could not fetch ${url}: HTTP ${response.status}`, {
      phase: 'build',
      suggestion: 'check the URL',
    });
  }
  // Streamed to a file and hashed on the way: a large download is never held in memory.
  const dir = await mkdtemp(join(tmpdir(), 'gantry-url-'));
  const name = posix.basename(new URL(url).pathname) || 'index.html';
  const digester = createDigester(checksum?.startsWith('sha512:') ? 'sha512' : 'sha256');
  const hashing = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      digester.update(chunk);
      callback(null, chunk);
    },
  });
  try {
    await pipeline(
      Readable.fromWeb(response.body as import('node:stream/web').ReadableStream<Uint8Array>),
      hashing,
      createWriteStream(join(dir, name), { mode: 0o600 }),
      signal ? { signal } : {},
    );
    const actual = digester.digest();
    if (checksum !== undefined && actual !== checksum) {
      throw new GantryError(
        'ADD_CHECKSUM_MISMATCH',
        `ADD ${url}: checksum mismatch: expected ${checksum}, got ${actual}`,
        {
          phase: 'build',
          suggestion: 'the file changed upstream or the --checksum is wrong',
        },
      );
    }
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
  return { dir, name };
}
