/**
 * WORKDIR and USER. WORKDIR sets the config's working directory and creates the directory (owned
 * by USER) when it is missing: a step for the solver, whose layer is empty when it existed.
 */
import type { UserInstruction, WorkdirInstruction } from '../../dockerfile/index.js';
import { absoluteWorkdir } from '../../engine/config.js';
import { workdirStep } from '../../engine/solver/steps.js';
import { formatPlatform } from '../../oci/platform.js';
import { addHistory, chainMeta, containerConfig, type Dispatch, editConfig, solveStep } from './state.js';

export async function workdir(d: Dispatch, instr: WorkdirInstruction): Promise<void> {
  const { state } = d;
  // An absolute path is kept as written (a trailing / too), as BuildKit and buildah keep it.
  const dir = instr.path.startsWith('/')
    ? instr.path
    : absoluteWorkdir(instr.path, containerConfig(state).WorkingDir || '/');
  editConfig(state, (c) => {
    c.WorkingDir = dir;
  });
  let added = false;
  if (dir !== '/') {
    const user = containerConfig(state).User || undefined;
    const layers = [...state.layers];
    added = await solveStep(d, {
      inputs: ['workdir', dir, user ?? '', formatPlatform(state.platform)],
      run: () => workdirStep(layers, dir, user, d.build.solver.context),
    });
  } else {
    chainMeta(state, 'WORKDIR /');
  }
  addHistory(d, `WORKDIR ${dir}`, !added);
}

export function user(d: Dispatch, instr: UserInstruction): void {
  editConfig(d.state, (c) => {
    c.User = instr.user;
  });
  addHistory(d, `USER ${instr.user}`, true);
  chainMeta(d.state, `USER ${instr.user}`);
}
