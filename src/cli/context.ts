/**
 * What every command gets: parsed global flags, the output streams, the abort signal (Ctrl-C),
 * and the library session (a lazily opened store and registry client) to hand to the API calls.
 * Commands never call process.exit; they return an exit code.
 */
import type { Writable } from 'node:stream';
import type { Session } from '../api/session.js';
import { GantryError } from '../errors.js';
import type { RegistryClient } from '../registry/client/client.js';
import type { Store } from '../store/store.js';
import type { ProgressSink } from '../util/progress.js';
import type { LogFormat } from './job.js';
import type { ProgressMode, Renderer } from './progress.js';

export interface GlobalFlags {
  readonly store?: string;
  readonly debug: boolean;
  readonly progress: ProgressMode;
  /** Skip TLS verification for every registry of this command. */
  readonly insecure: boolean;
  /** Talk plain HTTP to every registry of this command. */
  readonly plainHttp: boolean;
  /** The command's overall deadline, in ms. */
  readonly timeoutMs?: number;
  /** Abort a transfer attempt that receives no byte for this long, then retry or resume it. */
  readonly idleTimeoutMs?: number;
  readonly username?: string;
  /** Read the password from stdin (with --username). */
  readonly passwordStdin: boolean;
  /** Upload blobs in chunks of this many bytes. */
  readonly chunkSize?: number;
  /** The kubeconfig context for cluster discovery (idpbuilder), instead of the current one. */
  readonly kubeContext?: string;
  /** `json`: logs and progress as one JSON object per line (time, level, step, message). */
  readonly logFormat: LogFormat;
  /** Where the result goes for Kubernetes (default /dev/termination-log when it exists). */
  readonly terminationLog?: string;
}

export interface CommandContext {
  readonly flags: GlobalFlags;
  readonly stdout: Writable & { isTTY?: boolean };
  readonly stderr: Writable & { isTTY?: boolean };
  readonly signal: AbortSignal;
  /** The store and registry client of this command, for the library calls. */
  readonly session: Session;
  store(): Promise<Store>;
  /** The registry client, built from flags, environment and config files on first use. */
  client(progress?: ProgressSink): Promise<RegistryClient>;
  /** The password given on stdin with --password-stdin, read once. */
  readPassword(): Promise<string | undefined>;
  /** The progress display the flags ask for (--progress, --log-format), counting metrics. */
  renderer(): Renderer;
  /** The command's result, for the termination log (and the metrics line of a build). */
  report(result: Record<string, unknown>): void;
}

export type Command = (args: readonly string[], ctx: CommandContext) => Promise<number>;

export function usageError(message: string, suggestion: string): GantryError {
  return new GantryError('USAGE', message, { phase: 'usage', suggestion });
}
