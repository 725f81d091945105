// Runs the real gantry command (bin/gantry, which starts bin/gantry.js over the compiled dist) as a
// user would.
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';

export const repoRoot = resolve(dirname(new URL(import.meta.url).pathname), '..', '..', '..');
export const gantryBin = join(repoRoot, 'bin', 'gantry.js');
/** The command npm installs (package.json "bin"): a shell script that starts gantryBin with node. */
export const gantryCommand = join(repoRoot, 'bin', 'gantry');

export interface Result {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

export function gantry(
  args: readonly string[],
  options: {
    store?: string;
    env?: NodeJS.ProcessEnv;
    cwd?: string;
    input?: string;
    /** Kill it (SIGKILL) after this long: a hang becomes a failure instead of a stuck suite. */
    timeoutMs?: number;
    /** Start bin/gantry.js with this process's node instead of the command (for a PATH without node). */
    node?: boolean;
    onStderr?: (chunk: string, child: import('node:child_process').ChildProcess) => void;
  } = {},
): Promise<Result> {
  return new Promise((resolveRun, reject) => {
    const child = spawn(options.node ? process.execPath : gantryCommand, options.node ? [gantryBin, ...args] : args, {
      cwd: options.cwd ?? repoRoot,
      env: { ...process.env, ...(options.store ? { GANTRY_STORE: options.store } : {}), ...options.env },
      stdio: [options.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
      ...(options.timeoutMs !== undefined ? { timeout: options.timeoutMs, killSignal: 'SIGKILL' as const } : {}),
    });
    if (options.input !== undefined) child.stdin?.end(options.input);
    let stdout = '';
    let stderr = '';
    child.stdout?.on('data', (c: Buffer) => {
      stdout += c.toString();
    });
    child.stderr?.on('data', (c: Buffer) => {
      stderr += c.toString();
      options.onStderr?.(c.toString(), child);
    });
    child.on('error', reject);
    child.on('close', (code) => resolveRun({ code, stdout, stderr }));
  });
}

export async function withTempDir<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), 'gantry-test-'));
  try {
    return await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/**
 * Runs `cmd args` without a shell and collects its output. `env` is added to this process's
 * environment; a command still running after `timeoutMs` is killed (code null).
 */
export function run(
  cmd: string,
  args: readonly string[],
  options: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {},
): Promise<Result> {
  return new Promise((resolveRun, reject) => {
    const child = spawn(cmd, args, {
      cwd: options.cwd,
      ...(options.env ? { env: { ...process.env, ...options.env } } : {}),
      ...(options.timeoutMs ? { timeout: options.timeoutMs } : {}),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => {
      stdout += c.toString();
    });
    child.stderr.on('data', (c: Buffer) => {
      stderr += c.toString();
    });
    child.on('error', reject);
    child.on('close', (code) => resolveRun({ code, stdout, stderr }));
  });
}

/** Runs a tool and fails with its stderr when it fails. */
export async function tool(cmd: string, args: readonly string[], options: { cwd?: string } = {}): Promise<string> {
  const r = await run(cmd, args, options);
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.code}: ${r.stderr.trim()}`);
  return r.stdout;
}

/** An isolated HOME for one test: no docker config, certs.d, registries.toml or credentials from the environment. */
export async function isolatedHome(tmp: string): Promise<NodeJS.ProcessEnv> {
  const h = join(tmp, 'home');
  await mkdir(h, { recursive: true });
  return {
    HOME: h,
    DOCKER_CONFIG: join(h, '.docker'),
    XDG_CONFIG_HOME: join(h, '.config'),
    XDG_RUNTIME_DIR: join(h, 'run'),
    REGISTRY_AUTH_FILE: join(h, 'auth.json'),
    GANTRY_USERNAME: '',
    GANTRY_PASSWORD: '',
    REGISTRY_USERNAME: '',
    REGISTRY_PASSWORD: '',
    GITHUB_TOKEN: '',
  };
}

/**
 * Runs gantry in this process (src/cli/main.ts run()), for commands that stop before any work
 * (help, usage errors, completion scripts): the same code path as the binary without a spawn.
 */
export async function gantryInProcess(args: readonly string[]): Promise<Result> {
  const { run: runGantry } = await import('../../src/cli/main.js');
  const { PassThrough } = await import('node:stream');
  const out = new PassThrough();
  const err = new PassThrough();
  let stdout = '';
  let stderr = '';
  out.on('data', (c: Buffer) => {
    stdout += c.toString();
  });
  err.on('data', (c: Buffer) => {
    stderr += c.toString();
  });
  const code = await runGantry(args, { stdout: out, stderr: err, signal: new AbortController().signal });
  return { code, stdout, stderr };
}
