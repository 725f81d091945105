// drainTo over a body node:http reads (TLS): the pieces this stream already holds when the sink
// comes are handed over first, and a sink that rejects one of them ends the read with its error
// (an unhandled rejection would end the process).
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { drainsTo } from '../../../src/oci/stream.js';
import { startRegistry, type TestRegistry } from '../../harness/registry.js';
import { clientFor, opener, randomBlob } from './helpers.js';

let reg: TestRegistry;
before(async () => {
  reg = await startRegistry({ mode: 'tls' });
});
after(async () => {
  await reg?.stop();
});

test('over TLS, drainTo hands over what the stream holds, and a sink rejecting such a piece ends it', async () => {
  const { client } = clientFor(reg);
  const repo = { registry: reg.host, repository: 'blobs/held' };
  const { bytes, desc } = randomBlob(1024 * 1024 + 3);
  await client.pushBlob(repo, desc, opener(bytes));

  // Let the body fill this stream's buffer before the sink comes.
  const whole = await client.openBlob(repo, desc);
  assert.ok(drainsTo(whole));
  await new Promise((r) => setTimeout(r, 200));
  const pieces: Buffer[] = [];
  await whole.drainTo(async (piece) => {
    pieces.push(Buffer.from(piece));
  });
  assert.deepEqual(Buffer.concat(pieces), bytes);

  const held = await client.openBlob(repo, desc);
  assert.ok(drainsTo(held));
  await new Promise((r) => setTimeout(r, 200));
  const failure = new Error('the upload socket is gone');
  const err = await held.drainTo(() => Promise.reject(failure)).catch((e: unknown) => e);
  assert.equal(err, failure);
});
