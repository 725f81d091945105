// .dockerignore: the pattern tables of moby/patternmatcher's tests (match types, `**`, parent
// matches, exceptions, Go filepath.Match syntax and its errors), ignorefile parsing, the
// examples of Docker's .dockerignore documentation, and which ignore file a build reads.
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { createMatcher, loadIgnore, parseIgnoreFile } from '../../../src/engine/context/index.js';
import { type PathPattern, PatternList } from '../../../src/engine/context/pattern.js';
import { GantryError } from '../../../src/errors.js';
import { tempDir } from './helpers.js';

type Pass = 'fail' | 'exact' | 'inexact';

// [pattern, path, result]: 'exact' matches the path itself, 'inexact' only through a parent.
const single: readonly (readonly [string, string, Pass])[] = [
  ['**', 'file', 'exact'],
  ['**', 'file/', 'exact'],
  ['**/', 'file', 'exact'],
  ['**/', 'file/', 'exact'],
  ['**', '/', 'exact'],
  ['**/', '/', 'exact'],
  ['**', 'dir/file', 'exact'],
  ['**/', 'dir/file', 'exact'],
  ['**', 'dir/file/', 'exact'],
  ['**/', 'dir/file/', 'exact'],
  ['**/**', 'dir/file', 'exact'],
  ['**/**', 'dir/file/', 'exact'],
  ['dir/**', 'dir/file', 'exact'],
  ['dir/**', 'dir/file/', 'exact'],
  ['dir/**', 'dir/dir2/file', 'exact'],
  ['dir/**', 'dir/dir2/file/', 'exact'],
  ['**/dir', 'dir', 'exact'],
  ['**/dir', 'dir/file', 'inexact'],
  ['**/dir2/*', 'dir/dir2/file', 'exact'],
  ['**/dir2/*', 'dir/dir2/file/', 'inexact'],
  ['**/dir2/**', 'dir/dir2/dir3/file', 'exact'],
  ['**/dir2/**', 'dir/dir2/dir3/file/', 'exact'],
  ['**file', 'file', 'exact'],
  ['**file', 'dir/file', 'exact'],
  ['**/file', 'dir/file', 'exact'],
  ['**file', 'dir/dir/file', 'exact'],
  ['**/file', 'dir/dir/file', 'exact'],
  ['**/file*', 'dir/dir/file', 'exact'],
  ['**/file*', 'dir/dir/file.txt', 'exact'],
  ['**/file*txt', 'dir/dir/file.txt', 'exact'],
  ['**/file*.txt', 'dir/dir/file.txt', 'exact'],
  ['**/file*.txt*', 'dir/dir/file.txt', 'exact'],
  ['**/**/*.txt', 'dir/dir/file.txt', 'exact'],
  ['**/**/*.txt2', 'dir/dir/file.txt', 'fail'],
  ['**/*.txt', 'file.txt', 'exact'],
  ['**/**/*.txt', 'file.txt', 'exact'],
  ['a**/*.txt', 'a/file.txt', 'exact'],
  ['a**/*.txt', 'a/dir/file.txt', 'exact'],
  ['a**/*.txt', 'a/dir/dir/file.txt', 'exact'],
  ['a/*.txt', 'a/dir/file.txt', 'fail'],
  ['a/*.txt', 'a/file.txt', 'exact'],
  ['a/*.txt**', 'a/file.txt', 'exact'],
  ['a[b-d]e', 'ae', 'fail'],
  ['a[b-d]e', 'ace', 'exact'],
  ['a[b-d]e', 'aae', 'fail'],
  ['a[^b-d]e', 'aze', 'exact'],
  ['.*', '.foo', 'exact'],
  ['.*', 'foo', 'fail'],
  ['abc.def', 'abcdef', 'fail'],
  ['abc.def', 'abc.def', 'exact'],
  ['abc.def', 'abcZdef', 'fail'],
  ['abc?def', 'abcZdef', 'exact'],
  ['abc?def', 'abcdef', 'fail'],
  ['**/foo/bar', 'foo/bar', 'exact'],
  ['**/foo/bar', 'dir/foo/bar', 'exact'],
  ['**/foo/bar', 'dir/dir2/foo/bar', 'exact'],
  ['abc/**', 'abc', 'fail'],
  ['abc/**', 'abc/def', 'exact'],
  ['abc/**', 'abc/def/ghi', 'exact'],
  ['**/.foo', '.foo', 'exact'],
  ['**/.foo', 'bar.foo', 'fail'],
  ['a(b)c/def', 'a(b)c/def', 'exact'],
  ['a(b)c/def', 'a(b)c/xyz', 'fail'],
  ['a.|)$(}+{bc', 'a.|)$(}+{bc', 'exact'],
  [
    'dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl',
    'dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl',
    'exact',
  ],
  ['dist/*.whl', 'dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl', 'exact'],
  ['a\\\\', 'a\\', 'exact'],
  ['a\\*b', 'a*b', 'exact'],
  // Our own: a leading ** is a suffix match in patternmatcher, so it also matches mid-name.
  ['**file', 'xfile', 'exact'],
  ['**/file', 'xfile', 'fail'],
];

test('patternmatcher table: exact matches and matches through a parent directory', () => {
  for (const [pattern, path, pass] of single) {
    const list = PatternList.parse([pattern], 'test');
    const only = list.patterns[0] as PathPattern;
    assert.equal(only.matchesExactly(path), pass === 'exact', `exact ${pattern} ~ ${path}`);
    assert.equal(list.matches(path), pass !== 'fail', `or-parent ${pattern} ~ ${path}`);
  }
});

test('patternmatcher table: several patterns, later ones win', () => {
  const cases: readonly (readonly [readonly string[], string, boolean])[] = [
    [['**', '!util/docker/web'], 'util/docker/web/foo', false],
    [['**', '!util/docker/web', 'util/docker/web/foo'], 'util/docker/web/foo', true],
    [
      ['**', '!dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl'],
      'dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl',
      false,
    ],
    [['**', '!dist/*.whl'], 'dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl', false],
    [['!fileutils.go', '*.go'], 'fileutils.go', true],
    [['*.go', '!fileutils.go'], 'fileutils.go', false],
    [['docs', '!docs/README.md'], 'docs/README.md', false],
    [['docs/', '!docs/README.md'], 'docs/README.md', false],
    [['docs/*', '!docs/README.md'], 'docs/README.md', false],
    [['docs', '  !docs/README.md'], 'docs/README.md', false],
    [['docs', '!docs/README.md  '], 'docs/README.md', false],
    [['*'], 'fileutils.go', true],
    [['*.go'], 'fileutils.go', true],
    [[], 'any/path/there', false],
  ];
  for (const [patterns, path, excluded] of cases) {
    assert.equal(createMatcher(patterns).matches(path), excluded, `${JSON.stringify(patterns)} ~ ${path}`);
  }
});

test('Go filepath.Match table: wildcards, classes, escapes and code points', () => {
  const cases: readonly (readonly [string, string, boolean])[] = [
    ['abc', 'abc', true],
    ['*', 'abc', true],
    ['*c', 'abc', true],
    ['a*', 'a', true],
    ['a*', 'abc', true],
    ['a*', 'ab/c', true],
    ['a*/b', 'abc/b', true],
    ['a*/b', 'a/c/b', false],
    ['a*b*c*d*e*/f', 'axbxcxdxe/f', true],
    ['a*b*c*d*e*/f', 'axbxcxdxexxx/f', true],
    ['a*b*c*d*e*/f', 'axbxcxdxe/xxx/f', false],
    ['a*b*c*d*e*/f', 'axbxcxdxexxx/fff', false],
    ['a*b?c*x', 'abxbbxdbxebxczzx', true],
    ['a*b?c*x', 'abxbbxdbxebxczzy', false],
    ['ab[c]', 'abc', true],
    ['ab[b-d]', 'abc', true],
    ['ab[e-g]', 'abc', false],
    ['ab[^c]', 'abc', false],
    ['ab[^b-d]', 'abc', false],
    ['ab[^e-g]', 'abc', true],
    ['a\\*b', 'a*b', true],
    ['a\\*b', 'ab', false],
    ['a?b', 'a☺b', true],
    ['a[^a]b', 'a☺b', true],
    ['a???b', 'a☺b', false],
    ['a[^a][^a][^a]b', 'a☺b', false],
    ['[a-ζ]*', 'α', true],
    ['*[a-ζ]', 'A', false],
    ['a?b', 'a/b', false],
    ['a*b', 'a/b', false],
    ['[\\]a]', ']', true],
    ['[\\-]', '-', true],
    ['[x\\-]', 'x', true],
    ['[x\\-]', '-', true],
    ['[x\\-]', 'z', false],
    ['[\\-x]', 'x', true],
    ['[\\-x]', '-', true],
    ['[\\-x]', 'a', false],
    ['*x', 'xxx', true],
    // Our own: astral code points are one character, as Go's runes are.
    ['a?b', 'a\u{1F600}b', true],
  ];
  for (const [pattern, path, excluded] of cases) {
    assert.equal(createMatcher([pattern]).matches(path), excluded, `${pattern} ~ ${path}`);
  }
});

test('patterns Go filepath.Match rejects are INVALID_PATTERN errors', () => {
  for (const bad of ['[]a]', '[-]', '[x-]', '[-x]', '\\', '[a-b-c]', '[', '[^', '[^bc', 'a[', '!']) {
    assert.throws(
      () => createMatcher([bad]),
      (err: unknown) => GantryError.is(err) && err.code === 'INVALID_PATTERN' && err.phase === 'parse',
      bad,
    );
  }
});

test('the context root is never excluded, whatever the patterns say', () => {
  const m = createMatcher(['**', '*', '.']);
  assert.equal(m.matches('.'), false);
  assert.equal(m.matches(''), false);
  assert.equal(m.matches('/'), false);
  assert.equal(m.matches('x'), true);
});

test('paths are matched cleaned: leading "/" and "./" dropped', () => {
  const m = createMatcher(['secrets/*.key']);
  assert.equal(m.matches('secrets/a.key'), true);
  assert.equal(m.matches('./secrets/a.key'), true);
  assert.equal(m.matches('/secrets/a.key'), true);
  assert.equal(m.matches('secrets//a.key'), true);
  assert.equal(m.matches('secrets/x/../a.key'), true);
  assert.equal(m.matches('secrets/a.pub'), false);
});

test('ignorefile parsing: comments, blank lines, trimming, cleaning, leading "/" and "!"', () => {
  const text = 'test1\n/test2\n/a/file/here\n\nlastfile\n# this is a comment\n! /inverted/abs/path\n!\n! ';
  assert.deepEqual(parseIgnoreFile(text), [
    'test1',
    'test2',
    'a/file/here',
    'lastfile',
    '!inverted/abs/path',
    '!',
    '!',
  ]);
  // A BOM, CRLF line ends, ./ and .. elements, and '#' only as the first character.
  assert.deepEqual(parseIgnoreFile('\uFEFF./a/../b/\r\n  # not a comment\r\n#comment\r\n'), ['b', '# not a comment']);
});

test("Docker's .dockerignore documentation examples", () => {
  const docs = createMatcher(parseIgnoreFile('# comment\n*/temp*\n*/*/temp*\ntemp?\n'));
  assert.equal(docs.matches('somedir/temporary.txt'), true);
  assert.equal(docs.matches('somedir/temp'), true);
  assert.equal(docs.matches('somedir/temp/inside.txt'), true);
  assert.equal(docs.matches('somedir/subdir/temporary.txt'), true);
  assert.equal(docs.matches('tempa'), true);
  assert.equal(docs.matches('tempb'), true);
  assert.equal(docs.matches('temporary.txt'), false);
  assert.equal(docs.matches('a/b/c/temporary.txt'), false);

  const go = createMatcher(['**/*.go']);
  assert.equal(go.matches('main.go'), true);
  assert.equal(go.matches('cmd/app/main.go'), true);

  const readme = createMatcher(['*.md', '!README.md']);
  assert.equal(readme.matches('CHANGELOG.md'), true);
  assert.equal(readme.matches('README.md'), false);

  const secretLast = createMatcher(['*.md', '!README*.md', 'README-secret.md']);
  assert.equal(secretLast.matches('README-secret.md'), true);
  assert.equal(secretLast.matches('README.md'), false);

  const exceptionLast = createMatcher(['*.md', 'README-secret.md', '!README*.md']);
  assert.equal(exceptionLast.matches('README-secret.md'), false);
});

test('mayMatchBelow: only an exception that could match below a directory makes it worth entering', () => {
  const docs = createMatcher(['docs', '!docs/README.md']);
  assert.equal(docs.matches('docs'), true);
  assert.equal(docs.mayMatchBelow('docs'), true);
  assert.equal(docs.mayMatchBelow('docs/sub'), false);
  assert.equal(docs.mayMatchBelow('other'), false);
  assert.equal(createMatcher(['node_modules']).mayMatchBelow('node_modules'), false);
  const wild = createMatcher(['a', '!*/keep']);
  assert.equal(wild.mayMatchBelow('a'), true);
  assert.equal(wild.mayMatchBelow('a/b'), false);
  assert.equal(wild.mayMatchBelow('b'), true);
  assert.equal(createMatcher(['a', '!a/**/keep']).mayMatchBelow('a/x/y'), true);
  // An exception that only matches the directory itself or above cannot re-include below it.
  assert.equal(createMatcher(['a/b', '!a']).mayMatchBelow('a/b'), false);
});

test('loadIgnore reads <Dockerfile>.dockerignore beside the Dockerfile first, else .dockerignore', async (t) => {
  const ctx = tempDir(t);
  const dockerfiles = join(ctx, 'build');
  mkdirSync(dockerfiles);
  writeFileSync(join(ctx, '.dockerignore'), 'from-context\n');
  writeFileSync(join(dockerfiles, 'app.Dockerfile'), 'FROM scratch\n');
  writeFileSync(join(dockerfiles, 'app.Dockerfile.dockerignore'), 'from-dockerfile\n!keep\n');

  const specific = await loadIgnore(ctx, join(dockerfiles, 'app.Dockerfile'));
  assert.equal(specific.file, join(dockerfiles, 'app.Dockerfile.dockerignore'));
  assert.deepEqual(specific.patterns, ['from-dockerfile', '!keep']);
  assert.equal(specific.matches('from-context'), false);

  const general = await loadIgnore(ctx, join(dockerfiles, 'other.Dockerfile'));
  assert.equal(general.file, join(ctx, '.dockerignore'));
  assert.equal(general.matches('from-context'), true);
  assert.deepEqual((await loadIgnore(ctx)).patterns, ['from-context']);
  assert.deepEqual((await loadIgnore(ctx, '-')).patterns, ['from-context']);

  const empty = await loadIgnore(dockerfiles);
  assert.equal(empty.file, undefined);
  assert.deepEqual(empty.patterns, []);
  assert.equal(empty.matches('anything'), false);
});

test('loadIgnore reports a bad pattern in the file with the file name', async (t) => {
  const ctx = tempDir(t);
  writeFileSync(join(ctx, '.dockerignore'), 'ok\nbad[\n');
  await assert.rejects(
    loadIgnore(ctx),
    (err: unknown) =>
      GantryError.is(err) && err.code === 'INVALID_PATTERN' && err.message.includes(join(ctx, '.dockerignore')),
  );
});
