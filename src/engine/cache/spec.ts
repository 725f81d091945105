/**
 * `--cache-to` / `--cache-from` as BuildKit writes them: comma-separated `key=value` fields
 * (`type=registry,ref=REF,mode=max`, `type=local,dest=DIR`, `type=local,src=DIR`), or a bare
 * reference for `type=registry,ref=REF`. Checked before any work: a bad spec is a usage error.
 */
import { GantryError } from '../../errors.js';
import { parseReference } from '../../reference/index.js';

export type CacheMode = 'min' | 'max';

export type CacheSpec =
  | {
      readonly type: 'registry';
      /** The cache manifest's reference (`registry/repo:tag`). */
      readonly ref: string;
      readonly mode: CacheMode;
      /** An export that fails is a warning, not a failed build. */
      readonly ignoreError: boolean;
    }
  | {
      readonly type: 'local';
      /** An OCI image layout directory (`dest=` to write, `src=` to read). */
      readonly dir: string;
      /** The name of the cache manifest in the layout's index.json; default `latest`. */
      readonly tag: string;
      readonly mode: CacheMode;
      readonly ignoreError: boolean;
    };

function usage(message: string, suggestion: string): GantryError {
  return new GantryError('USAGE', message, { phase: 'usage', suggestion });
}

/** Fields BuildKit accepts that change nothing here (gantry always writes an OCI image manifest). */
const ACCEPTED = new Set(['oci-mediatypes', 'image-manifest', 'compression', 'compression-level', 'force-compression']);

/** Parses one `--cache-to` (`to`) or `--cache-from` (`from`) value. */
export function parseCacheSpec(value: string, direction: 'to' | 'from'): CacheSpec {
  const flag = `--cache-${direction}`;
  const text = value.trim();
  if (text === '') throw usage(`${flag} is empty`, 'give type=registry,ref=REF or type=local,...');
  const fields = new Map<string, string>();
  if (!text.includes('=')) fields.set('ref', text);
  else {
    for (const part of text.split(',')) {
      const eq = part.indexOf('=');
      if (eq <= 0) throw usage(`${flag} ${value}: ${JSON.stringify(part)} is not KEY=VALUE`, 'write type=...,ref=...');
      fields.set(part.slice(0, eq).trim().toLowerCase(), part.slice(eq + 1).trim());
    }
  }
  const type = fields.get('type') ?? 'registry';
  fields.delete('type');
  const mode = fields.get('mode') ?? 'min';
  fields.delete('mode');
  if (mode !== 'min' && mode !== 'max')
    throw usage(`${flag} ${value}: invalid mode ${mode}`, 'use mode=min or mode=max');
  if (direction === 'from' && mode !== 'min' && text.includes('mode=')) {
    throw usage(`${flag} ${value}: mode is for --cache-to`, 'drop mode= from --cache-from');
  }
  const ignoreError = fields.get('ignore-error') === 'true';
  fields.delete('ignore-error');
  for (const k of ACCEPTED) fields.delete(k);
  if (type === 'registry') {
    const ref = fields.get('ref');
    fields.delete('ref');
    if (!ref) throw usage(`${flag} ${value}: type=registry needs ref=REF`, 'add ref=REGISTRY/REPO:TAG');
    try {
      parseReference(ref);
    } catch (err) {
      throw usage(`${flag} ${value}: ${(err as Error).message}`, 'give ref=REGISTRY/REPO:TAG');
    }
    refuseExtra(flag, value, fields);
    return { type, ref, mode, ignoreError };
  }
  if (type === 'local') {
    const key = direction === 'to' ? 'dest' : 'src';
    const dir = fields.get(key);
    fields.delete(key);
    if (!dir) throw usage(`${flag} ${value}: type=local needs ${key}=DIR`, `add ${key}=DIR`);
    const tag = fields.get('tag') ?? 'latest';
    fields.delete('tag');
    refuseExtra(flag, value, fields);
    return { type, dir, tag, mode, ignoreError };
  }
  throw usage(
    `${flag} ${value}: cache type ${JSON.stringify(type)} is not supported`,
    'use type=registry,ref=REF or type=local',
  );
}

function refuseExtra(flag: string, value: string, fields: ReadonlyMap<string, string>): void {
  const [extra] = fields.keys();
  if (extra !== undefined) throw usage(`${flag} ${value}: unknown field ${extra}`, 'see gantry build --help');
}
