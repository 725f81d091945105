/**
 * Errors of the Dockerfile front end. A syntax error points at a line and column of the file and
 * quotes that line, so the user sees what is wrong without opening the file; an expansion error
 * (a `${VAR:?message}` the build asked for, a bad `${...}`) also names the instruction's line.
 */
import { GantryError } from '../errors.js';

/** Where in a Dockerfile something is: 1-based line and column. */
export interface SourcePosition {
  readonly file: string;
  readonly line: number;
  readonly column: number;
  /** The physical source line, as written. */
  readonly text: string;
}

/** What kind of mistake a syntax error is about, for callers that want to branch without parsing messages. */
export type SyntaxErrorKind =
  | 'directive'
  | 'syntax'
  | 'heredoc'
  | 'json'
  | 'unknown-instruction'
  | 'arguments'
  | 'flag'
  | 'stage';

const QUOTE_MAX = 100;

function quoteLine(text: string): string {
  const line = text.trim();
  return line.length > QUOTE_MAX ? `${line.slice(0, QUOTE_MAX - 3)}...` : line;
}

function where(pos: SourcePosition): string {
  return `${pos.file}:${pos.line}:${pos.column}`;
}

export class DockerfileSyntaxError extends GantryError {
  readonly file: string;
  readonly line: number;
  readonly column: number;
  /** The offending physical line. */
  readonly text: string;
  /** The problem alone, without position or quoted line. */
  readonly detail: string;
  readonly kind: SyntaxErrorKind;

  constructor(kind: SyntaxErrorKind, detail: string, pos: SourcePosition, suggestion?: string) {
    const quoted = quoteLine(pos.text);
    super('DOCKERFILE_SYNTAX', `${where(pos)}: ${detail}${quoted ? ` (at \`${quoted}\`)` : ''}`, {
      phase: 'parse',
      suggestion: suggestion ?? 'fix the Dockerfile at that line (see the Dockerfile reference for the syntax)',
    });
    this.name = 'DockerfileSyntaxError';
    this.file = pos.file;
    this.line = pos.line;
    this.column = pos.column;
    this.text = pos.text;
    this.detail = detail;
    this.kind = kind;
  }
}

/** A word that cannot be expanded: bad `${...}` syntax, an unterminated quote, or `${VAR?message}`. */
export class ShellExpansionError extends GantryError {
  /** The word being expanded, as written. */
  readonly word: string;
  readonly detail: string;
  constructor(word: string, detail: string) {
    super('SHELL_EXPANSION', `failed to process ${JSON.stringify(word)}: ${detail}`, {
      phase: 'build',
      suggestion: `check the quotes and the \${...} forms in that word; set the variable if the word requires it`,
    });
    this.name = 'ShellExpansionError';
    this.word = word;
    this.detail = detail;
  }
}

/** A ShellExpansionError (or a rule such as "no variables in COPY --from") tied to an instruction. */
export class DockerfileExpansionError extends GantryError {
  readonly file: string;
  readonly line: number;
  readonly detail: string;
  constructor(
    detail: string,
    file: string,
    line: number,
    original: string,
    options: { cause?: unknown; suggestion?: string } = {},
  ) {
    super('DOCKERFILE_EXPANSION', `${file}:${line}: ${detail} (at \`${quoteLine(original)}\`)`, {
      phase: 'build',
      suggestion:
        options.suggestion ??
        `set the variables the instruction needs (ARG, ENV or --build-arg) or fix its \${...} forms`,
      cause: options.cause,
    });
    this.name = 'DockerfileExpansionError';
    this.file = file;
    this.line = line;
    this.detail = detail;
  }
}
