/**
 * Go build information, as `go version -m` reads it: an executable built by Go 1.18 or later holds
 * a `.go.buildinfo` section that starts with the 14-byte magic `\xff Go buildinf:`, a pointer size,
 * flags (bit 2: the strings are inline), 16 more header bytes, then two varint-prefixed strings: the
 * Go version and the module information (`path`, `mod`, `dep` and `=>` lines between two 16-byte
 * sentinels). Only executables under the usual bin directories are looked at, their bytes streamed
 * past a search for the magic (nothing held but the section); older binaries (pointers instead of
 * inline strings) are skipped.
 */
import type { ImagePackage, PackageHash } from './catalog.js';
import type { PickedFile } from './files.js';

const MAGIC = Buffer.from('\xff Go buildinf:', 'latin1');
const ELF = Buffer.from('\x7fELF', 'latin1');
/** Room kept after the magic for the two strings (module lists of big programs are tens of KiB). */
const MAX_INFO = 1024 * 1024;
/** What the extracted section is stored as (a picked file's data), so the catalog knows it. */
const STORED = Buffer.from('gantry-go-buildinfo\u0000');

/** Executables in the bin directories images put programs in (ko's /ko-app too). */
const GO_BIN =
  /^(?:(?:usr\/(?:local\/)?)?s?bin|(?:usr\/local\/go|usr\/lib\/go[^/]*|go|root\/go|home\/[^/]+\/go)\/bin|ko-app)\/[^/]+$/;

export function isGoCandidate(path: string): boolean {
  return GO_BIN.test(path);
}

function uvarint(buf: Buffer, at: number): [value: number, next: number] | undefined {
  let value = 0;
  let shift = 0;
  for (let i = at; i < buf.length && i < at + 10; i++) {
    const b = buf[i] as number;
    value += (b & 0x7f) * 2 ** shift;
    if (b < 0x80) return [value, i + 1];
    shift += 7;
  }
  return undefined;
}

/** The Go version and module info from the bytes that start at the magic; undefined for other layouts. */
export function parseBuildInfo(section: Buffer): { goVersion: string; modinfo: string } | undefined {
  if (section.length < 33 || !section.subarray(0, MAGIC.length).equals(MAGIC)) return undefined;
  const flags = section[15] as number;
  if ((flags & 2) === 0) return undefined; // before Go 1.18: pointers into the data segment
  const version = uvarint(section, 32);
  if (!version || version[1] + version[0] > section.length) return undefined;
  const goVersion = section.subarray(version[1], version[1] + version[0]).toString('utf8');
  const mod = uvarint(section, version[1] + version[0]);
  if (!mod || mod[1] + mod[0] > section.length) return undefined;
  let modinfo = section.subarray(mod[1], mod[1] + mod[0]).toString('latin1');
  modinfo = modinfo.length >= 33 && modinfo[modinfo.length - 17] === '\n' ? modinfo.slice(16, -16) : '';
  return { goVersion, modinfo: Buffer.from(modinfo, 'latin1').toString('utf8') };
}

/**
 * Reads an executable's body up to its build info: the stored form of it, or undefined (not ELF,
 * not Go, or an older Go). The rest of the body is left to the tar reader to skip.
 */
export async function extractBuildInfo(body: AsyncIterable<unknown>): Promise<Buffer | undefined> {
  let window = Buffer.alloc(0);
  let first = true;
  let state: 'searching' | 'found' | 'done' = 'searching';
  // Every chunk is consumed (leaving the loop early would destroy the tar reader's stream).
  for await (const c of body) {
    if (state === 'done') continue;
    const chunk = c as Buffer;
    if (first) {
      first = false;
      if (!chunk.subarray(0, 4).equals(ELF)) {
        state = 'done';
        continue;
      }
    }
    window = Buffer.concat([window, chunk]);
    if (state === 'searching') {
      const at = window.indexOf(MAGIC);
      // Keep only a tail that could hold the start of the magic.
      if (at < 0) window = window.subarray(Math.max(0, window.length - (MAGIC.length - 1)));
      else {
        window = window.subarray(at);
        state = 'found';
      }
    }
    if (state === 'found' && window.length >= MAX_INFO) state = 'done';
  }
  if (window.length < MAGIC.length || !window.subarray(0, MAGIC.length).equals(MAGIC)) return undefined;
  const info = parseBuildInfo(window.subarray(0, MAX_INFO));
  return info ? Buffer.concat([STORED, Buffer.from(JSON.stringify(info))]) : undefined;
}

function purlPath(path: string): string {
  return path
    .split('/')
    .map((s) => encodeURIComponent(s))
    .join('/');
}

/** `h1:<base64 sha256>` as a hash. */
function h1(sum: string | undefined): PackageHash[] {
  if (!sum?.startsWith('h1:')) return [];
  const hex = Buffer.from(sum.slice(3), 'base64').toString('hex');
  return hex.length === 64 ? [{ alg: 'SHA-256', content: hex }] : [];
}

/** The modules of a Go executable (its main module, dependencies as replaced, and the Go standard library). */
export function goPackages(file: PickedFile): ImagePackage[] {
  if (!file.data.subarray(0, STORED.length).equals(STORED)) return [];
  let info: { goVersion: string; modinfo: string };
  try {
    info = JSON.parse(file.data.subarray(STORED.length).toString('utf8')) as typeof info;
  } catch {
    return [];
  }
  const out: ImagePackage[] = [];
  const add = (name: string, version: string, sum?: string) => {
    out.push({
      ecosystem: 'golang',
      name,
      version,
      purl: `pkg:golang/${purlPath(name)}@${encodeURIComponent(version)}`,
      licenses: [],
      hashes: h1(sum),
      files: [],
      foundIn: file.path,
      layer: file.layer,
    });
  };
  for (const line of info.modinfo.split('\n')) {
    const [kind, path, version, sum] = line.split('\t');
    if (!path || !version) continue;
    if (kind === 'mod' || kind === 'dep') add(path, version, sum);
    else if (kind === '=>' && out.length > 0) {
      // A replacement of the line before: the module that is really in the binary.
      out.pop();
      add(path, version, sum);
    }
  }
  const go = /^go(\d+(?:\.\d+)*)/.exec(info.goVersion)?.[1];
  if (go) add('stdlib', go);
  return out;
}
