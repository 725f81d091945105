// Platforms: the table of spellings users and tools write, and the matching rules an index
// lookup depends on (a missing variant is the architecture's baseline).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { GantryError } from '../../src/errors.js';
import {
  formatPlatform,
  hostPlatform,
  normalizePlatform,
  parsePlatform,
  platformMatches,
  samePlatform,
} from '../../src/oci/platform.js';
import type { Platform } from '../../src/oci/types.js';

test('parsePlatform + formatPlatform table', () => {
  const table: [string, Platform, string][] = [
    ['linux/amd64', { os: 'linux', architecture: 'amd64' }, 'linux/amd64'],
    ['linux/arm64/v8', { os: 'linux', architecture: 'arm64', variant: 'v8' }, 'linux/arm64/v8'],
    ['linux/arm64', { os: 'linux', architecture: 'arm64' }, 'linux/arm64'],
    ['arm64', { os: 'linux', architecture: 'arm64' }, 'linux/arm64'],
    ['linux/aarch64', { os: 'linux', architecture: 'arm64' }, 'linux/arm64'],
    ['linux/x86_64', { os: 'linux', architecture: 'amd64' }, 'linux/amd64'],
    ['linux/x86-64', { os: 'linux', architecture: 'amd64' }, 'linux/amd64'],
    ['Linux/AMD64', { os: 'linux', architecture: 'amd64' }, 'linux/amd64'],
    ['linux/armhf', { os: 'linux', architecture: 'arm', variant: 'v7' }, 'linux/arm/v7'],
    ['linux/armel', { os: 'linux', architecture: 'arm', variant: 'v6' }, 'linux/arm/v6'],
    ['linux/arm/7', { os: 'linux', architecture: 'arm', variant: 'v7' }, 'linux/arm/v7'],
    ['linux/arm64/8', { os: 'linux', architecture: 'arm64', variant: 'v8' }, 'linux/arm64/v8'],
    ['linux/i386', { os: 'linux', architecture: '386' }, 'linux/386'],
    ['linux/386', { os: 'linux', architecture: '386' }, 'linux/386'],
    ['linux/ppc64el', { os: 'linux', architecture: 'ppc64le' }, 'linux/ppc64le'],
    ['linux/s390x', { os: 'linux', architecture: 's390x' }, 'linux/s390x'],
    ['windows/amd64', { os: 'windows', architecture: 'amd64' }, 'windows/amd64'],
  ];
  for (const [input, want, formatted] of table) {
    const got = parsePlatform(input);
    assert.deepEqual(got, want, input);
    assert.equal(formatPlatform(got), formatted, input);
  }
});

test('a bare os name means that os on the host architecture', () => {
  const p = parsePlatform('linux');
  assert.equal(p.os, 'linux');
  assert.equal(p.architecture, hostPlatform().architecture);
});

test('parsePlatform refuses malformed input with INVALID_PLATFORM', () => {
  for (const bad of ['', '/', 'linux/', '/amd64', 'linux/amd64/v8/x', 'linux/am d64', 'linux/../x']) {
    assert.throws(
      () => parsePlatform(bad),
      (e) => GantryError.is(e) && e.code === 'INVALID_PLATFORM',
      JSON.stringify(bad),
    );
  }
});

test('normalizePlatform keeps os.version and features, drops empty fields', () => {
  assert.deepEqual(
    normalizePlatform({ os: 'windows', architecture: 'x86_64', 'os.version': '10.0.17763.1', 'os.features': [] }),
    { os: 'windows', architecture: 'amd64', 'os.version': '10.0.17763.1' },
  );
  assert.deepEqual(normalizePlatform({ os: 'linux', architecture: 'aarch64', variant: '' }), {
    os: 'linux',
    architecture: 'arm64',
  });
});

test('hostPlatform is a normalized platform of this machine', () => {
  const h = hostPlatform();
  assert.deepEqual(normalizePlatform(h), h);
  assert.equal(h.os, process.platform === 'win32' ? 'windows' : process.platform);
  assert.ok(platformMatches(h, h));
});

test('platformMatches table', () => {
  const p = parsePlatform;
  const table: [string, Platform, boolean][] = [
    ['linux/amd64', p('linux/amd64'), true],
    ['linux/amd64', p('linux/arm64'), false],
    ['linux/amd64', p('windows/amd64'), false],
    ['linux/arm64', p('linux/arm64/v8'), true],
    ['linux/arm64/v8', p('linux/arm64'), true],
    ['linux/arm64', p('linux/arm64/v9'), false],
    ['linux/arm', p('linux/arm/v7'), true],
    ['linux/arm/v7', p('linux/arm'), true],
    ['linux/arm', p('linux/arm/v6'), false],
    ['linux/arm/v6', p('linux/arm/v7'), false],
    ['linux/aarch64', p('linux/arm64/v8'), true],
    ['linux/riscv64', { os: 'linux', architecture: 'riscv64', variant: 'rva20u64' }, true],
  ];
  for (const [want, have, expected] of table) {
    assert.equal(platformMatches(p(want), have), expected, `${want} vs ${formatPlatform(have)}`);
  }
  const win = { os: 'windows', architecture: 'amd64', 'os.version': '10.0.17763.1' };
  assert.equal(platformMatches(win, { ...win, 'os.version': '10.0.20348.1' }), false);
  assert.equal(platformMatches({ os: 'windows', architecture: 'amd64' }, win), true);
  assert.equal(platformMatches({ ...win, features: ['sse4'] }, win), false);
});

test('samePlatform treats the baseline variant as equal, nothing else', () => {
  assert.equal(samePlatform(parsePlatform('linux/arm64'), parsePlatform('linux/arm64/v8')), true);
  assert.equal(samePlatform(parsePlatform('linux/arm'), parsePlatform('linux/armhf')), true);
  assert.equal(samePlatform(parsePlatform('linux/arm/v6'), parsePlatform('linux/arm/v7')), false);
  assert.equal(samePlatform(parsePlatform('linux/amd64'), parsePlatform('linux/x86_64')), true);
  assert.equal(samePlatform(parsePlatform('linux/amd64'), parsePlatform('linux/arm64')), false);
});
