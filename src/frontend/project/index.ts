/**
 * What every project front end (Python, Node.js) shares: detection and `--frontend`, the
 * configuration schema (gantry.toml, [tool.gantry], package.json "gantry"), the default base,
 * the image config merge (exec form, non-root), the source epoch, the app-layer file filter and
 * the `--dry-run` plan. The app-code layer itself is `directoryLayer` (../directory.ts).
 */
export { type BaseChoice, type BaseInputs, baseEnvName, chooseBase, defaultBaseFor } from './base.js';
export {
  type LoadedConfig,
  loadProjectConfig,
  type ProjectConfig,
  projectConfigSchema,
  validateProjectConfig,
} from './config.js';
export {
  type Detection,
  type DetectOptions,
  detectProject,
  FRONTEND_NAMES,
  type FrontEndName,
  type ProjectKind,
  parseFrontEnd,
} from './detect.js';
export { type SourceEpoch, sourceEpoch } from './epoch.js';
export { countFiles, type FileFilter, NEVER_PACKED, type ProjectFiles, projectFiles } from './files.js';
export { DEFAULT_USER, execForm, type ProjectImageSettings, projectImageConfig } from './image-config.js';
export { formatPlan, type PlanDecision, type PlanLayer, type ProjectPlan } from './plan.js';
export type { ProjectBuildOptions, ProjectBuildResult, ProjectFlags, ProjectFrontEnd } from './types.js';
