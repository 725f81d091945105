/**
 * The Dockerfile syntax tree: parser directives at the top (`syntax`, `escape`, `check`), logical
 * lines joined from continuations, comments and empty continuation lines dropped (with a
 * warning), heredoc bodies attached to RUN/COPY/ADD (also under ONBUILD), instruction flags split
 * off, and each instruction's arguments split the way BuildKit's line parsers split them (JSON
 * form or shell form, name=value pairs, whitespace lists). Pure: text in, tree out. Unknown
 * instructions are refused here with a near-miss suggestion; the typed checks of each
 * instruction's arguments are in instructions.ts.
 */
import { columnOf, trimLeftSpace } from './chars.js';
import { filterWarnings, matchDirective, parseCheck } from './directives.js';
import { DockerfileSyntaxError, type SourcePosition, type SyntaxErrorKind } from './errors.js';
import { heredocsOf } from './heredoc.js';
import { type Draft, draftNode, LineError } from './line-args.js';
import type { EscapeChar } from './shell.js';
import type { CheckDirective, Heredoc, Node, ParseOptions, ParseResult, SourceText, Warning } from './syntax.js';

export { filterWarnings } from './directives.js';
export { chompHeredoc, parseHeredocWord } from './heredoc.js';
export { INSTRUCTIONS } from './line-args.js';
export type {
  CheckDirective,
  Directives,
  Heredoc,
  Node,
  ParseOptions,
  ParseResult,
  SourceText,
  Warning,
} from './syntax.js';

const HEREDOC_INSTRUCTIONS = new Set(['add', 'copy', 'run']);
const CONTINUATION: Record<EscapeChar, RegExp> = {
  '\\': /([^\\])\\[ \t]*$|^\\[ \t]*$/,
  '`': /([^`])`[ \t]*$|^`[ \t]*$/,
};

/** Splits text into lines that keep their line endings (the heredoc bodies need them). */
function scanLines(text: string): string[] {
  const lines: string[] = [];
  let start = 0;
  while (start < text.length) {
    const nl = text.indexOf('\n', start);
    const end = nl < 0 ? text.length : nl + 1;
    lines.push(text.slice(start, end));
    start = end;
  }
  return lines;
}

function trimNewline(line: string): string {
  return line.replace(/[\r\n]+$/, '');
}

function isComment(line: string): boolean {
  return trimLeftSpace(trimNewline(line)).startsWith('#');
}

function canContainHeredoc(d: Draft): boolean {
  const target = d.keyword === 'onbuild' && d.trigger ? d.trigger : d;
  return HEREDOC_INSTRUCTIONS.has(target.keyword) && !target.json;
}

function freeze(d: Draft, heredocs: readonly Heredoc[], startLine: number, endLine: number, original: string): Node {
  const node: {
    keyword: string;
    flags: readonly string[];
    args: readonly string[];
    rest: string;
    json: boolean;
    heredocs: readonly Heredoc[];
    trigger?: Node;
    startLine: number;
    endLine: number;
    original: string;
  } = {
    keyword: d.keyword,
    flags: d.flags,
    args: d.args,
    rest: d.rest,
    json: d.json,
    heredocs,
    startLine,
    endLine,
    original,
  };
  if (d.trigger) node.trigger = freeze(d.trigger, [], startLine, endLine, d.rest);
  return node;
}

/** Finds `needle` in lines start..end (1-based) of the source; the first non-blank character otherwise. */
export function locate(source: SourceText, start: number, end: number, needle?: string): SourcePosition {
  if (needle) {
    // Exact first; then ignoring case, since keywords and directive names are case-insensitive.
    for (const fold of [false, true]) {
      const want = fold ? needle.toLowerCase() : needle;
      for (let n = start; n <= end && n <= source.lines.length; n++) {
        const text = trimNewline(source.lines[n - 1] ?? '');
        const at = (fold ? text.toLowerCase() : text).indexOf(want);
        if (at >= 0) return { file: source.file, line: n, column: columnOf(text, at), text };
      }
    }
  }
  const text = trimNewline(source.lines[start - 1] ?? '');
  const lead = text.length - trimLeftSpace(text).length;
  return { file: source.file, line: start, column: columnOf(text, lead), text };
}

/**
 * Parses a Dockerfile into its syntax tree. Throws DockerfileSyntaxError (line, column, the
 * line quoted) for a bad directive, an unknown instruction, a non-string JSON array, a malformed
 * ENV/LABEL, an unterminated heredoc, or a file without instructions.
 */
export function parse(text: string, options: ParseOptions = {}): ParseResult {
  const body = text.startsWith('\uFEFF') ? text.slice(1) : text;
  const lines = scanLines(body);
  const source: SourceText = { file: options.file ?? 'Dockerfile', lines };
  const fail = (kind: SyntaxErrorKind, detail: string, pos: SourcePosition, suggestion?: string): never => {
    throw new DockerfileSyntaxError(kind, detail, pos, suggestion);
  };

  let escape: EscapeChar = '\\';
  let syntax: string | undefined;
  let check: CheckDirective | undefined;
  const seen = new Set<string>();
  let directivesDone = false;
  const directive = (token: string, lineNo: number): void => {
    if (directivesDone) return;
    const d = matchDirective(token);
    if (!d) {
      directivesDone = true;
      return;
    }
    const pos = locate(source, lineNo, lineNo, d.key);
    if (seen.has(d.key)) fail('directive', `only one ${d.key} parser directive can be used`, pos);
    seen.add(d.key);
    if (d.key === 'escape') {
      if (d.value !== '\\' && d.value !== '`') {
        fail(
          'directive',
          `invalid escape token '${d.value}' does not match \` or \\`,
          pos,
          'write # escape=\\ or # escape=`',
        );
      }
      escape = d.value as EscapeChar;
    } else if (d.key === 'syntax') {
      syntax = d.value;
    } else {
      const parsed = parseCheck(d.value);
      if (typeof parsed === 'string') {
        fail('directive', parsed, pos, 'write # check=skip=Rule1,Rule2;error=true (or skip=all)');
      }
      check = parsed as CheckDirective;
    }
  };
  const processLine = (raw: string, lineNo: number, stripLeft: boolean): string => {
    let token = trimNewline(raw);
    if (stripLeft) token = trimLeftSpace(token);
    directive(token, lineNo);
    return token.startsWith('#') ? '' : token;
  };
  const trimContinuation = (line: string): { line: string; end: boolean } => {
    const re = CONTINUATION[escape];
    return re.test(line) ? { line: line.replace(re, '$1'), end: false } : { line, end: true };
  };

  const ast: Node[] = [];
  const warnings: Warning[] = [];
  let i = 0;
  while (i < lines.length) {
    const startLine = i + 1;
    const first = processLine(lines[i] as string, startLine, true);
    i++;
    let { line, end } = trimContinuation(first);
    if (end && line === '') continue;
    let emptyContinuation = false;
    while (!end && i < lines.length) {
      const raw = lines[i] as string;
      const token = processLine(raw, i + 1, false);
      i++;
      if (isComment(raw)) continue;
      if (trimLeftSpace(token) === '') {
        emptyContinuation = true;
        continue;
      }
      const next = trimContinuation(token);
      line += next.line;
      end = next.end;
    }
    if (emptyContinuation) {
      warnings.push({
        code: 'NoEmptyContinuation',
        message: `empty continuation line found in: ${line}`,
        line: startLine,
      });
    }
    const legacy = { value: false };
    let draft: Draft;
    try {
      draft = draftNode(line, escape, legacy);
    } catch (err) {
      if (err instanceof LineError)
        fail(err.kind, err.message, locate(source, startLine, i, err.needle), err.suggestion);
      throw err;
    }
    if (legacy.value) {
      warnings.push({
        code: 'LegacyKeyValueFormat',
        message: `"${draft.keyword.toUpperCase()} key=value" should be used instead of legacy "${draft.keyword.toUpperCase()} key value" format`,
        line: startLine,
      });
    }
    const heredocs: Heredoc[] = [];
    if (canContainHeredoc(draft)) {
      for (const h of heredocsOf(line)) {
        let content = '';
        let terminated = false;
        while (i < lines.length) {
          const raw = lines[i] as string;
          i++;
          let candidate = trimNewline(raw);
          if (h.chomp) candidate = candidate.replace(/^\t+/, '');
          if (candidate === h.name) {
            terminated = true;
            break;
          }
          content += raw;
        }
        if (!terminated) {
          fail(
            'heredoc',
            `unterminated heredoc ${JSON.stringify(h.name)}`,
            locate(source, startLine, startLine, `<<`),
            `end the heredoc with a line holding only ${h.name}`,
          );
        }
        heredocs.push({ name: h.name, content, expand: h.expand, chomp: h.chomp });
      }
    }
    ast.push(freeze(draft, heredocs, startLine, i, line));
  }
  if (ast.length === 0) {
    fail('syntax', 'file with no instructions', {
      file: source.file,
      line: Math.max(1, lines.length),
      column: 1,
      text: trimNewline(lines[lines.length - 1] ?? ''),
    });
  }
  const directives: { escape: EscapeChar; syntax?: string; check?: CheckDirective } = { escape };
  if (syntax !== undefined) directives.syntax = syntax;
  if (check !== undefined) directives.check = check;
  return { ast, directives, warnings: filterWarnings(warnings, check), source };
}
