/**
 * The time a project build stamps on its files, config and history, so the same source gives
 * the same digest on any machine: SOURCE_DATE_EPOCH when set, else the time of the last git commit that touched the context
 * (when git and a repository are there; neither is required), else the Unix epoch.
 */
import { execFile } from 'node:child_process';
import { sourceDateEpoch } from '../../layer/walk.js';

export interface SourceEpoch {
  /** Seconds since 1970. */
  readonly seconds: number;
  /** RFC 3339, for `created` in the config and history. */
  readonly created: string;
  readonly why: string;
}

function lastCommitTime(dir: string): Promise<number | undefined> {
  return new Promise((resolve) => {
    execFile('git', ['-C', dir, 'log', '-1', '--format=%ct', '--', '.'], { timeout: 10_000 }, (err, stdout) => {
      const t = err ? Number.NaN : Number(stdout.trim());
      resolve(Number.isInteger(t) && t >= 0 && stdout.trim() !== '' ? t : undefined);
    });
  });
}

function of(seconds: number, why: string): SourceEpoch {
  return { seconds, created: new Date(seconds * 1000).toISOString().replace(/\.000Z$/, 'Z'), why };
}

/** The build's timestamp for `context`. `env` is the process environment by default. */
export async function sourceEpoch(context: string, env: NodeJS.ProcessEnv = process.env): Promise<SourceEpoch> {
  const fromEnv = sourceDateEpoch(env);
  if (fromEnv !== undefined) return of(fromEnv, `SOURCE_DATE_EPOCH=${fromEnv}`);
  const git = await lastCommitTime(context);
  if (git !== undefined) return of(git, 'the time of the last git commit');
  return of(0, 'a fixed epoch (1970-01-01): no SOURCE_DATE_EPOCH and no git history');
}
