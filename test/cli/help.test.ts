// Issue 9: every command declares its flags once (src/cli/specs); parsing, help and completion
// come from that table. These tests hold the help to the table: every declared flag is in the
// help, flags are grouped by what they apply to, and every command's flags get a "did you mean".
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { flagsOf } from '../../src/cli/flags.js';
import { COMMAND_SPECS, GLOBAL_FLAGS } from '../../src/cli/specs/index.js';
import { gantryInProcess } from './helpers.js';

/** The lines under each `Heading:` line of a help text. */
function sections(help: string): Map<string, string> {
  const out = new Map<string, string>();
  let current = '';
  for (const line of help.split('\n')) {
    if (/^[A-Z][^:]*:$/.test(line)) current = line.slice(0, -1);
    else if (line === '') current = '';
    else if (current !== '') out.set(current, `${out.get(current) ?? ''}${line}\n`);
  }
  return out;
}

test('every declared flag of every command is in its help, and gantry help NAME prints the same', async () => {
  for (const spec of COMMAND_SPECS) {
    const r = await gantryInProcess([spec.name, '--help']);
    assert.equal(r.code, 0, `${spec.name}: ${r.stderr}`);
    for (const f of flagsOf(spec)) {
      for (const name of [f.name, ...(f.aliases ?? [])]) {
        assert.match(r.stdout, new RegExp(`--${name}\\b`), `gantry ${spec.name} --help lacks --${name}`);
      }
      if (f.short) assert.match(r.stdout, new RegExp(`-${f.short}, --${f.name}\\b`), `${spec.name}: -${f.short}`);
    }
    const viaHelp = await gantryInProcess(['help', spec.name]);
    assert.equal(viaHelp.stdout, r.stdout, `gantry help ${spec.name}`);
  }
  const main = await gantryInProcess(['--help']);
  for (const f of GLOBAL_FLAGS) assert.match(main.stdout, new RegExp(`--${f.name}\\b`), `gantry --help: --${f.name}`);
  for (const spec of COMMAND_SPECS)
    assert.match(main.stdout, new RegExp(`^  ${spec.name} +${spec.summary.replace(/[()[\]?*+.]/g, '\\$&')}`, 'm'));
});

test('help groups flags by what they apply to: push, copy, mutate, append, sbom, inspect', async () => {
  const expect: Record<string, Record<string, string[]>> = {
    push: {
      'What to push': ['--platform'],
      'Registry options (global, anywhere on the line)': [
        '--insecure',
        '--plain-http',
        '--chunk-size',
        '--username',
        '--password-stdin',
        '--timeout',
        '--idle-timeout',
      ],
    },
    copy: { 'What to copy': ['--platform', '--all-platforms'] },
    pull: { 'What to pull': ['--platform', '--all-platforms'] },
    inspect: { 'What to show': ['--raw', '--config', '--platform'], 'Output options': ['--format'] },
    mutate: {
      'Config options': [
        '--entrypoint',
        '--cmd',
        '--env',
        '--label',
        '--user',
        '--workdir',
        '--exposed-ports',
        '--set-platform',
      ],
      'Manifest options': ['--annotation'],
      'Output options': ['--tag'],
    },
    append: { 'Image options': ['--base', '--new_layer', '--platform'], 'Output options': ['--new_tag', '--output'] },
    rebase: { 'Image options': ['--original', '--old-base', '--new-base'], 'Output options': ['--tag'] },
    sbom: { 'What to read': ['--platform', '--generate'], 'Output options': ['--format', '--output'] },
    index: { 'What to list': ['--manifest', '--base'], 'Output options': ['--tag', '--docker', '--oci'] },
  };
  for (const [command, groups] of Object.entries(expect)) {
    const help = sections((await gantryInProcess([command, '--help'])).stdout);
    for (const [title, flags] of Object.entries(groups)) {
      const body = help.get(title);
      assert.ok(body !== undefined, `gantry ${command} --help has no "${title}:" (has ${[...help.keys()].join(', ')})`);
      // The flag each line starts with, not flags named in descriptions.
      const own = [...body.matchAll(/^ {2}(?:-\w, | {4})(--[a-z][\w-]*)/gm)]
        .map((m) => m[1])
        .filter((f) => f !== '--help');
      assert.deepEqual(own, flags, `gantry ${command} --help, ${title}`);
    }
  }
});

test('a mistyped flag of any command gets a "did you mean" naming the flag from its table', async () => {
  for (const spec of COMMAND_SPECS) {
    const own = flagsOf(spec).find((f) => f.name.length >= 4 && !f.optionalValue) ?? { name: 'help' };
    const typo = `--${own.name}${own.name.at(-1)}`;
    const sub = spec.subcommands?.[0];
    const args = [spec.name, ...(sub !== undefined && spec.name === 'index' ? [sub] : []), typo];
    const r = await gantryInProcess(args);
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, new RegExp(`Unknown option '${typo}': did you mean --${own.name}\\?`), args.join(' '));
  }
  // A global flag mistyped after a command is found too.
  const global = await gantryInProcess(['pull', '--insecur', 'x']);
  assert.match(global.stderr, /did you mean --insecure\?/);
  // The optional-value flags of build (taken out before parsing) are candidates as well.
  const sbom = await gantryInProcess(['build', '.', '--sbomm']);
  assert.match(sbom.stderr, /did you mean --sbom\?/);
});
