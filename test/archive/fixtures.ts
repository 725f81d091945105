// Small real images for the archive tests: layers written with writeLayer into an OCI layout,
// assembled with newImage. The second layer deletes a file with a whiteout and makes a directory
// opaque, so exports and loads have something to get wrong.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline, type Readable, Transform } from 'node:stream';
import type { IoOptions } from '../../src/errors.js';
import { writeLayer } from '../../src/layer/layer.js';
import type { TarEntry, TarInput } from '../../src/layer/tar/types.js';
import type { Image, Layer } from '../../src/oci/image.js';
import { OciLayout } from '../../src/oci/layout.js';
import { newImage } from '../../src/oci/mutate.js';
import { layerFromDescriptor } from '../../src/oci/partial.js';
import type { Platform } from '../../src/oci/types.js';

export const AMD64: Platform = { os: 'linux', architecture: 'amd64' };
export const ARM64: Platform = { os: 'linux', architecture: 'arm64' };

export function dir(path: string, extra: Partial<TarEntry> = {}): TarInput {
  return { entry: { path, type: 'directory', mode: 0o755, uid: 0, gid: 0, mtime: 1_700_000_000, size: 0, ...extra } };
}

export function file(path: string, content: string | Buffer, extra: Partial<TarEntry> = {}): TarInput {
  const body = Buffer.isBuffer(content) ? content : Buffer.from(content);
  return {
    entry: { path, type: 'file', mode: 0o644, uid: 0, gid: 0, mtime: 1_700_000_000, size: body.byteLength, ...extra },
    body,
  };
}

export function symlink(path: string, target: string): TarInput {
  return {
    entry: { path, type: 'symlink', mode: 0o777, uid: 0, gid: 0, mtime: 1_700_000_000, size: 0, linkname: target },
  };
}

export function hardlink(path: string, target: string): TarInput {
  return {
    entry: { path, type: 'hardlink', mode: 0o755, uid: 0, gid: 0, mtime: 1_700_000_000, size: 0, linkname: target },
  };
}

/** A scratch directory with a layout that holds the layer blobs of the images made in it. */
export class Workspace {
  readonly dir: string;
  readonly layout: OciLayout;
  #n = 0;

  private constructor(dir: string, layout: OciLayout) {
    this.dir = dir;
    this.layout = layout;
  }

  static async create(): Promise<Workspace> {
    const dir = await mkdtemp(join(tmpdir(), 'gantry-archive-'));
    return new Workspace(dir, await OciLayout.init(join(dir, 'blobs-layout')));
  }

  path(name: string): string {
    return join(this.dir, name);
  }

  async layer(entries: readonly TarInput[]): Promise<Layer> {
    const tmp = join(this.dir, `layer-${this.#n++}.tmp`);
    const info = await writeLayer(entries, createWriteStream(tmp), { compression: 'gzip' });
    await this.layout.writeBlob(createReadStream(tmp), { digest: info.digest, size: info.size });
    await rm(tmp);
    return layerFromDescriptor(
      this.layout,
      { mediaType: info.mediaType, digest: info.digest, size: info.size },
      info.diffID,
    );
  }

  /** Two layers; the second whites out etc/removed.txt and makes opq/ opaque. */
  async image(platform: Platform = AMD64, extra: readonly TarInput[] = []): Promise<Image> {
    const base = await this.layer([
      dir('bin'),
      file('bin/tool', '#!/bin/sh\necho tool\n', { mode: 0o755, uid: 1000, gid: 1000, uname: 'app', gname: 'app' }),
      hardlink('bin/tool-again', 'bin/tool'),
      symlink('bin/link', 'tool'),
      dir('etc'),
      file('etc/keep.txt', 'keep\n'),
      file('etc/removed.txt', 'bye\n'),
      dir('opq'),
      file('opq/old.txt', 'old\n'),
    ]);
    const top = await this.layer([
      dir('etc'),
      file('etc/.wh.removed.txt', ''),
      file('etc/new.txt', `new on ${platform.architecture}\n`),
      dir('opq'),
      file('opq/.wh..wh..opq', ''),
      file('opq/fresh.txt', 'fresh\n'),
      ...extra,
    ]);
    return newImage({
      platform,
      layers: [{ layer: base }, { layer: top }],
      config: (cfg) => ({ ...cfg, config: { Cmd: ['/bin/tool'] } }),
    });
  }

  async dispose(): Promise<void> {
    await rm(this.dir, { recursive: true, force: true });
  }
}

/** Runs a tool and returns its stdout; fails the test with its stderr when it exits non-zero. */
export function run(cmd: string, args: readonly string[], options: { cwd?: string } = {}): string {
  const res = spawnSync(cmd, args, { encoding: 'utf8', cwd: options.cwd, maxBuffer: 64 * 1024 * 1024 });
  if (res.error) throw res.error;
  if (res.status !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${res.status}: ${res.stderr}`);
  return res.stdout;
}

export function sha256File(path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const hash = createHash('sha256');
    createReadStream(path)
      .on('data', (c) => hash.update(c))
      .on('error', reject)
      .on('end', () => resolve(`sha256:${hash.digest('hex')}`));
  });
}

export async function sameBytes(a: string, b: string): Promise<boolean> {
  return (await readFile(a)).equals(await readFile(b));
}

/** Every name in a directory tree, relative, sorted: to show that nothing was left behind. */
export async function listTree(root: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (d: string, prefix: string): Promise<void> => {
    for (const e of await readdir(d, { withFileTypes: true })) {
      out.push(prefix + e.name);
      if (e.isDirectory()) await walk(join(d, e.name), `${prefix + e.name}/`);
    }
  };
  await walk(root, '');
  return out.sort();
}

/**
 * The same image, but opening any layer's bytes fires `controller.abort()` as soon as the first
 * chunk passes: an abort in the middle of writing, without timing games.
 */
export function abortingImage(image: Image, controller: AbortController): Image {
  const trip = (stream: Readable): Readable =>
    pipeline(
      stream,
      new Transform({
        transform(chunk: Buffer, _encoding, callback): void {
          controller.abort(new Error('test abort'));
          callback(null, chunk);
        },
      }),
      () => {},
    );
  const wrap = (layer: Layer): Layer => ({
    digest: (o?: IoOptions) => layer.digest(o),
    diffID: (o?: IoOptions) => layer.diffID(o),
    size: (o?: IoOptions) => layer.size(o),
    mediaType: (o?: IoOptions) => layer.mediaType(o),
    compressed: async (o?: IoOptions) => trip(await layer.compressed(o)),
    uncompressed: async (o?: IoOptions) => trip(await layer.uncompressed(o)),
  });
  return {
    mediaType: (o) => image.mediaType(o),
    rawManifest: (o) => image.rawManifest(o),
    manifest: (o) => image.manifest(o),
    digest: (o) => image.digest(o),
    size: (o) => image.size(o),
    rawConfigFile: (o) => image.rawConfigFile(o),
    configFile: (o) => image.configFile(o),
    configName: (o) => image.configName(o),
    layers: async (o) => (await image.layers(o)).map(wrap),
    layerByDigest: async (d, o) => wrap(await image.layerByDigest(d, o)),
  };
}
