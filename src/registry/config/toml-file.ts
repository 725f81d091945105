/** TOML files of the registry settings, parsed by smol-toml; syntax errors as one line naming the file. */
import { createRequire } from 'node:module';
import type { TomlTable } from 'smol-toml';
import { GantryError } from '../../errors.js';

/**
 * smol-toml's one-file CommonJS build, loaded on the first file there is to parse: most commands
 * find no registries.toml or registries.conf, and the ESM build is nine modules at start-up.
 */
let smolToml: typeof import('smol-toml') | undefined;
function toml(): typeof import('smol-toml') {
  smolToml ??= createRequire(import.meta.url)('smol-toml') as typeof import('smol-toml');
  return smolToml;
}

/**
 * Parses TOML text with smol-toml; a syntax error becomes one BAD_CONFIG line naming the file and
 * line (smol-toml's own message goes on to show the code around it).
 */
export function parseTomlFile(text: string, path: string): TomlTable {
  // Only comments (a distribution's registries.conf as shipped): nothing to load or parse.
  if (/^(?:[ \t]*(?:#[^\n]*)?(?:\r?\n|$))*$/.test(text)) return {};
  const { parse, TomlError } = toml();
  try {
    return parse(text);
  } catch (err) {
    if (!(err instanceof TomlError)) throw err;
    const detail = (err.message.split('\n')[0] ?? '').replace(/^Invalid TOML document:\s*/, '');
    throw new GantryError('BAD_CONFIG', `${path}:${err.line}:${err.column}: ${detail}`, {
      phase: 'config',
      suggestion: 'fix the TOML syntax on that line (strings are quoted: "...")',
      cause: err,
    });
  }
}

/** A value as the user wrote it, for messages. */
export function showValue(value: unknown): string {
  if (value instanceof Date) return value.toISOString();
  if (typeof value === 'bigint') return String(value);
  return JSON.stringify(value) ?? String(value);
}
