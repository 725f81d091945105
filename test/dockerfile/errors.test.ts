// Pins what a bad Dockerfile reports: the kind of mistake, the line and column it points at, a
// one-line message that names the file position and quotes the line, and a suggestion.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DockerfileSyntaxError, parse, parseInstructions, type SyntaxErrorKind } from '../../src/dockerfile/index.js';
import { GantryError } from '../../src/errors.js';

interface ErrorRow {
  readonly name: string;
  readonly text: string;
  readonly kind: SyntaxErrorKind;
  readonly line: number;
  readonly column: number;
  /** Part of the message after `Dockerfile:line:column: `. */
  readonly detail: string;
  readonly suggestion?: RegExp;
}

const ROWS: readonly ErrorRow[] = [
  {
    name: 'unknown instruction with a near miss',
    text: 'FROM busybox\n\n\n\n\n\nFORM alpine\n',
    kind: 'unknown-instruction',
    line: 7,
    column: 1,
    detail: 'unknown instruction "FORM"',
    suggestion: /did you mean FROM\?/,
  },
  {
    name: 'unknown instruction, indented, no near miss',
    text: 'FROM busybox\n   RUNCMD echo\n',
    kind: 'unknown-instruction',
    line: 2,
    column: 4,
    detail: 'unknown instruction "RUNCMD"',
    suggestion: /use one of ADD, ARG/,
  },
  {
    name: 'unknown instruction as an ONBUILD trigger',
    text: 'FROM busybox\nONBUILD CPOY a b\n',
    kind: 'unknown-instruction',
    line: 2,
    column: 9,
    detail: 'unknown instruction "CPOY"',
    suggestion: /did you mean COPY\?/,
  },
  {
    name: 'escape directive with a bad token',
    text: '# escape=x\nFROM busybox\n',
    kind: 'directive',
    line: 1,
    column: 3,
    detail: "invalid escape token 'x' does not match ` or \\",
  },
  {
    name: 'a directive given twice',
    text: '# syntax=a\n# syntax=b\nFROM busybox\n',
    kind: 'directive',
    line: 2,
    column: 3,
    detail: 'only one syntax parser directive can be used',
  },
  {
    name: 'check directive with an unknown option',
    text: '# check=skip=all;warn=true\nFROM busybox\n',
    kind: 'directive',
    line: 1,
    column: 3,
    detail: 'invalid check option "warn"',
  },
  {
    name: 'unterminated heredoc',
    text: 'FROM busybox\nRUN cat <<EOF\nhello\n',
    kind: 'heredoc',
    line: 2,
    column: 9,
    detail: 'unterminated heredoc "EOF"',
  },
  {
    name: 'JSON array with a number',
    text: 'FROM busybox\nCMD ["echo", 1]\n',
    kind: 'json',
    line: 2,
    column: 5,
    detail: 'when using JSON array syntax, arrays must be comprised of strings only',
  },
  {
    name: 'ENV pair without =',
    text: 'FROM busybox\nENV A=1 B\n',
    kind: 'arguments',
    line: 2,
    column: 9,
    detail: `can't find = in "B"; ENV takes name=value pairs`,
  },
  {
    name: 'legacy ENV without a value',
    text: 'FROM busybox\nENV ONLYKEY\n',
    kind: 'arguments',
    line: 2,
    column: 1,
    detail: 'ENV must have two arguments',
  },
  {
    name: 'file with only comments',
    text: '# nothing\n\n# here\n',
    kind: 'syntax',
    line: 3,
    column: 1,
    detail: 'file with no instructions',
  },
  {
    name: 'unknown flag with a near miss, on a continuation line',
    text: 'FROM busybox AS src\nFROM busybox\nCOPY \\\n  --form=src /a /b\n',
    kind: 'flag',
    line: 4,
    column: 3,
    detail: 'unknown flag --form for COPY',
    suggestion: /did you mean --from\?/,
  },
  {
    name: 'a flag on an instruction that takes none',
    text: 'FROM busybox\nWORKDIR --chown=1 /x\n',
    kind: 'flag',
    line: 2,
    column: 9,
    detail: 'unknown flag --chown for WORKDIR',
    suggestion: /WORKDIR takes no flags/,
  },
  {
    name: 'a flag given twice',
    text: 'FROM busybox\nCOPY --chown=1 --chown=2 a /b\n',
    kind: 'flag',
    line: 2,
    column: 6,
    detail: 'duplicate flag specified: --chown',
  },
  {
    name: 'a boolean flag with another value',
    text: 'FROM busybox\nCOPY --link=yes a /b\n',
    kind: 'flag',
    line: 2,
    column: 6,
    detail: 'expecting boolean value for flag --link, not: yes',
  },
  {
    name: 'a string flag without a value',
    text: 'FROM busybox\nCOPY --from a /b\n',
    kind: 'flag',
    line: 2,
    column: 6,
    detail: 'missing a value on flag: --from',
  },
  {
    name: 'RUN --network with an unknown mode',
    text: 'FROM busybox\nRUN --network=bridge true\n',
    kind: 'flag',
    line: 2,
    column: 5,
    detail: 'unsupported network mode "bridge"',
  },
  {
    name: 'HEALTHCHECK interval below a millisecond',
    text: 'FROM busybox\nHEALTHCHECK --interval=10us CMD true\n',
    kind: 'flag',
    line: 2,
    column: 13,
    detail: '--interval cannot be less than 1ms',
  },
  {
    name: 'HEALTHCHECK with a malformed duration',
    text: 'FROM busybox\nHEALTHCHECK --timeout=5 CMD true\n',
    kind: 'flag',
    line: 2,
    column: 13,
    detail: '--timeout: missing unit in duration "5"',
  },
  {
    name: 'HEALTHCHECK with negative retries',
    text: 'FROM busybox\nHEALTHCHECK --retries=-1 CMD true\n',
    kind: 'flag',
    line: 2,
    column: 13,
    detail: '--retries cannot be negative (-1)',
  },
  {
    name: 'HEALTHCHECK with an unknown type',
    text: 'FROM busybox\nHEALTHCHECK CMDX true\n',
    kind: 'arguments',
    line: 2,
    column: 13,
    detail: 'unknown type "CMDX" in HEALTHCHECK',
  },
  {
    name: 'HEALTHCHECK NONE with arguments',
    text: 'FROM busybox\nHEALTHCHECK NONE CMD true\n',
    kind: 'arguments',
    line: 2,
    column: 1,
    detail: 'HEALTHCHECK NONE takes no arguments',
  },
  {
    name: 'COPY without a destination',
    text: 'FROM busybox\nCOPY onlyone\n',
    kind: 'arguments',
    line: 2,
    column: 1,
    detail: 'COPY requires at least two arguments, but only one was provided',
  },
  {
    name: 'COPY to a heredoc',
    text: 'FROM busybox\nCOPY a <<EOF\nx\nEOF\n',
    kind: 'arguments',
    line: 2,
    column: 8,
    detail: 'COPY cannot accept a heredoc as a destination',
  },
  {
    name: 'FROM with two arguments',
    text: 'FROM busybox builder\n',
    kind: 'arguments',
    line: 1,
    column: 1,
    detail: 'FROM requires either one or three arguments',
  },
  {
    name: 'FROM with a stage name that starts with a digit',
    text: 'FROM busybox AS 1st\n',
    kind: 'stage',
    line: 1,
    column: 17,
    detail: `invalid name for build stage: "1st", name can't start with a number or contain symbols`,
  },
  {
    name: 'WORKDIR without a path',
    text: 'FROM busybox\nWORKDIR\n',
    kind: 'arguments',
    line: 2,
    column: 1,
    detail: 'WORKDIR requires exactly one argument',
  },
  {
    name: 'SHELL in shell form',
    text: 'FROM busybox\nSHELL /bin/bash -c\n',
    kind: 'arguments',
    line: 2,
    column: 1,
    detail: 'SHELL requires the arguments to be in JSON form',
  },
  {
    name: 'RUN without a command',
    text: 'FROM busybox\nRUN\n',
    kind: 'arguments',
    line: 2,
    column: 1,
    detail: 'RUN requires at least one argument',
  },
  {
    name: 'RUN with an empty exec form',
    text: 'FROM busybox\nRUN []\n',
    kind: 'arguments',
    line: 2,
    column: 1,
    detail: 'RUN requires at least one argument',
  },
  {
    name: 'ARG with a blank name',
    text: 'ARG =x\nFROM busybox\n',
    kind: 'arguments',
    line: 1,
    column: 1,
    detail: 'ARG names can not be blank',
  },
  {
    name: 'ONBUILD ONBUILD',
    text: 'FROM busybox\nONBUILD ONBUILD RUN true\n',
    kind: 'arguments',
    line: 2,
    column: 1,
    detail: "chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed",
  },
  {
    name: 'FROM as an ONBUILD trigger',
    text: 'FROM busybox\nONBUILD FROM alpine\n',
    kind: 'arguments',
    line: 2,
    column: 1,
    detail: "FROM isn't allowed as an ONBUILD trigger",
  },
  {
    name: 'an instruction before the first FROM',
    text: 'ARG A=1\n\nENV B=2\nFROM busybox\n',
    kind: 'stage',
    line: 3,
    column: 1,
    detail: 'ENV before the first FROM',
  },
  {
    name: 'only ARGs, no FROM',
    text: 'ARG A=1\nARG B=2\n',
    kind: 'stage',
    line: 2,
    column: 1,
    detail: 'no build stage: the Dockerfile has no FROM',
  },
  {
    name: 'two stages with the same name, differently cased',
    text: 'FROM busybox AS build\nRUN true\nFROM alpine AS Build\n',
    kind: 'stage',
    line: 3,
    column: 1,
    detail: 'duplicate stage name "build"',
    suggestion: /first is at line 1/,
  },
];

function failure(text: string): DockerfileSyntaxError {
  try {
    parseInstructions(parse(text));
  } catch (err) {
    if (err instanceof DockerfileSyntaxError) return err;
    throw err;
  }
  assert.fail(`no error for ${JSON.stringify(text)}`);
}

test('syntax errors name the kind, line and column and quote the line', () => {
  for (const row of ROWS) {
    const err = failure(row.text);
    const where = `${row.name}: ${err.message}`;
    assert.equal(err.kind, row.kind, where);
    assert.equal(err.line, row.line, where);
    assert.equal(err.column, row.column, where);
    assert.equal(err.detail, row.detail, where);
    assert.equal(err.code, 'DOCKERFILE_SYNTAX', where);
    assert.equal(err.phase, 'parse', where);
    assert.ok(GantryError.is(err), where);
    const quoted = (row.text.split('\n')[row.line - 1] ?? '').trim();
    const expected = quoted
      ? `Dockerfile:${row.line}:${row.column}: ${row.detail} (at \`${quoted}\`)`
      : `Dockerfile:${row.line}:${row.column}: ${row.detail}`;
    assert.equal(err.message, expected, where);
    assert.ok(!err.message.includes('\n'), `${where}: one line`);
    assert.ok(err.suggestion, `${where}: has a suggestion`);
    if (row.suggestion) assert.match(err.suggestion, row.suggestion, where);
  }
});

test('the file name given to parse is the one errors name', () => {
  assert.throws(
    () => parse('FROM a\nFORM b\n', { file: 'build/Containerfile' }),
    (err: unknown) => err instanceof DockerfileSyntaxError && err.message.startsWith('build/Containerfile:2:1: '),
  );
});

test('a very long line is quoted shortened', () => {
  const long = `FORM ${'x'.repeat(300)}`;
  const err = failure(`FROM a\n${long}\n`);
  assert.ok(err.message.length < 200, err.message);
  assert.ok(err.message.includes('...`)'), err.message);
  assert.equal(err.text, long);
});

test('positions are found whatever the case of the keyword or directive', () => {
  assert.throws(
    () => parse('# ESCAPE=x\nFROM a\n'),
    (err: unknown) => err instanceof DockerfileSyntaxError && err.line === 1 && err.column === 3,
  );
  const err = failure('FROM a\nhealthcheck --interval=1us cmd true\n');
  assert.equal(err.column, 13);
});
