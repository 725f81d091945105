/**
 * The `created_by` text of image history entries, written as BuildKit writes them (Go's `%q`
 * and `%v` renderings included), so `docker history` and tools that read it see what they
 * expect from a BuildKit-built image. Pure formatting only.
 */
import type { AddInstruction, CopyInstruction, HealthCheck } from '../../dockerfile/index.js';

/** Go's `fmt.Sprintf("%q", []string{...})`: `["a" "b c"]`. */
export function goQuotedList(items: readonly string[]): string {
  return `[${items.map((s) => JSON.stringify(s)).join(' ')}]`;
}

/** Go's `fmt.Sprintf("%v", []string{...})`: `[a b c]`. */
export function goList(items: readonly string[]): string {
  return `[${items.join(' ')}]`;
}

function trimFraction(value: number): string {
  // Go prints up to 9 fractional digits and drops trailing zeros.
  return value.toFixed(9).replace(/0+$/, '').replace(/\.$/, '');
}

/** Go's time.Duration.String() of `ns` nanoseconds: `0s`, `1.5ms`, `30s`, `1m30s`, `2h0m0s`. */
export function goDuration(ns: number): string {
  if (ns === 0) return '0s';
  const sign = ns < 0 ? '-' : '';
  let rest = Math.abs(ns);
  if (rest < 1e9) {
    if (rest < 1e3) return `${sign}${rest}ns`;
    if (rest < 1e6) return `${sign}${trimFraction(rest / 1e3)}µs`;
    return `${sign}${trimFraction(rest / 1e6)}ms`;
  }
  const hours = Math.floor(rest / 3.6e12);
  rest -= hours * 3.6e12;
  const minutes = Math.floor(rest / 6e10);
  rest -= minutes * 6e10;
  let out = sign;
  if (hours > 0) out += `${hours}h`;
  if (hours > 0 || minutes > 0) out += `${minutes}m`;
  return `${out}${trimFraction(rest / 1e9)}s`;
}

/** `HEALTHCHECK %+v` of the image config's HealthcheckConfig struct. */
export function healthcheckHistory(check: HealthCheck): string {
  const test = check.type === 'none' ? ['NONE'] : check.test;
  const c: Partial<Extract<HealthCheck, { type: 'cmd' }>> = check.type === 'none' ? {} : check;
  return (
    `HEALTHCHECK {Test:${goList(test)} Interval:${goDuration(c.interval ?? 0)} Timeout:${goDuration(c.timeout ?? 0)} ` +
    `StartPeriod:${goDuration(c.startPeriod ?? 0)} StartInterval:${goDuration(c.startInterval ?? 0)} Retries:${c.retries ?? 0}}`
  );
}

/** `COPY`/`ADD` with the flags BuildKit records (--parents, --chown, --chmod), sources, heredoc names, dest. */
export function copyHistory(c: CopyInstruction | AddInstruction): string {
  const parts = [c.kind.toUpperCase()];
  if (c.kind === 'copy' && c.parents) parts.push('--parents');
  if (c.chown) parts.push(`--chown=${c.chown}`);
  if (c.chmod) parts.push(`--chmod=${c.chmod}`);
  parts.push(...c.sources, ...c.heredocs.map((h) => `<<${h.name}`), c.dest);
  return `${parts.join(' ')} # buildkit`;
}

/** `RUN |N K=V ... argv # buildkit`: the stage's ARGs, then the command as the process saw it. */
export function runHistory(args: readonly (readonly [string, string])[], argv: readonly string[]): string {
  const prefix = args.length > 0 ? [`|${args.length}`, ...args.map(([k, v]) => `${k}=${v}`)] : [];
  return `RUN ${[...prefix, ...argv].join(' ')} # buildkit`;
}
