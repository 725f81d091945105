// The GitHub Action (integrations/github/action.yml) maps its inputs to `gantry build` flags in
// action-args.mjs: every input, lists one per line or comma-separated, and a bad boolean refused.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { pathToFileURL } from 'node:url';
import { repoRoot } from '../cli/helpers.js';

const dir = join(repoRoot, 'integrations', 'github');
type ArgsFn = (env: NodeJS.ProcessEnv) => string[];

test('action inputs become gantry build flags', async () => {
  const { actionArgs } = (await import(pathToFileURL(join(dir, 'action-args.mjs')).href)) as { actionArgs: ArgsFn };
  assert.deepEqual(actionArgs({}), ['build', '.', '--progress', 'plain']);
  assert.deepEqual(
    actionArgs({
      INPUT_CONTEXT: 'svc',
      INPUT_TAGS: 'ghcr.io/o/a:1\nghcr.io/o/a:latest',
      INPUT_PUSH: 'true',
      INPUT_PLATFORMS: 'linux/amd64, linux/arm64',
      INPUT_FRONTEND: 'python',
      INPUT_BASE: 'python:3.12-slim',
      'INPUT_INDEX-URL': 'https://pypi.corp/simple',
      'INPUT_EXTRA-INDEX-URL': 'https://a/simple,https://b/simple',
      'INPUT_FIND-LINKS': 'wheels',
      INPUT_LABELS: 'a=1',
      INPUT_IIDFILE: '/tmp/iid',
    }),
    [
      'build',
      'svc',
      '-t',
      'ghcr.io/o/a:1',
      '-t',
      'ghcr.io/o/a:latest',
      '--frontend',
      'python',
      '--platform',
      'linux/amd64,linux/arm64',
      '--from',
      'python:3.12-slim',
      '--label',
      'a=1',
      '--index-url',
      'https://pypi.corp/simple',
      '--extra-index-url',
      'https://a/simple',
      '--extra-index-url',
      'https://b/simple',
      '--find-links',
      'wheels',
      '--push',
      '--iidfile',
      '/tmp/iid',
      '--progress',
      'plain',
    ],
  );
  assert.throws(() => actionArgs({ INPUT_PUSH: 'yes' }), /push must be true or false/);
  // Every input the mapping reads is declared in action.yml, and passed to the build step.
  const yml = await readFile(join(dir, 'action.yml'), 'utf8');
  for (const name of [
    'context',
    'tags',
    'push',
    'platforms',
    'frontend',
    'base',
    'file',
    'build-args',
    'labels',
    'index-url',
    'extra-index-url',
    'find-links',
    'iidfile',
  ]) {
    assert.match(yml, new RegExp(`^  ${name}: \\{`, 'm'), `${name} is an input`);
    assert.match(yml, new RegExp(`INPUT_${name.toUpperCase()}: `), `${name} reaches the build step`);
  }
});
