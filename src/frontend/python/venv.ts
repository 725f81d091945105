/**
 * `--venv PATH`: an existing virtual environment packed as the dependency layer at /opt/venv,
 * instead of installing the requirements in the base. Only when asked, and refused when it cannot
 * run on the target: its Python (pyvenv.cfg `version`) must be the image's major.minor, and every
 * compiled file in it (ELF: extension modules, shared libraries) must be for the target's
 * architecture. A venv made on an amd64 laptop is refused for linux/arm64, which is the mistake
 * pycontainer-build makes silently.
 */
import { lstat, open, readdir, readFile, readlink, symlink, unlink, writeFile } from 'node:fs/promises';
import { join, posix, relative, resolve } from 'node:path';
import type { ContentTransform } from '../../engine/directory-layer.js';
import { GantryError } from '../../errors.js';
import { formatPlatform } from '../../oci/platform.js';
import type { Platform } from '../../oci/types.js';

const ELF_MAGIC = Buffer.from([0x7f, 0x45, 0x4c, 0x46]);

/** ELF e_machine values and the OCI architecture each is. */
const MACHINES: Readonly<Record<number, string>> = {
  3: '386',
  8: 'mips64',
  20: 'ppc',
  21: 'ppc64le',
  22: 's390x',
  40: 'arm',
  62: 'amd64',
  183: 'arm64',
  243: 'riscv64',
  258: 'loong64',
};

export interface VirtualEnv {
  readonly root: string;
  /** pyvenv.cfg `version` (or `version_info`), e.g. `3.11.2`. */
  readonly version: string;
  /** Compiled files by architecture (context-relative examples, for messages). */
  readonly machines: ReadonlyMap<string, string>;
}

function venvError(code: string, message: string, suggestion: string): GantryError {
  return new GantryError(code, message, { phase: 'config', suggestion });
}

/** The architecture an ELF file is for, or undefined when `path` is not ELF. */
async function elfMachine(path: string): Promise<string | undefined> {
  const fh = await open(path, 'r').catch(() => undefined);
  if (!fh) return undefined;
  try {
    const head = Buffer.alloc(20);
    const { bytesRead } = await fh.read(head, 0, 20, 0);
    if (bytesRead < 20 || head.readUInt32BE(0) !== 0x7f454c46) return undefined;
    const machine = head[5] === 2 ? head.readUInt16BE(18) : head.readUInt16LE(18);
    return MACHINES[machine] ?? `elf-machine-${machine}`;
  } finally {
    await fh.close();
  }
}

async function* regularFiles(dir: string): AsyncGenerator<string> {
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) yield* regularFiles(p);
    else if (e.isFile()) yield p;
  }
}

/** Reads pyvenv.cfg and the architectures of the compiled files in the venv at `path`. */
export async function readVirtualEnv(path: string): Promise<VirtualEnv> {
  const root = resolve(path);
  const cfg = await readFile(join(root, 'pyvenv.cfg'), 'utf8').catch(() => {
    throw venvError(
      'VENV_INVALID',
      `--venv ${path}: no pyvenv.cfg, not a virtual environment`,
      'give the directory python -m venv made (the one holding pyvenv.cfg)',
    );
  });
  const field = (k: string) => new RegExp(`^\\s*${k}\\s*=\\s*(\\S+)`, 'm').exec(cfg)?.[1];
  const version = field('version') ?? field('version_info');
  if (!version) {
    throw venvError(
      'VENV_INVALID',
      `--venv ${path}: pyvenv.cfg names no Python version`,
      'recreate it with python -m venv',
    );
  }
  const machines = new Map<string, string>();
  // Only the bin/ and lib/ trees hold what runs; a stray binary elsewhere says nothing about it.
  for (const top of ['bin', 'lib', 'lib64']) {
    const dir = join(root, top);
    const files = await (async () => {
      const out: string[] = [];
      try {
        for await (const f of regularFiles(dir)) out.push(f);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      }
      return out;
    })();
    for (const f of files) {
      const m = await elfMachine(f);
      if (m && !machines.has(m)) machines.set(m, relative(root, f));
    }
  }
  return { root, version, machines };
}

/** Refuses a venv that cannot run on `platform` with Python `python` (major.minor). */
export function checkVirtualEnv(venv: VirtualEnv, platform: Platform, python: string, given: string): void {
  const mm = venv.version.split('.').slice(0, 2).join('.');
  if (python !== '' && mm !== python) {
    throw venvError(
      'VENV_PYTHON_MISMATCH',
      `--venv ${given} is Python ${venv.version}, the image runs Python ${python}`,
      `make the venv with Python ${python}, or pick a base with Python ${mm} (--from, [tool.gantry] python.version)`,
    );
  }
  for (const [arch, example] of venv.machines) {
    if (arch !== platform.architecture) {
      throw venvError(
        'VENV_PLATFORM_MISMATCH',
        `--venv ${given} holds ${arch} binaries (${example}), the target is ${formatPlatform(platform)}`,
        'leave out --venv so gantry installs the dependencies for the target in the base, or build for the venv platform',
      );
    }
  }
}

const SCRIPT_MAX = 1024 * 1024;

/**
 * The venv's scripts as they must read at `dest`: pip writes console scripts with a shebang
 * naming the venv's own interpreter by its absolute host path (`#!/home/me/proj/.venv/bin/python3`,
 * or a `#!/bin/sh` trampoline that execs it for long paths), and the activate scripts set
 * VIRTUAL_ENV to it. In bin/, every mention of the host root (as a whole path component) becomes
 * `dest`; ELF files and everything outside bin/ are left alone.
 */
export function venvRelocation(root: string, dest: string): ContentTransform {
  const escaped = root.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const mention = new RegExp(`${escaped}(?=[/"'\\s]|$)`, 'gm');
  return {
    id: `venv relocation v1 ${JSON.stringify([root, dest])}`,
    selects: (rel, size) => rel.startsWith('bin/') && size < SCRIPT_MAX,
    apply: (content) => {
      if (content.subarray(0, 4).equals(ELF_MAGIC)) return undefined;
      const text = content.toString('latin1');
      if (!text.includes(root)) return undefined;
      const out = text.replace(mention, dest);
      return out === text ? undefined : Buffer.from(out, 'latin1');
    },
  };
}

/**
 * Points the venv at `dir` (a host path) at the interpreter `python` (its absolute path in the
 * image the venv runs on): pyvenv.cfg's `home`, `executable` and `command`, the bin/ links that
 * name an interpreter outside the venv (`python -> /usr/local/bin/python3`), and bin/ scripts
 * naming that interpreter (rewritten as `venvRelocation` rewrites a host venv's root). A venv made
 * by python:3.11-slim's /usr/local/bin/python3 then runs on a base whose Python is
 * /usr/bin/python3.11 (Debian, distroless). Links inside the venv (`python3 -> python`) stay.
 */
export async function pointVenvAt(dir: string, python: string): Promise<void> {
  const cfgPath = join(dir, 'pyvenv.cfg');
  const cfg = await readFile(cfgPath, 'utf8');
  const old = new Set<string>();
  const lines = cfg.split('\n').map((line) => {
    const m = /^(\s*)(home|executable|command)(\s*=\s*)(.*)$/.exec(line);
    if (!m) return line;
    const [, lead, k, eq, value] = m as unknown as [string, string, string, string, string];
    if (k === 'home') return `${lead}${k}${eq}${posix.dirname(python)}`;
    if (k === 'executable') {
      if (value !== python) old.add(value);
      return `${lead}${k}${eq}${python}`;
    }
    const first = value.split(' ')[0] ?? '';
    if (first !== python && posix.isAbsolute(first)) old.add(first);
    return `${lead}${k}${eq}${[python, ...value.split(' ').slice(1)].join(' ')}`;
  });
  const text = lines.join('\n');
  if (text !== cfg) await writeFile(cfgPath, text);
  const bin = join(dir, 'bin');
  const entries = await readdir(bin, { withFileTypes: true }).catch(() => []);
  for (const e of entries) {
    if (!e.isSymbolicLink()) continue;
    const target = await readlink(join(bin, e.name));
    if (!posix.isAbsolute(target) || target === python || !/^python[0-9.]*$/.test(posix.basename(target))) continue;
    old.add(target);
    await unlink(join(bin, e.name));
    await symlink(python, join(bin, e.name));
  }
  if (old.size === 0) return;
  const moves = [...old].map((o) => venvRelocation(o, python));
  for (const e of entries) {
    if (!e.isFile()) continue;
    const path = join(bin, e.name);
    const st = await lstat(path);
    if (st.size >= SCRIPT_MAX) continue;
    const before: Buffer = await readFile(path);
    let content = before;
    for (const m of moves) content = m.apply(content, `bin/${e.name}`) ?? content;
    if (content !== before) await writeFile(path, content);
  }
}
