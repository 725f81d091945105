// biome-ignore-all lint/suspicious/noTemplateCurlyInString: the strings are shell words; ${...} in them is data
// Pins shell-word expansion to BuildKit's lexer (frontend/dockerfile/shell): the rows of its
// envVarTest file and of its TestProcessWithMatches / TestShellParserMandatoryEnvVars tables,
// plus word splitting, the backtick escape, the raw modes the parser uses for heredocs, and the
// variables each word reports for cache keys.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  envLookup,
  expand,
  expandWords,
  processWord,
  ShellExpansionError,
  type ShellOptions,
} from '../../src/dockerfile/index.js';

const ERROR = Symbol('error');
type Row = readonly [input: string, expected: string | typeof ERROR];

// BuildKit's envVarTest, run with PWD=/home SHELL=bash KOREAN=한국어 NULL= (the Unix rows).
const ENV_VAR_ROWS: readonly Row[] = [
  ['hello', 'hello'],
  ["he'll'o", 'hello'],
  ["he'llo", ERROR],
  ["he\\'llo", "he'llo"],
  ["he\\\\'llo", ERROR],
  ['abc\\tdef', 'abctdef'],
  ['"abc\\tdef"', 'abc\\tdef'],
  ['"abc\\\\tdef"', 'abc\\tdef'],
  ["'abc\\tdef'", 'abc\\tdef'],
  ['hello\\', 'hello'],
  ['hello\\\\', 'hello\\'],
  ['"hello', ERROR],
  ['"hello\\"', ERROR],
  ['"hel\'lo"', "hel'lo"],
  ["'hello", ERROR],
  ["'hello\\'", 'hello\\'],
  ["'hello\\there'", 'hello\\there'],
  ["'hello\\\\there'", 'hello\\\\there'],
  ['"\'\'"', "''"],
  ['$.', '$.'],
  ['he$1x', 'hex'],
  ['he$.x', 'he$.x'],
  ['he$pwd.', 'he.'],
  ['he$PWD', 'he/home'],
  ['he\\$PWD', 'he$PWD'],
  ['he\\\\$PWD', 'he\\/home'],
  ['"he\\$PWD"', 'he$PWD'],
  ['"he\\\\$PWD"', 'he\\/home'],
  ['\\${}', '${}'],
  ['\\${}aaa', '${}aaa'],
  ['he\\${}', 'he${}'],
  ['he\\${}xx', 'he${}xx'],
  ['${}', ERROR],
  ['${}aaa', ERROR],
  ['he${}', ERROR],
  ['he${}xx', ERROR],
  ['he${hi}', 'he'],
  ['he${hi}xx', 'hexx'],
  ['he${PWD}', 'he/home'],
  ['he${.}', ERROR],
  ['he${XXX:-000}xx', 'he000xx'],
  ['he${PWD:-000}xx', 'he/homexx'],
  ['he${XXX:-$PWD}xx', 'he/homexx'],
  ['he${XXX:-${PWD:-yyy}}xx', 'he/homexx'],
  ['he${XXX:-${YYY:-yyy}}xx', 'heyyyxx'],
  ['he${XXX:YYY}', ERROR],
  ['he${XXX:+${PWD}}xx', 'hexx'],
  ['he${PWD:+${XXX}}xx', 'hexx'],
  ['he${PWD:+${SHELL}}xx', 'hebashxx'],
  ['he${XXX:+000}xx', 'hexx'],
  ['he${PWD:+000}xx', 'he000xx'],
  ["'he${XX}'", 'he${XX}'],
  ['"he${PWD}"', 'he/home'],
  ['"he\'$PWD\'"', "he'/home'"],
  ['"$PWD"', '/home'],
  ["'$PWD'", '$PWD'],
  ["'\\$PWD'", '\\$PWD'],
  ['\'"hello"\'', '"hello"'],
  ["'he\\$PWD'", 'he\\$PWD'],
  ['he${PWD', ERROR],
  ['he${PWD:=000}xx', ERROR],
  ['he${PWD:+${PWD}:}xx', 'he/home:xx'],
  ['he${XXX:-\\$PWD:}xx', 'he$PWD:xx'],
  ['he${XXX:-\\${PWD}z}xx', 'he${PWDz}xx'],
  ['안녕하세요', '안녕하세요'],
  ["안'녕'하세요", '안녕하세요'],
  ["안'녕하세요", ERROR],
  ["안녕\\'하세요", "안녕'하세요"],
  ['안녕\\t하세요', '안녕t하세요'],
  ['"안녕\\t하세요"', '안녕\\t하세요'],
  ['안녕$1x', '안녕x'],
  ['안녕${XXX:-${YYY:-yyy}}xx', '안녕yyyxx'],
  ['$KOREAN', '한국어'],
  ['안녕$KOREAN', '안녕한국어'],
  ['${{aaa}', ERROR],
  ['${aaa}}', '}'],
  ['${aaa', ERROR],
  ['${{aaa:-bbb}', ERROR],
  ['${aaa:-bbb}}', 'bbb}'],
  ['${aaa:-bbb', ERROR],
  ['${aaa:-bbb}', 'bbb'],
  ['${aaa:-${bbb:-ccc}}', 'ccc'],
  ['${aaa:-bbb ${foo}', ERROR],
  ['${aaa:-bbb {foo}', 'bbb {foo'],
  ['${:}', ERROR],
  ['${:-bbb}', ERROR],
  ['${:+bbb}', ERROR],
  // Positional and special parameters are never set in a Dockerfile.
  ['$1', ''],
  ['${1}', ''],
  ['${1:+bbb}', ''],
  ['${1:-bbb}', 'bbb'],
  ['$999aaa', 'aaa'],
  ['${999:-bbb}aaa', 'bbbaaa'],
  ['$001aaa', 'aaa'],
  ['$@@@', '@@'],
  ['$@aaa', 'aaa'],
  ['${@:-bbb}aaa', 'bbbaaa'],
  ['${*:-bbb}', 'bbb'],
  ['${#}', ''],
  ['${#:-bbb}', 'bbb'],
  ['${?:+bbb}', ''],
  ['${-:-bbb}', 'bbb'],
  ['$$', ''],
  ['${$:-bbb}', 'bbb'],
  ['${!}', ''],
  ['$0', ''],
  ['${0:-bbb}', 'bbb'],
  // Set-but-empty versus unset: the colon forms treat empty as unset.
  ['${NULL-x}', ''],
  ['${NULL:-x}', 'x'],
  ['${NULL+x}', 'x'],
  ['${NULL:+x}', ''],
  ['${NULL?}', ''],
  ['${NULL:?}', ERROR],
  ['${UNSET?}', ERROR],
  ['${UNSET-x}', 'x'],
  ['${UNSET+x}', ''],
  ['${PWD-x}', '/home'],
];

test('envVarTest rows expand as BuildKit expands them', () => {
  const env = envLookup(['PWD=/home', 'SHELL=bash', 'KOREAN=한국어', 'NULL=']);
  assert.ok(ENV_VAR_ROWS.length >= 80);
  for (const [input, expected] of ENV_VAR_ROWS) {
    if (expected === ERROR) {
      assert.throws(() => expand(input, env), ShellExpansionError, `input ${JSON.stringify(input)} should fail`);
    } else {
      assert.equal(expand(input, env), expected, `input ${JSON.stringify(input)}`);
    }
  }
});

interface MatchRow {
  readonly input: string;
  readonly env: Readonly<Record<string, string>>;
  readonly expected: string | typeof ERROR;
  readonly used?: readonly string[];
  readonly unset?: readonly string[];
}

// BuildKit's TestProcessWithMatches: the result and which variables were found or not.
const MATCH_ROWS: readonly MatchRow[] = [
  { input: 'x', env: { DUMMY: 'dummy' }, expected: 'x' },
  { input: 'x ${UNUSED}', env: { DUMMY: 'dummy' }, expected: 'x ', unset: ['UNUSED'] },
  { input: 'x ${FOO}', env: { FOO: 'y' }, expected: 'x y', used: ['FOO'] },
  {
    input: '${FOO-aaa} ${BAR-bbb} ${BAZ-ccc}',
    env: { FOO: 'xxx', BAR: '' },
    expected: 'xxx  ccc',
    used: ['FOO', 'BAR'],
    unset: ['BAZ'],
  },
  {
    input: '${FOO:-aaa} ${BAR:-bbb} ${BAZ:-ccc}',
    env: { FOO: 'xxx', BAR: '' },
    expected: 'xxx bbb ccc',
    used: ['FOO', 'BAR'],
    unset: ['BAZ'],
  },
  { input: '${FOO:-}', env: { FOO: 'xxx', BAR: '' }, expected: 'xxx', used: ['FOO'] },
  { input: '${FOO:-}', env: {}, expected: '', unset: ['FOO'] },
  {
    input: '${FOO+aaa} ${BAR+bbb} ${BAZ+ccc}',
    env: { FOO: 'xxx', BAR: '' },
    expected: 'aaa bbb ',
    used: ['FOO', 'BAR'],
    unset: ['BAZ'],
  },
  {
    input: '${FOO:+aaa} ${BAR:+bbb} ${BAZ:+ccc}',
    env: { FOO: 'xxx', BAR: '' },
    expected: 'aaa  ',
    used: ['FOO', 'BAR'],
    unset: ['BAZ'],
  },
  { input: '${FOO?aaa}', env: { FOO: 'xxx', BAR: '' }, expected: 'xxx', used: ['FOO'] },
  { input: '${BAR?bbb}', env: { FOO: 'xxx', BAR: '' }, expected: '', used: ['BAR'] },
  { input: '${BAZ?ccc}', env: { FOO: 'xxx', BAR: '' }, expected: ERROR },
  { input: '${FOO:?aaa}', env: { FOO: 'xxx', BAR: '' }, expected: 'xxx', used: ['FOO'] },
  { input: '${BAR:?bbb}', env: { FOO: 'xxx', BAR: '' }, expected: ERROR },
  { input: '${BAZ:?ccc}', env: { FOO: 'xxx', BAR: '' }, expected: ERROR },
  { input: '${BAZ:?}', env: { FOO: 'xxx', BAR: '' }, expected: ERROR },
  { input: '${FOO=aaa}', env: { FOO: 'xxx', BAR: '' }, expected: ERROR },
  { input: '${FOO=:aaa}', env: { FOO: 'xxx', BAR: '' }, expected: ERROR },
  { input: '${FOO=}', env: {}, expected: ERROR },
  // Regular-expression characters are literal in patterns; `\}` keeps `}` from closing ${}.
  { input: '${FOO#()[]{\\}^$.\\*\\?|\\\\}', env: { FOO: '()[]{}^$.*?|\\x' }, expected: 'x', used: ['FOO'] },
  { input: '${FOO%%\\**}', env: { FOO: 'xx**' }, expected: 'xx', used: ['FOO'] },
  { input: '${FOO#*x*y}', env: { FOO: 'xxyy' }, expected: 'y', used: ['FOO'] },
  { input: '${FOO#*}', env: { FOO: 'xxyy' }, expected: 'xxyy', used: ['FOO'] },
  { input: '${FOO#$BAR}', env: { FOO: 'xxyy', BAR: 'x' }, expected: 'xyy', used: ['FOO', 'BAR'] },
  { input: '${FOO#$BAR}', env: { FOO: 'xxyy', BAR: '' }, expected: 'xxyy', used: ['FOO', 'BAR'] },
  { input: '${FOO#}', env: { FOO: 'xxyy' }, expected: 'xxyy', used: ['FOO'] },
  { input: '${FOO##*x}', env: { FOO: 'xxyy' }, expected: 'yy', used: ['FOO'] },
  { input: '${FOO##}', env: { FOO: 'xxyy' }, expected: 'xxyy', used: ['FOO'] },
  { input: '${FOO#?\\?}', env: { FOO: '???y' }, expected: '?y', used: ['FOO'] },
  { input: '${ABC:-.}${FOO%x}${ABC:-.}', env: { FOO: 'xxyy' }, expected: '.xxyy.', used: ['FOO'], unset: ['ABC'] },
  { input: '${FOO%%\\**\\*}', env: { FOO: 'a***yy*' }, expected: 'a', used: ['FOO'] },
  { input: '${FOO%}', env: { FOO: 'xxyy' }, expected: 'xxyy', used: ['FOO'] },
  { input: '${FOO%%$BAR}', env: { FOO: 'xxyy', BAR: '' }, expected: 'xxyy', used: ['FOO', 'BAR'] },
  { input: '${FOO:#}', env: {}, expected: ERROR },
  { input: '${FOO:##}', env: {}, expected: ERROR },
  { input: '${FOO:%}', env: {}, expected: ERROR },
  { input: '${FOO:%%}', env: {}, expected: ERROR },
  {
    input: '${FOO/$NEEDLE/.} - ${FOO//$NEEDLE/.}',
    env: { FOO: '/foo*/*/*.txt', NEEDLE: '\\*/' },
    expected: '/foo.*/*.txt - /foo..*.txt',
    used: ['FOO', 'NEEDLE'],
  },
  {
    input: '${FOO/$NEEDLE/} - ${FOO//$NEEDLE/}',
    env: { FOO: '/tmp/tmp/bar.txt', NEEDLE: '/tmp' },
    expected: '/tmp/bar.txt - /bar.txt',
    used: ['FOO', 'NEEDLE'],
  },
  {
    input: '${FOO/$NEEDLE/$REPLACEMENT} - ${FOO//$NEEDLE/$REPLACEMENT}',
    env: { FOO: '/a/foo/b/c.txt', NEEDLE: '/?/', REPLACEMENT: '/' },
    expected: '/foo/b/c.txt - /foo/c.txt',
    used: ['FOO', 'NEEDLE', 'REPLACEMENT'],
  },
  {
    input: '${FOO/$NEEDLE/$REPLACEMENT}',
    env: { FOO: 'http://google.de', NEEDLE: 'http://', REPLACEMENT: 'https://' },
    expected: 'https://google.de',
    used: ['FOO', 'NEEDLE', 'REPLACEMENT'],
  },
  { input: '${FOO//\\//\\/}', env: { FOO: '/tmp/foo.txt' }, expected: '\\/tmp\\/foo.txt', used: ['FOO'] },
  { input: '${FOO/$BAR/ww}', env: { FOO: 'xxyy', BAR: '' }, expected: 'wwxxyy', used: ['FOO', 'BAR'] },
  { input: '${FOO//ww}', env: { FOO: 'xxyy' }, expected: ERROR },
  { input: '${FOO//}', env: { FOO: 'xxyy' }, expected: ERROR },
  { input: '${FOO///}', env: { FOO: 'xxyy' }, expected: 'xxyy', used: ['FOO'] },
  { input: '${FOO///}', env: {}, expected: '', unset: ['FOO'] },
  // The release-file pattern BuildKit's TestProcessWithMatchesPlatform pins.
  {
    input: 'something-${VERSION}.${TARGETOS}-${TARGETARCH}${TARGETVARIANT:+-${TARGETVARIANT}}.tar.gz',
    env: { VERSION: 'v1.2.3', TARGETOS: 'linux', TARGETARCH: 'arm', TARGETVARIANT: 'v7' },
    expected: 'something-v1.2.3.linux-arm-v7.tar.gz',
    used: ['VERSION', 'TARGETOS', 'TARGETARCH', 'TARGETVARIANT'],
  },
  {
    input: 'something-${VERSION}.${TARGETOS}-${TARGETARCH}${TARGETVARIANT:+-${TARGETVARIANT}}.tar.gz',
    env: { VERSION: 'v1.2.3', TARGETOS: 'linux', TARGETARCH: 'arm64', TARGETVARIANT: '' },
    expected: 'something-v1.2.3.linux-arm64.tar.gz',
    used: ['VERSION', 'TARGETOS', 'TARGETARCH', 'TARGETVARIANT'],
  },
  // Our own rows: greedy and shortest trimming from either end, and replacement edge cases.
  { input: '${F#*/}', env: { F: 'a/b/c' }, expected: 'b/c', used: ['F'] },
  { input: '${F##*/}', env: { F: 'a/b/c' }, expected: 'c', used: ['F'] },
  { input: '${F%/*}', env: { F: 'a/b/c' }, expected: 'a/b', used: ['F'] },
  { input: '${F%%/*}', env: { F: 'a/b/c' }, expected: 'a', used: ['F'] },
  { input: '${F%.tar.gz}', env: { F: 'x.tar.gz' }, expected: 'x', used: ['F'] },
  { input: '${F#v}', env: { F: 'v1.2' }, expected: '1.2', used: ['F'] },
  { input: '${F/a/b}', env: { F: 'aaa' }, expected: 'baa', used: ['F'] },
  { input: '${F//a/b}', env: { F: 'aaa' }, expected: 'bbb', used: ['F'] },
  // Go's replace-all: an empty match right after a match is not replaced again.
  { input: '${F//*/X}', env: { F: 'abc' }, expected: 'X', used: ['F'] },
  // The replacement is a Go template: $0 is the match.
  { input: '${F//b/<\\$0>}', env: { F: 'abc' }, expected: 'a<\\b>c', used: ['F'] },
  { input: '${F/?/}', env: { F: 'abc' }, expected: 'bc', used: ['F'] },
  { input: '${F#\\x}', env: { F: 'x' }, expected: ERROR },
  { input: '${F/b/}', env: {}, expected: '', unset: ['F'] },
];

test('TestProcessWithMatches rows: results, used and unset variables', () => {
  for (const row of MATCH_ROWS) {
    const env = envLookup(row.env);
    if (row.expected === ERROR) {
      assert.throws(
        () => processWord(row.input, env),
        ShellExpansionError,
        `input ${JSON.stringify(row.input)} should fail`,
      );
      continue;
    }
    const r = processWord(row.input, env);
    assert.equal(r.value, row.expected, `input ${JSON.stringify(row.input)}`);
    assert.deepEqual([...r.usedVars].sort(), [...(row.used ?? [])].sort(), `used vars of ${row.input}`);
    assert.deepEqual([...r.unsetVars].sort(), [...(row.unset ?? [])].sort(), `unset vars of ${row.input}`);
  }
});

test('${VAR?message} and ${VAR:?message} fail with the expanded message', () => {
  const noEmpty = '${VAR:?message here$ARG}';
  const noUnset = '${VAR?message here$ARG}';
  const set = envLookup(['VAR=plain', 'ARG=x']);
  const empty = envLookup(['VAR=', 'ARG=x']);
  const unset = envLookup(['ARG=x']);
  assert.equal(expand(noEmpty, set), 'plain');
  assert.throws(() => expand(noEmpty, empty), /VAR: message herex/);
  assert.throws(() => expand(noEmpty, unset), /VAR: message herex/);
  assert.equal(expand(noUnset, set), 'plain');
  assert.equal(expand(noUnset, empty), '');
  assert.throws(() => expand(noUnset, unset), /VAR: message herex/);
  assert.throws(() => expand('${VAR?}', unset), /VAR: is not allowed to be unset/);
  assert.throws(() => expand('${VAR:?}', empty), /VAR: is not allowed to be empty/);
  const err = (() => {
    try {
      expand('${VAR?}', unset);
    } catch (e) {
      return e;
    }
    return undefined;
  })();
  assert.ok(err instanceof ShellExpansionError);
  assert.equal(err.code, 'SHELL_EXPANSION');
  assert.equal(err.word, '${VAR?}');
});

type WordsRow = readonly [input: string, expected: readonly string[] | typeof ERROR];

// Splitting into words happens after expansion; quoted text is never split (BuildKit's wordsTest).
const WORDS_ROWS: readonly WordsRow[] = [
  ['hello', ['hello']],
  ['hello${hi}bye', ['hellohibye']],
  ['hello${space}bye', ['helloabc', 'defbye']],
  ['hello"${space}"bye', ['helloabc  defbye']],
  ['hello "${space}"bye', ['hello', 'abc  defbye']],
  ['hello${leading}def', ['hello', 'ab', 'cdef']],
  ['hello"${leading}" def', ['hello  ab c', 'def']],
  ['hello"${leading}"', ['hello  ab c']],
  ['hello${leading}', ['hello', 'ab', 'c']],
  ['hello${trailing}', ['helloab', 'c']],
  ['hello${trailing}d', ['helloab', 'c', 'd']],
  ['hello"${trailing}"d', ['helloab c   d']],
  ['hel"lo${trailing}"', ['helloab c   ']],
  ['hello" there  "', ['hello there  ']],
  ['hello there     ', ['hello', 'there']],
  ['hello\\ there', ['hello there']],
  ['hello" there', ERROR],
  ['hello\\" there', ['hello"', 'there']],
  ['hello"\\\\there"', ['hello\\there']],
  ['hello"\\there"', ['hello\\there']],
  ["hello'\\\\there'", ['hello\\\\there']],
  ["hello'\\there'", ['hello\\there']],
  ["hello'$there'", ['hello$there']],
  ['  a  b  ', ['a', 'b']],
  ['""', []],
  ['"" x', ['x']],
  ['80/tcp ${ports}', ['80/tcp', '8080', '9090/udp']],
];

test('expandWords splits after expansion and honors quotes', () => {
  const env = envLookup({
    hi: 'hi',
    space: 'abc  def',
    leading: '  ab c',
    trailing: 'ab c   ',
    ports: '8080 9090/udp',
  });
  for (const [input, expected] of WORDS_ROWS) {
    if (expected === ERROR) {
      assert.throws(() => expandWords(input, env), ShellExpansionError, `input ${JSON.stringify(input)} should fail`);
    } else {
      assert.deepEqual(expandWords(input, env), expected, `input ${JSON.stringify(input)}`);
    }
  }
});

test('the backtick escape directive escapes with ` and leaves \\ literal', () => {
  const env = envLookup({ PWD: '/home' });
  const opts: ShellOptions = { escape: '`' };
  const rows: readonly Row[] = [
    ['C:\\path\\$PWD', 'C:\\path\\/home'],
    ['`$PWD', '$PWD'],
    ['"a`"b"', 'a"b'],
    ['"a\\"', 'a\\'],
    ['a` b', 'a b'],
    ['``', '`'],
  ];
  for (const [input, expected] of rows)
    assert.equal(expand(input, env, opts), expected, `input ${JSON.stringify(input)}`);
  assert.deepEqual(expandWords('a` b c', env, opts), ['a b', 'c']);
});

test('raw and skip modes keep what the parser needs to see', () => {
  const none = () => undefined;
  // Heredoc detection lexes a whole line keeping quotes, escapes and unset variables.
  assert.deepEqual(
    processWord(`COPY <<"EOF" \\$x $y`, none, { rawQuotes: true, rawEscapes: true, skipUnset: true }).words,
    ['COPY', '<<"EOF"', '\\$x', '$y'],
  );
  assert.equal(expand('${A:-x} ${B/a/b} ${C}', none, { skipUnset: true }), '${A:-x} ${B/a/b} ${C}');
  // Heredoc bodies are expanded with quotes kept as ordinary characters.
  const env = envLookup({ NAME: 'world' });
  assert.equal(expand(`echo "hello $NAME" 'x'\n`, env, { skipQuotes: true }), `echo "hello world" 'x'\n`);
  assert.equal(expand('a\\$NAME', env, { skipQuotes: true }), 'a$NAME');
});
