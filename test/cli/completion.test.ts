// Issue 9: `gantry completion bash|zsh|fish` prints scripts made from the declared flag tables.
// Each is loaded by the real shell and asked to complete, as a user's TAB would: bash through
// its completion function with COMP_LINE/COMP_POINT, fish through `complete -C`, zsh through a
// pseudo-terminal (zpty) driving its line editor. zsh and fish come from the test's Debian
// packages (scripts/setup-test-deps.mjs).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { gantry, gantryInProcess, withTempDir } from './helpers.js';

/** Runs a shell with `args`, killed after 30 s (a zpty read that never matches would wait forever). */
function shell(cmd: string, args: readonly string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], timeout: 30_000 });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => {
      stdout += c.toString();
    });
    child.stderr.on('data', (c: Buffer) => {
      stderr += c.toString();
    });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

async function script(shellName: string): Promise<string> {
  const r = await gantryInProcess(['completion', shellName]);
  assert.equal(r.code, 0, r.stderr);
  return r.stdout;
}

test('bash: the completion function completes commands, flags, flag values and paths', async () => {
  await withTempDir(async (tmp) => {
    const file = join(tmp, 'gantry.bash');
    await writeFile(file, await script('bash'));
    await mkdir(join(tmp, 'ctx-dir'));
    await writeFile(join(tmp, 'ctx-file'), '');
    const lines: [string, string[]][] = [
      ['gantry bu', ['build']],
      ['gantry build --pro', ['--progress', '--provenance']],
      ['gantry build --progress ', ['auto', 'tty', 'plain', 'json', 'quiet']],
      // bash cuts the word at "=": the reply is what follows it.
      ['gantry build --progress=pl', ['plain']],
      ['gantry --progress ', ['auto', 'tty', 'plain', 'json', 'quiet']],
      ['gantry build --frontend ', ['dockerfile', 'python', 'node', 'dir']],
      ['gantry build --isolation ', ['bwrap', 'chroot', 'none']],
      ['gantry build -o type=o', ['oci,dest=']],
      ['gantry build --platform linux/arm', ['linux/arm64', 'linux/arm/v7', 'linux/arm/v6']],
      ['gantry build --sbom=', ['true', 'full', 'false']],
      ['gantry push --pla', ['--platform', '--plain-http']],
      ['gantry append --new_', ['--new_layer', '--new_tag']],
      ['gantry index ', ['create', 'append']],
      ['gantry completion ', ['bash', 'zsh', 'fish']],
      // Paths where a flag or argument takes one: files for -f, directories for the context.
      [`gantry build -f ${tmp}/ctx-`, [`${tmp}/ctx-dir`, `${tmp}/ctx-file`]],
      [`gantry build ${tmp}/ctx-`, [`${tmp}/ctx-dir`]],
      [`gantry --store ${tmp}/ctx-`, [`${tmp}/ctx-dir`]],
      // A flag without enumerable values offers nothing rather than flags or commands.
      ['gantry build --target ', []],
    ];
    const body = lines
      .map(
        ([line]) =>
          `COMP_LINE=${JSON.stringify(line)}; COMP_POINT=\${#COMP_LINE}; COMPREPLY=(); _gantry; printf '%s\\n' "\${COMPREPLY[*]}"`,
      )
      .join('\n');
    const r = await shell('bash', ['-c', `source ${file}\ncomplete -p gantry\n${body}`]);
    assert.equal(r.code, 0, r.stderr);
    const [registration, ...replies] = r.stdout.split('\n');
    assert.equal(registration, 'complete -F _gantry gantry');
    for (const [i, [line, expected]] of lines.entries()) {
      assert.deepEqual((replies[i] ?? '').split(' ').filter(Boolean).sort(), [...expected].sort(), line);
    }
  });
});

test('fish: the script parses, and complete -C gives commands, flags and values', async () => {
  await withTempDir(async (tmp) => {
    const file = join(tmp, 'gantry.fish');
    await writeFile(file, await script('fish'));
    const syntax = await shell('fish', ['--no-execute', file]);
    assert.equal(syntax.code, 0, syntax.stderr);
    const ask = (line: string) => `complete -C ${JSON.stringify(line)}; echo ---`;
    const r = await shell('fish', [
      '-c',
      [
        `source ${file}`,
        ask('gantry bu'),
        ask('gantry build --pro'),
        ask('gantry build --progress '),
        ask('gantry index '),
      ].join('\n'),
    ]);
    assert.equal(r.code, 0, r.stderr);
    const words = r.stdout.split('---\n').map((block) =>
      block
        .split('\n')
        .filter(Boolean)
        .map((l) => l.split('\t')[0]),
    );
    assert.deepEqual(words[0], ['build']);
    assert.deepEqual(words[1]?.sort(), ['--progress', '--provenance']);
    assert.deepEqual(words[2]?.sort(), ['auto', 'json', 'plain', 'quiet', 'tty']);
    assert.deepEqual(words[3]?.sort(), ['append', 'create']);
  });
});

test('zsh: the script parses, registers _gantry, and TAB completes in a real line editor', async () => {
  await withTempDir(async (tmp) => {
    const file = join(tmp, '_gantry');
    await writeFile(file, await script('zsh'));
    const syntax = await shell('zsh', ['-n', file]);
    assert.equal(syntax.code, 0, syntax.stderr);
    // An interactive zsh on a pseudo-terminal: compinit, the script, then keystrokes. Each read
    // waits for what the completion must print (a wrong completion ends in the spawn timeout).
    const driver = join(tmp, 'drive.zsh');
    await writeFile(
      driver,
      `zmodload zsh/zpty
zpty z 'zsh -f -i'
zpty -w z 'PS1="> "; autoload -Uz compinit; compinit -u -D -d ${tmp}/zcompdump; source ${file}; print -r -- "\${_comps[gantry]}-RE""ADY"'
zpty -r z out '*_gantry-READY*'
zpty -n -w z $'gantry bu\\t'
zpty -r z out '*gantry build*'
print -r -- COMMAND-OK
zpty -n -w z $'\\C-u'
zpty -n -w z $'gantry build --isolation \\t\\t'
zpty -r z out '*chroot*'
print -r -- VALUES-OK
zpty -d z
`,
    );
    const r = await shell('zsh', ['-f', driver]);
    assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
    assert.match(r.stdout, /COMMAND-OK\n[\s\S]*VALUES-OK/);
  });
});

test('completion of an unknown shell is a usage error that names the valid ones', async () => {
  const r = await gantry(['completion', 'tcsh']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /unknown shell "tcsh": give one of bash, zsh or fish/);
  const none = await gantryInProcess(['completion']);
  assert.equal(none.code, 2);
  assert.match(none.stderr, /needs a shell: give one of bash, zsh or fish/);
});
