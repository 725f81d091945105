// Shared helpers for the executor tests: a private copy of the busybox fixture rootfs per test
// (the cached fixture must never be written), running a step and collecting its output, and a
// look at the host's process table to prove that an aborted sandbox left nothing behind.
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Isolation, type RunResult, type RunSpec, runInSandbox } from '../../../src/engine/executor/index.js';
import { busyboxRootfs, type FixtureArch } from '../../harness/fixtures.js';
import { run } from '../../harness/run.js';

export const PATH_ENV = 'PATH=/usr/sbin:/usr/bin:/sbin:/bin';

export interface TestContext {
  after(fn: () => void | Promise<void>): void;
}

export async function tempDir(t: TestContext, prefix = 'gantry-exec-'): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** A fresh copy of the busybox rootfs, removed after the test. */
export async function rootfsCopy(t: TestContext, arch: FixtureArch = 'amd64'): Promise<string> {
  const dir = await tempDir(t);
  const root = join(dir, 'rootfs');
  await run('cp', ['-a', await busyboxRootfs(arch), root]);
  return root;
}

export interface Collected extends RunResult {
  readonly stdout: readonly string[];
  readonly stderr: readonly string[];
}

/** Runs a step and collects its lines per stream. */
export async function collect(
  isolation: Isolation,
  spec: Omit<RunSpec, 'onOutput' | 'env' | 'cwd'> & Partial<Pick<RunSpec, 'env' | 'cwd'>>,
): Promise<Collected> {
  const stdout: string[] = [];
  const stderr: string[] = [];
  const result = await runInSandbox(
    {
      env: [PATH_ENV],
      cwd: '/',
      ...spec,
      onOutput: (line, stream) => (stream === 'stdout' ? stdout : stderr).push(line),
    },
    { isolation },
  );
  return { ...result, stdout, stderr };
}

/** Host pids whose command line is exactly `argv`. */
export async function hostProcesses(argv: readonly string[]): Promise<number[]> {
  const want = `${argv.join('\0')}\0`;
  const out: number[] = [];
  for (const name of await readdir('/proc')) {
    if (!/^[0-9]+$/.test(name)) continue;
    const cmdline = await readFile(`/proc/${name}/cmdline`, 'utf8').catch(() => '');
    if (cmdline === want) out.push(Number(name));
  }
  return out;
}
