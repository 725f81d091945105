// Pins that every error code gantry throws is documented: in ERROR_CODES (the const union library
// callers compare against) and in docs/errors.md. A new code in src/ without both fails here.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { test } from 'node:test';
import { ERROR_CODES, GantryError, isErrorCode } from '../src/errors.js';

const root = resolve(dirname(new URL(import.meta.url).pathname), '..', '..');

function walk(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...walk(p));
    else if (e.name.endsWith('.ts')) out.push(p);
  }
  return out;
}

// Calls whose first argument is an upper-case string that is not an error code.
const NOT_CODES = /(?:^|\.)(?:on|off|once|kill|platformArgs)$/;

/** Every error code literal in the sources, with where it is used. */
function codesIn(files: string[]): Map<string, string> {
  const found = new Map<string, string>();
  const add = (code: string, file: string) => {
    if (!found.has(code)) found.set(code, file);
  };
  for (const file of files) {
    const text = readFileSync(file, 'utf8');
    // `new GantryError('CODE', ...)`, `super('CODE', ...)`, and helpers that take the code first
    // (`usage('CODE', ...)`), also when the arguments start on the next line.
    for (const m of text.matchAll(/([\w.#]+)\(\s*'([A-Z][A-Z0-9_]{2,})'\s*,/g)) {
      if (!NOT_CODES.test(m[1] as string)) add(m[2] as string, file);
    }
    // Codes chosen by assignment or returned by a mapping (registry status codes).
    for (const m of text.matchAll(/\bcode = '([A-Z][A-Z0-9_]{2,})'/g)) add(m[1] as string, file);
    for (const m of text.matchAll(/\breturn (?:[^;\n?]*\? )?'([A-Z][A-Z0-9_]{2,})'(?: : '([A-Z][A-Z0-9_]{2,})')?;/g)) {
      add(m[1] as string, file);
      if (m[2]) add(m[2], file);
    }
    // Union types of codes (the OCI distribution codes, the transport codes).
    for (const m of text.matchAll(/(?:type \w*Code =|code:)((?:\s*\|?\s*'[A-Z][A-Z0-9_]+')+)/g)) {
      if (!(m[1] as string).includes('|')) continue; // `{ code: 'ECONNRESET' }` is Node's, not ours
      for (const c of (m[1] as string).matchAll(/'([A-Z][A-Z0-9_]+)'/g)) add(c[1] as string, file);
    }
  }
  return found;
}

function undocumented(files: string[]): string[] {
  return [...codesIn(files)]
    .filter(([code]) => !isErrorCode(code))
    .map(([code, file]) => `${code} (${file.slice(root.length + 1)})`);
}

test('every error code used in src/ is in ERROR_CODES', () => {
  const src = walk(join(root, 'src'));
  const codes = codesIn(src);
  // The scan must see the codes, or this test could not fail.
  assert.ok(codes.size > 100, `only ${codes.size} codes found`);
  for (const c of ['USAGE', 'RUN_FAILED', 'BLOB_UNKNOWN', 'REGISTRY_UNAVAILABLE', 'CONNECTION_FAILED', 'UNSAFE_PATH'])
    assert.ok(codes.has(c), `the scan misses ${c}`);
  assert.deepEqual(
    undocumented(src),
    [],
    'add these codes to ERROR_CODES in src/errors.ts, then run scripts/error-docs.mjs',
  );
});

test('the scan catches an undocumented code in every form it is written', () => {
  const tmp = mkdtempSync(join(tmpdir(), 'gantry-codes-'));
  try {
    mkdirSync(join(tmp, 'x'));
    writeFileSync(
      join(tmp, 'x', 'a.ts'),
      [
        "throw new GantryError('NEW_CODE_ONE', 'm');",
        "throw new GantryError(\n      'NEW_CODE_TWO',\n      'm');",
        "throw fail('NEW_CODE_THREE', 'm', 's');",
        "if (x) code = 'NEW_CODE_FOUR';",
        "process.on('SIGINT', f);",
        "type FooCode = 'NEW_CODE_FIVE' | 'USAGE';",
      ].join('\n'),
    );
    const found = undocumented(walk(tmp)).map((s) => s.split(' ')[0]);
    assert.deepEqual(found.sort(), [
      'NEW_CODE_FIVE',
      'NEW_CODE_FOUR',
      'NEW_CODE_ONE',
      'NEW_CODE_THREE',
      'NEW_CODE_TWO',
    ]);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
});

test('every code has a meaning, and docs/errors.md is the table of ERROR_CODES', async () => {
  for (const [code, text] of Object.entries(ERROR_CODES)) {
    assert.match(code, /^[A-Z][A-Z0-9_]+$/);
    assert.ok(text.trim().length > 10, `${code} has no meaning`);
  }
  const script = join(root, 'scripts', 'error-docs.mjs');
  const { renderErrorDocs } = (await import(script)) as { renderErrorDocs(codes: object): string };
  assert.equal(
    readFileSync(join(root, 'docs', 'errors.md'), 'utf8'),
    renderErrorDocs(ERROR_CODES),
    'docs/errors.md is stale: run npm run build && node scripts/error-docs.mjs',
  );
});

test('a GantryError carries its code, and isErrorCode tells documented codes', () => {
  const err = new GantryError('IMAGE_NOT_FOUND', 'gone');
  assert.equal(err.code, 'IMAGE_NOT_FOUND');
  assert.ok(isErrorCode(err.code));
  assert.equal(isErrorCode('NO_SUCH_CODE'), false);
  assert.equal(isErrorCode('toString'), false);
});
