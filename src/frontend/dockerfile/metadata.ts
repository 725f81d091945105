/**
 * The instructions that only change the image config: ENV, LABEL, EXPOSE, VOLUME, STOPSIGNAL,
 * HEALTHCHECK, SHELL, CMD, ENTRYPOINT, MAINTAINER. Each edits the stage's config, writes the
 * history entry BuildKit writes (no layer), and chains its change into the key.
 */
import type {
  CmdInstruction,
  EntrypointInstruction,
  EnvInstruction,
  ExposeInstruction,
  HealthcheckInstruction,
  LabelInstruction,
  MaintainerInstruction,
  ShellInstruction,
  StopSignalInstruction,
  VolumeInstruction,
} from '../../dockerfile/index.js';
import { normalizePort } from '../../engine/config.js';
import { GantryError } from '../../errors.js';
import { goList, goQuotedList, healthcheckHistory } from './history.js';
import { addHistory, chainMeta, type Dispatch, editConfig, type StageState, shellOf } from './state.js';

export type MetadataInstruction =
  | EnvInstruction
  | LabelInstruction
  | ExposeInstruction
  | VolumeInstruction
  | StopSignalInstruction
  | HealthcheckInstruction
  | ShellInstruction
  | CmdInstruction
  | EntrypointInstruction
  | MaintainerInstruction;

/** A config change: the history entry BuildKit writes (no layer), and the change chained into the key. */
export function metadata(d: Dispatch, instr: MetadataInstruction): void {
  const [history, key = history] = change(d.state, instr);
  addHistory(d, history, true);
  chainMeta(d.state, key);
}

/** Edits the config; gives the history text and, when it differs, the text the key chains. */
function change(state: StageState, instr: MetadataInstruction): [string, string?] {
  switch (instr.kind) {
    case 'env': {
      editConfig(state, (c) => {
        const env = [...(c.Env ?? [])];
        for (const { key, value } of instr.pairs) {
          const at = env.findIndex((e) => e.startsWith(`${key}=`));
          if (at === -1) env.push(`${key}=${value}`);
          else env[at] = `${key}=${value}`;
        }
        c.Env = env;
      });
      return [`ENV ${instr.pairs.map((p) => `${p.key}=${p.value}`).join(' ')}`];
    }
    case 'label': {
      editConfig(state, (c) => {
        const labels = { ...(c.Labels ?? {}) };
        for (const { key, value } of instr.pairs) labels[key] = value;
        c.Labels = labels;
      });
      return [`LABEL ${instr.pairs.map((p) => `${p.key}=${p.value}`).join(' ')}`];
    }
    case 'expose': {
      const list = instr.ports.flatMap((p) => exposedPorts(p));
      editConfig(state, (c) => {
        const ports = { ...(c.ExposedPorts ?? {}) };
        for (const p of list) ports[p] = {};
        c.ExposedPorts = ports;
      });
      return [`EXPOSE ${goList(list)}`, `EXPOSE ${list.join(' ')}`];
    }
    case 'volume':
      editConfig(state, (c) => {
        const volumes = { ...(c.Volumes ?? {}) };
        for (const v of instr.paths) volumes[v] = {};
        c.Volumes = volumes;
      });
      return [`VOLUME ${goList(instr.paths)}`, `VOLUME ${instr.paths.join(' ')}`];
    case 'stopsignal':
      editConfig(state, (c) => {
        c.StopSignal = instr.signal;
      });
      return [`STOPSIGNAL ${instr.signal}`];
    case 'healthcheck': {
      const check = instr.check;
      editConfig(state, (c) => {
        if (check.type === 'none') c.Healthcheck = { Test: ['NONE'] };
        else {
          c.Healthcheck = {
            Test: [...check.test],
            ...(check.interval !== undefined ? { Interval: check.interval } : {}),
            ...(check.timeout !== undefined ? { Timeout: check.timeout } : {}),
            ...(check.startPeriod !== undefined ? { StartPeriod: check.startPeriod } : {}),
            ...(check.startInterval !== undefined ? { StartInterval: check.startInterval } : {}),
            ...(check.retries !== undefined ? { Retries: check.retries } : {}),
          };
        }
      });
      return [healthcheckHistory(check), JSON.stringify(check)];
    }
    case 'shell':
      editConfig(state, (c) => {
        c.Shell = [...instr.shell];
      });
      return [`SHELL ${goList(instr.shell)}`, `SHELL ${JSON.stringify(instr.shell)}`];
    case 'cmd': {
      const cmd = instr.command.kind === 'exec' ? [...instr.command.argv] : [...shellOf(state), instr.command.script];
      editConfig(state, (c) => {
        c.Cmd = cmd;
      });
      state.cmdSet = true;
      return [`CMD ${goQuotedList(cmd)}`, `CMD ${JSON.stringify(cmd)}`];
    }
    case 'entrypoint': {
      const ep = instr.command.kind === 'exec' ? [...instr.command.argv] : [...shellOf(state), instr.command.script];
      editConfig(state, (c) => {
        c.Entrypoint = ep;
        if (!state.cmdSet) delete c.Cmd;
      });
      return [`ENTRYPOINT ${goQuotedList(ep)}`, `ENTRYPOINT ${JSON.stringify(ep)}`];
    }
    case 'maintainer':
      state.config = { ...state.config, author: instr.maintainer };
      return [`MAINTAINER ${instr.maintainer}`];
  }
}

/** EXPOSE values as the config stores them: `80/tcp`, a range as one entry per port (BuildKit). */
function exposedPorts(value: string): string[] {
  const normalized = normalizePort(value);
  const m = /^(\d+)-(\d+)\/(\w+)$/.exec(normalized);
  if (!m) return [normalized];
  const [from, to] = [Number(m[1]), Number(m[2])];
  if (to < from) {
    throw new GantryError('INVALID_PORT', `invalid port range ${JSON.stringify(value)}`, {
      phase: 'build',
      suggestion: 'write the lower port first, e.g. 8000-8010',
    });
  }
  const out: string[] = [];
  for (let p = from; p <= to; p++) out.push(`${p}/${m[3]}`);
  return out;
}
