// biome-ignore-all lint/suspicious/noTemplateCurlyInString: Dockerfile text holds ${...} as data
// The build checks BuildKit documents (docker build --check): each rule fires on the Dockerfile
// its reference shows as bad, stays quiet on the good one, and `# check=skip=` turns it off.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { baseImages, lint, parse } from '../../src/dockerfile/index.js';

function codes(text: string, ignored?: (p: string) => boolean): string[] {
  return lint(parse(text), ignored ? { ignored } : {}).map((w) => w.code);
}

const CASES: readonly { rule: string; bad: string; good: string; ignored?: (p: string) => boolean }[] = [
  { rule: 'FromAsCasing', bad: 'FROM busybox as build\n', good: 'FROM busybox AS build\n' },
  {
    rule: 'ConsistentInstructionCasing',
    bad: 'FROM busybox\nRUN true\nrun true\nCOPY a b\n',
    good: 'from busybox\nrun true\ncopy a b\n',
  },
  {
    rule: 'DuplicateStageName',
    bad: 'FROM busybox AS a\nFROM busybox AS a\n',
    good: 'FROM busybox AS a\nFROM busybox AS b\n',
  },
  { rule: 'UndefinedArgInFrom', bad: 'FROM busybox:${TAG}\n', good: 'ARG TAG=1\nFROM busybox:${TAG}\n' },
  {
    rule: 'InvalidDefaultArgInFrom',
    bad: 'ARG TAG\nFROM busybox:${TAG}\n',
    good: 'ARG TAG=latest\nFROM busybox:${TAG}\n',
  },
  {
    rule: 'FromPlatformFlagConstDisallowed',
    bad: 'FROM --platform=linux/amd64 busybox\n',
    good: 'FROM --platform=$BUILDPLATFORM busybox\n',
  },
  { rule: 'WorkdirRelativePath', bad: 'FROM busybox\nWORKDIR app\n', good: 'FROM busybox\nWORKDIR /app\n' },
  {
    rule: 'UndefinedVar',
    bad: 'FROM busybox\nENV A=$NOPE\n',
    good: 'FROM busybox\nARG NOPE\nENV A=$NOPE B=$PATH C=${D:-x}\n',
  },
  {
    rule: 'MultipleInstructionsDisallowed',
    bad: 'FROM busybox\nCMD ["a"]\nCMD ["b"]\n',
    good: 'FROM busybox\nCMD ["a"]\nFROM busybox\nCMD ["b"]\n',
  },
  {
    rule: 'SecretsUsedInArgOrEnv',
    bad: 'FROM busybox\nARG AWS_SECRET_ACCESS_KEY\n',
    good: 'FROM busybox\nARG PUBLIC_KEY\nENV KEYBOARD=us\n',
  },
  {
    rule: 'CopyIgnoredFile',
    bad: 'FROM busybox\nCOPY secret.txt /s\n',
    good: 'FROM busybox\nCOPY app.txt /a\nCOPY --from=busybox secret.txt /s\n',
    ignored: (p) => p === 'secret.txt',
  },
];

for (const c of CASES) {
  test(`lint ${c.rule}: fires on the bad example, not on the good one, and check=skip turns it off`, () => {
    assert.ok(codes(c.bad, c.ignored).includes(c.rule), `${c.rule} in ${JSON.stringify(codes(c.bad, c.ignored))}`);
    assert.ok(
      !codes(c.good, c.ignored).includes(c.rule),
      `${c.rule} not in ${JSON.stringify(codes(c.good, c.ignored))}`,
    );
    assert.ok(!codes(`# check=skip=${c.rule}\n${c.bad}`, c.ignored).includes(c.rule));
  });
}

test('lint: messages and lines as BuildKit words them', () => {
  const w = lint(parse('FROM busybox\nWORKDIR app\n'));
  assert.deepEqual(w, [
    {
      code: 'WorkdirRelativePath',
      message: 'Relative workdir "app" can have unexpected results if the base image changes',
      line: 2,
    },
  ]);
  assert.deepEqual(lint(parse('# check=skip=all\nFROM busybox as x\nWORKDIR app\n')), []);
});

test('lint UndefinedVar: a variable the base image ENV sets is defined (by FROM name, global ARGs applied)', () => {
  const text =
    'ARG IMG=busybox\nFROM ${IMG}:1 AS a\nENV A=$FROM_BASE\nFROM a\nENV B=$FROM_BASE\nFROM other\nENV C=$FROM_BASE\n';
  const seen: string[] = [];
  const baseEnv = (image: string) => {
    seen.push(image);
    return image === 'busybox:1' ? new Set(['FROM_BASE']) : undefined;
  };
  const w = lint(parse(text), { baseEnv }).filter((x) => x.code === 'UndefinedVar');
  // Stage a has it from its base, stage 2 from stage a; `other` does not set it.
  assert.deepEqual(
    w.map((x) => x.line),
    [7],
  );
  assert.deepEqual(seen, ['busybox:1', 'other']);
  // A build arg overrides the global default in FROM.
  const over = lint(parse(text), { baseEnv, buildArgs: { IMG: 'alpine' } }).filter((x) => x.code === 'UndefinedVar');
  assert.deepEqual(
    over.map((x) => x.line),
    [3, 5, 7],
  );
  assert.deepEqual(baseImages(parse(text)), ['busybox:1', 'other']);
  assert.equal(lint(parse(text)).filter((x) => x.code === 'UndefinedVar').length, 3);
});
