/**
 * A directory (or a chosen part of one) as one cached layer step: the step a directory build,
 * and the Python and Node front ends' application layers, are made of. The key is what the walk
 * would write (names, types, modes, owners, mtimes, link targets) with every file's content
 * digest, so an unchanged tree is a hit and a touched but unchanged file is still one.
 *
 * Each file is read at most once per build:
 * - every file's digest is in the file-state cache (path, size, mtime, ctime, inode, device):
 *   the key is known without reading, and a hit reads nothing;
 * - some are not, but the cache knows their paths (a touch, a checkout): those files are hashed,
 *   then the key is looked up as above;
 * - the others are new paths (a first build, a fresh store): the content key would miss anyway,
 *   so the layer is written straight away, each file hashed on its way into the tar, and the
 *   result is recorded under the key those digests give.
 */
import { createHash } from 'node:crypto';
import { throwIfAborted } from '../errors.js';
import type { Compression } from '../layer/layer.js';
import { hashRegularFile, normalizePrefix, type WalkedInput, type WalkOptions, walkDirectory } from '../layer/walk.js';
import { createDigester, type Digester } from '../oci/digest.js';
import type { Digest } from '../oci/types.js';
import type { FileHashCache } from './context/checksum.js';
import type { Solver, StepResult } from './solver/solver.js';
import { layerWriteOptions, type StepLayer } from './solver/steps.js';

/** How the tree is walked; the same options key the step and write the layer. */
export type TreeWalkOptions = Omit<WalkOptions, 'prefix' | 'signal'>;

export interface DirectoryLayerSpec {
  /** The directory whose entries become the layer. */
  readonly root: string;
  /** Where the tree lands in the image ('' or undefined: at the root). */
  readonly prefix?: string;
  /** Only these paths (relative to `root`; a directory brings its subtree), with their parents. */
  readonly files?: readonly string[];
  readonly walk?: TreeWalkOptions;
  /** The chain key the step builds on (for a first layer, a word naming the front end). */
  readonly parent: string;
  /** Keyed without the parent (StepSpec.detached): the layer does not depend on what is below it. */
  readonly detached?: boolean;
  /** Key inputs besides the tree's checksum, which comes last. */
  readonly inputs?: readonly string[];
  /** The name progress shows. */
  readonly name: string;
  /** File digests by stat identity, shared by the build and saved by its owner. */
  readonly hashes: FileHashCache;
  readonly compression?: Compression;
  /** Called each time a file's content is opened: to hash it for the key, or to write it. */
  readonly onFileRead?: (abs: string, purpose: 'hash' | 'layer') => void;
  /** Files whose content the layer holds changed (the tree's checksum stays that of the files on disk). */
  readonly transform?: ContentTransform;
}

/**
 * A change to some files' content on their way into the layer (a relocated venv's script
 * shebangs). Deterministic: the same content gives the same bytes, so the step's key is the
 * tree's checksum plus `id`.
 */
export interface ContentTransform {
  /** Names the transform (and its settings) in the step's key. */
  readonly id: string;
  /** Whether a file (tree-relative path, size) may change: only those are read whole. */
  readonly selects: (rel: string, size: number) => boolean;
  /** The new content, or undefined to keep the file as it is. */
  readonly apply: (content: Buffer, rel: string) => Buffer | undefined;
}

export interface DirectoryLayerResult extends StepResult {
  /** The checksum of the tree (the last key input). */
  readonly checksum: Digest;
}

const HEADER = 'gantry directory checksum v1\n';

/** A walk filter keeping `files` (and subtrees of listed directories) and their parents. */
export function filesFilter(files: readonly string[]): (rel: string) => boolean {
  const listed = new Set<string>();
  const parents = new Set<string>();
  for (const f of files) {
    const parts = f.split('/').filter((p) => p !== '' && p !== '.');
    if (parts.length === 0) return () => true;
    listed.add(parts.join('/'));
    for (let i = 1; i < parts.length; i++) parents.add(parts.slice(0, i).join('/'));
  }
  return (rel) => {
    if (listed.has(rel) || parents.has(rel)) return true;
    for (let i = rel.indexOf('/'); i !== -1; i = rel.indexOf('/', i + 1)) {
      if (listed.has(rel.slice(0, i))) return true;
    }
    return false;
  };
}

function walkOptions(spec: DirectoryLayerSpec, signal: AbortSignal | undefined, prefix?: string): WalkOptions {
  const filter = spec.files ? filesFilter(spec.files) : undefined;
  const own = spec.walk?.filter;
  return {
    ...spec.walk,
    ...(filter ? { filter: own ? (rel, st) => filter(rel) && own(rel, st) : (rel) => filter(rel) } : {}),
    ...(prefix ? { prefix } : {}),
    ...(signal ? { signal } : {}),
  };
}

function line(digester: Digester, entry: unknown, content: string | null): void {
  digester.update(Buffer.from(`${JSON.stringify([entry, content])}\n`));
}

type Plan = { readonly kind: 'known'; readonly checksum: Digest } | { readonly kind: 'rehash' | 'write' };

/** One walk without reading: the checksum if every digest is cached, else which path to take. */
async function plan(spec: DirectoryLayerSpec, signal: AbortSignal | undefined): Promise<Plan> {
  const digester = createDigester('sha256');
  digester.update(Buffer.from(HEADER));
  let missing = false;
  for await (const { entry, source } of walkDirectory(spec.root, walkOptions(spec, signal))) {
    let content: string | null = null;
    if (entry.type === 'file' && source) {
      content = spec.hashes.lookup(source.abs, source.stat) ?? null;
      if (content === null) {
        if (spec.hashes.has(source.abs)) return { kind: 'rehash' };
        // The rest of the walk only looks for a path the cache knows: with none (a fresh store,
        // a first build), the answer is already 'write'.
        if (spec.hashes.paths === 0) return { kind: 'write' };
        missing = true;
      }
    }
    if (!missing) line(digester, entry, content);
  }
  return missing ? { kind: 'write' } : { kind: 'known', checksum: digester.digest() };
}

/** The checksum, hashing the files the cache cannot answer for. */
async function checksumTree(spec: DirectoryLayerSpec, signal: AbortSignal | undefined): Promise<Digest> {
  const digester = createDigester('sha256');
  digester.update(Buffer.from(HEADER));
  for await (const { entry, source } of walkDirectory(spec.root, walkOptions(spec, signal))) {
    let content: string | null = null;
    if (entry.type === 'file' && source) {
      content = spec.hashes.lookup(source.abs, source.stat) ?? null;
      if (content === null) {
        const started = Date.now();
        spec.onFileRead?.(source.abs, 'hash');
        content = (await hashRegularFile(source.abs, source.stat.size, signal)).hex;
        spec.hashes.record(source.abs, source.stat, content, started);
      }
    }
    line(digester, entry, content);
  }
  return digester.digest();
}

/**
 * The prefixed walk the layer is written from, with each file hashed as the tar writer reads
 * it; the checksum is complete when the writer has drained the walk. The writer reads a body to
 * its end before it asks for the next entry, so a file's digest is final when the walk resumes.
 */
function tappedWalk(
  spec: DirectoryLayerSpec,
  signal: AbortSignal | undefined,
): { entries: AsyncGenerator<WalkedInput>; checksum: () => Digest } {
  const digester = createDigester('sha256');
  digester.update(Buffer.from(HEADER));
  const prefix = normalizePrefix(spec.prefix).join('/');
  const strip = (p: string): string => (prefix === '' ? p : p.slice(prefix.length + 1));
  let done = false;
  async function* entries(): AsyncGenerator<WalkedInput> {
    for await (const input of walkDirectory(spec.root, walkOptions(spec, signal, prefix))) {
      throwIfAborted(signal);
      const { entry, source } = input;
      if (!source) {
        yield input; // a directory invented for the prefix: not part of the tree's checksum
        continue;
      }
      // The entry as the unprefixed walk gives it (key order kept), so both ways key alike.
      const own =
        prefix === ''
          ? entry
          : entry.type === 'hardlink' && entry.linkname !== undefined
            ? { ...entry, path: strip(entry.path), linkname: strip(entry.linkname) }
            : { ...entry, path: strip(entry.path) };
      if (entry.type !== 'file') {
        line(digester, own, null);
        yield input;
        continue;
      }
      const hash = createHash('sha256');
      const started = Date.now();
      yield { ...input, observe: (chunk: Buffer) => hash.update(chunk) };
      const hex = hash.digest('hex');
      spec.hashes.record(source.abs, source.stat, hex, started);
      line(digester, own, hex);
    }
    done = true;
  }
  return {
    entries: entries(),
    checksum: () => {
      if (!done) throw new Error('the tree checksum is read before the layer was written');
      return digester.digest();
    },
  };
}

/** `entries` with each file opening reported to `spec.onFileRead`. */
async function* reported(entries: AsyncIterable<WalkedInput>, spec: DirectoryLayerSpec): AsyncGenerator<WalkedInput> {
  const report = spec.onFileRead;
  for await (const input of entries) {
    const { body, source } = input;
    if (report === undefined || typeof body !== 'function' || source === undefined) {
      yield input;
      continue;
    }
    yield {
      ...input,
      body: () => {
        report(source.abs, 'layer');
        return body();
      },
    };
  }
}

async function readBody(body: NonNullable<WalkedInput['body']>): Promise<Buffer> {
  if (Buffer.isBuffer(body)) return body;
  const chunks: Buffer[] = [];
  for await (const chunk of await body()) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** `entries` with spec.transform applied; a tap on a changed file still sees the bytes on disk. */
async function* transformed(entries: AsyncIterable<WalkedInput>, t: ContentTransform): AsyncGenerator<WalkedInput> {
  for await (const input of entries) {
    const { entry, body, source } = input;
    if (entry.type !== 'file' || body === undefined || !source || !t.selects(source.rel, entry.size)) {
      yield input;
      continue;
    }
    const content = await readBody(body);
    const changed = t.apply(content, source.rel);
    if (changed === undefined) {
      yield { ...input, body: content };
      continue;
    }
    input.observe?.(content);
    const { observe: _tap, ...rest } = input;
    yield { ...rest, entry: { ...entry, size: changed.length }, body: changed };
  }
}

async function writeTree(
  solver: Solver,
  walked: AsyncIterable<WalkedInput>,
  spec: DirectoryLayerSpec,
): Promise<StepLayer> {
  const read = spec.onFileRead ? reported(walked, spec) : walked;
  const entries = spec.transform ? transformed(read, spec.transform) : read;
  const { info, layer } = await solver.store.writeLayer(entries, {
    ...(spec.compression ? { compression: spec.compression } : layerWriteOptions(solver.layerFormat)),
    signal: solver.signal,
  });
  return {
    layer,
    descriptor: { mediaType: info.mediaType, digest: info.digest, size: info.size },
    diffID: info.diffID,
  };
}

/** The tree as one layer step of `solver`: looked up when its key can be known, else written and recorded. */
export async function directoryLayerStep(solver: Solver, spec: DirectoryLayerSpec): Promise<DirectoryLayerResult> {
  const { signal } = solver;
  const inputs = [...(spec.inputs ?? []), ...(spec.transform ? [`transform ${spec.transform.id}`] : [])];
  let route = await plan(spec, signal);
  if (route.kind === 'rehash') route = { kind: 'known', checksum: await checksumTree(spec, signal) };
  if (route.kind === 'known') {
    const checksum = route.checksum;
    const step = await solver.step({
      parent: spec.parent,
      ...(spec.detached ? { detached: true } : {}),
      inputs: [...inputs, checksum],
      name: spec.name,
      run: () => writeTree(solver, walkDirectory(spec.root, walkOptions(spec, signal, spec.prefix)), spec),
    });
    return { ...step, checksum };
  }
  let checksum: Digest | undefined;
  const step = await solver.produce({
    parent: spec.parent,
    ...(spec.detached ? { detached: true } : {}),
    name: spec.name,
    run: async () => {
      const tapped = tappedWalk(spec, signal);
      const layer = await writeTree(solver, tapped.entries, spec);
      checksum = tapped.checksum();
      return { inputs: [...inputs, checksum], layer };
    },
  });
  return { ...step, checksum: checksum as Digest };
}
