/** Heredoc delimiters (`<<EOF`, `<<-EOF`, `<<"EOF"`) found in instruction lines, and `<<-` chomping. */
import { processWord } from './shell.js';

const HEREDOC_WORD = /^(\d*)<<(-?)([^<]*)$/;

/** Heredoc delimiter word -> heredoc (without body), or undefined when the word is not one. */
export function parseHeredocWord(word: string): { name: string; expand: boolean; chomp: boolean } | undefined {
  const m = HEREDOC_WORD.exec(word);
  if (!m) return undefined;
  const rest = m[3] as string;
  if (rest === '') return undefined;
  // Lex the delimiter with and without quotes: if the counts differ, part of it was quoted
  // and the body is literal.
  const env = () => undefined;
  let plain: readonly string[];
  let raw: readonly string[];
  try {
    plain = processWord(rest, env, { skipUnset: true }).words;
    raw = processWord(rest, env, { skipUnset: true, rawQuotes: true }).words;
  } catch {
    return undefined;
  }
  if (plain.length !== 1 || raw.length !== 1) return undefined;
  const name = plain[0] as string;
  const quotes = (s: string) => (s.match(/['"]/g) ?? []).length;
  return { name, expand: quotes(name) === quotes(raw[0] as string), chomp: m[2] === '-' };
}

/** The heredoc delimiters of an instruction line, in order. */
export function heredocsOf(line: string): { name: string; expand: boolean; chomp: boolean }[] {
  let words: readonly string[];
  try {
    words = processWord(line, () => undefined, { rawQuotes: true, rawEscapes: true, skipUnset: true }).words;
  } catch {
    // BuildKit ignores a line it cannot lex here: such an instruction has no heredocs.
    return [];
  }
  const out: { name: string; expand: boolean; chomp: boolean }[] = [];
  for (const w of words) {
    const h = parseHeredocWord(w);
    if (h) out.push(h);
  }
  return out;
}

/** Strips leading tabs from every line, as `<<-` asks. */
export function chompHeredoc(content: string): string {
  return content.replace(/^\t+/gm, '');
}
