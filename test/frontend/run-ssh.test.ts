// RUN --mount=type=ssh with --ssh: a real OpenSSH agent (ssh-agent + ssh-add from openssh-client)
// forwarded into the sandbox, listed there by ssh-add -l; key files loaded into an agent gantry
// starts for the build; a required id that was not given fails the step.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { copyFile, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { busyboxStore, gantry, run, tool, withTempDir, writeTree } from './helpers.js';

/** The host's ssh-add with its libraries and loader, to run inside a busybox image. */
async function sshAddTools(dir: string): Promise<void> {
  await writeTree(dir, { 'lib/.keep': '' });
  await copyFile('/usr/bin/ssh-add', join(dir, 'ssh-add'));
  for (const line of (await tool('ldd', ['/usr/bin/ssh-add'])).split('\n')) {
    const m = /(\/\S+) \(0x/.exec(line);
    if (!m) continue;
    const lib = m[1] as string;
    if (lib.includes('ld-linux')) await copyFile(lib, join(dir, 'ld.so'));
    else await copyFile(lib, join(dir, 'lib', lib.split('/').pop() as string));
  }
}

test('RUN --mount=type=ssh: the agent socket (--ssh default) and key files (--ssh id=KEY) reach ssh-add -l', async () => {
  await withTempDir(async (tmp) => {
    const store = await busyboxStore(tmp);
    const tools = join(tmp, 'tools');
    await sshAddTools(tools);
    const key = join(tmp, 'id_test');
    await tool('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'gantry-test-key', '-f', key]);
    const fingerprint = (await tool('ssh-keygen', ['-lf', `${key}.pub`])).split(' ')[1] as string;
    const socket = join(tmp, 'agent.sock');
    const agent = spawn('ssh-agent', ['-D', '-a', socket], { stdio: 'ignore' });
    try {
      for (let i = 0; i < 100 && !(await stat(socket).catch(() => undefined)); i++)
        await new Promise((r) => setTimeout(r, 20));
      const added = await run('sh', ['-c', `SSH_AUTH_SOCK=${socket} ssh-add -q ${key}`]);
      assert.equal(added.code, 0, added.stderr);
      const ctx = join(tmp, 'ctx');
      const list = '/tools/ld.so --library-path /tools/lib /tools/ssh-add -l';
      await writeTree(ctx, {
        Dockerfile: [
          'FROM busybox:1',
          `RUN --mount=type=bind,from=tools,target=/tools --mount=type=ssh ${list} > /default.txt`,
          `RUN --mount=type=bind,from=tools,target=/tools --mount=type=ssh,id=deploy,target=/agent sh -c 'echo $SSH_AUTH_SOCK > /sock.txt; ${list} > /deploy.txt'`,
          '',
        ].join('\n'),
      });
      const out = join(tmp, 'out');
      const r = await gantry(
        [
          'build',
          ctx,
          '--build-context',
          `tools=${tools}`,
          '--ssh',
          'default',
          '--ssh',
          `deploy=${key}`,
          '-o',
          `type=local,dest=${out}`,
        ],
        { store, env: { SSH_AUTH_SOCK: socket } },
      );
      assert.equal(r.code, 0, r.stderr);
      const listed = await readFile(join(out, 'default.txt'), 'utf8');
      assert.ok(listed.includes(fingerprint) && listed.includes('gantry-test-key'), listed);
      assert.match(await readFile(join(out, 'deploy.txt'), 'utf8'), /gantry-test-key/);
      assert.equal((await readFile(join(out, 'sock.txt'), 'utf8')).trim(), '/agent');
      assert.equal(await stat(join(out, 'agent')).catch(() => undefined), undefined, 'the socket is not in the layer');

      // A required id that was not given fails the build with its name.
      await writeTree(ctx, { Dockerfile: 'FROM busybox:1\nRUN --mount=type=ssh,id=other,required true\n' });
      const missing = await gantry(['build', ctx], { store });
      assert.notEqual(missing.code, 0);
      assert.match(missing.stderr, /needs ssh "other"/);
    } finally {
      agent.kill('SIGTERM');
    }
  });
});
