/**
 * Platforms (`os/architecture[/variant]`): parsing the strings users type, normalizing the many
 * spellings of one architecture (uname, Debian and Go names) to the OCI ones, and matching a
 * wanted platform against what an index offers. A missing variant means the architecture's
 * baseline (arm64 = v8, arm = v7, amd64 = v1), as containerd and the Docker CLI treat it.
 */
import { endianness, arch as nodeArch, platform as nodeOs } from 'node:os';
import { GantryError } from '../errors.js';
import type { Platform } from './types.js';

const KNOWN_OS = new Set([
  'linux',
  'windows',
  'darwin',
  'freebsd',
  'netbsd',
  'openbsd',
  'solaris',
  'illumos',
  'aix',
  'android',
]);
const COMPONENT_RE = /^[a-z0-9][a-z0-9._-]*$/;
const DEFAULT_VARIANT: Readonly<Record<string, string>> = { arm64: 'v8', arm: 'v7', amd64: 'v1' };

function invalid(value: string, why: string): GantryError {
  return new GantryError('INVALID_PLATFORM', `invalid platform ${JSON.stringify(value)}: ${why}`, {
    phase: 'usage',
    suggestion: 'write a platform as os/arch[/variant], e.g. linux/amd64 or linux/arm64/v8',
  });
}

/**
 * Parses `linux/arm64/v8`, `linux/amd64`, `arm64` (os linux) or a bare os such as `linux` (host
 * architecture). The result is normalized.
 */
export function parsePlatform(value: string): Platform {
  const text = value.trim().toLowerCase();
  if (text === '') throw invalid(value, 'it is empty');
  const parts = text.split('/');
  if (parts.length > 3) throw invalid(value, 'it has more than three parts');
  for (const part of parts) {
    if (!COMPONENT_RE.test(part)) throw invalid(value, `${JSON.stringify(part)} is not a valid component`);
  }
  const [first, second, third] = parts as [string, string?, string?];
  if (second === undefined) {
    if (KNOWN_OS.has(first)) {
      const host = hostPlatform();
      return normalizePlatform({ ...host, os: first });
    }
    return normalizePlatform({ architecture: first, os: 'linux' });
  }
  return normalizePlatform(
    third === undefined ? { architecture: second, os: first } : { architecture: second, os: first, variant: third },
  );
}

function normalizeVariant(architecture: string, variant: string | undefined): string | undefined {
  if (variant === undefined || variant === '') return undefined;
  const v = variant.toLowerCase();
  if (architecture === 'arm64' && (v === '8' || v === 'v8.0')) return 'v8';
  if (/^\d+$/.test(v) && (architecture === 'arm' || architecture === 'arm64' || architecture === 'amd64')) {
    return `v${v}`;
  }
  return v;
}

/** aarch64->arm64, x86_64/x86-64->amd64, armhf->arm/v7, armel->arm/v6, i386/i686->386, ppc64el->ppc64le. */
export function normalizePlatform(p: Platform): Platform {
  let os = p.os.toLowerCase();
  if (os === 'macos') os = 'darwin';
  let architecture = p.architecture.toLowerCase();
  let variant = p.variant;
  switch (architecture) {
    case 'aarch64':
    case 'arm64':
      architecture = 'arm64';
      break;
    case 'x86_64':
    case 'x86-64':
    case 'x64':
    case 'amd64':
      architecture = 'amd64';
      break;
    case 'i386':
    case 'i486':
    case 'i586':
    case 'i686':
    case 'ia32':
    case 'x86':
    case '386':
      architecture = '386';
      break;
    case 'armhf':
    case 'armv7':
    case 'armv7l':
      architecture = 'arm';
      variant = 'v7';
      break;
    case 'armel':
    case 'armv6':
    case 'armv6l':
      architecture = 'arm';
      variant = 'v6';
      break;
    case 'armv5':
    case 'armv5l':
    case 'armv5tel':
      architecture = 'arm';
      variant = 'v5';
      break;
    case 'ppc64el':
      architecture = 'ppc64le';
      break;
  }
  variant = normalizeVariant(architecture, variant);
  const out: { -readonly [K in keyof Platform]: Platform[K] } = { architecture, os };
  if (variant !== undefined) out.variant = variant;
  if (p['os.version'] !== undefined && p['os.version'] !== '') out['os.version'] = p['os.version'];
  if (p['os.features'] !== undefined && p['os.features'].length > 0) out['os.features'] = [...p['os.features']];
  if (p.features !== undefined && p.features.length > 0) out.features = [...p.features];
  return out;
}

/** `linux/arm64`, `linux/arm/v7`. */
export function formatPlatform(p: Platform): string {
  return p.variant ? `${p.os}/${p.architecture}/${p.variant}` : `${p.os}/${p.architecture}`;
}

/** The platform this process runs on, normalized. */
export function hostPlatform(): Platform {
  const osName = nodeOs();
  const os = osName === 'win32' ? 'windows' : osName === 'sunos' ? 'solaris' : osName;
  const a = nodeArch();
  switch (a) {
    case 'arm': {
      const vars = process.config.variables as unknown as Record<string, unknown>;
      const version = vars.arm_version;
      return normalizePlatform({ architecture: 'arm', os, variant: version ? `v${String(version)}` : 'v7' });
    }
    case 'ppc64':
      return { architecture: endianness() === 'LE' ? 'ppc64le' : 'ppc64', os };
    case 'loong64':
      return { architecture: 'loong64', os };
    default:
      return normalizePlatform({ architecture: a, os });
  }
}

function effectiveVariant(p: Platform): string | undefined {
  return p.variant ?? DEFAULT_VARIANT[p.architecture];
}

/**
 * Does `have` (an image in an index) satisfy `want`? os and architecture must be equal and the
 * variants equal once the baseline is filled in; an architecture with no baseline and no wanted
 * variant matches any variant. `os.version` must match when wanted; wanted features must be present.
 */
export function platformMatches(want: Platform, have: Platform): boolean {
  const w = normalizePlatform(want);
  const h = normalizePlatform(have);
  if (w.os !== h.os || w.architecture !== h.architecture) return false;
  const wv = effectiveVariant(w);
  if (wv !== undefined && wv !== effectiveVariant(h)) return false;
  if (w['os.version'] !== undefined && w['os.version'] !== h['os.version']) return false;
  const subset = (a: readonly string[] | undefined, b: readonly string[] | undefined) =>
    (a ?? []).every((x) => (b ?? []).includes(x));
  return subset(w['os.features'], h['os.features']) && subset(w.features, h.features);
}

/** Same os, architecture, variant (baseline filled in) and os.version. Features are not compared. */
export function samePlatform(a: Platform, b: Platform): boolean {
  const x = normalizePlatform(a);
  const y = normalizePlatform(b);
  return (
    x.os === y.os &&
    x.architecture === y.architecture &&
    effectiveVariant(x) === effectiveVariant(y) &&
    x['os.version'] === y['os.version']
  );
}
