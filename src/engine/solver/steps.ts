/**
 * The work of steps that touch files: RUN in a sandbox on a snapshot of the stage, WORKDIR, COPY
 * and ADD from the build context, another stage or an image. Each returns the layer it made (or
 * none); front ends hand it to the solver as a step's work, which runs it only on a cache miss.
 */
import { createWriteStream } from 'node:fs';
import { chmod, lchown, lstat, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, posix } from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { GantryError, type IoOptions } from '../../errors.js';
import type { TarInput } from '../../layer/tar/types.js';
import { createDigester } from '../../oci/digest.js';
import type { Layer } from '../../oci/image.js';
import { layerFromDescriptor } from '../../oci/partial.js';
import type { Descriptor, Digest } from '../../oci/types.js';
import { ownerTag } from '../../store/cleanup.js';
import type { Store } from '../../store/store.js';
import { trustHostCas } from '../../util/node-tls.js';
import {
  type CopyPlan,
  copyEntries,
  type ExistingDirectory,
  type IgnoreMatcher,
  planCopy,
  resolveSources,
} from '../context/index.js';
import {
  EPHEMERAL_PATHS,
  type Isolation,
  type RunSpec,
  resolveInRoot,
  resolveOwner,
  resolveUser,
  runOrThrow,
} from '../executor/index.js';
import type { Snapshot } from '../snapshot/index.js';
import type { Filesystems } from './rootfs.js';

export interface StepContext extends IoOptions {
  readonly store: Store;
  readonly fs: Filesystems;
  readonly isolation?: Isolation;
  /** Clamp the mtimes of RUN snapshots to this (seconds); default SOURCE_DATE_EPOCH when set. */
  readonly sourceDateEpoch?: number;
  /** How new layers are compressed; gzip at its default level when unset. */
  readonly layerFormat?: LayerFormat;
}

/** The compression of the layers a build writes (`--compression`, `--compression-level`). */
export interface LayerFormat {
  readonly compression: 'gzip' | 'zstd';
  /** gzip 0-9, zstd 1-22; the compression's default when unset. */
  readonly level?: number;
}

/** The writeLayer options of `format`. */
export function layerWriteOptions(format: LayerFormat | undefined): { compression?: 'gzip' | 'zstd'; level?: number } {
  if (format === undefined) return {};
  return { compression: format.compression, ...(format.level === undefined ? {} : { level: format.level }) };
}

export interface StepLayer {
  readonly layer: Layer;
  readonly descriptor: Descriptor;
  readonly diffID: Digest;
}

async function commitSnapshot(snapshot: Snapshot, ctx: StepContext): Promise<StepLayer | undefined> {
  const ignore = EPHEMERAL_PATHS.map((p) => p.replace(/^\/+/, ''));
  // One diff, not two: the first entry tells whether there is a layer at all.
  const clamp = ctx.sourceDateEpoch === undefined ? {} : { sourceDateEpoch: ctx.sourceDateEpoch };
  const it = snapshot.commit({ ignore, signal: ctx.signal, ...clamp })[Symbol.asyncIterator]();
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
  const { info, layer } = await ctx.store.writeLayer(entries, {
    ...layerWriteOptions(ctx.layerFormat),
    signal: ctx.signal,
  });
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
/** Host-side edits of the step's root (its host path) before and after the run; they are part of the layer. */
export interface RunHooks {
  readonly before?: (root: string) => Promise<void>;
  readonly after?: (root: string) => Promise<void>;
}

export async function runStep(
  layers: readonly Layer[],
  spec: Omit<RunSpec, 'rootfs'>,
  inlineFile: { name: string; content: string } | undefined,
  ctx: StepContext,
  hooks: RunHooks = {},
): Promise<StepLayer | undefined> {
  return ctx.fs.with(
    layers,
    async (snapshot) => {
      await hooks.before?.(snapshot.root);
      let tmp: string | undefined;
      const mounts = [...(spec.mounts ?? [])];
      let args = spec.args;
      if (inlineFile) {
        // `RUN <<EOF` with a #! line: the body runs as a file, mounted in for the step only.
        tmp = await mkdtemp(join(tmpdir(), `gantry-heredoc-${ownerTag()}-`));
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
      await hooks.after?.(snapshot.root);
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
      const owner = user ? await resolveOwner(snapshot.root, user) : undefined;
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
  /** COPY --from: the sources keep their owners unless `chown`. */
  readonly keepOwners?: boolean;
  /** COPY --from: the sources are a stage's or an image's root, whose device placeholders are devices. */
  readonly devicePlaceholders?: boolean;
  /** Directories that already exist in the stage (see placeInRoot): they keep their metadata. */
  readonly existing?: (imagePath: string) => ExistingDirectory | undefined;
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

/** COPY/ADD: the planned files as a layer. ADD unpacks local archives (gzip, zstd or plain tar). */
export async function copyStep(plan: CopyPlan, o: CopyOptions, ctx: StepContext): Promise<StepLayer> {
  const options = {
    ...(o.chown ? { chown: o.chown } : {}),
    ...(o.chmod ? { chmod: o.chmod } : {}),
    ...(o.keepOwners ? { keepOwners: true } : {}),
    ...(o.devicePlaceholders ? { devicePlaceholders: true } : {}),
    ...(o.existing ? { existing: o.existing } : {}),
    signal: ctx.signal,
  };
  // ADD's archive unpacking (extraction, decompression) loads with the first ADD that unpacks.
  const entries = o.unpack
    ? (await import('../context/unpack.js')).addEntries(plan, options)
    : copyEntries(plan, options);
  return writeEntries(entries, ctx);
}

/** ADD https://...: fetched, checked against --checksum, written as one file. */
export async function fetchRemote(
  url: string,
  checksum: string | undefined,
  signal: AbortSignal | undefined,
): Promise<{ dir: string; name: string }> {
  trustHostCas();
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
  const dir = await mkdtemp(join(tmpdir(), `gantry-url-${ownerTag()}-`));
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
