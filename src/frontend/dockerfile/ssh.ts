/**
 * `--ssh default|ID[=SOCKET_OR_KEY[,...]]` as docker buildx takes it, for `RUN --mount=type=ssh`:
 * an agent socket is forwarded into the sandbox as it is; key files are loaded into an
 * `ssh-agent` started for the build (OpenSSH's, found on PATH) and stopped after it. Keys never
 * enter a layer, the history or a cache key.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { GantryError } from '../../errors.js';

export interface SshSpec {
  readonly id: string;
  /** Sockets or private key files; empty: $SSH_AUTH_SOCK. */
  readonly paths: readonly string[];
}

function usage(message: string, suggestion: string): GantryError {
  return new GantryError('USAGE', message, { phase: 'usage', suggestion });
}

/** Parses one `--ssh` value. */
export function parseSshFlag(value: string): SshSpec {
  const text = value.trim();
  if (text === '') throw usage('--ssh is empty', 'write --ssh default or --ssh ID=PATH');
  const eq = text.indexOf('=');
  const id = eq < 0 ? text : text.slice(0, eq);
  if (id === '') throw usage(`--ssh ${value} has no id`, 'write --ssh default or --ssh ID=PATH');
  const paths =
    eq < 0
      ? []
      : text
          .slice(eq + 1)
          .split(',')
          .filter((p) => p !== '');
  return { id, paths: paths.map((p) => resolve(p)) };
}

export interface SshAgents {
  /** The agent socket of each id. */
  readonly sockets: Readonly<Record<string, string>>;
  close(): Promise<void>;
}

function fail(message: string, suggestion: string): GantryError {
  return new GantryError('SSH_AGENT_FAILED', message, { phase: 'build', suggestion });
}

function runTool(cmd: string, args: string[], env: NodeJS.ProcessEnv): Promise<string> {
  return new Promise((res, rej) => {
    const child = spawn(cmd, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    child.stderr.on('data', (c: Buffer) => {
      err += c.toString();
    });
    child.on('error', (e) => rej(e));
    child.on('close', (code) => (code === 0 ? res(err) : rej(new Error(err.trim() || `${cmd} exited ${code}`))));
  });
}

/** Resolves every `--ssh` to a socket, starting agents for key files. Close it after the build. */
export async function prepareSsh(specs: readonly SshSpec[], env: NodeJS.ProcessEnv = process.env): Promise<SshAgents> {
  const sockets: Record<string, string> = {};
  const cleanups: (() => Promise<void>)[] = [];
  const close = async () => {
    for (const c of cleanups.reverse()) await c().catch(() => {});
  };
  try {
    for (const spec of specs) {
      const paths = spec.paths.length > 0 ? spec.paths : env.SSH_AUTH_SOCK ? [env.SSH_AUTH_SOCK] : [];
      if (paths.length === 0) {
        throw usage(
          `--ssh ${spec.id}: no path, and SSH_AUTH_SOCK is not set`,
          'start ssh-agent, or give --ssh ID=KEYFILE',
        );
      }
      const kinds = await Promise.all(paths.map((p) => stat(p).catch(() => undefined)));
      const missing = paths.find((_, i) => kinds[i] === undefined);
      if (missing !== undefined)
        throw usage(`--ssh ${spec.id}: ${missing} does not exist`, 'give an agent socket or a key file');
      if (paths.length === 1 && kinds[0]?.isSocket()) {
        sockets[spec.id] = paths[0] as string;
        continue;
      }
      if (kinds.some((k) => k?.isSocket())) {
        throw usage(`--ssh ${spec.id}: give one agent socket, or key files`, 'split them into two --ssh ids');
      }
      // Key files: an agent of our own holds them for this build only.
      const dir = await mkdtemp(join(tmpdir(), 'gantry-ssh-'));
      cleanups.push(() => rm(dir, { recursive: true, force: true }));
      const socket = join(dir, 'agent.sock');
      const agent = spawn('ssh-agent', ['-D', '-a', socket], { stdio: 'ignore' });
      const started = new Promise<void>((res, rej) => {
        agent.once('error', (e) =>
          rej(
            fail(
              `--ssh ${spec.id}: cannot start ssh-agent (${e.message})`,
              'install OpenSSH (openssh-client), or forward a running agent with --ssh default',
            ),
          ),
        );
        agent.once('spawn', () => res());
      });
      await started;
      cleanups.push(async () => {
        agent.kill('SIGTERM');
      });
      for (let i = 0; i < 100 && !(await stat(socket).catch(() => undefined)); i++)
        await new Promise((r) => setTimeout(r, 20));
      try {
        await runTool('ssh-add', ['-q', ...paths], { ...env, SSH_AUTH_SOCK: socket, SSH_ASKPASS: '', DISPLAY: '' });
      } catch (err) {
        throw fail(
          `--ssh ${spec.id}: ssh-add refused the key (${(err as Error).message})`,
          'give an unencrypted private key, or an agent socket',
        );
      }
      sockets[spec.id] = socket;
    }
  } catch (err) {
    await close();
    throw err;
  }
  return { sockets, close };
}
