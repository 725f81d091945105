// Shared setup of the Node.js front end tests: the Node base fixture pushed to a loopback
// registry as docker.io's library/node:20-slim is reached (through a registries.toml mirror of
// docker.io), so the default base resolves exactly as it would for a user; and running a built
// image's entrypoint in the sandbox with the host network until it answers HTTP.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cp, mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { runInSandbox } from '../../src/engine/executor/index.js';
import { isolatedHome } from '../cli/helpers.js';
import { buildInPlace, fixturesDir } from '../harness/fixtures.js';
import { seedLayerCache } from '../harness/image-root.js';
import { type NodeBaseImage, nodeBaseImage } from '../harness/node-base.js';
import { freePort, startRegistry, type TestRegistry } from '../harness/registry.js';
import { gantry } from './helpers.js';

/** The CA bundle the host trusts (it holds the CA of the TLS-intercepting proxy on these machines). */
export const HOST_CA = '/etc/ssl/certs/ca-certificates.crt';

export interface NodeWorld {
  readonly registry: TestRegistry;
  /** Environment for gantry: isolated HOME with the mirror config; no NODE_EXTRA_CA_CERTS (tests pass --ca-cert). */
  env(tmp: string): Promise<NodeJS.ProcessEnv>;
  /**
   * Readies a new store (`dir`, made if need be) for a build on the world's base(s): the base
   * layers, extracted once per machine into <fixtures>/layer-cache, are linked into the store's
   * layer cache, so the build's steps stack them instead of extracting ~600 MB per store (what
   * the tests pin is the front end: base extraction is pinned by the engine tests). The build
   * still resolves and pulls the base through the mirror as a user's does.
   */
  seed(dir: string): Promise<string>;
  stop(): Promise<void>;
}

/** Bump when what the kept registry storage of nodeWorld holds changes. */
const NODE_REGISTRY_RECIPE = 1;

/** Starts a registry holding the Node base as library/node:TAG (default 20-slim; with arm64 an index). */
export async function nodeWorld(
  options: {
    include?: readonly string[];
    tags?: readonly string[];
    arm64?: boolean;
    /** Debian packages of the arm64 base (default: `include`). */
    armInclude?: readonly string[];
  } = {},
): Promise<NodeWorld> {
  const base = await nodeBaseImage(options.include ? { include: options.include } : {});
  // With arm64: node:TAG is an index of the host's base and the arm64 one (bootstrapped under qemu).
  const armInclude = options.armInclude ?? options.include;
  const arm = options.arm64
    ? await nodeBaseImage({ ...(armInclude ? { include: armInclude } : {}), arch: 'arm64' })
    : undefined;
  const tags = options.tags ?? ['20-slim'];
  // The registry's storage with the base(s) pushed is kept per machine (pushing ~200-400 MB took
  // 5-18 s per test); each world starts a registry on a copy of it (blobs hard-linked).
  const key = createHash('sha256')
    .update([`recipe=${NODE_REGISTRY_RECIPE}`, base.digest, arm?.digest ?? '-', ...tags].join('\n'))
    .digest('hex')
    .slice(0, 16);
  const storage = await buildInPlace(join(fixturesDir(), `node-registry-${key}`), async (tmp) => {
    const empty = await startRegistry({ mode: 'http' });
    try {
      await pushBases(empty, base, arm, tags, await writeEnv(empty, await mkdtemp(join(tmp, 'home-'))));
      const kept = join(tmp, 'storage');
      await cp(empty.storageDir, kept, { recursive: true });
      return kept;
    } finally {
      await empty.stop();
    }
  });
  const registry = await startRegistry({ mode: 'http', storageFrom: storage });
  const seed = async (dir: string): Promise<string> => {
    for (const b of arm ? [base, arm] : [base]) await seedLayerCache(dir, b.layoutDir, b.tag);
    return dir;
  };
  return { registry, env: (tmp) => writeEnv(registry, tmp), seed, stop: () => registry.stop() };
}

/** Environment for gantry: an isolated HOME whose registries.toml mirrors docker.io to `registry`. */
async function writeEnv(registry: TestRegistry, tmp: string): Promise<NodeJS.ProcessEnv> {
  const env: NodeJS.ProcessEnv = { ...(await isolatedHome(tmp)), NODE_EXTRA_CA_CERTS: '' };
  await mkdir(join(env.XDG_CONFIG_HOME as string, 'gantry'), { recursive: true });
  await writeFile(
    join(env.XDG_CONFIG_HOME as string, 'gantry', 'registries.toml'),
    `[registry."docker.io"]\nmirrors = ["${registry.host}"]\n\n[registry."${registry.host}"]\nhttp = true\n`,
  );
  return env;
}

/** Pushes the base as library/node:TAG (with arm64: an index of both, each also as TAG-ARCH). */
async function pushBases(
  registry: TestRegistry,
  base: NodeBaseImage,
  arm: NodeBaseImage | undefined,
  tags: readonly string[],
  env: NodeJS.ProcessEnv,
): Promise<void> {
  for (const tag of tags) {
    const ref = `${registry.host}/library/node:${tag}`;
    if (!arm) {
      const r = await gantry(['copy', `oci:${base.layoutDir}:node`, ref], { env });
      assert.equal(r.code, 0, r.stderr);
      continue;
    }
    const parts: string[] = [];
    for (const [b, arch] of [
      [base, base.platform.split('/')[1]],
      [arm, 'arm64'],
    ] as const) {
      const r = await gantry(['copy', `oci:${b.layoutDir}:node`, `${ref}-${arch}`], { env });
      assert.equal(r.code, 0, r.stderr);
      parts.push('-m', `${ref}-${arch}`);
    }
    const idx = await gantry(['--plain-http', 'index', 'create', '-t', ref, ...parts], { env });
    assert.equal(idx.code, 0, idx.stderr);
  }
}

/** Every blob of a store's layout, layers gunzipped: what a leak check greps. */
export async function storeBytes(store: string): Promise<Buffer> {
  const { readdir } = await import('node:fs/promises');
  const dir = join(store, 'blobs', 'sha256');
  const parts: Buffer[] = [];
  for (const name of await readdir(dir)) {
    const data = await readFile(join(dir, name));
    parts.push(data[0] === 0x1f && data[1] === 0x8b ? gunzipSync(data) : data);
  }
  return Buffer.concat(parts);
}

/** Unpacks an image of the store with `gantry build -o type=local` equivalents: `gantry` output to a dir. */
export function execText(cmd: string, args: readonly string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) =>
      err ? reject(new Error(`${cmd} ${args.join(' ')}: ${stderr || err.message}`)) : resolve(stdout),
    );
  });
}

export interface ImageConfigLike {
  readonly config: {
    readonly Env?: readonly string[];
    readonly Entrypoint?: readonly string[] | null;
    readonly Cmd?: readonly string[] | null;
    readonly WorkingDir?: string;
    readonly User?: string;
    readonly ExposedPorts?: Record<string, unknown>;
  };
}

/**
 * Runs the image's entrypoint on its unpacked root (`rootfs`) in the sandbox with the host
 * network and PORT set, until `path` answers; returns the body. The process is killed afterwards.
 */
export async function runAndFetch(
  rootfs: string,
  cfg: ImageConfigLike,
  options: { path?: string; platform?: import('../../src/oci/types.js').Platform } = {},
): Promise<string> {
  const port = await freePort();
  const c = cfg.config;
  const args = [...(c.Entrypoint ?? []), ...(c.Cmd ?? [])];
  const abort = new AbortController();
  const lines: string[] = [];
  const running = runInSandbox({
    rootfs,
    args,
    env: [...(c.Env ?? []), `PORT=${port}`],
    cwd: c.WorkingDir ?? '/',
    ...(c.User ? { user: c.User } : {}),
    network: 'host',
    ...(options.platform ? { platform: options.platform } : {}),
    onOutput: (line) => lines.push(line),
    signal: abort.signal,
  }).catch((err: unknown) => err);
  try {
    const deadline = Date.now() + 120_000;
    let exited = false;
    void running.then(() => {
      exited = true;
    });
    for (;;) {
      try {
        const res = await fetch(`http://127.0.0.1:${port}${options.path ?? '/'}`);
        return await res.text();
      } catch {
        if (exited) throw new Error(`the app exited before answering: ${lines.join('\n')}`);
        if (Date.now() > deadline) throw new Error(`no answer on port ${port}: ${lines.join('\n')}`);
        await new Promise((r) => setTimeout(r, 200));
      }
    }
  } finally {
    abort.abort();
    await running;
  }
}

export interface NodeStep {
  readonly name: string;
  cached: boolean;
  done: boolean;
  readonly logs: string[];
}

/** `gantry build --progress=json ARGS` with every named step (project builds have no `[stage]` names). */
export async function nodeBuild(
  args: readonly string[],
  options: { store: string; env?: NodeJS.ProcessEnv; cwd?: string },
): Promise<{ code: number | null; stdout: string; stderr: string; steps: NodeStep[] }> {
  const r = await gantry(['build', '--progress=json', ...args], options);
  const byId = new Map<string, NodeStep>();
  for (const line of r.stderr.split('\n')) {
    if (!line.startsWith('{')) continue;
    const e = JSON.parse(line) as { type: string; id: string; name?: string; cached?: boolean; line?: string };
    if (e.type === 'start' && e.name !== undefined)
      byId.set(e.id, { name: e.name, cached: false, done: false, logs: [] });
    const s = byId.get(e.id);
    if (!s) continue;
    if (e.type === 'done') {
      s.done = true;
      s.cached = e.cached === true;
    } else if (e.type === 'log' && e.line !== undefined) s.logs.push(e.line);
  }
  return { ...r, steps: [...byId.values()] };
}
