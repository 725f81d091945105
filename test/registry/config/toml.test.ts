// The TOML subset parser behind registries.toml: what it accepts (table-driven against the values
// TOML defines) and what it refuses, each refusal with the line it is on.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parseToml } from '../../../src/util/toml.js';

describe('parseToml accepts', () => {
  const good: [string, string, unknown][] = [
    ['an empty document', '', {}],
    ['comments and blank lines', '# a comment\n\n   # indented\n', {}],
    ['bare keys', 'a = 1\nb-c_d = true\n', { a: 1, 'b-c_d': true }],
    ['quoted keys', '"a.b" = 1\n\'c d\' = 2\n', { 'a.b': 1, 'c d': 2 }],
    ['dotted keys', 'a.b.c = 1\na.b.d = 2\n', { a: { b: { c: 1, d: 2 } } }],
    ['dotted keys with spaces', 'a . "b" = 1', { a: { b: 1 } }],
    [
      'tables with quoted keys',
      '[registry."localhost:5000"]\nhttp = true\n',
      { registry: { 'localhost:5000': { http: true } } },
    ],
    [
      'two sibling tables and an implicit parent',
      '[a.b]\nx = 1\n[a.c]\ny = 2\n[a]\nz = 3\n',
      { a: { b: { x: 1 }, c: { y: 2 }, z: 3 } },
    ],
    [
      'basic string escapes',
      'k = "tab\\tnl\\nq\\"bs\\\\u\\u00e9U\\U0001F600"',
      { k: 'tab\tnl\nq"bs\\u\u00e9U\u{1F600}' },
    ],
    ['literal strings keep backslashes', "k = 'C:\\path\\n'", { k: 'C:\\path\\n' }],
    ['booleans', 'a = true\nb = false', { a: true, b: false }],
    [
      'integers',
      'a = 42\nb = -7\nc = +3\nd = 1_000\ne = 0\nf = 0xff\ng = 0o17\nh = 0b101',
      {
        a: 42,
        b: -7,
        c: 3,
        d: 1000,
        e: 0,
        f: 255,
        g: 15,
        h: 5,
      },
    ],
    ['arrays', 'a = [1, 2, 3]\nb = []\nc = ["x", \'y\']', { a: [1, 2, 3], b: [], c: ['x', 'y'] }],
    [
      'multi-line arrays with comments and a trailing comma',
      'mirrors = [\n  "one", # first\n  # between\n  "two",\n]\nafter = 1\n',
      { mirrors: ['one', 'two'], after: 1 },
    ],
    ['nested arrays', 'a = [[1, 2], ["x"]]', { a: [[1, 2], ['x']] }],
    ['a trailing comment after a value', 'a = "x" # note\n', { a: 'x' }],
    ['CRLF line ends', 'a = 1\r\n[t]\r\nb = 2\r\n', { a: 1, t: { b: 2 } }],
    ['a byte order mark', '\uFEFFa = 1', { a: 1 }],
    ['a hash inside a string', 'a = "x # not a comment"', { a: 'x # not a comment' }],
  ];
  for (const [name, text, expected] of good) {
    test(name, () => {
      assert.deepEqual(parseToml(text), expected);
    });
  }

  test('__proto__ is an ordinary key, not a prototype', () => {
    const doc = parseToml('"__proto__" = 1\n[constructor]\nx = 2\n') as Record<string, unknown>;
    assert.equal(Object.getPrototypeOf(doc), Object.prototype);
    assert.deepEqual(Object.keys(doc), ['__proto__', 'constructor']);
    assert.equal(Object.getOwnPropertyDescriptor(doc, '__proto__')?.value, 1);
    assert.equal(({} as Record<string, unknown>).x, undefined);
  });
});

describe('parseToml refuses, naming the line', () => {
  const bad: [string, string, string][] = [
    ['a float', 'a = 1\nb = 1.5', 'f.toml:2: floats are not supported (1.5)'],
    ['an exponent', 'a = 1e3', 'f.toml:1: floats are not supported (1e3)'],
    ['inf', 'a = inf', 'f.toml:1: floats are not supported (inf)'],
    ['a date', '\n\na = 1979-05-27', 'f.toml:3: dates and times are not supported (1979-05-27)'],
    ['an inline table', 'a = { b = 1 }', 'f.toml:1: inline tables ({...}) are not supported; use a [table] header'],
    ['a multi-line string', 'a = """x"""', 'f.toml:1: multi-line strings are not supported'],
    ['a multi-line literal string', "a = '''x'''", 'f.toml:1: multi-line strings are not supported'],
    ['an array of tables', '\n[[t]]', 'f.toml:2: arrays of tables ([[...]]) are not supported'],
    ['an unquoted string', 'a = hello', 'f.toml:1: invalid value "hello"; quote strings ("...")'],
    ['a leading zero', 'a = 007', 'f.toml:1: invalid value "007"; quote strings ("...")'],
    ['a doubled underscore', 'a = 1__0', 'f.toml:1: invalid value "1__0"; quote strings ("...")'],
    ['an unterminated string', 'a = 1\nb = "open\nc = 2', 'f.toml:2: unterminated string'],
    ['an unterminated literal string', "a = 'open\n'", 'f.toml:1: unterminated string'],
    ['an unknown escape', 'a = "\\q"', 'f.toml:1: invalid escape \\q in a string'],
    ['a short \\u escape', 'a = "\\u12"', 'f.toml:1: \\u needs 4 hex digits'],
    ['a surrogate escape', 'a = "\\uD800"', 'f.toml:1: \\uD800 is not a Unicode scalar'],
    ['a control character in a string', 'a = "x\u0001"', 'f.toml:1: control character in a string; escape it'],
    ['a duplicate key', 'a = 1\na = 2', 'f.toml:2: key a is defined twice'],
    ['a duplicate table', '[t]\n[u]\n[t]', 'f.toml:3: table [t] is defined twice'],
    ['a table over a value', 'a = 1\n[a.b]', 'f.toml:2: table [a] is already defined as a value'],
    ['a dotted key through a value', 'a = 1\na.b = 2', 'f.toml:2: key a is already defined as a value'],
    ['two values on a line', 'a = 1 b = 2', 'f.toml:1: unexpected "b" after the value; put one key = value per line'],
    ['a missing =', 'a 1', 'f.toml:1: expected \'=\' after the key a, found "1"'],
    ['a missing value', 'a =\nb = 1', 'f.toml:1: expected a value after ='],
    ['a missing key', '= 1', 'f.toml:1: expected a key, found "="'],
    ['an unclosed header', '[t\nx = 1', "f.toml:1: expected ']' to close the table header, found end of line"],
    ['an unterminated array', 'a = [1,\n 2\n', "f.toml:3: unterminated array: expected ']'"],
    ['an array without commas', 'a = [1 2]', "f.toml:1: expected ',' or ']' in the array, found \"2\""],
    ['a huge integer', 'a = 9007199254740993', 'f.toml:1: integer 9007199254740993 is too large'],
    ['a lone carriage return', 'a = 1\rb = 2', 'f.toml:1: a carriage return must be followed by a line feed'],
  ];
  for (const [name, text, message] of bad) {
    test(name, () => {
      assert.throws(
        () => parseToml(text, { source: 'f.toml' }),
        (err: Error & { code?: string; phase?: string; suggestion?: string }) => {
          assert.equal(err.message, message);
          assert.equal(err.code, 'BAD_CONFIG');
          assert.equal(err.phase, 'config');
          assert.ok(err.suggestion);
          return true;
        },
      );
    });
  }
});
