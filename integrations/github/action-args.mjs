// The GitHub Action's inputs (INPUT_* environment variables, as the runner sets them) mapped to
// `gantry build` arguments. Plain JavaScript, no build step: the action runs it with the runner's
// Node.js. `node action-args.mjs` prints the arguments as a JSON array.

/** An input as the runner passes it: INPUT_ + the name upper-cased, spaces to underscores. */
function input(env, name) {
  return (env[`INPUT_${name.replace(/ /g, '_').toUpperCase()}`] ?? '').trim();
}

/** Multi-line or comma-separated input -> list. */
function list(value) {
  return value
    .split(/[\n,]/)
    .map((v) => v.trim())
    .filter(Boolean);
}

function bool(env, name) {
  const v = input(env, name).toLowerCase();
  if (v === '' || v === 'false') return false;
  if (v === 'true') return true;
  throw new Error(`input ${name} must be true or false, not ${JSON.stringify(v)}`);
}

/** The arguments of `gantry build` for these inputs. */
export function actionArgs(env) {
  const args = ['build', input(env, 'context') || '.'];
  for (const tag of list(input(env, 'tags'))) args.push('-t', tag);
  const frontend = input(env, 'frontend');
  if (frontend) args.push('--frontend', frontend);
  const platforms = list(input(env, 'platforms'));
  if (platforms.length > 0) args.push('--platform', platforms.join(','));
  const from = input(env, 'base');
  if (from) args.push('--from', from);
  const file = input(env, 'file');
  if (file) args.push('-f', file);
  for (const a of list(input(env, 'build-args'))) args.push('--build-arg', a);
  for (const l of list(input(env, 'labels'))) args.push('--label', l);
  const index = input(env, 'index-url');
  if (index) args.push('--index-url', index);
  for (const u of list(input(env, 'extra-index-url'))) args.push('--extra-index-url', u);
  for (const d of list(input(env, 'find-links'))) args.push('--find-links', d);
  if (bool(env, 'push')) args.push('--push');
  const iid = input(env, 'iidfile');
  if (iid) args.push('--iidfile', iid);
  args.push('--progress', 'plain');
  return args;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  process.stdout.write(`${JSON.stringify(actionArgs(process.env))}\n`);
}
