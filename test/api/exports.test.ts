// Pins the public surface: the package entry exports the library functions the CLI is made of,
// and none of the internals that `export *` used to leak; package.json exports no deep paths.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { test } from 'node:test';
import * as gantry from '../../src/index.js';

const root = resolve(dirname(new URL(import.meta.url).pathname), '..', '..', '..');

test('the entry exports a function for every CLI verb, the errors with their codes, and the store', () => {
  const functions = [
    'build',
    'buildDockerfile',
    'buildDirectory',
    'push',
    'pull',
    'copy',
    'inspect',
    'rawManifest',
    'imageConfig',
    'digest',
    'tags',
    'catalog',
    'deleteImage',
    'login',
    'logout',
    'images',
    'rmi',
    'prune',
    'load',
    'createSession',
    'isErrorCode',
    'parseReference',
    'machineInfo',
    'append',
    'mutate',
    'flatten',
    'rebase',
    'tag',
    'blob',
    'exportFilesystem',
    'validate',
    'indexCreate',
    'indexAppend',
    'sbom',
    'referrers',
    'sign',
    'verify',
    'scan',
    'imageSbom',
  ];
  const api = gantry as unknown as Record<string, unknown>;
  for (const name of functions) assert.equal(typeof api[name], 'function', `${name} is not exported`);
  assert.equal(typeof gantry.GantryError, 'function');
  assert.equal(typeof gantry.Store, 'function');
  assert.equal(gantry.ERROR_CODES.USAGE.length > 0, true);
});

test('internals do not leak through the entry', () => {
  const api = gantry as unknown as Record<string, unknown>;
  const internals = [
    'bindAbort',
    'rethrowAborted',
    'readBounded',
    'MAGIC_LENGTH',
    'MAX_SMALL_BLOB',
    'readSmallBlob',
    'VerifyingStream',
    'createDecompressor',
    'decompressByMagic',
    'createDigester',
    'throwIfAborted',
    'pullToLayout',
    'pushImage',
    'RegistryClient',
    'sessionOf',
    'locationsFor',
  ];
  assert.deepEqual(
    internals.filter((name) => name in api),
    [],
  );
});

test('src/index.ts lists its exports: no export * at all', () => {
  const text = readFileSync(join(root, 'src', 'index.ts'), 'utf8');
  assert.doesNotMatch(text, /^export \*/m);
  assert.doesNotMatch(text, /^export type \*/m);
});

test('package.json exports the entry and package.json only', () => {
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
    exports: Record<string, unknown>;
    files: string[];
  };
  assert.deepEqual(Object.keys(pkg.exports).sort(), ['.', './package.json']);
  // dist/bundle: the CLI's bundle (bin/gantry.js), not importable (no export names it).
  assert.deepEqual(pkg.files, ['bin', 'dist/src', 'dist/bundle']);
});
