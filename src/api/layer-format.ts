/**
 * The compression of the layers a build writes: `--compression gzip|zstd` and
 * `--compression-level N`, or buildx's `compression=` and `compression-level=` on an image
 * output. One format per build: outputs that disagree with each other or with the flags are a
 * usage error, checked before any work.
 */
import type { OutputSpec } from '../engine/output.js';
import type { LayerFormat } from '../engine/solver/steps.js';
import { GantryError } from '../errors.js';
import { checkZstdLevel } from '../layer/zstd.js';

function usage(
  code: 'INVALID_COMPRESSION' | 'INVALID_COMPRESSION_LEVEL' | 'USAGE',
  message: string,
  suggestion: string,
) {
  return new GantryError(code, message, { phase: 'usage', suggestion });
}

/** Checks `compression` and `level`; gzip at its default level (the unchanged default) is undefined. */
export function layerFormat(compression: string | undefined, level: number | undefined): LayerFormat | undefined {
  if (compression === undefined && level === undefined) return undefined;
  const kind = compression ?? 'gzip';
  if (kind !== 'gzip' && kind !== 'zstd') {
    throw usage('INVALID_COMPRESSION', `unknown layer compression ${JSON.stringify(kind)}`, 'use gzip or zstd');
  }
  if (level !== undefined) {
    if (kind === 'zstd') checkZstdLevel(level);
    else if (!Number.isInteger(level) || level < 0 || level > 9) {
      throw usage(
        'INVALID_COMPRESSION_LEVEL',
        `gzip level ${level} is out of range`,
        'use a gzip level from 1 (fastest) to 9 (smallest), or 0 to store; 6 is the default',
      );
    }
  }
  return { compression: kind, ...(level === undefined ? {} : { level }) };
}

/** The build's layer format from the options and the image outputs' `compression=` fields. */
export function buildLayerFormat(
  options: { readonly compression?: string; readonly compressionLevel?: number },
  outputs: readonly OutputSpec[],
): LayerFormat | undefined {
  const chosen = new Map<string, LayerFormat | undefined>();
  const flags = layerFormat(options.compression, options.compressionLevel);
  if (options.compression !== undefined || options.compressionLevel !== undefined) chosen.set(describe(flags), flags);
  for (const o of outputs) {
    if (o.type === 'local' || o.type === 'tar') continue;
    if (o.compression === undefined && o.compressionLevel === undefined) continue;
    const f = layerFormat(o.compression, o.compressionLevel);
    chosen.set(describe(f), f);
  }
  if (chosen.size > 1) {
    throw usage(
      'USAGE',
      `one build writes its layers one way, and these differ: ${[...chosen.keys()].join(', ')}`,
      'give the same compression= and compression-level= to every output (or use --compression once)',
    );
  }
  return chosen.values().next().value;
}

function describe(f: LayerFormat | undefined): string {
  if (f === undefined) return 'gzip';
  return f.level === undefined ? f.compression : `${f.compression} level ${f.level}`;
}
