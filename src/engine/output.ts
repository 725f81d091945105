/**
 * Build outputs, named as docker buildx names them: `--output type=oci|docker|local|tar,dest=...`
 * (CSV of key=value; a bare path means type=local). The store output is implicit in `-t`.
 * Every file output is written under a temp name and renamed, so a failed build leaves nothing.
 * `dest=-` (and `-o -`, buildx's shorthand for type=tar,dest=-) writes a tar output to stdout.
 */
import { join } from 'node:path';
import type { Writable } from 'node:stream';
import { GantryError, type IoOptions } from '../errors.js';
import { type Image, type ImageIndex, isImageIndex } from '../oci/image.js';
import { formatPlatform } from '../oci/platform.js';

/**
 * buildx's `compression=` and `compression-level=` of an image output: here they choose how the
 * build writes its layers (one format per build), as `--compression` and `--compression-level` do.
 */
export interface OutputCompression {
  readonly compression?: string;
  readonly compressionLevel?: number;
}

export type OutputSpec =
  | ({ readonly type: 'oci'; readonly dest: string; readonly tar: boolean; readonly name?: string } & OutputCompression)
  | ({ readonly type: 'docker'; readonly dest: string; readonly name?: string } & OutputCompression)
  | { readonly type: 'local'; readonly dest: string }
  | { readonly type: 'tar'; readonly dest: string }
  /** Push to a registry under `name` (default: every -t name); `type=image,push=true` is the same. */
  | ({ readonly type: 'registry'; readonly name?: string } & OutputCompression);

function compressionOf(attrs: ReadonlyMap<string, string>, type: string): OutputCompression {
  const compression = attrs.get('compression');
  const level = attrs.get('compression-level');
  if ((compression !== undefined || level !== undefined) && (type === 'local' || type === 'tar')) {
    throw usage(`--output type=${type} has no layers to compress`, 'drop compression= and compression-level=');
  }
  if (level !== undefined && !/^-?\d+$/.test(level)) {
    throw usage(`invalid compression-level=${level}`, 'give a whole number (gzip 0-9, zstd 1-22)');
  }
  return {
    ...(compression !== undefined ? { compression } : {}),
    ...(level !== undefined ? { compressionLevel: Number(level) } : {}),
  };
}

function usage(message: string, suggestion: string): GantryError {
  return new GantryError('INVALID_OUTPUT', message, { phase: 'usage', suggestion });
}

/** Parses one `--output` value. */
export function parseOutput(spec: string): OutputSpec {
  const text = spec.trim();
  if (text === '') throw usage('empty --output', 'give type=TYPE,dest=PATH');
  if (text === '-') return { type: 'tar', dest: '-' };
  if (!text.includes('=')) return { type: 'local', dest: text };
  const attrs = new Map<string, string>();
  for (const part of text.split(',')) {
    const eq = part.indexOf('=');
    if (eq <= 0) throw usage(`invalid --output field ${JSON.stringify(part)}`, 'use comma-separated key=value pairs');
    attrs.set(part.slice(0, eq).trim().toLowerCase(), part.slice(eq + 1).trim());
  }
  const type = attrs.get('type') ?? 'local';
  const dest = attrs.get('dest');
  const known = new Set(['type', 'dest', 'tar', 'name', 'push', 'compression', 'compression-level']);
  for (const key of attrs.keys()) {
    if (!known.has(key))
      throw usage(
        `unknown --output attribute ${key}`,
        'known attributes: type, dest, tar, name, push, compression, compression-level',
      );
  }
  const name = attrs.get('name');
  const packing = compressionOf(attrs, type);
  if (type === 'registry' || (type === 'image' && attrs.get('push') === 'true')) {
    return { type: 'registry', ...(name ? { name } : {}), ...packing };
  }
  if (type === 'image') {
    throw usage('type=image stores the image, which -t already does', 'use -t NAME, or type=image,push=true to push');
  }
  if (!dest) throw usage(`--output type=${type} needs dest=PATH`, `add dest=PATH, e.g. type=${type},dest=out`);
  if (dest === '-' && (type === 'local' || (type === 'oci' && attrs.get('tar') === 'false'))) {
    throw usage(
      `--output type=${type}${type === 'oci' ? ',tar=false' : ''} is a directory and cannot go to stdout`,
      'use type=tar,dest=- or type=oci,dest=- for a tar on stdout',
    );
  }
  switch (type) {
    case 'oci': {
      const tar = attrs.get('tar') ?? 'true';
      if (tar !== 'true' && tar !== 'false') throw usage(`invalid tar=${tar}`, 'use tar=true or tar=false');
      return { type, dest, tar: tar === 'true', ...(name ? { name } : {}), ...packing };
    }
    case 'docker':
      return { type, dest, ...(name ? { name } : {}), ...packing };
    case 'local':
    case 'tar':
      return { type, dest };
    default:
      throw usage(
        `unknown output type ${JSON.stringify(type)}`,
        'use type=oci, type=docker, type=local, type=tar or type=registry',
      );
  }
}

/** True when the output is a tar written to stdout (`dest=-`). */
export function toStdout(spec: OutputSpec): boolean {
  return spec.type !== 'registry' && spec.dest === '-';
}

export interface WriteOutputOptions extends IoOptions {
  /** Where `dest=-` goes (the CLI's stdout); without it such an output is refused. */
  readonly stdout?: Writable;
  /** Annotations of the image's descriptor in an OCI layout's index.json (`--annotation index-descriptor:`). */
  readonly descriptorAnnotations?: Readonly<Record<string, string>>;
}

/** Writes `item` to one output. `names` are the full references the image is tagged with. */
export async function writeOutput(
  item: Image | ImageIndex,
  spec: OutputSpec,
  names: readonly string[],
  writeOptions: WriteOutputOptions = {},
  /** Artifacts referring to the image (SBOM, provenance), stored beside it in an OCI layout. */
  artifacts: readonly { readonly item: Image; readonly artifactType: string }[] = [],
): Promise<void> {
  const { stdout, ...options } = writeOptions;
  if (toStdout(spec) && !stdout) {
    throw new GantryError('OUTPUT_NO_STDOUT', 'dest=- writes to stdout, and this call has none', {
      phase: 'usage',
      suggestion: 'pass the stream to write to as `stdout`, or give a file as dest',
    });
  }
  const file = toStdout(spec) ? (stdout as Writable) : spec.type === 'registry' ? '' : spec.dest;
  // The archive writers (tar, gzip, rootfs export) load with the first output that needs them.
  const { exportRootfs, writeDockerArchive, writeOciArchive } = await import('../layer/archive/index.js');
  switch (spec.type) {
    case 'registry':
      throw new GantryError('REGISTRY_OUTPUT', 'type=registry is pushed by the caller, with a registry client', {
        phase: 'export',
        suggestion: 'use pushImage from the registry module',
      });
    case 'oci':
      await writeOciArchive(
        [
          {
            item,
            names: spec.name ? [spec.name] : names,
            ...(options.descriptorAnnotations ? { annotations: options.descriptorAnnotations } : {}),
          },
          ...artifacts.map((a) => ({ ...a, names: [] })),
        ],
        file,
        { ...(options.signal ? { signal: options.signal } : {}), tar: spec.tar },
      );
      return;
    case 'docker':
      if (isImageIndex(item)) {
        throw new GantryError(
          'DOCKER_ARCHIVE_NEEDS_PLATFORM',
          'a docker-archive holds one platform, and this build made several',
          {
            phase: 'export',
            suggestion: 'build with a single --platform for type=docker, or use type=oci',
          },
        );
      }
      await writeDockerArchive([{ image: item, names: spec.name ? [spec.name] : names }], file, options);
      return;
    case 'local':
    case 'tar': {
      const format = spec.type === 'local' ? 'dir' : 'tar';
      if (!isImageIndex(item)) {
        await exportRootfs(item, file, { ...options, format });
        return;
      }
      if (spec.type === 'tar') {
        throw new GantryError('TAR_NEEDS_PLATFORM', 'type=tar holds one root filesystem, and this build made several', {
          phase: 'export',
          suggestion: 'build with a single --platform for type=tar, or use type=local (one directory per platform)',
        });
      }
      // As buildx does: one directory per platform, named os_arch[_variant].
      const index = await item.indexManifest(options);
      for (const desc of index.manifests) {
        const platform = desc.platform;
        if (!platform) continue;
        const image = await item.image(desc.digest, options);
        await exportRootfs(image, join(spec.dest, formatPlatform(platform).replaceAll('/', '_')), {
          ...options,
          format,
        });
      }
      return;
    }
  }
}
