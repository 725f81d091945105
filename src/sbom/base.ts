/**
 * A base image's own CycloneDX SBOM (one gantry pushed, or a third party's) as the starting point
 * of an SBOM of an image built on it, so that the base's layers need not be read (nor downloaded).
 * Each component becomes a placeholder file at the path of the database it came from
 * (`gantry:location:0:path`, or syft's `syft:location:0:path`); the layers above then override or
 * hide those paths exactly as they would the real files, and the components whose placeholder
 * survives are kept. A component without a path stands on its ecosystem's database (dpkg status,
 * apk installed), so an upper layer that rewrites that database drops the base's whole list for it
 * (the rewritten database lists what is installed then); other ecosystems without a path are kept.
 */
import type { ImagePackage, PackageFile, PackageHash } from './catalog.js';
import type { PickedFile } from './files.js';

export interface BaseSeed {
  /** Placeholders (empty) plus the base's os-release, rebuilt from its operating-system component. */
  readonly files: readonly PickedFile[];
  /** The base's packages by the placeholder that stands for them. */
  readonly packages: ReadonlyMap<PickedFile, readonly ImagePackage[]>;
}

interface CdxProperty {
  name?: unknown;
  value?: unknown;
}
interface CdxComponent {
  type?: unknown;
  name?: unknown;
  version?: unknown;
  description?: unknown;
  purl?: unknown;
  hashes?: { alg?: unknown; content?: unknown }[];
  licenses?: { license?: { id?: unknown; name?: unknown }; expression?: unknown }[];
  supplier?: { name?: unknown };
  properties?: CdxProperty[];
  components?: CdxComponent[];
}

const DATABASE_OF: Readonly<Record<string, string>> = {
  deb: 'var/lib/dpkg/status',
  apk: 'lib/apk/db/installed',
};
const ALGS: Readonly<Record<string, PackageHash['alg']>> = {
  MD5: 'MD5',
  'SHA-1': 'SHA-1',
  'SHA-256': 'SHA-256',
  'SHA-512': 'SHA-512',
};

function property(c: CdxComponent, ...names: string[]): string | undefined {
  for (const n of names) {
    const p = c.properties?.find((x) => x.name === n);
    if (typeof p?.value === 'string') return p.value;
  }
  return undefined;
}

function hashesOf(c: CdxComponent): PackageHash[] {
  const out: PackageHash[] = [];
  for (const h of c.hashes ?? []) {
    const alg = typeof h.alg === 'string' ? ALGS[h.alg] : undefined;
    if (alg && typeof h.content === 'string' && /^[0-9a-f]+$/i.test(h.content))
      out.push({ alg, content: h.content.toLowerCase() });
  }
  return out;
}

function licensesOf(c: CdxComponent): string[] {
  const out: string[] = [];
  for (const l of c.licenses ?? []) {
    const v = typeof l.expression === 'string' ? l.expression : (l.license?.id ?? l.license?.name);
    if (typeof v === 'string') out.push(v);
  }
  return out;
}

/** The base's packages from its CycloneDX JSON, as a pick seed at `depth` (its layer count); undefined when unreadable. */
export function baseSeed(document: Buffer, depth: number): BaseSeed | undefined {
  let doc: { bomFormat?: unknown; components?: unknown };
  try {
    doc = JSON.parse(document.toString('utf8')) as typeof doc;
  } catch {
    return undefined;
  }
  if (doc.bomFormat !== 'CycloneDX' || !Array.isArray(doc.components)) return undefined;
  const layer = depth - 1;
  const byPath = new Map<string, ImagePackage[]>();
  let osRelease: string | undefined;
  for (const c of doc.components as CdxComponent[]) {
    if (c.type === 'operating-system' && typeof c.name === 'string') {
      osRelease = [
        `ID=${c.name}`,
        ...(typeof c.version === 'string' ? [`VERSION_ID="${c.version}"`] : []),
        ...(typeof c.description === 'string' ? [`PRETTY_NAME="${c.description}"`] : []),
      ].join('\n');
      continue;
    }
    if (typeof c.purl !== 'string' || typeof c.name !== 'string' || typeof c.version !== 'string') continue;
    const type = /^pkg:([a-z0-9.+-]+)\//i.exec(c.purl)?.[1]?.toLowerCase();
    if (type === undefined) continue;
    const located = property(c, 'gantry:location:0:path', 'syft:location:0:path')?.replace(/^\/+/, '');
    // A path-less component of another ecosystem stands on a name no layer can write: it is kept.
    const path = located ?? DATABASE_OF[type] ?? `\u0000sbom/${type}`;
    const files: PackageFile[] = [];
    for (const f of c.components ?? [])
      if (f.type === 'file' && typeof f.name === 'string') files.push({ path: f.name, hashes: hashesOf(f) });
    const supplier = typeof c.supplier?.name === 'string' ? c.supplier.name : undefined;
    const pkg: ImagePackage = {
      ecosystem: type as ImagePackage['ecosystem'],
      name: c.name,
      version: c.version,
      purl: c.purl,
      licenses: licensesOf(c),
      hashes: hashesOf(c),
      files,
      foundIn: path.startsWith('\u0000') ? '' : path,
      layer: Math.min(layer, Number(property(c, 'gantry:location:0:layer') ?? layer) || 0),
      ...(supplier ? { supplier } : {}),
    };
    byPath.set(path, [...(byPath.get(path) ?? []), pkg]);
  }
  const files: PickedFile[] = [];
  const packages = new Map<PickedFile, ImagePackage[]>();
  for (const [path, list] of byPath) {
    const placeholder: PickedFile = { path, data: Buffer.alloc(0), layer };
    files.push(placeholder);
    packages.set(placeholder, list);
  }
  if (osRelease !== undefined && !byPath.has('etc/os-release'))
    files.push({ path: 'etc/os-release', data: Buffer.from(`${osRelease}\n`), layer });
  return { files, packages };
}
