/**
 * What an image contains, read from the package databases it carries: dpkg (`status`, and
 * `status.d/*` as distroless writes it), Alpine's apk `installed` db, Python distributions
 * (`*.dist-info/METADATA` with RECORD hashes, `*.egg-info`), npm packages
 * (`node_modules/<name>/package.json`, with the integrity hashes of `node_modules/.package-lock.json`),
 * the modules of Go executables (see ./golang.ts), and the distribution from os-release. Nothing is guessed: a package is listed only when a
 * database says it is installed.
 */
import { posix } from 'node:path';
import type { PickedFile } from './files.js';
import { goPackages, isGoCandidate } from './golang.js';

export type HashAlgorithm = 'MD5' | 'SHA-1' | 'SHA-256' | 'SHA-512';

export interface PackageHash {
  readonly alg: HashAlgorithm;
  /** Lower-case hex. */
  readonly content: string;
}

export interface PackageFile {
  readonly path: string;
  readonly hashes: readonly PackageHash[];
}

export interface ImagePackage {
  /** deb, apk, pypi, npm, golang; or a purl type from a base image's SBOM. */
  readonly ecosystem: string;
  readonly name: string;
  readonly version: string;
  readonly purl: string;
  /** License names or SPDX expressions as the database gives them. */
  readonly licenses: readonly string[];
  readonly hashes: readonly PackageHash[];
  /** Files with their hashes, when the database lists them (Python RECORD). */
  readonly files: readonly PackageFile[];
  /** The database file the package was found in ('' when a base image's SBOM did not say). */
  readonly foundIn: string;
  readonly layer: number;
  readonly arch?: string;
  readonly supplier?: string;
}

export interface OsRelease {
  readonly id: string;
  readonly versionId?: string;
  readonly name?: string;
  readonly prettyName?: string;
}

export interface Catalog {
  readonly os?: OsRelease;
  readonly packages: readonly ImagePackage[];
}

const DPKG_STATUS = 'var/lib/dpkg/status';
const DPKG_STATUS_D = 'var/lib/dpkg/status.d/';
const APK_DB = 'lib/apk/db/installed';
const OS_RELEASE = ['etc/os-release', 'usr/lib/os-release'];
const NPM_MANIFEST = /(?:^|\/)node_modules\/(?:@[^/]+\/)?[^/@.][^/]*\/package\.json$/;
const NPM_LOCK = /(?:^|\/)node_modules\/\.package-lock\.json$/;

/** The paths `catalog` reads: give this to `pickFiles`. */
export function wantedForSbom(path: string): boolean {
  if (path === DPKG_STATUS || path === APK_DB || OS_RELEASE.includes(path)) return true;
  if (path.startsWith(DPKG_STATUS_D))
    return !path.endsWith('.md5sums') && !path.slice(DPKG_STATUS_D.length).includes('/');
  if (path.endsWith('.dist-info/METADATA') || path.endsWith('.dist-info/RECORD')) return true;
  if (path.endsWith('.egg-info/PKG-INFO') || path.endsWith('.egg-info')) return true;
  return NPM_MANIFEST.test(path) || NPM_LOCK.test(path);
}

/** Debian control stanzas (dpkg status, apk-style continuation lines folded). */
function stanzas(text: string): Map<string, string>[] {
  const out: Map<string, string>[] = [];
  for (const block of text.split(/\n\s*\n/)) {
    const fields = new Map<string, string>();
    let last: string | undefined;
    for (const line of block.split('\n')) {
      if (/^[ \t]/.test(line) && last !== undefined) {
        fields.set(last, `${fields.get(last) ?? ''}\n${line.trim()}`);
        continue;
      }
      const m = /^([A-Za-z0-9-]+):\s?(.*)$/.exec(line);
      if (!m) continue;
      last = (m[1] as string).toLowerCase();
      fields.set(last, (m[2] as string).trim());
    }
    if (fields.size > 0) out.push(fields);
  }
  return out;
}

function purlName(s: string): string {
  return encodeURIComponent(s).replace(/%2F/gi, '/');
}

function qualifiers(q: Record<string, string | undefined>): string {
  const parts = Object.entries(q)
    .filter((e): e is [string, string] => e[1] !== undefined && e[1] !== '')
    .sort(([a], [b]) => (a < b ? -1 : 1))
    .map(([k, v]) => `${k}=${encodeURIComponent(v)}`);
  return parts.length > 0 ? `?${parts.join('&')}` : '';
}

function osRelease(files: readonly PickedFile[]): OsRelease | undefined {
  const file = OS_RELEASE.map((p) => files.find((f) => f.path === p)).find((f) => f !== undefined);
  if (!file) return undefined;
  const values = new Map<string, string>();
  for (const line of file.data.toString('utf8').split('\n')) {
    const m = /^([A-Z_]+)=(.*)$/.exec(line.trim());
    if (m) values.set(m[1] as string, (m[2] as string).replace(/^(["'])(.*)\1$/, '$2'));
  }
  const id = values.get('ID');
  if (!id) return undefined;
  const versionId = values.get('VERSION_ID');
  const name = values.get('NAME');
  const prettyName = values.get('PRETTY_NAME');
  return {
    id,
    ...(versionId ? { versionId } : {}),
    ...(name ? { name } : {}),
    ...(prettyName ? { prettyName } : {}),
  };
}

function dpkg(file: PickedFile, os: OsRelease | undefined, requireStatus: boolean): ImagePackage[] {
  const vendor = os?.id ?? 'debian';
  const distro = os?.versionId ? `${vendor}-${os.versionId}` : undefined;
  const out: ImagePackage[] = [];
  for (const f of stanzas(file.data.toString('utf8'))) {
    const name = f.get('package');
    const version = f.get('version');
    if (!name || !version) continue;
    const status = f.get('status');
    // "install ok installed": anything else (config-files, half-installed, deinstall) is not there.
    if (status !== undefined ? status.split(/\s+/)[2] !== 'installed' : requireStatus) continue;
    const arch = f.get('architecture');
    const source = f.get('source')?.split(/\s+/)[0];
    const maintainer = f.get('maintainer');
    out.push({
      ecosystem: 'deb',
      name,
      version,
      purl: `pkg:deb/${vendor}/${purlName(name)}@${encodeURIComponent(version)}${qualifiers({
        arch,
        distro,
        upstream: source && source !== name ? source : undefined,
      })}`,
      licenses: [],
      hashes: [],
      files: [],
      foundIn: file.path,
      layer: file.layer,
      ...(arch ? { arch } : {}),
      ...(maintainer ? { supplier: maintainer } : {}),
    });
  }
  return out;
}

function apk(file: PickedFile, os: OsRelease | undefined): ImagePackage[] {
  const vendor = os?.id ?? 'alpine';
  const out: ImagePackage[] = [];
  for (const block of file.data.toString('utf8').split(/\n\s*\n/)) {
    const f = new Map<string, string>();
    for (const line of block.split('\n')) {
      const m = /^([A-Za-z]):(.*)$/.exec(line);
      if (m && !f.has(m[1] as string)) f.set(m[1] as string, m[2] as string);
    }
    const name = f.get('P');
    const version = f.get('V');
    if (!name || !version) continue;
    const arch = f.get('A');
    const license = f.get('L');
    const checksum = f.get('C');
    const hashes: PackageHash[] = [];
    // Q1 + base64 SHA-1 of the package's control section, as apk records it.
    if (checksum?.startsWith('Q1')) {
      const hex = Buffer.from(checksum.slice(2), 'base64').toString('hex');
      if (hex.length === 40) hashes.push({ alg: 'SHA-1', content: hex });
    }
    const maintainer = f.get('m');
    out.push({
      ecosystem: 'apk',
      name,
      version,
      purl: `pkg:apk/${vendor}/${purlName(name)}@${encodeURIComponent(version)}${qualifiers({
        arch,
        distro: os?.versionId ? `${vendor}-${os.versionId}` : undefined,
      })}`,
      licenses: license ? [license] : [],
      hashes,
      files: [],
      foundIn: file.path,
      layer: file.layer,
      ...(arch ? { arch } : {}),
      ...(maintainer ? { supplier: maintainer } : {}),
    });
  }
  return out;
}

/** Headers of a Python core-metadata file (METADATA, PKG-INFO); the body after the blank line is ignored. */
function coreMetadata(text: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  let last: string | undefined;
  for (const line of text.split('\n')) {
    if (line.trim() === '') break;
    if (/^[ \t]/.test(line) && last !== undefined) continue;
    const m = /^([A-Za-z0-9-]+):\s?(.*)$/.exec(line);
    if (!m) continue;
    last = (m[1] as string).toLowerCase();
    out.set(last, [...(out.get(last) ?? []), (m[2] as string).trim()]);
  }
  return out;
}

function pythonLicenses(meta: Map<string, string[]>): string[] {
  const expression = meta.get('license-expression')?.[0];
  if (expression) return [expression];
  const classifiers = (meta.get('classifier') ?? [])
    .filter((c) => c.startsWith('License ::'))
    .map((c) => c.split('::').pop()?.trim() ?? '')
    .filter((c) => c !== '' && c !== 'OSI Approved');
  if (classifiers.length > 0) return classifiers;
  const license = meta.get('license')?.[0];
  return license && license !== 'UNKNOWN' && !license.includes('\n') && license.length < 200 ? [license] : [];
}

/** RECORD lines `path,sha256=<urlsafe base64>,size`, hashes as hex. */
function record(text: string, siteDir: string): PackageFile[] {
  const out: PackageFile[] = [];
  for (const line of text.split('\n')) {
    const m = /^("(?:[^"]|"")*"|[^,]*),([a-z0-9]+)=([A-Za-z0-9_-]+),/.exec(line);
    if (!m) continue;
    const rel = (m[1] as string).replace(/^"(.*)"$/, '$1').replace(/""/g, '"');
    const alg = m[2] === 'sha256' ? 'SHA-256' : m[2] === 'sha512' ? 'SHA-512' : undefined;
    if (!alg) continue;
    const content = Buffer.from(m[3] as string, 'base64url').toString('hex');
    out.push({ path: posix.normalize(posix.join(siteDir, rel)), hashes: [{ alg, content }] });
  }
  return out;
}

function python(files: readonly PickedFile[]): ImagePackage[] {
  const byPath = new Map(files.map((f) => [f.path, f]));
  const out: ImagePackage[] = [];
  for (const f of files) {
    let metaText: string;
    let recordFile: PickedFile | undefined;
    if (f.path.endsWith('.dist-info/METADATA')) {
      metaText = f.data.toString('utf8');
      recordFile = byPath.get(`${posix.dirname(f.path)}/RECORD`);
    } else if (f.path.endsWith('.egg-info/PKG-INFO') || f.path.endsWith('.egg-info')) {
      metaText = f.data.toString('utf8');
    } else continue;
    const meta = coreMetadata(metaText);
    const name = meta.get('name')?.[0];
    const version = meta.get('version')?.[0];
    if (!name || !version) continue;
    const normalized = name.toLowerCase().replace(/[-_.]+/g, '-');
    const siteDir = posix.dirname(f.path.endsWith('.egg-info') ? f.path : posix.dirname(f.path));
    out.push({
      ecosystem: 'pypi',
      name,
      version,
      purl: `pkg:pypi/${purlName(normalized)}@${encodeURIComponent(version)}`,
      licenses: pythonLicenses(meta),
      hashes: [],
      files: recordFile ? record(recordFile.data.toString('utf8'), siteDir) : [],
      foundIn: f.path,
      layer: f.layer,
    });
  }
  return out;
}

/** `integrity` of every package a `node_modules/.package-lock.json` lists, by package directory in the image. */
function npmIntegrity(files: readonly PickedFile[]): Map<string, PackageHash[]> {
  const out = new Map<string, PackageHash[]>();
  for (const f of files) {
    if (!NPM_LOCK.test(f.path)) continue;
    let lock: { packages?: Record<string, { integrity?: unknown }> };
    try {
      lock = JSON.parse(f.data.toString('utf8')) as typeof lock;
    } catch {
      continue;
    }
    const root = posix.dirname(posix.dirname(f.path));
    for (const [key, value] of Object.entries(lock.packages ?? {})) {
      if (typeof value?.integrity !== 'string') continue;
      const hashes: PackageHash[] = [];
      for (const sri of value.integrity.split(/\s+/)) {
        const m = /^(sha1|sha256|sha512)-([A-Za-z0-9+/=]+)$/.exec(sri);
        if (!m) continue;
        const alg = m[1] === 'sha1' ? 'SHA-1' : m[1] === 'sha256' ? 'SHA-256' : 'SHA-512';
        hashes.push({ alg, content: Buffer.from(m[2] as string, 'base64').toString('hex') });
      }
      out.set(root === '.' ? key : `${root}/${key}`, hashes);
    }
  }
  return out;
}

function npmLicenses(pkg: { license?: unknown; licenses?: unknown }): string[] {
  const one = (l: unknown): string | undefined =>
    typeof l === 'string'
      ? l
      : typeof (l as { type?: unknown })?.type === 'string'
        ? (l as { type: string }).type
        : undefined;
  const direct = one(pkg.license);
  if (direct) return [direct];
  return Array.isArray(pkg.licenses) ? pkg.licenses.map(one).filter((l): l is string => l !== undefined) : [];
}

function npm(files: readonly PickedFile[]): ImagePackage[] {
  const integrity = npmIntegrity(files);
  const out: ImagePackage[] = [];
  for (const f of files) {
    if (!NPM_MANIFEST.test(f.path)) continue;
    let pkg: { name?: unknown; version?: unknown; license?: unknown; licenses?: unknown; author?: unknown };
    try {
      pkg = JSON.parse(f.data.toString('utf8')) as typeof pkg;
    } catch {
      continue;
    }
    if (typeof pkg.name !== 'string' || typeof pkg.version !== 'string' || pkg.name === '' || pkg.version === '')
      continue;
    const [scope, bare] = pkg.name.startsWith('@') ? pkg.name.split('/', 2) : [undefined, pkg.name];
    const purl = `pkg:npm/${scope ? `${encodeURIComponent(scope)}/` : ''}${encodeURIComponent(bare ?? '')}@${encodeURIComponent(pkg.version)}`;
    out.push({
      ecosystem: 'npm',
      name: pkg.name,
      version: pkg.version,
      purl,
      licenses: npmLicenses(pkg),
      hashes: integrity.get(posix.dirname(f.path)) ?? [],
      files: [],
      foundIn: f.path,
      layer: f.layer,
    });
  }
  return out;
}

/** The packages the picked files describe, in a stable order (ecosystem, name, version, where). */
export function catalog(files: readonly PickedFile[]): Catalog {
  const os = osRelease(files);
  const packages: ImagePackage[] = [];
  for (const f of files) {
    if (f.path === DPKG_STATUS) packages.push(...dpkg(f, os, true));
    else if (f.path.startsWith(DPKG_STATUS_D)) packages.push(...dpkg(f, os, false));
    else if (f.path === APK_DB) packages.push(...apk(f, os));
    else if (isGoCandidate(f.path)) packages.push(...goPackages(f));
  }
  packages.push(...python(files), ...npm(files));
  const key = (p: ImagePackage) => `${p.ecosystem}\u0000${p.name}\u0000${p.version}\u0000${p.foundIn}`;
  packages.sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));
  return { ...(os ? { os } : {}), packages };
}
