/** Argument parsing on top of node:util parseArgs, with errors that say what to do. */
import { type ParseArgsConfig, parseArgs } from 'node:util';
import { usageError } from './context.js';

export type OptionSpec = NonNullable<ParseArgsConfig['options']>;

export interface Parsed {
  readonly values: Record<string, string | boolean | (string | boolean)[] | undefined>;
  readonly positionals: string[];
}

export function parse(command: string, args: readonly string[], options: OptionSpec): Parsed {
  try {
    const { values, positionals } = parseArgs({ args: [...args], options, allowPositionals: true, strict: true });
    return { values: values as Parsed['values'], positionals };
  } catch (err) {
    const message = err instanceof Error ? (err.message.split('\n')[0] ?? '') : String(err);
    throw usageError(`gantry ${command}: ${message.replace(/\. To specify.*$/, '')}`, `run gantry ${command} --help`);
  }
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
