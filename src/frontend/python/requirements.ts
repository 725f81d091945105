/**
 * requirements files as pip reads them: comments, line continuations, `-r`/`--requirement`
 * (followed, relative to the including file, cycles refused), `-c`/`--constraint` (collected
 * apart), environment markers and `--hash` options kept with their requirement (pip checks
 * them), and the index options pip allows in a file (`-i`/`--index-url`, `--extra-index-url`,
 * `-f`/`--find-links`, `--no-index`), lifted out into the build's index settings.
 */
import { readFile } from 'node:fs/promises';
import { dirname, join, relative, resolve } from 'node:path';
import { GantryError } from '../../errors.js';

export interface Requirement {
  /** The line as pip should see it, options other than --hash removed (`flask>=2; python_version>"3.8"`). */
  readonly line: string;
  /** The normalized project name (PEP 503), or undefined for a URL or path requirement. */
  readonly name?: string;
  /** Where it was read (`requirements.txt:3`). */
  readonly source: string;
}

export interface RequirementSet {
  readonly requirements: readonly Requirement[];
  readonly constraints: readonly Requirement[];
  readonly indexUrl?: string;
  readonly extraIndexUrls: readonly string[];
  /** Relative to the context when inside it. */
  readonly findLinks: readonly string[];
  readonly noIndex: boolean;
  /** Every file read, context-relative: the dependency inputs. */
  readonly files: readonly string[];
}

/** PEP 503 name normalization. */
export function normalizeName(name: string): string {
  return name.toLowerCase().replace(/[-_.]+/g, '-');
}

/** The project name a requirement line starts with, if it is a named requirement. */
export function requirementName(line: string): string | undefined {
  const m = /^\s*([A-Za-z0-9][A-Za-z0-9._-]*)/.exec(line);
  if (!m || /^[a-z+]+:\/\//i.test(line.trim()) || line.trim().startsWith('.') || line.trim().startsWith('/'))
    return undefined;
  return normalizeName(m[1] as string);
}

function logicalLines(text: string): { text: string; line: number }[] {
  const out: { text: string; line: number }[] = [];
  let current = '';
  let start = 0;
  const lines = text.split(/\r?\n/);
  for (const [i, raw] of lines.entries()) {
    if (current === '') start = i + 1;
    // A comment is '#' at the start or after whitespace (a URL fragment is not one).
    const line = raw.replace(/(^|\s)#.*$/, '');
    if (line.endsWith('\\')) {
      current += `${line.slice(0, -1)} `;
      continue;
    }
    current += line;
    if (current.trim() !== '') out.push({ text: current.trim(), line: start });
    current = '';
  }
  if (current.trim() !== '') out.push({ text: current.trim(), line: start });
  return out;
}

function optionValue(words: string[], i: number, name: string, where: string): string {
  const w = words[i] as string;
  const eq = w.indexOf('=');
  if (eq !== -1 && w.startsWith('--')) return w.slice(eq + 1);
  if (!w.startsWith('--') && w.length > 2) return w.slice(2);
  const next = words[i + 1];
  if (next === undefined) {
    throw new GantryError('REQUIREMENTS_INVALID', `${where}: ${name} needs a value`, {
      phase: 'config',
      suggestion: `write ${name} VALUE`,
    });
  }
  words.splice(i + 1, 1);
  return next;
}

/** Reads `file` (absolute) and what it includes. `context` makes names in messages relative. */
export async function readRequirements(file: string, context: string): Promise<RequirementSet> {
  const requirements: Requirement[] = [];
  const constraints: Requirement[] = [];
  const extraIndexUrls: string[] = [];
  const findLinks: string[] = [];
  const files: string[] = [];
  let indexUrl: string | undefined;
  let noIndex = false;
  const visiting = new Set<string>();

  const visit = async (path: string, into: Requirement[], from: string | undefined): Promise<void> => {
    const abs = resolve(path);
    const rel = relative(context, abs) || abs;
    if (visiting.has(abs)) {
      throw new GantryError('REQUIREMENTS_INVALID', `${from ?? rel}: ${rel} includes itself`, {
        phase: 'config',
        suggestion: 'remove the -r cycle',
      });
    }
    visiting.add(abs);
    const text = await readFile(abs, 'utf8').catch((err: NodeJS.ErrnoException) => {
      throw new GantryError('REQUIREMENTS_INVALID', `${from ?? rel}: cannot read ${rel}: ${err.code ?? err.message}`, {
        phase: 'config',
        suggestion: 'check the -r / -c path',
      });
    });
    if (!files.includes(rel)) files.push(rel);
    for (const { text: line, line: n } of logicalLines(text)) {
      const where = `${rel}:${n}`;
      const words = line.split(/\s+/);
      const first = words[0] as string;
      if (first.startsWith('-') && !first.startsWith('--hash')) {
        const name = first.replace(/=.*/, '');
        if (name === '-r' || name === '--requirement' || name === '-c' || name === '--constraint') {
          const target = join(dirname(abs), optionValue(words, 0, name, where));
          await visit(target, name === '-c' || name === '--constraint' ? constraints : into, where);
        } else if (name === '-i' || name === '--index-url') indexUrl = optionValue(words, 0, name, where);
        else if (name === '--extra-index-url') extraIndexUrls.push(optionValue(words, 0, name, where));
        else if (name === '-f' || name === '--find-links') {
          const v = optionValue(words, 0, name, where);
          findLinks.push(/^[a-z+]+:\/\//i.test(v) ? v : relative(context, resolve(dirname(abs), v)));
        } else if (name === '--no-index') noIndex = true;
        else if (name === '-e' || name === '--editable') {
          throw new GantryError('REQUIREMENTS_INVALID', `${where}: editable requirements (-e) cannot go in an image`, {
            phase: 'config',
            suggestion: 'list the package by name, or let gantry copy the project itself',
          });
        } else if (
          name === '--pre' ||
          name === '--prefer-binary' ||
          name === '--only-binary' ||
          name === '--no-binary'
        ) {
          into.push({ line, source: where });
        } else {
          throw new GantryError(
            'REQUIREMENTS_INVALID',
            `${where}: option ${name} is not supported in a requirements file here`,
            {
              phase: 'config',
              suggestion: 'use -r, -c, --index-url, --extra-index-url, --find-links, --no-index or --hash',
            },
          );
        }
        continue;
      }
      const name = requirementName(line);
      into.push({ line, ...(name ? { name } : {}), source: where });
    }
    visiting.delete(abs);
  };
  await visit(file, requirements, undefined);
  return {
    requirements,
    constraints,
    ...(indexUrl !== undefined ? { indexUrl } : {}),
    extraIndexUrls,
    findLinks,
    noIndex,
    files,
  };
}
