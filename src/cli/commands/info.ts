/** `gantry info`: what this machine gives gantry (machineInfo), as a report or JSON. */
import { machineInfo } from '../../engine/info.js';
import { flag, parse, str } from '../args.js';
import { type Command, usageError } from '../context.js';
import { renderHelp } from '../flags.js';
import { formatBytes } from '../progress.js';
import { infoSpec } from '../specs/global.js';

export const infoHelp = renderHelp(infoSpec);

export const info: Command = async (args, ctx) => {
  const p = parse(infoSpec, args);
  if (flag(p, 'help')) {
    ctx.stdout.write(infoHelp);
    return 0;
  }
  const format = str(p, 'format') ?? 'text';
  if (format !== 'text' && format !== 'json') throw usageError(`invalid --format ${format}`, 'use text or json');
  const m = await machineInfo(ctx.flags.store ? { store: ctx.flags.store } : {});
  if (format === 'json') {
    ctx.stdout.write(`${JSON.stringify(m, null, 2)}\n`);
    return 0;
  }
  const yes = (b: boolean | undefined) => (b === undefined ? 'unknown' : b ? 'yes' : 'no');
  const lines = [
    `host:         ${m.host.platform}, kernel ${m.host.kernel}, node ${m.host.node}${m.host.root ? ', root' : ''}`,
    `sandbox:      ${m.sandbox.chosen ?? 'none available'} (${m.sandbox.reason})`,
    ...m.sandbox.candidates.map((c) => `  ${c.name.padEnd(8)}${c.available ? 'yes' : 'no '}  ${c.reason}`),
    `snapshotter:  ${m.snapshotter.chosen} (${m.snapshotter.reason})`,
    `xattrs:       ${m.xattrs.method} (${m.xattrs.reason})`,
    `user namespaces: max ${m.userNamespaces.max ?? 'unknown'}, unprivileged ${yes(m.userNamespaces.unprivileged)}`,
    `platforms:    native ${m.platforms.native.join(', ') || '-'}; emulated ${m.platforms.emulated.join(', ') || '-'}`,
    ...Object.entries(m.platforms.unavailable).map(([name, why]) => `  ${name.padEnd(16)}${why}`),
    `store:        ${m.store.path} (${m.store.exists ? formatBytes(m.store.size) : 'not created yet'})`,
    'config files:',
    ...m.configFiles.map((f) => `  ${f.kind.padEnd(21)}${f.path}${f.exists ? '' : ' (absent)'}`),
    `registry config read: ${m.registries.filesRead.join(', ') || 'none'}`,
    ...(m.registries.error ? [`  unreadable: ${m.registries.error}`] : []),
    `short names:  ${m.registries.searchRegistries.join(', ')}${m.registries.searchRegistries.length > 1 ? ' (pulls try them in order; pushes need a full name)' : ''}`,
  ];
  ctx.stdout.write(`${lines.join('\n')}\n`);
  return 0;
};
