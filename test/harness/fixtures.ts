/**
 * Test harness: fixture base images built from Debian packages (busybox-static for amd64 and
 * arm64), with gantry's own layer and OCI code. Fixtures are cached in `<repo>/.cache/fixtures/`
 * (or $GANTRY_FIXTURES_DIR) under a key hashed from their recipe: RECIPE_VERSION plus the exact
 * .deb versions, so a new Debian upload or a changed recipe builds a new fixture. Each fixture is
 * built in a temp dir beside its final place and renamed into place: concurrent test processes
 * never see half a fixture, and a process that loses the race discards its own copy.
 */
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream, existsSync } from 'node:fs';
import {
  chmod,
  chown,
  copyFile,
  mkdir,
  mkdtemp,
  readdir,
  readFile,
  rename,
  rm,
  rmdir,
  stat,
  symlink,
  writeFile,
} from 'node:fs/promises';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DEFAULT_PATH } from '../../src/engine/config.js';
import { GantryError } from '../../src/errors.js';
import { REF_NAME_ANNOTATION } from '../../src/layer/archive/names.js';
import { writeLayer } from '../../src/layer/layer.js';
import { walkDirectory } from '../../src/layer/walk.js';
import { OciLayout, writeToLayout } from '../../src/oci/layout.js';
import { newImage, newIndex } from '../../src/oci/mutate.js';
import { layerFromDescriptor } from '../../src/oci/partial.js';
import { formatPlatform } from '../../src/oci/platform.js';
import { type Descriptor, type Index, MediaType, type Platform } from '../../src/oci/types.js';
import { writeFileAtomic } from '../../src/util/fs.js';
import { run } from './run.js';

/**
 * Bump when the way fixtures are assembled changes, so cached copies are rebuilt. 2: layers are
 * gzipped in parallel blocks (src/layer/gzip), so a fresh build's digests differ from 1's.
 */
export const RECIPE_VERSION = 2;

export type FixtureArch = 'amd64' | 'arm64';
export const FIXTURE_ARCHES: readonly FixtureArch[] = ['amd64', 'arm64'];

const BUSYBOX_PACKAGE = 'busybox-static';
const EPOCH = '1970-01-01T00:00:00Z';

function findRepoRoot(from: string): string {
  for (let dir = from; ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'scripts', 'setup-test-deps.mjs'))) return dir;
    if (dirname(dir) === dir) return resolve(from, '..', '..', '..');
  }
}

/** Where fixtures are cached. */
export function fixturesDir(): string {
  return (
    process.env.GANTRY_FIXTURES_DIR || join(findRepoRoot(dirname(fileURLToPath(import.meta.url))), '.cache', 'fixtures')
  );
}

function recipeKey(parts: readonly string[]): string {
  return createHash('sha256')
    .update([`recipe-version=${RECIPE_VERSION}`, ...parts].join('\n'))
    .digest('hex')
    .slice(0, 16);
}

function fixtureError(code: string, message: string, cause?: unknown): GantryError {
  return new GantryError(code, message, {
    suggestion: 'run `node scripts/setup-test-deps.mjs` (it enables arm64 and updates apt lists), then retry',
    cause,
  });
}

/** Memoizes one build per key in this process; concurrent callers share it, a failure is not cached. */
const inflight = new Map<string, Promise<string>>();
function once(key: string, build: () => Promise<string>): Promise<string> {
  let p = inflight.get(key);
  if (!p) {
    p = build();
    inflight.set(key, p);
    p.catch(() => inflight.delete(key));
  }
  return p;
}

/**
 * Builds `final` through `make(tmpDir)`, which returns the path (inside tmpDir) to rename into
 * place. Returns at once when `final` exists: the rename is the commit point, so it is complete.
 */
export async function buildInPlace(final: string, make: (tmp: string) => Promise<string>): Promise<string> {
  if (existsSync(final)) return final;
  await mkdir(dirname(final), { recursive: true });
  const tmp = await mkdtemp(join(dirname(final), `.tmp-${process.pid}-`));
  try {
    const built = await make(tmp);
    try {
      await rename(built, final);
    } catch (err) {
      // Another process renamed its copy first; it is as good as ours.
      const code = (err as NodeJS.ErrnoException).code;
      if (!((code === 'ENOTEMPTY' || code === 'EEXIST') && existsSync(final))) throw err;
    }
    return final;
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------------------------
// Debian packages

const APT_LISTS = '/var/lib/apt/lists';

/** Changes whenever apt's package lists do (an update, a new architecture). */
async function aptListsStamp(): Promise<string> {
  const h = createHash('sha256');
  const names = (await readdir(APT_LISTS, { withFileTypes: true }).catch(() => []))
    .filter((e) => e.isFile() && e.name !== 'lock')
    .map((e) => e.name)
    .sort();
  for (const name of names) {
    const st = await stat(join(APT_LISTS, name));
    h.update(`${name}\0${st.size}\0${st.mtimeMs}\n`);
  }
  return h.digest('hex');
}

interface VersionCache {
  readonly stamp: string;
  readonly versions: Readonly<Record<string, string>>;
}

async function askAptCache(pkg: string, arch: FixtureArch): Promise<string> {
  const res = await run('apt-cache', ['show', '--no-all-versions', `${pkg}:${arch}`], { allowFailure: true });
  const version = /^Version:\s*(\S+)/m.exec(res.stdout)?.[1];
  if (res.code !== 0 || !version) {
    throw fixtureError(
      'FIXTURE_PACKAGE_UNAVAILABLE',
      `apt knows no ${pkg}:${arch}: ${res.stderr.trim().split('\n').pop() || 'no candidate version'}`,
    );
  }
  return version;
}

const versionLookups = new Map<string, Promise<string>>();

/**
 * The version apt would download for `pkg:arch`. apt-cache takes about a second without its
 * binary cache (Debian container images drop it), so answers are kept in the fixture cache for as
 * long as apt's lists stay the same.
 */
export function debVersion(pkg: string, arch: FixtureArch): Promise<string> {
  const name = `${pkg}:${arch}`;
  let p = versionLookups.get(name);
  if (p) return p;
  p = (async () => {
    const file = join(fixturesDir(), 'apt-versions.json');
    const stamp = await aptListsStamp();
    let cache: VersionCache = { stamp, versions: {} };
    try {
      const read = JSON.parse(await readFile(file, 'utf8')) as VersionCache;
      if (read.stamp === stamp && typeof read.versions === 'object') cache = read;
    } catch {
      // Missing or torn: ask apt.
    }
    const known = cache.versions[name];
    if (known) return known;
    const version = await askAptCache(pkg, arch);
    // Re-read so that concurrent processes asking for other packages keep each other's answers.
    let latest = cache;
    try {
      const read = JSON.parse(await readFile(file, 'utf8')) as VersionCache;
      if (read.stamp === stamp) latest = read;
    } catch {}
    await writeFileAtomic(file, JSON.stringify({ stamp, versions: { ...latest.versions, [name]: version } }));
    return version;
  })();
  versionLookups.set(name, p);
  p.catch(() => versionLookups.delete(name));
  return p;
}

/** Downloads `pkg:arch=version` into the fixture cache once; returns the .deb path. */
export async function downloadDeb(pkg: string, arch: FixtureArch, version: string): Promise<string> {
  const final = join(fixturesDir(), 'debs', `${pkg}_${version.replace(/:/g, '%3a')}_${arch}.deb`);
  return once(`deb:${final}`, () =>
    buildInPlace(final, async (tmp) => {
      // apt drops privileges to _apt for downloads; it needs to write here.
      await chmod(tmp, 0o777);
      try {
        await run('apt-get', ['download', '-q', `${pkg}:${arch}=${version}`], {
          cwd: tmp,
          env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
        });
      } catch (err) {
        throw fixtureError('FIXTURE_DOWNLOAD_FAILED', `apt-get download ${pkg}:${arch}=${version} failed`, err);
      }
      const debs = (await readdir(tmp)).filter((f) => f.endsWith('.deb'));
      if (debs.length !== 1) {
        throw fixtureError('FIXTURE_DOWNLOAD_FAILED', `apt-get download left ${debs.length} .deb files, expected 1`);
      }
      const deb = join(tmp, debs[0]!);
      const fields = (await run('dpkg-deb', ['-f', deb, 'Package', 'Version', 'Architecture'])).stdout;
      if (!fields.includes(`Version: ${version}`) || !fields.includes(`Architecture: ${arch}`)) {
        throw fixtureError('FIXTURE_DOWNLOAD_FAILED', `downloaded ${debs[0]} is not ${pkg}:${arch}=${version}`);
      }
      return deb;
    }),
  );
}

// ---------------------------------------------------------------------------------------------
// busybox rootfs

const PASSWD = 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/home:/bin/false\n';
const GROUP = 'root:x:0:\nnobody:x:65534:\n';

/**
 * The applets, as paths relative to / (`bin/sh`, `usr/bin/awk`, ...). Asked of the amd64 binary
 * (which the host can run); the arm64 build of the same Debian source has the same applets.
 */
async function appletPaths(amd64Busybox: string): Promise<string[]> {
  const out = (await run(amd64Busybox, ['--list-full'])).stdout;
  // `linuxrc` (no directory) is an initrd entry point, not a command.
  return out
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l.includes('/') && !l.includes('..') && l !== 'bin/busybox');
}

async function assembleRootfs(rootfs: string, busybox: string, applets: readonly string[]): Promise<void> {
  const dirs = new Set(['bin', 'etc', 'root', 'home', 'tmp', 'usr', 'usr/bin', 'usr/sbin', 'sbin']);
  for (const a of applets) dirs.add(dirname(a));
  for (const d of [...dirs].sort()) await mkdir(join(rootfs, d), { recursive: true });
  await copyFile(busybox, join(rootfs, 'bin', 'busybox'));
  for (const a of applets) {
    const at = join(rootfs, a);
    // Relative links resolve both inside a container and on the host, in the unpacked directory.
    await symlink(relative(dirname(at), join(rootfs, 'bin', 'busybox')), at);
  }
  await writeFile(join(rootfs, 'etc', 'passwd'), PASSWD);
  await writeFile(join(rootfs, 'etc', 'group'), GROUP);
  // Explicit modes: the layer keeps them, and mkdir/writeFile depend on the umask.
  await chmod(rootfs, 0o755);
  for (const d of dirs) await chmod(join(rootfs, d), 0o755);
  await chmod(join(rootfs, 'bin', 'busybox'), 0o755);
  await chmod(join(rootfs, 'etc', 'passwd'), 0o644);
  await chmod(join(rootfs, 'etc', 'group'), 0o644);
  await chmod(join(rootfs, 'root'), 0o700);
  await chmod(join(rootfs, 'tmp'), 0o1777);
}

async function extractBusybox(deb: string, into: string): Promise<string> {
  await run('dpkg-deb', ['-x', deb, into]);
  const bin = join(into, 'bin', 'busybox');
  if (!existsSync(bin)) throw fixtureError('FIXTURE_BAD_PACKAGE', `${deb} has no /bin/busybox`);
  return bin;
}

/**
 * A busybox root filesystem for `arch`: /bin/busybox with a symlink per applet, /etc/passwd
 * (root, nobody), /etc/group, /tmp (1777), /root, /home. Cached; do not modify it.
 */
export async function busyboxRootfs(arch: FixtureArch): Promise<string> {
  const version = await debVersion(BUSYBOX_PACKAGE, arch);
  const amd64Version = arch === 'amd64' ? version : await debVersion(BUSYBOX_PACKAGE, 'amd64');
  const key = recipeKey(['busybox-rootfs', arch, `${BUSYBOX_PACKAGE}=${version}`, `applets-from=${amd64Version}`]);
  const final = join(fixturesDir(), `busybox-rootfs-${arch}-${key}`);
  return once(final, async () => {
    if (existsSync(final)) return final;
    const deb = await downloadDeb(BUSYBOX_PACKAGE, arch, version);
    const amd64Busybox = arch === 'amd64' ? undefined : join(await busyboxRootfs('amd64'), 'bin', 'busybox');
    return buildInPlace(final, async (tmp) => {
      const busybox = await extractBusybox(deb, join(tmp, 'deb'));
      const applets = await appletPaths(amd64Busybox ?? busybox);
      if (applets.length < 100) {
        throw fixtureError('FIXTURE_BAD_PACKAGE', `busybox --list-full printed ${applets.length} applets`);
      }
      const rootfs = join(tmp, 'rootfs');
      await assembleRootfs(rootfs, busybox, applets);
      return rootfs;
    });
  });
}

// ---------------------------------------------------------------------------------------------
// busybox image

export interface BusyboxImage {
  /** An OCI image layout; index.json names the multi-platform index `busybox`. */
  readonly layoutDir: string;
  readonly tag: 'busybox';
  readonly indexDigest: string;
  /** One per platform, in index order: `linux/amd64`, `linux/arm64`. */
  readonly manifests: readonly { readonly platform: string; readonly digest: string }[];
}

function platformOf(arch: FixtureArch): Platform {
  return { architecture: arch, os: 'linux' };
}

async function writeBusyboxLayout(
  layoutDir: string,
  tmp: string,
  versions: Record<FixtureArch, string>,
): Promise<void> {
  const layout = await OciLayout.init(layoutDir);
  const images = [];
  for (const arch of FIXTURE_ARCHES) {
    const rootfs = await busyboxRootfs(arch);
    const layerFile = join(tmp, `layer-${arch}.tar.gz`);
    const info = await writeLayer(walkDirectory(rootfs, { keepModes: true, mtime: 0 }), createWriteStream(layerFile), {
      compression: 'gzip',
    });
    const desc: Descriptor = { mediaType: info.mediaType, digest: info.digest, size: info.size };
    await layout.writeBlob(createReadStream(layerFile), { digest: info.digest, size: info.size });
    await rm(layerFile);
    const image = await newImage({
      platform: platformOf(arch),
      created: EPOCH,
      layers: [
        {
          layer: layerFromDescriptor(layout, desc, info.diffID),
          history: { created: EPOCH, created_by: `gantry test fixture: ${BUSYBOX_PACKAGE}:${arch}=${versions[arch]}` },
        },
      ],
      config: (cfg) => ({ ...cfg, config: { ...cfg.config, Env: [DEFAULT_PATH], Cmd: ['sh'] } }),
    });
    images.push({ image, platform: platformOf(arch) });
  }
  const index = await newIndex(images);
  const desc = await writeToLayout(layout, index);
  const top: Index = {
    schemaVersion: 2,
    mediaType: MediaType.OciIndex,
    manifests: [{ ...desc, annotations: { [REF_NAME_ANNOTATION]: 'busybox' } }],
  };
  await layout.writeIndex(top);
  // The layout's staging dir for blob writes is empty now; keep the fixture to spec files only.
  await rmdir(layout.tempDir).catch(() => {});
}

async function describeBusyboxLayout(layoutDir: string): Promise<BusyboxImage> {
  const layout = await OciLayout.open(layoutDir);
  const top = await layout.readIndex();
  const entry = top.manifests.find((d) => d.annotations?.[REF_NAME_ANNOTATION] === 'busybox');
  if (!entry) throw fixtureError('FIXTURE_CORRUPT', `${layoutDir}/index.json does not name busybox`);
  const index = await layout.imageIndex(entry);
  const children = (await index.indexManifest()).manifests;
  return {
    layoutDir,
    tag: 'busybox',
    indexDigest: entry.digest,
    manifests: children.map((d) => ({
      platform: d.platform ? formatPlatform(d.platform) : 'unknown',
      digest: d.digest,
    })),
  };
}

/**
 * The busybox fixture: an OCI layout whose index.json has one entry, a linux/amd64 + linux/arm64
 * index named `busybox`; each image is one gzip layer of its rootfs, Cmd ["sh"], Env PATH.
 * Shared and cached: copy it before changing anything in it.
 */
export async function busyboxImage(): Promise<BusyboxImage> {
  const versions = {
    amd64: await debVersion(BUSYBOX_PACKAGE, 'amd64'),
    arm64: await debVersion(BUSYBOX_PACKAGE, 'arm64'),
  } satisfies Record<FixtureArch, string>;
  const key = recipeKey(['busybox-image', ...FIXTURE_ARCHES.map((a) => `${BUSYBOX_PACKAGE}:${a}=${versions[a]}`)]);
  const final = join(fixturesDir(), `busybox-image-${key}`);
  const layoutDir = await once(final, () =>
    buildInPlace(final, async (tmp) => {
      const dir = join(tmp, 'layout');
      await writeBusyboxLayout(dir, tmp, versions);
      return dir;
    }),
  );
  return describeBusyboxLayout(layoutDir);
}

// ---------------------------------------------------------------------------------------------
// Distroless-style images made from a directory

/**
 * Extracts from the gzip layer `blob` (a Debian root) into `stage` the shared libraries `ldd`
 * names for `binaries` (host paths inside `stage`), the loader and the lib/lib64 links.
 * `libz.so.1 => /lib/x86_64-linux-gnu/libz.so.1 (0x...)`: the Debian layer holds them under usr/lib.
 */
export async function extractLibraries(blob: string, stage: string, binaries: readonly string[]): Promise<void> {
  const ldd = (await run('ldd', [...binaries])).stdout;
  const libs = [
    ...new Set(
      [...ldd.matchAll(/=>\s+\/(?:usr\/)?lib\/([^\s]+)\/([^/\s]+)\s/g)].map((m) => `usr/lib/${m[1]}/${m[2]}*`),
    ),
  ];
  if (libs.length === 0) throw new Error(`ldd named no library for ${binaries.join(' ')}: ${ldd}`);
  const triplet = (libs[0] as string).split('/')[2] as string;
  await run('tar', [
    '-xzf',
    blob,
    '-C',
    stage,
    '--wildcards',
    'lib',
    'lib64',
    'usr/lib64',
    `usr/lib/${triplet}/ld-linux*`,
    ...libs,
  ]);
}

/** /etc/passwd and /etc/group with root and nonroot (65532), a sticky /tmp and /home/nonroot, as distroless has. */
export async function nonrootSkeleton(stage: string): Promise<void> {
  await mkdir(join(stage, 'etc'), { recursive: true });
  await writeFile(
    join(stage, 'etc', 'passwd'),
    'root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n',
  );
  await writeFile(join(stage, 'etc', 'group'), 'root:x:0:\nnonroot:x:65532:\n');
  await mkdir(join(stage, 'tmp'), { mode: 0o1777 });
  await chmod(join(stage, 'tmp'), 0o1777);
  await mkdir(join(stage, 'home', 'nonroot'), { recursive: true });
  await chown(join(stage, 'home', 'nonroot'), 65532, 65532);
}

/**
 * Writes the directory `stage` (owners and modes kept, mtimes 0) as the one layer of an image for
 * linux/`arch` with `config` and `createdBy` in its history, into a new OCI layout at `layoutDir`
 * whose index names it `refName`.
 */
export async function singleLayerLayout(
  stage: string,
  layoutDir: string,
  image: {
    readonly arch: string;
    readonly refName: string;
    readonly createdBy: string;
    readonly config: { Env: string[]; Entrypoint?: string[]; Cmd?: string[] };
  },
): Promise<void> {
  const out = await OciLayout.init(layoutDir);
  const layerFile = join(dirname(layoutDir), `${image.refName}-layer.tar.gz`);
  const info = await writeLayer(
    walkDirectory(stage, { keepModes: true, keepOwners: true, mtime: 0 }),
    createWriteStream(layerFile),
    { compression: 'gzip' },
  );
  await out.writeBlob(createReadStream(layerFile), { digest: info.digest, size: info.size });
  await rm(layerFile, { force: true });
  const platform: Platform = { architecture: image.arch, os: 'linux' };
  const made = await newImage({
    platform,
    created: EPOCH,
    layers: [
      {
        layer: layerFromDescriptor(
          out,
          { mediaType: info.mediaType, digest: info.digest, size: info.size },
          info.diffID,
        ),
        history: { created: EPOCH, created_by: image.createdBy },
      },
    ],
    config: (cfg) => ({ ...cfg, config: image.config }),
  });
  const written = await writeToLayout(out, made);
  await out.writeIndex({
    schemaVersion: 2,
    mediaType: MediaType.OciIndex,
    manifests: [{ ...written, platform, annotations: { [REF_NAME_ANNOTATION]: image.refName } }],
  });
  await rmdir(out.tempDir).catch(() => {});
}
