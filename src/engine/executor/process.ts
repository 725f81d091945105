/**
 * Starting a sandbox process and watching it: output cut into lines, the exit status, whether
 * the sandbox got as far as starting the command (so a broken sandbox is not reported as a
 * failing RUN), and abort. Every sandbox has one host process at its top whose death takes the
 * whole tree with it (bwrap --die-with-parent, unshare --kill-child of a PID namespace); for
 * `none` there is no PID namespace, so the process group is killed instead.
 */
import { spawn } from 'node:child_process';
import { constants } from 'node:os';
import type { Readable, Writable } from 'node:stream';
import { AbortedError, GantryError } from '../../errors.js';
import { LineSplitter, type StreamName, Tail } from './output.js';

export interface Launch {
  readonly command: string;
  readonly args: readonly string[];
  readonly env: Readonly<Record<string, string>>;
  /**
   * How we learn that the sandbox is set up: bwrap's --json-status-fd 3 reports `exit-code` only
   * for a command it started; our chroot setup script writes `ready` to fd 3 before it starts it.
   */
  readonly readiness: 'bwrap-status' | 'marker' | 'none';
  /** Kill the process group on abort and after exit (no PID namespace does it for us). */
  readonly processGroup: boolean;
  /** Data written to pipes on descriptors 4, 5, ... (secrets the sandbox reads into its own tmpfs). */
  readonly inputs?: readonly Uint8Array[];
}

export interface LaunchOutcome {
  readonly exitCode: number;
  /** False when the sandbox failed before the command started. */
  readonly started: boolean;
  readonly tail: readonly string[];
}

export interface WatchOptions {
  readonly onOutput?: ((line: string, stream: StreamName) => void) | undefined;
  readonly signal?: AbortSignal | undefined;
}

function signalNumber(name: NodeJS.Signals | null): number {
  return name ? ((constants.signals as Record<string, number>)[name] ?? 0) : 0;
}

/** The exit status bwrap reported for the command on its status fd, if it started one. */
export function bwrapExitCode(status: string): number | undefined {
  for (const line of status.split('\n')) {
    const text = line.trim();
    if (!text.startsWith('{')) continue;
    try {
      const obj = JSON.parse(text) as Record<string, unknown>;
      if (typeof obj['exit-code'] === 'number') return obj['exit-code'];
    } catch {}
  }
  return undefined;
}

export function runLaunch(launch: Launch, options: WatchOptions = {}): Promise<LaunchOutcome> {
  const { signal, onOutput } = options;
  if (signal?.aborted) return Promise.reject(new AbortedError({ phase: 'build', cause: signal.reason }));
  return new Promise((resolve, reject) => {
    const child = spawn(launch.command, launch.args, {
      env: { ...launch.env },
      stdio: [
        'ignore',
        'pipe',
        'pipe',
        launch.readiness === 'none' ? 'ignore' : 'pipe',
        ...(launch.inputs ?? []).map(() => 'pipe' as const),
      ],
      detached: launch.processGroup,
    });
    for (const [i, data] of (launch.inputs ?? []).entries()) {
      const pipe = child.stdio[4 + i] as Writable | null | undefined;
      // A sandbox that fails before reading closes the pipe; its own error reports that.
      pipe?.on('error', () => {});
      pipe?.end(Buffer.from(data.buffer, data.byteOffset, data.byteLength));
    }
    const tail = new Tail();
    let status = '';
    let failure: unknown;
    let aborted = false;

    const kill = () => {
      try {
        if (launch.processGroup && child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
        else child.kill('SIGKILL');
      } catch {}
    };
    const onAbort = () => {
      aborted = true;
      kill();
    };
    signal?.addEventListener('abort', onAbort, { once: true });

    const emit = (stream: StreamName) => (line: string) => {
      tail.push(line);
      if (!onOutput || failure !== undefined) return;
      try {
        onOutput(line, stream);
      } catch (err) {
        failure = err;
        kill();
      }
    };
    const watch = (readable: Readable | null, stream: StreamName) => {
      if (!readable) return;
      const splitter = new LineSplitter(emit(stream));
      readable.on('data', (chunk: Buffer) => splitter.write(chunk));
      readable.on('end', () => splitter.end());
    };
    watch(child.stdout, 'stdout');
    watch(child.stderr, 'stderr');
    const fd3 = child.stdio[3] as Readable | null | undefined;
    fd3?.on('data', (chunk: Buffer) => {
      status += chunk.toString('utf8');
    });

    // Whatever the command left running in its process group goes when it exits, as in BuildKit.
    child.on('exit', () => {
      if (launch.processGroup) kill();
    });
    child.on('error', (err: NodeJS.ErrnoException) => {
      signal?.removeEventListener('abort', onAbort);
      reject(
        new GantryError('SANDBOX_START_FAILED', `cannot start ${launch.command}: ${err.message}`, {
          phase: 'build',
          suggestion:
            'check that the sandbox tools are installed (bubblewrap, util-linux) or choose another --isolation',
          cause: err,
        }),
      );
    });
    child.on('close', (code, sig) => {
      signal?.removeEventListener('abort', onAbort);
      if (aborted) {
        reject(new AbortedError({ phase: 'build', cause: signal?.reason }));
        return;
      }
      if (failure !== undefined) {
        reject(failure);
        return;
      }
      const processCode = code ?? 128 + signalNumber(sig);
      if (launch.readiness === 'bwrap-status') {
        const reported = bwrapExitCode(status);
        resolve({ exitCode: reported ?? processCode, started: reported !== undefined, tail: tail.lines });
        return;
      }
      const started = launch.readiness === 'none' || status.includes('ready');
      resolve({ exitCode: processCode, started, tail: tail.lines });
    });
  });
}
