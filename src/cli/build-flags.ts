/**
 * Checks of `gantry build` flags made before any work: platforms a build can write into a config,
 * build arguments taken from the environment as buildx takes them, and secret files that exist.
 */
import { access, constants, stat } from 'node:fs/promises';
import type { SecretSource } from '../frontend/dockerfile/index.js';
import { formatPlatform, parsePlatform } from '../oci/platform.js';
import type { Platform } from '../oci/types.js';
import { usageError } from './context.js';

/** GOOS values an image config can name (the OCI image spec refers to Go's list). */
const OSES = ['linux', 'windows', 'darwin', 'freebsd', 'netbsd', 'openbsd', 'solaris', 'illumos', 'aix', 'android'];
/** GOARCH values, with the variants each may carry. */
const VARIANTS: Readonly<Record<string, RegExp | undefined>> = {
  amd64: /^v[1-4]$/,
  arm64: /^v(8|9)(\.\d)?$/,
  arm: /^v[5-8]$/,
  '386': undefined,
  ppc64le: undefined,
  ppc64: undefined,
  s390x: undefined,
  riscv64: undefined,
  loong64: undefined,
  mips: undefined,
  mipsle: undefined,
  mips64: undefined,
  mips64le: undefined,
  wasm: undefined,
};

const FORMS =
  'write os/arch[/variant], e.g. linux/amd64, linux/arm64, linux/arm/v7, linux/386, linux/ppc64le, linux/s390x or linux/riscv64';

/** A --platform value a build can use, or a usage error that lists the valid forms. */
export function buildPlatform(value: string): Platform {
  const p = parsePlatform(value);
  const why = !OSES.includes(p.os)
    ? `unknown os "${p.os}"`
    : !Object.hasOwn(VARIANTS, p.architecture)
      ? `unknown architecture "${p.architecture}"`
      : p.variant !== undefined && !VARIANTS[p.architecture]?.test(p.variant)
        ? `"${p.variant}" is not a variant of ${p.architecture}`
        : undefined;
  if (why) throw usageError(`invalid --platform ${JSON.stringify(value)}: ${why}`, FORMS);
  return parsePlatform(formatPlatform(p));
}

/**
 * `--build-arg K=V` values; a bare `K` takes K's value from the environment and is left out when
 * K is not set, as docker buildx does.
 */
export function buildArgs(items: readonly string[], env: NodeJS.ProcessEnv = process.env): Record<string, string> {
  const out: Record<string, string> = {};
  for (const item of items) {
    const eq = item.indexOf('=');
    if (eq === 0 || item === '')
      throw usageError(`invalid --build-arg ${JSON.stringify(item)}`, 'give KEY=VALUE or KEY');
    const value = eq > 0 ? item.slice(eq + 1) : env[item];
    if (value !== undefined) out[eq > 0 ? item.slice(0, eq) : item] = value;
  }
  return out;
}

/** Every `--secret` file is readable now, whether or not a step uses it (as buildx checks). */
export async function checkSecretFiles(secrets: Readonly<Record<string, SecretSource>>): Promise<void> {
  for (const [id, source] of Object.entries(secrets)) {
    if (!('file' in source)) continue;
    const why = await access(source.file, constants.R_OK).then(
      async () => ((await stat(source.file)).isFile() ? undefined : 'not a file'),
      (err: NodeJS.ErrnoException) => (err.code === 'ENOENT' ? 'no such file' : (err.code ?? err.message)),
    );
    if (why)
      throw usageError(`--secret id=${id}: cannot read ${source.file} (${why})`, 'check the src= path of --secret');
  }
}
