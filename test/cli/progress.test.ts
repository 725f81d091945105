// The progress views: what a person sees in a terminal (live lines, timers, CACHED, output of the
// running step), plain lines for CI, and JSON lines.
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import { clipLine, createRenderer, drawWidth } from '../../src/cli/progress.js';

class Screen extends Writable {
  readonly isTTY = true;
  readonly columns: number;
  constructor(columns = 80) {
    super();
    this.columns = columns;
  }
  text = '';
  override _write(chunk: Buffer, _enc: BufferEncoding, cb: () => void): void {
    this.text += chunk.toString();
    cb();
  }
  /** The terminal as a person would see it: replays line erase and cursor-up. */
  view(): string[] {
    const lines: string[] = [];
    let row = 0;
    const tokens = this.text.split(/(\x1b\[\d*[A-Za-z]|\n)/);
    for (const t of tokens) {
      if (t === '\n') row += 1;
      else if (/^\x1b\[(\d*)F$/.test(t)) row -= Number(/\d+/.exec(t)?.[0] ?? 1);
      else if (t === '\x1b[2K') lines[row] = '';
      else if (/^\x1b\[\d*m$/.test(t)) continue;
      else if (t !== '') lines[row] = (lines[row] ?? '') + t;
    }
    return lines.slice(0, row);
  }
}

test('tty view: steps with timers, CACHED, and the live output of the running step only', () => {
  const screen = new Screen();
  const r = createRenderer('tty', screen);
  r.sink({ type: 'start', id: 'a', name: '[base] COPY . /app' });
  r.sink({ type: 'done', id: 'a', cached: true });
  r.sink({ type: 'start', id: 'b', name: '[base] RUN make' });
  for (let i = 1; i <= 10; i++) r.sink({ type: 'log', id: 'b', line: `compiling ${i}` });
  const running = screen.view();
  assert.match(running[0] ?? '', /^\[\+\] Building \d+\.\ds \(1\/2\)$/);
  assert.equal(running[1], '#1 [base] COPY . /app CACHED');
  assert.match(running[2] ?? '', /^#2 \[base\] RUN make \d+\.\ds$/);
  // Only the last lines of output are kept on screen.
  assert.deepEqual(
    running.slice(3).map((l) => l.trim()),
    ['compiling 5', 'compiling 6', 'compiling 7', 'compiling 8', 'compiling 9', 'compiling 10'],
  );
  r.sink({ type: 'done', id: 'b' });
  r.close();
  const done = screen.view();
  assert.match(done[2] ?? '', /^#2 \[base\] RUN make DONE \d+\.\ds$/);
  assert.equal(done.length, 3, `the output of a finished step is folded away:\n${done.join('\n')}`);
});

test('plain view: numbered lines with the output of each step', () => {
  const out = new Screen();
  const r = createRenderer('plain', out);
  r.sink({ type: 'start', id: 'a', name: 'RUN echo hi' });
  r.sink({ type: 'log', id: 'a', line: 'hi' });
  r.sink({ type: 'error', id: 'a', message: 'exit code: 1' });
  r.close();
  assert.deepEqual(out.text.trim().split('\n'), ['#1 RUN echo hi', '#1 hi', '#1 ERROR exit code: 1']);
});

test('auto is plain off a terminal and quiet prints nothing', () => {
  const notTty = new Screen();
  Object.defineProperty(notTty, 'isTTY', { value: false });
  const r = createRenderer('auto', notTty);
  r.sink({ type: 'start', id: 'a', name: 'step' });
  r.close();
  assert.equal(notTty.text, '#1 step\n');
  const quiet = new Screen();
  const q = createRenderer('quiet', quiet);
  q.sink({ type: 'start', id: 'a', name: 'step' });
  q.close();
  assert.equal(quiet.text, '');
});

test('warnings: a WARNING line in plain, the event as-is in JSON, under the final frame in a terminal', () => {
  const warning = {
    type: 'warning',
    code: 'JSONArgsRecommended',
    message: 'JSONArgsRecommended: use JSON (line 3)',
  } as const;
  const plain = new Screen();
  const p = createRenderer('plain', plain);
  p.sink({ type: 'start', id: 'a', name: 'RUN echo hi' });
  p.sink(warning);
  p.sink({ type: 'done', id: 'a', cached: true });
  p.close();
  assert.deepEqual(plain.text.trim().split('\n'), [
    '#1 RUN echo hi',
    'WARNING: JSONArgsRecommended: use JSON (line 3)',
    '#1 CACHED',
  ]);
  const json = new Screen();
  const j = createRenderer('json', json);
  j.sink(warning);
  j.close();
  const { time, ...event } = JSON.parse(json.text) as { time: string };
  assert.equal(typeof time, 'string');
  assert.deepEqual(event, warning);
  const tty = new Screen();
  const t = createRenderer('tty', tty);
  t.sink({ type: 'start', id: 'a', name: 'RUN echo hi' });
  t.sink(warning);
  t.sink({ type: 'done', id: 'a', cached: true });
  t.close();
  assert.equal(tty.view().at(-1), 'WARNING: JSONArgsRecommended: use JSON (line 3)');
});

const DIGEST = `sha256:${'ab'.repeat(32)}`;

test('issue 9: a terminal that reports 0 columns is not cut to nothing, and the final digest is never truncated', () => {
  assert.equal(drawWidth(0), 120);
  assert.equal(drawWidth(undefined), 120);
  assert.equal(drawWidth(12), 40);
  assert.equal(drawWidth(100), 100);
  const zero = new Screen(0);
  const r = createRenderer('tty', zero);
  r.sink({ type: 'start', id: 'a', name: '[base] COPY . /app' });
  assert.match(zero.view()[1] ?? '', /^#1 \[base\] COPY \. \/app/);
  r.close();

  // A narrow terminal: live lines are cut, but never inside a digest, and the final frame is whole.
  const narrow = new Screen(50);
  const n = createRenderer('tty', narrow);
  n.sink({ type: 'start', id: 'x', name: 'naming image docker.io/library/some-long-name:1' });
  n.sink({ type: 'done', id: 'x', detail: DIGEST });
  assert.ok(
    narrow.view().some((l) => l.includes(DIGEST)),
    narrow.view().join('\n'),
  );
  n.close();
  n.close();
  const last = narrow.view().at(-1) ?? '';
  assert.match(last, new RegExp(`^#1 naming image docker\\.io/library/some-long-name:1 DONE \\d+\\.\\ds ${DIGEST}$`));

  const long = `#3 naming image ${'x'.repeat(80)}`;
  // 99 columns: the status with its digest whole, the name shortened.
  assert.equal(
    clipLine(`${long} DONE 0.1s ${DIGEST}`, 100, ` DONE 0.1s ${DIGEST}`),
    `${long.slice(0, 16)}… DONE 0.1s ${DIGEST}`,
  );
  assert.equal(clipLine(`${long} ${DIGEST}`, 100), `${long.slice(0, 27)}…${DIGEST}`);
  assert.equal(clipLine(`#3 ${DIGEST}`, 40), DIGEST);
  assert.equal(clipLine('short', 40), 'short');
});
