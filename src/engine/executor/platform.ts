/**
 * Foreign architectures: a RUN for another architecture runs through qemu-user, which the kernel
 * starts by itself when binfmt_misc has an entry for the architecture. The entry must have the
 * F (fix binary) flag: the kernel then opens the interpreter when it is registered, so it works
 * inside a chroot that has no qemu. We check this before the run, so a missing registration is a
 * clear error instead of "exec format error" from deep inside the sandbox.
 */
import { readFile } from 'node:fs/promises';
import { GantryError } from '../../errors.js';
import { formatPlatform, hostPlatform, normalizePlatform } from '../../oci/platform.js';
import type { Platform } from '../../oci/types.js';

const BINFMT_DIR = '/proc/sys/fs/binfmt_misc';

/** OCI architecture -> qemu's name for it (and the binfmt entry `qemu-<name>`). */
const QEMU_NAMES: Readonly<Record<string, string>> = {
  amd64: 'x86_64',
  '386': 'i386',
  arm64: 'aarch64',
  arm: 'arm',
  ppc64le: 'ppc64le',
  ppc64: 'ppc64',
  s390x: 's390x',
  riscv64: 'riscv64',
  mips64le: 'mips64el',
  mips64: 'mips64',
  mipsle: 'mipsel',
  mips: 'mips',
  loong64: 'loongarch64',
};

/** Architectures a host runs natively besides its own (the 32-bit half of the same family). */
const COMPATIBLE: Readonly<Record<string, readonly string[]>> = {
  amd64: ['386'],
  arm64: ['arm'],
};

export function isNativeArchitecture(platform: Platform, host: Platform = hostPlatform()): boolean {
  const want = normalizePlatform(platform).architecture;
  return want === host.architecture || (COMPATIBLE[host.architecture] ?? []).includes(want);
}

export interface BinfmtEntry {
  readonly enabled: boolean;
  readonly interpreter: string;
  readonly flags: string;
}

export function parseBinfmtEntry(text: string): BinfmtEntry {
  const lines = text.split('\n').map((l) => l.trim());
  const value = (key: string) =>
    lines
      .find((l) => l.startsWith(`${key} `) || l.startsWith(`${key}:`))
      ?.slice(key.length + 1)
      .trim() ?? '';
  return { enabled: lines[0] === 'enabled', interpreter: value('interpreter'), flags: value('flags') };
}

function platformError(code: string, message: string, suggestion: string): GantryError {
  return new GantryError(code, message, { phase: 'build', suggestion });
}

/**
 * Checks that `platform` can run here: natively, or through a qemu-user binfmt_misc entry that
 * is enabled and has the F flag. Resolves with the emulator's name (`aarch64`) when emulated.
 */
export async function checkPlatform(platform: Platform): Promise<string | undefined> {
  const p = normalizePlatform(platform);
  const name = formatPlatform(p);
  if (p.os !== 'linux') {
    throw platformError(
      'PLATFORM_UNSUPPORTED',
      `cannot run ${name} steps: only linux images can run RUN`,
      'build for a linux platform',
    );
  }
  if (isNativeArchitecture(p)) return undefined;
  const qemu = QEMU_NAMES[p.architecture];
  if (!qemu) {
    throw platformError(
      'PLATFORM_UNSUPPORTED',
      `cannot run ${name} steps: no qemu-user emulator is known for ${p.architecture}`,
      'build on a machine of that architecture',
    );
  }
  const entryPath = `${BINFMT_DIR}/qemu-${qemu}`;
  let text: string;
  try {
    text = await readFile(entryPath, 'utf8');
  } catch {
    const mounted = await readFile(`${BINFMT_DIR}/status`, 'utf8').catch(() => undefined);
    throw platformError(
      'BINFMT_MISSING',
      `cannot run ${name} steps: ${mounted === undefined ? 'binfmt_misc is not mounted' : `no binfmt_misc entry qemu-${qemu}`}`,
      `install qemu-user-static and binfmt-support, then run \`update-binfmts --enable qemu-${qemu}\` as root`,
    );
  }
  const entry = parseBinfmtEntry(text);
  if (!entry.enabled) {
    throw platformError(
      'BINFMT_DISABLED',
      `cannot run ${name} steps: binfmt_misc entry qemu-${qemu} is disabled`,
      `run \`update-binfmts --enable qemu-${qemu}\` as root`,
    );
  }
  if (!entry.flags.includes('F')) {
    throw platformError(
      'BINFMT_NOT_FIXED',
      `cannot run ${name} steps: binfmt_misc entry qemu-${qemu} lacks the F flag, so ${entry.interpreter} would be looked up inside the image`,
      'install qemu-user-static (its entries are registered with the F flag) and re-register them with update-binfmts',
    );
  }
  return qemu;
}
