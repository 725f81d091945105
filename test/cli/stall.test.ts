// Issue 8 item 4: `--timeout` sometimes never fired (the AbortSignal.timeout() combined by
// AbortSignal.any() was held only weakly and could be garbage-collected first), and nothing
// noticed a transfer that stopped sending. Pinned through the real binary against a loopback
// proxy that stalls a blob download after some bytes and keeps the connection open: the deadline
// fires, and an idle stall mid-blob is resumed (Range) and completes with every blob verified.
// Issue 8 item 6 (store part): a pull SIGKILLed mid-transfer leaves a partial blob and its lease;
// the next command that takes the store's lock, and prune, remove them.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { run } from '../../src/cli/main.js';
import { OciLayout } from '../../src/oci/layout.js';
import { pushImage } from '../../src/registry/ops/push.js';
import { busyboxImage } from '../harness/fixtures.js';
import { type FaultProxy, stallAfterBytes, startFaultProxy } from '../harness/proxy.js';
import { startRegistry, type TestRegistry } from '../harness/registry.js';
import { clientFor } from '../registry/client/helpers.js';
import { gantry, gantryBin, withTempDir } from './helpers.js';

let reg: TestRegistry;
let proxy: FaultProxy;

before(async () => {
  const fixture = await busyboxImage();
  reg = await startRegistry({ mode: 'http' });
  proxy = await startFaultProxy({ upstream: reg.url });
  const layout = await OciLayout.open(fixture.layoutDir);
  const entry = (await layout.readIndex()).manifests.find(
    (d) => d.annotations?.['org.opencontainers.image.ref.name'] === fixture.tag,
  );
  assert.ok(entry);
  await pushImage(
    clientFor(reg).client,
    { registry: reg.host, repository: 'stall/busybox', tag: 'v1' },
    await layout.imageIndex(entry),
  );
});
after(async () => {
  await proxy?.stop();
  await reg?.stop();
});

/** Runs gantry, killing it if it is still running after `guardMs` (then `code` is null). */
async function gantryGuarded(args: readonly string[], store: string, guardMs: number) {
  let timer: NodeJS.Timeout | undefined;
  const result = await gantry(args, {
    store,
    onStderr: (_chunk, child) => {
      timer ??= setTimeout(() => child.kill('SIGKILL'), guardMs);
    },
  });
  clearTimeout(timer);
  return result;
}

async function rehashAll(store: string): Promise<number> {
  const dir = join(store, 'blobs', 'sha256');
  const names = await readdir(dir);
  for (const hex of names) {
    const got = createHash('sha256')
      .update(await readFile(join(dir, hex)))
      .digest('hex');
    assert.equal(got, hex, `blob ${hex} re-hashes`);
  }
  return names.length;
}

const blobGet = { method: 'GET', path: /\/v2\/stall\/busybox\/blobs\/sha256:/ } as const;

test('--timeout fires while a blob download is stalled', { timeout: 90_000 }, async () => {
  proxy.setRules([{ name: 'stall', ...blobGet, action: stallAfterBytes(50_000, 100) }]);
  await withTempDir(async (tmp) => {
    const r = await gantryGuarded(
      ['--plain-http', '--progress', 'plain', '--timeout', '2s', 'pull', `${proxy.host}/stall/busybox:v1`],
      join(tmp, 'store'),
      60_000,
    );
    assert.notEqual(r.code, null, 'gantry ended by itself (the guard did not have to kill it)');
    assert.equal(r.code, 4, r.stderr);
    assert.match(r.stderr, /timed out after 2s/);
    assert.ok(proxy.stats.rule('stall').faults >= 1, 'a download was stalled');
  });
});

test('--timeout fires even when the garbage collector runs while the command waits', { timeout: 90_000 }, async () => {
  // The deadline used to be an AbortSignal.timeout() inside AbortSignal.any(), which holds its
  // sources weakly: a collection while the pull waited on a stalled socket removed the timer's
  // signal and the command waited forever. Here the command runs in this process and a full GC
  // runs every 50 ms; the idle timeout is off, so only the deadline can end the stall.
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  proxy.stats.reset();
  proxy.setRules([{ name: 'stall', ...blobGet, action: stallAfterBytes(50_000, 100) }]);
  await withTempDir(async (tmp) => {
    const stderr = new PassThrough();
    let text = '';
    stderr.on('data', (c: Buffer) => {
      text += c.toString();
    });
    const cancel = new AbortController();
    const collecting = setInterval(gc, 50);
    try {
      const done = run(
        [
          '--store',
          join(tmp, 'store'),
          '--plain-http',
          '--progress',
          'quiet',
          '--idle-timeout',
          '0',
          '--timeout',
          '2s',
          'pull',
          `${proxy.host}/stall/busybox:v1`,
        ],
        { stdout: new PassThrough(), stderr, signal: cancel.signal },
      );
      const code = await Promise.race([done, sleep(30_000, 'still running')]);
      cancel.abort();
      await done;
      assert.equal(code, 4, `the deadline ended the command (${text.trim()})`);
      assert.match(text, /timed out after 2s/);
    } finally {
      clearInterval(collecting);
    }
  });
});

test('an idle stall mid-blob is resumed after --idle-timeout and the pull completes', {
  timeout: 150_000,
}, async () => {
  proxy.stats.reset();
  proxy.setRules([{ name: 'stall', ...blobGet, action: stallAfterBytes(50_000, 1) }]);
  await withTempDir(async (tmp) => {
    const store = join(tmp, 'store');
    const r = await gantryGuarded(
      ['--plain-http', '--idle-timeout', '1s', 'pull', `${proxy.host}/stall/busybox:v1`],
      store,
      120_000,
    );
    assert.equal(r.code, 0, r.stderr);
    assert.equal(proxy.stats.rule('stall').faults, 1, 'one download stalled');
    const stalled = proxy.stats.log.find((e) => e.fault === 'stallAfterBytes');
    assert.ok(stalled);
    // The stalled blob was asked for again (a resume), and every blob in the store is whole.
    assert.ok(
      proxy.stats.matching({ method: 'GET', target: new RegExp(stalled.target.replace(/[/:]/g, '\\$&')) }).requests >=
        2,
    );
    assert.ok((await rehashAll(store)) >= 3);
  });
});

test('--idle-timeout takes a duration and refuses anything else', async () => {
  await withTempDir(async (tmp) => {
    const r = await gantry(['--idle-timeout', 'soon', 'pull', `${proxy.host}/stall/busybox:v1`], {
      store: join(tmp, 'store'),
    });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /invalid --idle-timeout/);
  });
});

/** Files under `dir` (relative), or [] when it does not exist. */
async function listFiles(dir: string): Promise<string[]> {
  return readdir(dir).catch(() => [] as string[]);
}

/** Starts a pull that stalls mid-blob, waits until its partial blob is on disk, and SIGKILLs it. */
async function killMidPull(store: string): Promise<void> {
  proxy.setRules([{ name: 'stall', ...blobGet, action: stallAfterBytes(50_000, 100) }]);
  const child = spawn(
    process.execPath,
    [gantryBin, '--plain-http', '--idle-timeout', '0', 'pull', `${proxy.host}/stall/busybox:v1`],
    { env: { ...process.env, GANTRY_STORE: store }, stdio: 'ignore' },
  );
  const exited = new Promise((resolveExit) => child.once('exit', resolveExit));
  try {
    // Wait (polling the store, no clock assertion) until the stalled download has bytes on disk.
    for (;;) {
      const tmp = join(store, 'blobs', '.tmp');
      const partial = [];
      for (const name of await listFiles(tmp)) {
        if ((await stat(join(tmp, name)).catch(() => undefined))?.size) partial.push(name);
      }
      if (partial.length > 0) break;
      await sleep(50);
    }
  } finally {
    child.kill('SIGKILL');
    await exited;
  }
  assert.ok((await listFiles(join(store, 'blobs', '.tmp'))).length > 0, 'the killed pull left a partial blob');
  assert.ok((await listFiles(join(store, 'leases'))).length > 0, 'the killed pull left its lease');
  proxy.setRules([]);
}

test('after a pull is SIGKILLed mid-transfer, prune leaves the store clean', { timeout: 120_000 }, async () => {
  await withTempDir(async (tmp) => {
    const store = join(tmp, 'store');
    await killMidPull(store);
    const r = await gantry(['prune'], { store });
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(await listFiles(join(store, 'blobs', '.tmp')), [], 'no partial blob is left');
    assert.deepEqual(await listFiles(join(store, 'leases')), [], 'no dead lease is left');
    await rehashAll(store);
  });
});

test('after a pull is SIGKILLed mid-transfer, the next command that takes the lock cleans up', {
  timeout: 120_000,
}, async () => {
  await withTempDir(async (tmp) => {
    const store = join(tmp, 'store');
    await killMidPull(store);
    const r = await gantry(['--plain-http', 'pull', `${proxy.host}/stall/busybox:v1`], { store });
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(await listFiles(join(store, 'blobs', '.tmp')), [], 'no partial blob is left');
    assert.deepEqual(await listFiles(join(store, 'leases')), [], 'no lease is left');
    assert.ok((await rehashAll(store)) >= 3, 'every blob of the pulled image re-hashes');
  });
});
