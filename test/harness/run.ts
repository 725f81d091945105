/**
 * Test harness: running real tools (skopeo, umoci, openssl, apt-get, ...) and finding free
 * loopback ports. A failed command rejects with the command line, exit status and the tail of its
 * stderr, so a test failure names the tool's own complaint.
 */
import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { GantryError } from '../../src/errors.js';

export interface RunOptions {
  readonly cwd?: string;
  /** Replaces the environment when given (merge with process.env yourself). */
  readonly env?: NodeJS.ProcessEnv;
  /** Written to the command's stdin, which is closed afterwards (closed at once when absent). */
  readonly input?: string | Uint8Array;
  /** Resolve instead of rejecting on a non-zero exit. */
  readonly allowFailure?: boolean;
  readonly signal?: AbortSignal;
}

export interface RunResult {
  readonly code: number;
  /** Set when the command was killed by a signal. */
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
  /** stdout exactly as written (e.g. raw manifest bytes to hash). */
  readonly stdoutBytes: Buffer;
}

const STDERR_TAIL = 2000;

function tail(text: string, max: number): string {
  const t = text.trim();
  return t.length <= max ? t : `...${t.slice(t.length - max)}`;
}

/** Runs `cmd args` without a shell and collects its output. */
export function run(cmd: string, args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  const line = [cmd, ...args].join(' ');
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, {
      cwd: opts.cwd,
      env: opts.env ?? process.env,
      stdio: ['pipe', 'pipe', 'pipe'],
      signal: opts.signal,
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.on('data', (c: Buffer) => err.push(c));
    // A command that exits before reading its input makes stdin emit EPIPE; its exit status says more.
    child.stdin.on('error', () => {});
    child.stdin.end(opts.input);
    child.on('error', (e: NodeJS.ErrnoException) => {
      if (e.name === 'AbortError') {
        reject(new GantryError('ABORTED', `${line}: aborted`, { cause: e }));
        return;
      }
      const hint = e.code === 'ENOENT' ? 'run `node scripts/setup-test-deps.mjs` to install the test tools' : undefined;
      reject(new GantryError('COMMAND_FAILED', `cannot run ${cmd}: ${e.message}`, { suggestion: hint, cause: e }));
    });
    child.on('close', (code, signal) => {
      const stdoutBytes = Buffer.concat(out);
      const result: RunResult = {
        code: code ?? -1,
        signal,
        stdout: stdoutBytes.toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
        stdoutBytes,
      };
      if (result.code === 0 || opts.allowFailure) {
        resolve(result);
        return;
      }
      const status = signal ? `killed by ${signal}` : `exit ${code}`;
      const detail = tail(result.stderr || result.stdout, STDERR_TAIL).replace(/\s*\n\s*/g, ' | ');
      reject(
        new GantryError('COMMAND_FAILED', `${line} failed (${status}): ${detail}`, {
          suggestion: 'read the tool output above; the command line is in the message',
        }),
      );
    });
  });
}

/** A TCP port on 127.0.0.1 that was free a moment ago (the OS picks it). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const addr = server.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      server.close(() => (port > 0 ? resolve(port) : reject(new Error('no port assigned'))));
    });
  });
}
