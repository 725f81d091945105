/**
 * Handing an image to a vulnerability scanner that is installed (grype, trivy or osv-scanner, on
 * PATH or named by path): gantry writes the image's SBOM (the attached one, else made from the
 * image) or the image as an OCI layout into a temp dir, runs the scanner on it with the caller's
 * streams, and returns its exit code. gantry itself scans nothing.
 */
import { spawn } from 'node:child_process';
import { constants } from 'node:fs';
import { access, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, delimiter, join } from 'node:path';
import type { Writable } from 'node:stream';
import { openImage, writeImage } from '../engine/source.js';
import { GantryError } from '../errors.js';
import { callerLocation } from './input.js';
import { type CommonOptions, sessionOf } from './session.js';
import { sbom } from './supply.js';
import { locationsFor, type PlatformOption, pickPlatform, platformOf } from './transfer.js';

export const SCANNERS = ['grype', 'trivy', 'osv-scanner'] as const;
export type ScannerKind = (typeof SCANNERS)[number];

export interface ScanOptions extends CommonOptions, PlatformOption {
  /** A scanner name (grype, trivy, osv-scanner) or the path of one; default the first found on PATH. */
  readonly scanner?: string;
  /** What the scanner reads: the SBOM (default) or the image as an OCI layout. */
  readonly input?: 'sbom' | 'layout';
  /** More arguments for the scanner, after gantry's. */
  readonly args?: readonly string[];
  readonly stdout?: Writable;
  readonly stderr?: Writable;
  /** Where to look for scanners; default $PATH. */
  readonly path?: string;
}

export interface ScanResult {
  readonly scanner: ScannerKind;
  readonly command: readonly string[];
  readonly exitCode: number;
}

function scanError(code: string, message: string, suggestion: string, phase: 'usage' | 'supply' = 'supply') {
  return new GantryError(code, message, { phase, suggestion });
}

async function executable(path: string): Promise<boolean> {
  return access(path, constants.X_OK).then(
    () => true,
    () => false,
  );
}

function kindOf(name: string): ScannerKind | undefined {
  const base = basename(name);
  return SCANNERS.find((s) => base === s || base.startsWith(`${s}-`) || base.startsWith(`${s}.`));
}

/** The scanner to run: the one named, else the first of SCANNERS on PATH. */
export async function findScanner(
  wanted: string | undefined,
  pathVar: string = process.env.PATH ?? '',
): Promise<{ kind: ScannerKind; path: string }> {
  const dirs = pathVar.split(delimiter).filter((d) => d !== '');
  const onPath = async (name: string) => {
    for (const d of dirs) if (await executable(join(d, name))) return join(d, name);
    return undefined;
  };
  if (wanted !== undefined) {
    const kind = kindOf(wanted);
    if (!kind) {
      throw scanError(
        'SCANNER_UNKNOWN',
        `${wanted} is not a scanner gantry knows`,
        `name grype, trivy or osv-scanner (or a path to one)`,
        'usage',
      );
    }
    const path = wanted.includes('/') ? ((await executable(wanted)) ? wanted : undefined) : await onPath(wanted);
    if (!path)
      throw scanError(
        'SCANNER_NOT_FOUND',
        `${wanted} is not installed or not executable`,
        'install it, or give its path with --scanner',
      );
    return { kind, path };
  }
  for (const s of SCANNERS) {
    const path = await onPath(s);
    if (path) return { kind: s, path };
  }
  throw scanError(
    'SCANNER_NOT_FOUND',
    'no vulnerability scanner found on PATH',
    'install grype, trivy or osv-scanner (gantry supports these three), or give one with --scanner PATH',
  );
}

/** The arguments each scanner takes for an SBOM file or an OCI layout directory. */
function commandFor(kind: ScannerKind, input: 'sbom' | 'layout', file: string): string[] {
  if (input === 'sbom') {
    if (kind === 'grype') return [`sbom:${file}`];
    if (kind === 'trivy') return ['sbom', file];
    return [`--sbom=${file}`];
  }
  if (kind === 'grype') return [`oci-dir:${file}`];
  if (kind === 'trivy') return ['image', '--input', file];
  throw scanError(
    'SCANNER_INPUT',
    'osv-scanner does not read OCI layouts',
    'scan the SBOM (the default input)',
    'usage',
  );
}

/** Runs the scanner on the image's SBOM or layout and returns its exit code. */
export async function scan(image: string, options: ScanOptions = {}): Promise<ScanResult> {
  const input = options.input ?? 'sbom';
  if (input !== 'sbom' && input !== 'layout') {
    throw scanError('USAGE', `invalid scan input ${String(input)}`, 'use sbom or layout', 'usage');
  }
  const scanner = await findScanner(options.scanner, options.path);
  const dir = await mkdtemp(join(tmpdir(), 'gantry-scan-'));
  try {
    let target: string;
    if (input === 'sbom') {
      const doc = await sbom(image, { ...options, format: 'cyclonedx' });
      target = join(dir, 'sbom.cdx.json');
      await writeFile(target, doc.bytes);
    } else {
      target = join(dir, 'layout');
      const loc = callerLocation(image);
      const lc = await locationsFor(sessionOf(options), options.progress, loc);
      const io = options.signal ? { signal: options.signal } : {};
      const src = await openImage(loc, lc, io);
      try {
        const item = await pickPlatform(src.item, platformOf(options.platform), false, options.signal);
        await writeImage(item, { kind: 'oci', path: target, tag: 'scan' }, lc, io);
      } finally {
        await src.close();
      }
    }
    const args = [...commandFor(scanner.kind, input, target), ...(options.args ?? [])];
    const exitCode = await new Promise<number>((resolveRun, reject) => {
      const child = spawn(scanner.path, args, { stdio: ['ignore', 'pipe', 'pipe'], signal: options.signal });
      child.stdout.on('data', (c: Buffer) => options.stdout?.write(c));
      child.stderr.on('data', (c: Buffer) => options.stderr?.write(c));
      child.on('error', reject);
      child.on('close', (code, sig) => resolveRun(code ?? (sig ? 128 : 1)));
    });
    return { scanner: scanner.kind, command: [scanner.path, ...args], exitCode };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
