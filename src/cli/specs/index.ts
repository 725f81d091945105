/**
 * Every command's flag table, in the order `gantry --help` lists them. Pure data: main.ts reads
 * the summaries without loading any command, and `gantry completion` generates from all of them.
 */
import type { CommandSpec } from '../flags.js';
import { buildSpec } from './build.js';
import {
  appendSpec,
  blobSpec,
  exportSpec,
  flattenSpec,
  indexSpec,
  mutateSpec,
  rebaseSpec,
  tagSpec,
  validateSpec,
} from './crane.js';
import { completionSpec, infoSpec } from './global.js';
import {
  catalogSpec,
  copySpec,
  deleteSpec,
  digestSpec,
  inspectSpec,
  loginSpec,
  logoutSpec,
  pullSpec,
  pushSpec,
  tagsSpec,
} from './registry.js';
import { imagesSpec, loadSpec, pruneSpec, rmiSpec } from './store.js';
import { discoverSpec, referrersSpec, sbomSpec, scanSpec, signSpec, verifySpec } from './supply.js';

export { GLOBAL_FLAGS, SHELLS } from './global.js';

export const COMMAND_SPECS: readonly CommandSpec[] = [
  buildSpec,
  imagesSpec,
  rmiSpec,
  pruneSpec,
  loadSpec,
  pushSpec,
  pullSpec,
  copySpec,
  inspectSpec,
  digestSpec,
  tagsSpec,
  catalogSpec,
  deleteSpec,
  loginSpec,
  logoutSpec,
  appendSpec,
  mutateSpec,
  flattenSpec,
  rebaseSpec,
  tagSpec,
  exportSpec,
  blobSpec,
  validateSpec,
  indexSpec,
  sbomSpec,
  referrersSpec,
  discoverSpec,
  signSpec,
  verifySpec,
  scanSpec,
  infoSpec,
  completionSpec,
];

export function specNamed(name: string): CommandSpec | undefined {
  return COMMAND_SPECS.find((s) => s.name === name);
}
