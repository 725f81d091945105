/**
 * The Dockerfile front end: a converter from the parser's typed instructions to steps for the
 * solver, a file per instruction family (run.ts with its mounts, copy.ts, metadata.ts, workdir.ts,
 * onbuild.ts, stages.ts), with the BuildKit-specific knowledge next to them (history text, the
 * `--mount` fields, the stage state).
 */
export { buildDockerfile } from './build.js';
export { type CheckOptions, type CheckResult, checkDockerfile } from './check.js';
export { type BuildContext, checkBuildContexts, parseBuildContext } from './contexts.js';
export { parseSecretFlag, type SecretSource } from './mounts.js';
export type { DockerfileBuildOptions, DockerfileBuildResult } from './options.js';
export { parseSshFlag, prepareSsh, type SshAgents, type SshSpec } from './ssh.js';
