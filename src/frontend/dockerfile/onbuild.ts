/**
 * ONBUILD: recording a trigger in the config, and running the triggers a base image carries
 * before the stage's own instructions (then clearing them, as BuildKit does).
 */
import {
  type Instruction,
  type OnbuildInstruction,
  parse,
  parseInstruction,
  type StageInstruction,
} from '../../dockerfile/index.js';
import { chainMeta, containerConfig, type Dispatch, editConfig, type StageState } from './state.js';

export function onbuild(d: Dispatch, instr: OnbuildInstruction): void {
  editConfig(d.state, (c) => {
    c.OnBuild = [...(c.OnBuild ?? []), instr.trigger];
  });
  // BuildKit records no history entry for ONBUILD.
  chainMeta(d.state, `ONBUILD ${instr.trigger}`);
}

/** Runs the base's triggers through `dispatch`, in order, after clearing them from the config. */
export async function runTriggers(
  state: StageState,
  dispatch: (instr: StageInstruction | Instruction) => Promise<void>,
): Promise<void> {
  const triggers = containerConfig(state).OnBuild ?? [];
  if (triggers.length > 0) editConfig(state, (c) => delete c.OnBuild);
  for (const trigger of triggers) {
    for (const node of parse(trigger).ast) await dispatch(parseInstruction(node) as StageInstruction);
  }
}
