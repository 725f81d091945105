/** TOML files of the registry settings, parsed by smol-toml; syntax errors as one line naming the file. */
import { parse as parseToml, TomlError, type TomlTable } from 'smol-toml';
import { GantryError } from '../../errors.js';

/**
 * Parses TOML text with smol-toml; a syntax error becomes one BAD_CONFIG line naming the file and
 * line (smol-toml's own message goes on to show the code around it).
 */
export function parseTomlFile(text: string, path: string): TomlTable {
  try {
    return parseToml(text);
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
