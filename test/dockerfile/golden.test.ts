// Golden files for the Dockerfile front end: each test/dockerfile/golden/NAME.Dockerfile is
// parsed, turned into typed stages, and each instruction expanded with a fixed set of variables;
// the JSON of all that must equal NAME.json. A file that does not parse records its error
// (code, kind, line, column, message) instead. The comparison is of JSON values, not text, so
// the files may be formatted by biome. UPDATE_GOLDEN=1 rewrites the JSON files (then run
// `npx biome format --write test/dockerfile/golden` and review the diff before committing).
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import {
  DockerfileExpansionError,
  DockerfileSyntaxError,
  envLookup,
  expandInstruction,
  type Instruction,
  parse,
  parseInstructions,
} from '../../src/dockerfile/index.js';

const here = dirname(fileURLToPath(import.meta.url));
// Compiled to dist/test/dockerfile; the golden files stay in the source tree.
const goldenDir = resolve(here, '..', '..', '..', 'test', 'dockerfile', 'golden');
const update = process.env.UPDATE_GOLDEN === '1';

// The variables every instruction is expanded with: a stand-in for the engine's ARG/ENV scope.
const ENV = envLookup({
  A: '1',
  HOME: '/root',
  PORT: '9000',
  SUB: 'sub',
  REGISTRY: 'registry.example',
  BASE_TAG: '3.19',
  NODE_VERSION: '20.11.1',
  BUILDPLATFORM: 'linux/amd64',
  TARGETOS: 'linux',
  TARGETARCH: 'arm64',
  UID: '10001',
});

function errorJSON(err: unknown): unknown {
  if (err instanceof DockerfileSyntaxError) {
    return {
      code: err.code,
      kind: err.kind,
      line: err.line,
      column: err.column,
      message: err.message,
      suggestion: err.suggestion,
    };
  }
  if (err instanceof DockerfileExpansionError) return { code: err.code, line: err.line, message: err.message };
  throw err;
}

function expanded(instr: Instruction, escape: '\\' | '`'): unknown {
  const used = new Set<string>();
  const unset = new Set<string>();
  try {
    const out = expandInstruction(instr, ENV, { escape, used, unset });
    if (out === instr) return 'unchanged';
    return { instruction: out, used: [...used], unset: [...unset] };
  } catch (err) {
    return { error: errorJSON(err) };
  }
}

function golden(text: string, file: string): unknown {
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse(text, { file });
  } catch (err) {
    return { error: errorJSON(err) };
  }
  const { directives, warnings, ast } = parsed;
  let typed: ReturnType<typeof parseInstructions>;
  try {
    typed = parseInstructions(parsed);
  } catch (err) {
    return { directives, warnings, ast, error: errorJSON(err) };
  }
  const escape = directives.escape;
  return {
    directives,
    warnings,
    ast,
    globalArgs: typed.globalArgs,
    stages: typed.stages,
    instructionWarnings: typed.warnings,
    expanded: typed.stages.map((s) => [s.from, ...s.instructions].map((i) => expanded(i, escape))),
  };
}

const files = readdirSync(goldenDir)
  .filter((f) => f.endsWith('.Dockerfile'))
  .sort();

test('there are golden Dockerfiles for every feature', () => {
  assert.ok(files.length >= 25, `only ${files.length} golden Dockerfiles`);
});

for (const name of files) {
  test(`golden: ${name}`, () => {
    const text = readFileSync(join(goldenDir, name), 'utf8');
    // Through a JSON round trip, so that the comparison sees what the file can hold.
    const got: unknown = JSON.parse(JSON.stringify(golden(text, name)));
    const jsonPath = join(goldenDir, name.replace(/\.Dockerfile$/, '.json'));
    if (update) {
      writeFileSync(jsonPath, `${JSON.stringify(got, null, 2)}\n`);
      return;
    }
    let want: unknown;
    try {
      want = JSON.parse(readFileSync(jsonPath, 'utf8'));
    } catch {
      assert.fail(`${jsonPath} is missing or not JSON: run the tests with UPDATE_GOLDEN=1 and review it`);
    }
    assert.deepEqual(got, want);
  });
}
