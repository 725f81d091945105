/**
 * What every command gets: parsed global flags, the output streams, the abort signal (Ctrl-C),
 * and a lazily opened store. Commands never call process.exit; they return an exit code.
 */
import type { Writable } from 'node:stream';
import { GantryError } from '../errors.js';
import type { Store } from '../store/store.js';
import type { ProgressMode } from './progress.js';

export interface GlobalFlags {
  readonly store?: string;
  readonly debug: boolean;
  readonly progress: ProgressMode;
}

export interface CommandContext {
  readonly flags: GlobalFlags;
  readonly stdout: Writable & { isTTY?: boolean };
  readonly stderr: Writable & { isTTY?: boolean };
  readonly signal: AbortSignal;
  store(): Promise<Store>;
}

export type Command = (args: readonly string[], ctx: CommandContext) => Promise<number>;

export function usageError(message: string, suggestion: string): GantryError {
  return new GantryError('USAGE', message, { phase: 'usage', suggestion });
}
