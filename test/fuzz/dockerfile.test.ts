// biome-ignore-all lint/suspicious/noTemplateCurlyInString: Dockerfile text holds ${...} as data
// Fuzz target: the Dockerfile parser, the typed instructions and shell-word expansion. Inputs are
// lines built from Dockerfile's own vocabulary (instructions, flags, heredocs, directives,
// continuations, quotes, $ expansions) mixed with arbitrary strings. Every stage must parse, type
// and expand, or fail with a GantryError (DockerfileSyntaxError and friends); never another
// exception, never a hang.
import { test } from 'node:test';
import fc from 'fast-check';
import { envLookup, expandInstruction, parse, parseInstructions } from '../../src/dockerfile/index.js';
import { FUZZ_TIMEOUT_MS, fuzz } from './harness.js';

const words = [
  'FROM',
  'RUN',
  'CMD',
  'COPY',
  'ADD',
  'ENV',
  'ARG',
  'LABEL',
  'WORKDIR',
  'USER',
  'EXPOSE',
  'VOLUME',
  'ENTRYPOINT',
  'SHELL',
  'HEALTHCHECK',
  'ONBUILD',
  'STOPSIGNAL',
  'MAINTAINER',
  'AS',
  'base',
  'alpine:3',
  'scratch',
  '--from=base',
  '--chown=1:1',
  '--chmod=755',
  '--link',
  '--mount=type=cache,target=/c',
  '--mount=type=secret,id=s',
  '--mount=type=bind,from=base,source=/,target=/x',
  '--network=none',
  '--platform=$BUILDPLATFORM',
  '--interval=5s',
  '--retries=3',
  'NONE',
  '<<EOF',
  '<<-EOT',
  'EOF',
  'EOT',
  '$A',
  '${A}',
  '${A:-d}',
  '${A:+x}',
  '${A#*}',
  '${A%%.*}',
  '${',
  '}',
  '$',
  '\\',
  '`',
  '"',
  "'",
  '[',
  ']',
  '["sh","-c"]',
  '[ "a" , ',
  '=',
  'A=1',
  'B="x y"',
  '# syntax=docker/dockerfile:1',
  '# escape=`',
  '# check=skip=all',
  '&&',
  '|',
  ';',
  '\t',
  ' ',
  '.',
  '/',
  '../',
  '*',
  '**',
  '?',
  '8080/tcp',
  '0',
  '-1',
];

const token = fc.oneof(
  { weight: 8, arbitrary: fc.constantFrom(...words) },
  { weight: 1, arbitrary: fc.string({ maxLength: 12 }) },
);
const line = fc.array(token, { maxLength: 8 }).map((ts) => ts.join(' '));
const sep = fc.constantFrom('\n', '\n', '\n', ' \\\n', '\r\n', '\n\n');
const dockerfile = fc
  .array(fc.tuple(line, sep), { minLength: 1, maxLength: 14 })
  .map((ls) => ls.map(([l, s]) => l + s).join(''));

test('fuzz: the Dockerfile parser, instructions and expansion', { timeout: FUZZ_TIMEOUT_MS }, async (t) => {
  const env = envLookup({ A: 'a.b.c', BUILDPLATFORM: 'linux/amd64', HOME: '/root' });
  await fuzz(t, fc.oneof(dockerfile, fc.string({ maxLength: 400 })), (text) => {
    const parsed = parse(text);
    const typed = parseInstructions(parsed);
    for (const stage of typed.stages) {
      for (const instr of [stage.from, ...stage.instructions]) {
        expandInstruction(instr, env, { escape: parsed.directives.escape });
      }
    }
  });
});
