// The /etc/hosts guard of the Gitea stand-in: the name resolves inside, and the file is byte for
// byte what it was afterwards, also when the test body throws.
import assert from 'node:assert/strict';
import { lookup } from 'node:dns/promises';
import { readFile } from 'node:fs/promises';
import { test } from 'node:test';
import { withHostsEntry } from './gitea.js';

test('withHostsEntry maps the name inside and leaves /etc/hosts as it was, even on a throw', async () => {
  const name = `t${Date.now().toString(36)}.gantry-hosts.localtest.me`;
  const before = await readFile('/etc/hosts');
  const inside = await withHostsEntry([name], async () => (await lookup(name, { family: 4 })).address);
  assert.equal(inside, '127.0.0.1');
  assert.deepEqual(await readFile('/etc/hosts'), before);
  await assert.rejects(
    withHostsEntry([name], async () => {
      throw new Error('boom');
    }),
    /boom/,
  );
  assert.deepEqual(await readFile('/etc/hosts'), before);
});
