/**
 * What this machine gives gantry, as `buildah info` and `docker info` tell: the sandbox RUN steps
 * get and why, the snapshotter and why, how extended attributes are read and written, user
 * namespaces, the platforms RUN can execute (natively or through qemu-user), the store and the
 * configuration files read. Every answer comes from the same probes a build uses, so what this
 * says is what a build will do. Nothing here writes to the store.
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { release, tmpdir } from 'node:os';
import { join } from 'node:path';
import { GantryError } from '../errors.js';
import { type XattrAccess, xattrAccess } from '../layer/xattr.js';
import { formatPlatform, hostPlatform } from '../oci/platform.js';
import {
  type ConfigFile,
  configFilesRead,
  loadRegistriesConfig,
  registryConfigFiles,
  searchRegistries,
} from '../registry/config/index.js';
import { defaultStoreDir } from '../store/store.js';
import { du } from '../util/fs.js';
import { inContainer, isolationAvailable } from './executor/detect.js';
import { findTool, isRoot } from './executor/host.js';
import { checkPlatform } from './executor/platform.js';
import type { Isolation } from './executor/types.js';
import { overlayAvailable } from './snapshot/overlay.js';

export interface SandboxCandidate {
  readonly name: Isolation;
  readonly available: boolean;
  readonly reason: string;
}

export interface MachineInfo {
  readonly host: {
    readonly platform: string;
    readonly kernel: string;
    readonly root: boolean;
    readonly node: string;
  };
  /** The sandbox RUN steps get (undefined: none can run here), and every candidate with its reason. */
  readonly sandbox: {
    readonly chosen: Isolation | undefined;
    readonly reason: string;
    readonly candidates: readonly SandboxCandidate[];
  };
  readonly snapshotter: { readonly chosen: 'overlay' | 'walk'; readonly reason: string };
  readonly xattrs: XattrAccess;
  readonly userNamespaces: {
    /** /proc/sys/user/max_user_namespaces; 0 disables them. */
    readonly max: number | undefined;
    /** Debian's /proc/sys/kernel/unprivileged_userns_clone, where the kernel has it. */
    readonly unprivileged: boolean | undefined;
  };
  readonly platforms: {
    readonly native: readonly string[];
    /** Run through qemu-user (binfmt_misc entry enabled, F flag). */
    readonly emulated: readonly string[];
    /** Why the others cannot run, by platform. */
    readonly unavailable: Readonly<Record<string, string>>;
  };
  readonly store: { readonly path: string; readonly exists: boolean; readonly size: number };
  readonly configFiles: readonly ConfigFile[];
  /**
   * The registry config files actually read (registries.toml, containers registries.conf and its
   * drop-ins), what short names mean, and the error when a file could not be read.
   */
  readonly registries: {
    readonly filesRead: readonly string[];
    readonly searchRegistries: readonly string[];
    readonly error?: string;
  };
}

/** Architectures worth asking about: those qemu-user-static has an emulator for. */
const ARCHITECTURES = ['amd64', 'arm64', 'arm', '386', 'ppc64le', 's390x', 'riscv64', 'mips64le', 'loong64'];

async function sandboxCandidate(name: Isolation): Promise<SandboxCandidate> {
  if (name === 'none') {
    const available = await isolationAvailable('none');
    return {
      name,
      available,
      reason: available
        ? 'opt-in only (--isolation=none): isolates nothing but the filesystem root'
        : 'needs root and util-linux unshare',
    };
  }
  const tools = name === 'bwrap' ? ['bwrap'] : ['unshare', 'chroot'];
  const missing = [];
  for (const tool of tools) if (!(await findTool(tool))) missing.push(tool);
  if (missing.length > 0) {
    const pkg = name === 'bwrap' ? 'bubblewrap' : 'util-linux and coreutils';
    return { name, available: false, reason: `${missing.join(' and ')} not installed (${pkg})` };
  }
  const available = await isolationAvailable(name);
  const how = name === 'bwrap' ? 'bubblewrap' : 'unshare + chroot';
  const ns = isRoot() ? 'namespaces' : 'a user namespace';
  return {
    name,
    available,
    reason: available ? `${how} creates ${ns} here` : `${how} is installed but cannot create ${ns} here`,
  };
}

async function snapshotterInfo(storeDir: string, xattrs: XattrAccess): Promise<MachineInfo['snapshotter']> {
  // The directory a build would use when the store exists; never created by asking.
  const snapshots = join(storeDir, 'cache', 'snapshots');
  const dir = existsSync(snapshots) ? snapshots : tmpdir();
  if (await overlayAvailable({ dir })) {
    return { chosen: 'overlay', reason: `overlayfs mounts under ${dir}; opaque markers read with ${xattrs.method}` };
  }
  const why = !isRoot()
    ? 'mounting overlayfs needs root'
    : xattrs.method === 'none'
      ? `overlay's opaque markers cannot be read: ${xattrs.reason}`
      : `overlayfs cannot be mounted with its upper directory under ${dir}`;
  return { chosen: 'walk', reason: `${why}: the walk-and-compare snapshotter copies each step's root instead` };
}

async function readNumber(path: string): Promise<number | undefined> {
  const text = await readFile(path, 'utf8').catch(() => undefined);
  const n = text === undefined ? Number.NaN : Number(text.trim());
  return Number.isFinite(n) ? n : undefined;
}

async function platformsInfo(): Promise<MachineInfo['platforms']> {
  const native: string[] = [];
  const emulated: string[] = [];
  const unavailable: Record<string, string> = {};
  for (const architecture of ARCHITECTURES) {
    const name = formatPlatform({ os: 'linux', architecture });
    try {
      if ((await checkPlatform({ os: 'linux', architecture })) === undefined) native.push(name);
      else emulated.push(name);
    } catch (err) {
      if (!GantryError.is(err)) throw err;
      unavailable[name] = err.oneLine().replace(/^cannot run \S+ steps: /, '');
    }
  }
  return { native, emulated, unavailable };
}

export interface MachineInfoOptions {
  /** The store to report on; default $GANTRY_STORE, else $XDG_DATA_HOME/gantry/store. */
  readonly store?: string;
  readonly env?: NodeJS.ProcessEnv;
}

/** Probes this machine as a build would. Takes a few seconds the first time (real namespace and mount tries). */
async function registriesInfo(env: NodeJS.ProcessEnv): Promise<MachineInfo['registries']> {
  try {
    const config = await loadRegistriesConfig({ env });
    return { filesRead: configFilesRead(config), searchRegistries: searchRegistries(config) };
  } catch (err) {
    return { filesRead: [], searchRegistries: ['docker.io'], error: (err as Error).message };
  }
}

export async function machineInfo(options: MachineInfoOptions = {}): Promise<MachineInfo> {
  const env = options.env ?? process.env;
  const storeDir = options.store ?? defaultStoreDir(env);
  const xattrs = await xattrAccess();
  const candidates: SandboxCandidate[] = [];
  for (const name of ['bwrap', 'chroot', 'none'] as const) candidates.push(await sandboxCandidate(name));
  // The order detectIsolation tries them; `none` is chosen by itself only inside a container.
  const container = inContainer(env);
  const chosen = candidates.find((c) => c.available && (c.name !== 'none' || container));
  const maxUserNamespaces = await readNumber('/proc/sys/user/max_user_namespaces');
  const unprivilegedClone = await readNumber('/proc/sys/kernel/unprivileged_userns_clone');
  return {
    host: {
      platform: formatPlatform(hostPlatform()),
      kernel: release(),
      root: isRoot(),
      node: process.version,
    },
    sandbox: {
      chosen: chosen?.name,
      reason: chosen
        ? chosen.name === 'none'
          ? 'no namespaces in this container: RUN steps run chrooted only (the container is the boundary)'
          : chosen.reason
        : container && !isRoot()
          ? 'no sandbox can run RUN steps here (a non-root container without user namespaces): builds without RUN work; run the pod as root or allow user namespaces for RUN'
          : 'no sandbox can run RUN steps here: install bubblewrap or util-linux, or allow user namespaces',
      candidates,
    },
    snapshotter: await snapshotterInfo(storeDir, xattrs),
    xattrs,
    userNamespaces: {
      max: maxUserNamespaces,
      unprivileged: unprivilegedClone === undefined ? undefined : unprivilegedClone !== 0,
    },
    platforms: await platformsInfo(),
    store: { path: storeDir, exists: existsSync(join(storeDir, 'oci-layout')), size: await du(storeDir) },
    configFiles: registryConfigFiles({ env }),
    registries: await registriesInfo(env),
  };
}
