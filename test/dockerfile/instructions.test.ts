// biome-ignore-all lint/suspicious/noTemplateCurlyInString: Dockerfile text holds ${...} as data
// Pins which arguments of which instruction the builder expands (BuildKit's rules), what the
// expansion reports for cache keys, how RUN heredocs become a command, that ONBUILD triggers
// survive a round trip through the image config, and Go-compatible durations.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  DockerfileExpansionError,
  envLookup,
  expandInstruction,
  type Instruction,
  type Instructions,
  parse,
  parseDuration,
  parseInstruction,
  parseInstructions,
  planRun,
  type RunInstruction,
  type StageInstruction,
} from '../../src/dockerfile/index.js';

function stage(text: string): readonly StageInstruction[] {
  const parsed = parseInstructions(parse(text));
  const first = parsed.stages[0];
  assert.ok(first);
  return first.instructions;
}

function only<K extends Instruction['kind']>(text: string, kind: K): Extract<Instruction, { kind: K }> {
  const found = stage(`FROM busybox\n${text}\n`).find((i) => i.kind === kind);
  assert.ok(found, `no ${kind} in ${text}`);
  return found as Extract<Instruction, { kind: K }>;
}

const ENV = envLookup({ A: 'alpha', B: 'b c', EMPTY: '', DIR: '/srv', PORTS: '80 443/tcp', USERNAME: 'app' });

test('ENV, LABEL, ARG, WORKDIR, USER, STOPSIGNAL, VOLUME and EXPOSE are expanded', () => {
  const used = new Set<string>();
  const unset = new Set<string>();
  const x = <T extends Instruction>(i: T) => expandInstruction(i, ENV, { used, unset });
  assert.deepEqual(x(only('ENV K_$A="$B" OTHER=${MISSING:-dflt}', 'env')).pairs, [
    { key: 'K_alpha', value: 'b c' },
    { key: 'OTHER', value: 'dflt' },
  ]);
  assert.deepEqual(x(only('LABEL "l.$A"=\'$A\' raw=\\$A', 'label')).pairs, [
    { key: 'l.alpha', value: '$A' },
    { key: 'raw', value: '$A' },
  ]);
  assert.deepEqual(x(only('ARG X=$A Y', 'arg')).args, [{ name: 'X', default: 'alpha' }, { name: 'Y' }]);
  assert.equal(x(only('WORKDIR $DIR/app', 'workdir')).path, '/srv/app');
  assert.equal(x(only('USER ${USERNAME}:${GROUP:-app}', 'user')).user, 'app:app');
  assert.equal(x(only('STOPSIGNAL SIG${SIG:-TERM}', 'stopsignal')).signal, 'SIGTERM');
  assert.deepEqual(x(only('VOLUME $DIR/data /logs', 'volume')).paths, ['/srv/data', '/logs']);
  assert.deepEqual(x(only('VOLUME ["$DIR/data", "/x y"]', 'volume')).paths, ['/srv/data', '/x y']);
  // EXPOSE splits each port after expansion.
  assert.deepEqual(x(only('EXPOSE $PORTS 53/udp', 'expose')).ports, ['80', '443/tcp', '53/udp']);
  assert.deepEqual([...used].sort(), ['A', 'B', 'DIR', 'PORTS', 'USERNAME']);
  assert.deepEqual([...unset].sort(), ['GROUP', 'MISSING', 'SIG']);
});

test('COPY and ADD expand paths, --chown, --chmod and --checksum, never --from', () => {
  const copy = expandInstruction(
    only('COPY --from=builder --chown=$USERNAME --chmod=${MODE:-0644} --exclude=$A src/$A "$B" $DIR/', 'copy'),
    ENV,
  );
  assert.deepEqual(copy.sources, ['src/alpha', 'b c']);
  assert.equal(copy.dest, '/srv/');
  assert.equal(copy.chown, 'app');
  assert.equal(copy.chmod, '0644');
  assert.equal(copy.from, 'builder');
  // BuildKit leaves --exclude patterns alone.
  assert.deepEqual(copy.exclude, ['$A']);
  const add = expandInstruction(only('ADD --checksum=sha256:${SUM:-abc} https://x/$A.tgz /', 'add'), ENV);
  assert.equal(add.checksum, 'sha256:abc');
  assert.deepEqual(add.sources, ['https://x/alpha.tgz']);
  assert.throws(
    () => expandInstruction(only('COPY --from=${STAGE} /a /b', 'copy'), envLookup({ STAGE: 'x' })),
    (err: unknown) =>
      err instanceof DockerfileExpansionError &&
      err.code === 'DOCKERFILE_EXPANSION' &&
      err.line === 2 &&
      /variable expansion is not supported for --from/.test(err.message) &&
      /FROM \$\{IMAGE\} AS src/.test(err.suggestion ?? ''),
  );
});

test('RUN, CMD, ENTRYPOINT, SHELL, HEALTHCHECK, ONBUILD and MAINTAINER are left to the shell or alone', () => {
  for (const text of [
    'RUN echo $A',
    'RUN ["echo", "$A"]',
    'CMD echo $A',
    'ENTRYPOINT ["$A"]',
    'SHELL ["/bin/$A", "-c"]',
    'HEALTHCHECK CMD test $A',
    'ONBUILD RUN echo $A',
    'MAINTAINER $A',
  ]) {
    const [instr] = stage(`FROM busybox\n${text}\n`);
    assert.ok(instr);
    assert.equal(expandInstruction(instr, ENV), instr, text);
  }
  // RUN expands only the values of its --mount fields.
  const run = expandInstruction(only('RUN --mount=type=cache,id=$A,target=${DIR}/cache,ro echo $A', 'run'), ENV);
  assert.deepEqual(run.mounts[0]?.fields, [
    { key: 'type', value: 'cache' },
    { key: 'id', value: 'alpha' },
    { key: 'target', value: '/srv/cache' },
    { key: 'ro' },
  ]);
  assert.deepEqual(run.command, { kind: 'shell', script: 'echo $A' });
});

test('FROM expands the image and --platform but not the stage name', () => {
  const text = 'ARG TAG=1\nFROM --platform=$BUILDPLATFORM img:$TAG AS Build\n';
  const from = parseInstructions(parse(text)).stages[0]?.from;
  assert.ok(from);
  const out = expandInstruction(from, envLookup({ TAG: '3.20', BUILDPLATFORM: 'linux/arm64' }));
  assert.equal(out.image, 'img:3.20');
  assert.equal(out.platform, 'linux/arm64');
  assert.equal(out.as, 'build');
});

test('heredoc bodies are expanded with quotes kept, unless the delimiter was quoted', () => {
  const [unquoted, quoted, chomped] = stage(
    'FROM busybox\nCOPY <<EOF /a\necho "$A" \'$B\' \\$A\nEOF\nCOPY <<"EOF" /b\nsame "$A"\nEOF\nCOPY <<-EOF /c\n\t\tx=$A\n\tEOF\n',
  );
  assert.equal(unquoted?.kind, 'copy');
  assert.equal(quoted?.kind, 'copy');
  assert.equal(chomped?.kind, 'copy');
  if (unquoted?.kind !== 'copy' || quoted?.kind !== 'copy' || chomped?.kind !== 'copy') return;
  assert.equal(expandInstruction(unquoted, ENV).heredocs[0]?.content, `echo "alpha" 'b c' $A\n`);
  assert.equal(expandInstruction(quoted, ENV).heredocs[0]?.content, 'same "$A"\n');
  assert.equal(expandInstruction(chomped, ENV).heredocs[0]?.content, 'x=alpha\n');
});

test('the escape directive changes how expanded words are read', () => {
  const parsed = parse('# escape=`\nFROM busybox\nENV P=C:\\dir\\$A Q=`$A\nWORKDIR C:\\$A\n');
  const instrs = parseInstructions(parsed).stages[0]?.instructions ?? [];
  const [env, workdir] = instrs;
  assert.ok(env?.kind === 'env' && workdir?.kind === 'workdir');
  const escape = parsed.directives.escape;
  assert.deepEqual(expandInstruction(env, ENV, { escape }).pairs, [
    { key: 'P', value: 'C:\\dir\\alpha' },
    { key: 'Q', value: '$A' },
  ]);
  assert.equal(expandInstruction(workdir, ENV, { escape }).path, 'C:\\alpha');
});

test('issue 9: flags after # escape=` are split with the backtick, as current BuildKit splits them', () => {
  const text = [
    '# escape=`',
    'FROM busybox',
    'COPY --chown=12`34:56 a /x/',
    'COPY --chown="7`8:9" a /y/',
    'RUN --mount=type=tmpfs,target=C:\\cache `',
    '    --network=none true',
    '',
  ].join('\n');
  const [a, b, run] = parseInstructions(parse(text)).stages[0]?.instructions ?? [];
  assert.ok(a?.kind === 'copy' && b?.kind === 'copy' && run?.kind === 'run');
  // The backtick escapes the next character; a backslash is an ordinary one.
  assert.equal(a.chown, '1234:56');
  assert.equal(b.chown, '78:9');
  assert.deepEqual(
    run.mounts.map((m) => m.raw),
    ['type=tmpfs,target=C:\\cache'],
  );
  assert.equal(run.network, 'none');
  // Without the directive a backslash escapes, as before.
  const [plain] = parseInstructions(parse('FROM busybox\nCOPY --chown=12\\34:5 a /x/\n')).stages[0]?.instructions ?? [];
  assert.ok(plain?.kind === 'copy');
  assert.equal(plain.chown, '1234:5');
});

test('a failed expansion names the instruction line', () => {
  const env = only('ENV X="${REQUIRED:?set REQUIRED with --build-arg}"', 'env');
  assert.throws(
    () => expandInstruction(env, ENV, { file: 'app.Dockerfile' }),
    (err: unknown) =>
      err instanceof DockerfileExpansionError &&
      err.line === 2 &&
      err.message.startsWith('app.Dockerfile:2: failed to process') &&
      err.message.includes('REQUIRED: set REQUIRED with --build-arg') &&
      err.message.includes('(at `ENV X="${REQUIRED:?set REQUIRED with --build-arg}"`)'),
  );
  assert.throws(() => expandInstruction(only('WORKDIR ${', 'workdir'), ENV), DockerfileExpansionError);
});

function run(text: string): RunInstruction {
  return only(text, 'run');
}

test('planRun turns RUN heredocs into a command the way BuildKit does', () => {
  assert.deepEqual(planRun(run('RUN ["echo", "hi"]')), { kind: 'exec', argv: ['echo', 'hi'] });
  assert.deepEqual(planRun(run('RUN echo hi')), { kind: 'shell', script: 'echo hi' });
  // A lone heredoc is the script itself.
  assert.deepEqual(planRun(run('RUN <<EOF\napt-get update\napt-get install -y curl\nEOF')), {
    kind: 'shell',
    script: 'apt-get update\napt-get install -y curl\n',
  });
  // <<- strips the leading tabs when the body becomes the script.
  assert.deepEqual(planRun(run('RUN <<-EOF\n\techo tabbed\n\tEOF')), { kind: 'shell', script: 'echo tabbed\n' });
  // A shebang makes it a file that is executed directly.
  assert.deepEqual(planRun(run('RUN <<script.py\n#!/usr/bin/env python3\nprint(1)\nscript.py')), {
    kind: 'file',
    name: 'script.py',
    content: '#!/usr/bin/env python3\nprint(1)\n',
  });
  // Anything else is handed back to the shell with its heredocs.
  assert.deepEqual(planRun(run('RUN python3 <<EOF > /out\nprint(1)\nEOF')), {
    kind: 'shell',
    script: 'python3 <<EOF > /out\nprint(1)\nEOF',
  });
  assert.deepEqual(planRun(run('RUN <<A cat && <<-B cat\na\nA\n\tb\n\tB')), {
    kind: 'shell',
    script: '<<A cat && <<-B cat\na\nA\n\tb\nB',
  });
});

test('an ONBUILD trigger parses back to the instruction it was written as', () => {
  const instrs = stage(
    'FROM busybox\nONBUILD COPY --chown=1 <<EOF /x\nline $A\nEOF\nONBUILD RUN --network=none echo "hi"\nonbuild env A=1\n',
  );
  const triggers = instrs.filter((i) => i.kind === 'onbuild');
  assert.deepEqual(
    triggers.map((t) => t.trigger),
    ['COPY --chown=1 <<EOF /x\nline $A\nEOF', 'RUN --network=none echo "hi"', 'env A=1'],
  );
  const reparsed = triggers.map((t) => {
    const nodes = parse(t.trigger).ast;
    assert.equal(nodes.length, 1);
    return parseInstruction(nodes[0] as (typeof nodes)[number]);
  });
  const [copy, runInstr, env] = reparsed;
  assert.ok(copy?.kind === 'copy' && runInstr?.kind === 'run' && env?.kind === 'env');
  assert.equal(copy.chown, '1');
  assert.deepEqual(copy.heredocs, [{ name: 'EOF', content: 'line $A\n', expand: true }]);
  assert.equal(runInstr.network, 'none');
  assert.deepEqual(env.pairs, [{ key: 'A', value: '1' }]);
});

test('mount specs are CSV: quoted fields keep commas, "" is a quote', () => {
  const r = run('RUN --mount=type=bind,\\"source=a,b\\",target=/t --mount=type=secret,\\"id=x\\"\\"y\\" true');
  assert.deepEqual(r.mounts[0]?.fields, [
    { key: 'type', value: 'bind' },
    { key: 'source', value: 'a,b' },
    { key: 'target', value: '/t' },
  ]);
  assert.equal(r.mounts[1]?.raw, 'type=secret,"id=x""y"');
  assert.deepEqual(r.mounts[1]?.fields, [
    { key: 'type', value: 'secret' },
    { key: 'id', value: 'x"y' },
  ]);
});

test('durations are read like Go time.ParseDuration', () => {
  const rows: readonly [string, number | RegExp][] = [
    ['0', 0],
    ['30s', 30e9],
    ['1m30s', 90e9],
    ['1.5h', 5400e9],
    ['500ms', 500e6],
    ['10us', 10e3],
    ['10µs', 10e3],
    ['7ns', 7],
    ['.5s', 500e6],
    ['1h2m3.5s', 3723.5e9],
    ['-1s', -1e9],
    ['+2m', 120e9],
    ['', /invalid duration/],
    ['5', /missing unit/],
    ['3d', /unknown unit "d"/],
    ['s', /invalid duration/],
    ['1..5s', /missing unit/],
    ['9999999999h', /invalid duration/],
  ];
  for (const [text, want] of rows) {
    const got = parseDuration(text);
    if (typeof want === 'number') assert.equal(got, want, text);
    else assert.match(String(got), want, text);
  }
});

test('a check directive turns warnings off by rule, or all of them', () => {
  const text = 'FROM busybox AS Build\nENV legacy value\nMAINTAINER me\nCMD run\n';
  const codes = (r: Instructions, p: ReturnType<typeof parse>) =>
    [...p.warnings, ...r.warnings].map((w) => w.code).sort();
  const plain = parse(text);
  assert.deepEqual(codes(parseInstructions(plain), plain), [
    'JSONArgsRecommended',
    'LegacyKeyValueFormat',
    'MaintainerDeprecated',
    'StageNameCasing',
  ]);
  const some = parse(`# check=skip=LegacyKeyValueFormat,JSONArgsRecommended\n${text}`);
  assert.deepEqual(codes(parseInstructions(some), some), ['MaintainerDeprecated', 'StageNameCasing']);
  const all = parse(`# check=skip=all;error=true\n${text}`);
  assert.deepEqual(codes(parseInstructions(all), all), []);
  assert.deepEqual(all.directives.check, { skipAll: true, skip: [], error: true });
});

test('parseInstructions accepts bare nodes and still points errors at their lines', () => {
  const { ast } = parse('FROM busybox\nRUN true\nCOPY --bogus a b\n');
  assert.throws(
    () => parseInstructions(ast, { file: 'nodes' }),
    (err: unknown) => err instanceof Error && err.message.startsWith('nodes:3:6: unknown flag --bogus for COPY'),
  );
  const ok = parseInstructions(parse('FROM a AS one\nFROM one\nRUN x\n').ast);
  assert.deepEqual(
    ok.stages.map((s) => [s.name, s.index, s.from.image, s.instructions.length]),
    [
      ['one', 0, 'a', 0],
      [undefined, 1, 'one', 1],
    ],
  );
});
