/** The executor: RUN steps in a sandbox (bubblewrap, unshare + chroot, or none), qemu-user for foreign architectures. */

export { hostPath, resolveInRoot, rootPath } from '../../util/rootpath.js';
export { detectIsolation, inContainer, isolationAvailable, isolationFallback } from './detect.js';
export { TAIL_LINES } from './output.js';
export { checkPlatform, isNativeArchitecture } from './platform.js';
export { DEFAULT_HOSTNAME, EPHEMERAL_PATHS, RunFailedError, runInSandbox, runOrThrow } from './run.js';
export {
  type BindMount,
  ISOLATIONS,
  type Isolation,
  type ResolvedUser,
  type RunResult,
  type RunSpec,
  type SandboxOptions,
  type SecretFile,
} from './types.js';
export { homeDirectory, resolveOwner, resolveUser } from './user.js';
