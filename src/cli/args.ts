/** Argument parsing on top of node:util parseArgs, with errors that say what to do. */
import { parseArgs } from 'node:util';
// The Dockerfile parser's typo finder; dockerfile/ imports nothing of ours, so it stays there.
import { closest } from '../dockerfile/flags.js';
import { usageError } from './context.js';
import { type CommandSpec, type FlagSpec, flagsOf, parseOptions } from './flags.js';
import { GLOBAL_FLAGS } from './specs/global.js';

export type { OptionSpec } from './flags.js';

export interface Parsed {
  readonly values: Record<string, string | boolean | (string | boolean)[] | undefined>;
  readonly positionals: string[];
}

/**
 * Parses a command's arguments with its declared flag table. Flags whose value is optional
 * (`--sbom`, `--sbom=false`) are taken out first and read as strings (`true` when bare).
 * `name` is the command as the user typed it, for messages (`index create`).
 */
export function parse(spec: CommandSpec, args: readonly string[], name: string = spec.name): Parsed {
  const flags = flagsOf(spec);
  const optional = flags.filter((f) => f.optionalValue).map((f) => f.name);
  const taken: Record<string, string> = {};
  const rest: string[] = [];
  for (const [i, a] of args.entries()) {
    if (a === '--') {
      rest.push(...args.slice(i));
      break;
    }
    const hit = optional.find((n) => a === `--${n}` || a.startsWith(`--${n}=`));
    if (hit === undefined) rest.push(a);
    else taken[hit] = a.length > hit.length + 2 ? a.slice(hit.length + 3) : 'true';
  }
  const options = parseOptions(flags);
  try {
    const { values, positionals } = parseArgs({ args: rest, options, allowPositionals: true, strict: true });
    return { values: { ...(values as Parsed['values']), ...taken }, positionals };
  } catch (err) {
    const message = err instanceof Error ? (err.message.split('\n')[0] ?? '') : String(err);
    const near = nearestOption(message, [...flags, ...GLOBAL_FLAGS]);
    throw usageError(
      `gantry ${name}: ${message.replace(/\. To specify.*$/, '')}`,
      near ? `did you mean ${near}?` : `run gantry ${name} --help`,
    );
  }
}

/** For `Unknown option '--tagg'`, the flag meant (`--tag`), if it is a plausible typo. */
function nearestOption(message: string, flags: readonly FlagSpec[]): string | undefined {
  const m = /^Unknown option '(--?)([^'=]+)/.exec(message);
  if (!m) return undefined;
  if (m[1] === '--') {
    const near = closest(
      m[2] as string,
      flags.flatMap((f) => [f.name, ...(f.aliases ?? [])]),
    );
    return near === undefined ? undefined : `--${near}`;
  }
  const near = closest(
    m[2] as string,
    flags.flatMap((f) => (f.short ? [f.short] : [])),
  );
  return near === undefined ? undefined : `-${near}`;
}

export function str(p: Parsed, key: string): string | undefined {
  const v = p.values[key];
  return typeof v === 'string' ? v : undefined;
}

export function list(p: Parsed, key: string): string[] {
  const v = p.values[key];
  if (v === undefined) return [];
  return (Array.isArray(v) ? v : [v]).filter((x): x is string => typeof x === 'string');
}

export function flag(p: Parsed, key: string): boolean {
  return p.values[key] === true;
}

/** `--cmd '["node","app.js"]'` (JSON exec form) or `--cmd 'node app.js'` (split on spaces). */
export function commandWords(value: string, what: string): string[] {
  const text = value.trim();
  if (text.startsWith('[')) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      throw usageError(`${what} is not valid JSON: ${text}`, `give a JSON array like ["node","app.js"] or plain words`);
    }
    if (!Array.isArray(parsed) || !parsed.every((w) => typeof w === 'string')) {
      throw usageError(`${what} must be a JSON array of strings`, `give a JSON array like ["node","app.js"]`);
    }
    return parsed;
  }
  return text.split(/\s+/).filter((w) => w !== '');
}

export function keyValues(items: readonly string[], what: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const item of items) {
    const eq = item.indexOf('=');
    if (eq <= 0) throw usageError(`invalid ${what} ${JSON.stringify(item)}`, 'give KEY=VALUE');
    out[item.slice(0, eq)] = item.slice(eq + 1);
  }
  return out;
}
