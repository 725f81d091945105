/**
 * `gantry build --check` (BuildKit's `--call check`): the Dockerfile's build checks without a
 * build. The parser's and converter's warnings and the linter's, as a build would report them.
 */
import { readFile } from 'node:fs/promises';
import { posix, resolve } from 'node:path';
import { lint, parse, parseInstructions, type Warning } from '../../dockerfile/index.js';
import { loadIgnore } from '../../engine/context/index.js';
import { GantryError, type IoOptions } from '../../errors.js';
import { mergeWarnings } from './build.js';

export interface CheckOptions extends IoOptions {
  readonly context: string;
  readonly dockerfile?: string;
}

export interface CheckResult {
  readonly warnings: readonly Warning[];
  /** True when the Dockerfile says `# check=error=true`: any warning fails the build. */
  readonly error: boolean;
}

export async function checkDockerfile(options: CheckOptions): Promise<CheckResult> {
  const context = resolve(options.context);
  const dockerfile = resolve(options.dockerfile ?? posix.join(context, 'Dockerfile'));
  const text = await readFile(dockerfile, 'utf8').catch((err: NodeJS.ErrnoException) => {
    throw new GantryError('DOCKERFILE_NOT_FOUND', `cannot read Dockerfile ${dockerfile}: ${err.code ?? err.message}`, {
      phase: 'build',
      suggestion: 'give its path with -f',
    });
  });
  const file = options.dockerfile ?? 'Dockerfile';
  const parsed = parse(text, { file });
  const ignore = await loadIgnore(context, dockerfile, options);
  const linted = lint(parsed, { ignored: (p) => ignore.matches(p) });
  let converted: readonly Warning[];
  try {
    converted = parseInstructions(parsed, { file }).warnings;
  } catch (err) {
    // A duplicate stage name stops a build; the check reports it as BuildKit's rule does.
    if (!linted.some((w) => w.code === 'DuplicateStageName')) throw err;
    converted = [];
  }
  return {
    warnings: mergeWarnings([...parsed.warnings, ...converted], linted),
    error: parsed.directives.check?.error === true,
  };
}
