// The solver without any front end: steps keyed before work, looked up and recorded in a real
// store, chained on what they produced, run once per key, scheduled within one CPU budget, and
// reported as progress events. Work is counted, never timed: overlap and bounds are proven with
// barriers and counters.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { Solver, type SolverOptions, type StepSpec } from '../../src/engine/solver/solver.js';
import { type StepLayer, writeEntries } from '../../src/engine/solver/steps.js';
import { GantryError } from '../../src/errors.js';
import { hostPlatform } from '../../src/oci/platform.js';
import { Store } from '../../src/store/store.js';
import type { ProgressEvent } from '../../src/util/progress.js';

async function withStore(fn: (store: Store) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'gantry-solver-'));
  try {
    await fn(await Store.open({ dir: join(dir, 'store') }));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** A solver over `store` that records its events; a new one is a new build. */
function build(store: Store, options: Partial<SolverOptions> = {}): { solver: Solver; events: ProgressEvent[] } {
  const events: ProgressEvent[] = [];
  const solver = new Solver({ store, progress: (e) => events.push(e), ...options });
  return { solver, events };
}

/** Work that writes one file holding `content` and counts its runs under `name`. */
function fileWork(solver: Solver, runs: Map<string, number>, name: string, content: string) {
  return async (): Promise<StepLayer> => {
    runs.set(name, (runs.get(name) ?? 0) + 1);
    const body = Buffer.from(content);
    return writeEntries(
      [{ entry: { path: name, type: 'file', mode: 0o644, uid: 0, gid: 0, mtime: 0, size: body.length }, body }],
      solver.context,
    );
  };
}

/**
 * A small graph: base -> a -> b -> c, and base -> a -> d (d does not depend on b). `defs` holds
 * each step's definition (what enters its key) and what it writes.
 */
async function graph(
  solver: Solver,
  runs: Map<string, number>,
  defs: Readonly<Record<'a' | 'b' | 'c' | 'd', string>>,
  noCache: readonly string[] = [],
): Promise<Record<string, boolean>> {
  const cached: Record<string, boolean> = {};
  const at = async (parent: string, name: 'a' | 'b' | 'c' | 'd', writes = defs[name]) => {
    const r = await solver.step({
      parent,
      inputs: [name, defs[name]],
      name,
      noCache: noCache.includes(name),
      run: fileWork(solver, runs, name, writes),
    });
    cached[name] = r.cached;
    return r.chain;
  };
  const a = await at('base', 'a');
  const [b] = await Promise.all([at(a, 'b'), at(a, 'd')]);
  await at(b, 'c');
  return cached;
}

test('a step is keyed before its work, recorded, and a later build finds it without running it', async () => {
  await withStore(async (store) => {
    const runs = new Map<string, number>();
    const first = build(store);
    const spec: StepSpec = { parent: 'p', inputs: ['x'], name: 'x', run: fileWork(first.solver, runs, 'x', '1') };
    const key = Solver.keyOf(spec);
    assert.equal(await first.solver.cache.get(key), undefined, 'nothing recorded before the build');
    const made = await first.solver.step(spec);
    assert.equal(made.key, key, 'the key is the one computed before the work');
    assert.equal(made.cached, false);
    const record = await first.solver.cache.get(key);
    assert.equal(record?.layer?.diffID, made.diffID, 'the record names the layer the step made');

    const again = build(store);
    const hit = await again.solver.step({ ...spec, run: fileWork(again.solver, runs, 'x', '1') });
    assert.equal(runs.get('x'), 1, 'the hit ran nothing');
    assert.equal(hit.cached, true);
    assert.equal(hit.diffID, made.diffID);
    assert.equal(hit.chain, made.chain, 'the chain goes on from the same result');
    assert.equal(await hit.layer?.diffID(), made.diffID, 'the cached layer is readable from the store');
  });
});

test('a change re-runs exactly the steps downstream of it, and nothing else', async () => {
  await withStore(async (store) => {
    const runs = new Map<string, number>();
    const defs = { a: 'a1', b: 'b1', c: 'c1', d: 'd1' };
    const first = build(store);
    assert.deepEqual(await graph(first.solver, runs, defs), { a: false, b: false, c: false, d: false });

    const same = build(store);
    assert.deepEqual(await graph(same.solver, runs, defs), { a: true, b: true, c: true, d: true }, 'no change');

    runs.clear();
    const changed = build(store);
    const cached = await graph(changed.solver, runs, { ...defs, b: 'b2' });
    assert.deepEqual(cached, { a: true, b: false, c: false, d: true }, 'b changed: b and c, not a or d');
    assert.deepEqual([...runs.keys()].sort(), ['b', 'c']);
  });
});

test('the chain goes on from what a step produced: a re-run that makes the same files invalidates nothing', async () => {
  await withStore(async (store) => {
    const runs = new Map<string, number>();
    const defs = { a: 'a1', b: 'b1', c: 'c1', d: 'd1' };
    await graph(build(store).solver, runs, defs);
    runs.clear();
    // a runs again (no cache) and writes the same bytes: everything after it is still a hit.
    const cached = await graph(build(store).solver, runs, defs, ['a']);
    assert.deepEqual(cached, { a: false, b: true, c: true, d: true });
    assert.deepEqual([...runs.keys()], ['a']);
    // a runs again and writes something else: every step after it misses.
    runs.clear();
    const solver = build(store).solver;
    const a = await solver.step({
      parent: 'base',
      inputs: ['a', 'a1'],
      name: 'a',
      noCache: true,
      run: fileWork(solver, runs, 'a', 'different'),
    });
    const b = await solver.step({
      parent: a.chain,
      inputs: ['b', 'b1'],
      name: 'b',
      run: fileWork(solver, runs, 'b', 'b1'),
    });
    assert.equal(b.cached, false);
  });
});

test('a solver made with noCache (--no-cache of a project build) runs every recorded step again, and records them', async () => {
  await withStore(async (store) => {
    const runs = new Map<string, number>();
    const defs = { a: 'a1', b: 'b1', c: 'c1', d: 'd1' };
    await graph(build(store).solver, runs, defs);
    runs.clear();
    const again = await graph(build(store, { noCache: true }).solver, runs, defs);
    assert.deepEqual(again, { a: false, b: false, c: false, d: false });
    assert.deepEqual([...runs.keys()].sort(), ['a', 'b', 'c', 'd']);
    runs.clear();
    assert.deepEqual(await graph(build(store).solver, runs, defs), { a: true, b: true, c: true, d: true });
    assert.equal(runs.size, 0);
  });
});

test('a detached step (COPY --link) is keyed without its parent, and the chain still goes on from the parent', async () => {
  await withStore(async (store) => {
    const runs = new Map<string, number>();
    const steps = async (parent: string) => {
      const { solver } = build(store);
      const link = await solver.step({
        parent,
        inputs: ['copy', 'app'],
        detached: true,
        name: 'link',
        run: fileWork(solver, runs, 'link', 'app'),
      });
      const next = await solver.step({
        parent: link.chain,
        inputs: ['after'],
        name: 'after',
        run: fileWork(solver, runs, 'after', 'x'),
      });
      return { link: link.cached, after: next.cached };
    };
    assert.deepEqual(await steps('parent-1'), { link: false, after: false });
    assert.deepEqual(await steps('parent-2'), { link: true, after: false }, 'a new parent: the layer is reused');
    assert.deepEqual(await steps('parent-1'), { link: true, after: true });
  });
});

test('identical steps (two platforms, two stages) run once per build and report once', async () => {
  await withStore(async (store) => {
    const runs = new Map<string, number>();
    const { solver, events } = build(store);
    const spec = (name: string): StepSpec => ({
      parent: 'base',
      inputs: ['same'],
      name,
      run: fileWork(solver, runs, 'same', 'same'),
    });
    const [amd64, arm64] = await Promise.all([
      solver.step(spec('[linux/amd64 build] RUN make')),
      solver.step(spec('[linux/arm64 build] RUN make')),
    ]);
    const stage = await solver.step(spec('[other] RUN make'));
    assert.equal(runs.get('same'), 1);
    assert.equal(amd64.diffID, arm64.diffID);
    assert.equal(stage.chain, amd64.chain);
    assert.deepEqual(
      events.filter((e) => e.type === 'start').map((e) => (e.type === 'start' ? e.name : '')),
      ['[linux/amd64 build] RUN make'],
    );
  });
});

test('independent steps overlap, and the CPU budget bounds how many run at once', async () => {
  await withStore(async (store) => {
    const { solver } = build(store, { concurrency: 2 });
    let active = 0;
    let most = 0;
    const started: (() => void)[] = [];
    const release: (() => void)[] = [];
    const arrived = (n: number) => new Promise<void>((r) => started.push(() => (active >= n ? r() : undefined)));
    const work = async () => {
      active++;
      most = Math.max(most, active);
      for (const s of started) s();
      await new Promise<void>((r) => release.push(r));
      active--;
      return undefined;
    };
    const twoRunning = arrived(2);
    const all = [0, 1, 2, 3].map((i) => solver.step({ parent: 'p', inputs: [String(i)], name: `s${i}`, run: work }));
    // Two steps are inside their work at the same time: they overlap.
    await twoRunning;
    // Let every other step get as far as it can: none passes the budget.
    for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
    assert.equal(active, 2, 'two steps run at once');
    assert.equal(release.length, 2, 'the other two wait for the budget');
    // Release whatever is waiting until every step has finished: a step that has left the budget
    // may take file I/O (recording its result) before the next one reaches its work, so the loop
    // waits on the steps themselves, not on a moment when nothing happens to be running.
    let finished = 0;
    for (const p of all)
      void p.then(
        () => finished++,
        () => finished++,
      );
    while (finished < all.length) {
      release.shift()?.();
      await new Promise((r) => setTimeout(r, 1));
    }
    await Promise.all(all);
    assert.equal(most, 2, 'never more than the budget');
  });
});

test('progress: start/done, cached, log, error with the message, and each warning once', async () => {
  await withStore(async (store) => {
    const runs = new Map<string, number>();
    const first = build(store);
    await first.solver.step({
      parent: 'p',
      inputs: ['ok'],
      name: 'ok',
      run: async (step) => {
        step.log('hello');
        return fileWork(first.solver, runs, 'ok', 'ok')();
      },
    });
    first.solver.warn('JSONArgsRecommended: use JSON (line 3)', 'JSONArgsRecommended');
    first.solver.warn('JSONArgsRecommended: use JSON (line 3)', 'JSONArgsRecommended');
    await assert.rejects(
      first.solver.step({
        parent: 'p',
        inputs: ['bad'],
        name: 'bad',
        run: async () => {
          throw new GantryError('RUN_FAILED', 'exit code: 1', { phase: 'build' });
        },
      }),
      { code: 'RUN_FAILED' },
    );
    const id = first.events[0]?.type === 'start' ? first.events[0].id : '';
    assert.match(id, /^step-[0-9a-f]{16}$/);
    const bad = first.events.find((e) => e.type === 'start' && e.name === 'bad');
    const badId = bad?.type === 'start' ? bad.id : '';
    assert.deepEqual(first.events, [
      { type: 'start', id, name: 'ok' },
      { type: 'log', id, line: 'hello' },
      { type: 'done', id },
      { type: 'warning', message: 'JSONArgsRecommended: use JSON (line 3)', code: 'JSONArgsRecommended' },
      { type: 'start', id: badId, name: 'bad' },
      { type: 'error', id: badId, message: 'exit code: 1' },
    ]);
    const second = build(store);
    await second.solver.step({
      parent: 'p',
      inputs: ['ok'],
      name: 'ok',
      run: fileWork(second.solver, runs, 'ok', 'ok'),
    });
    assert.deepEqual(
      second.events,
      [
        { type: 'start', id, name: 'ok' },
        { type: 'done', id, cached: true },
      ],
      'the same step has the same id in every build',
    );
  });
});

test('a source is resolved and reported once; a base missing from the store without a registry says so', async () => {
  await withStore(async (store) => {
    const { solver, events } = build(store);
    let resolved = 0;
    const from = () =>
      solver.source(['image', 'busybox:1', 'linux/amd64'], '[a] FROM busybox:1', async () => ++resolved);
    assert.deepEqual(await Promise.all([from(), from()]), [1, 1]);
    assert.equal(resolved, 1);
    assert.deepEqual(
      events.map((e) => e.type),
      ['start', 'done'],
    );
    await assert.rejects(solver.image('nope:1', hostPlatform()), { code: 'BASE_NOT_FOUND' });
  });
});
