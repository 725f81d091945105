/**
 * The one error type every gantry module throws. It carries a stable `code` (survives two copies
 * of the package: compare codes, not classes), the `phase` the failure belongs to, and a
 * `suggestion` that tells the user what to do. The CLI prints `message` and `suggestion` on one
 * line; everything else is for `--debug` and for library callers.
 */
export type Phase =
  | 'usage'
  | 'reference'
  | 'parse'
  | 'resolve'
  | 'pull'
  | 'push'
  | 'build'
  | 'layer'
  | 'store'
  | 'export'
  | 'import'
  | 'config'
  /** SBOM, provenance, signatures and their verification. */
  | 'supply'
  | 'io';

/**
 * Every error code gantry throws, with what it means: compare `err.code` against these (a code is
 * stable across versions and survives two copies of the package; classes do not). Registry errors
 * keep the code the registry sent; the OCI distribution codes are listed, and a registry may send
 * others. A test fails when a code used in src/ is missing here or in docs/errors.md.
 */
export const ERROR_CODES = {
  ABORTED: 'The operation was cancelled through its AbortSignal (Ctrl-C in the CLI).',
  ADD_CHECKSUM_MISMATCH: 'ADD --checksum: the downloaded file has another digest.',
  ADD_CHECKSUM_NOT_SUPPORTED: 'ADD --checksum was given for a local file (BuildKit checks URLs and git sources only).',
  ADD_FETCH_FAILED: 'ADD of a URL: the download failed.',
  ADD_GIT_FAILED: 'ADD of a git repository: git is missing, or the fetch or checkout failed.',
  AMBIGUOUS_IMAGE: 'A layout or archive holds several images and none was named.',
  ARCHIVE_NOT_FOUND: 'An oci-archive: or docker-archive: path is not a file.',
  ARTIFACT_EMPTY:
    'An artifact that refers to an image (an SBOM, a provenance statement) has no layer holding its document.',
  BAD_CONFIG:
    'A config file (registries.toml, containers registries.conf, certs.d) or a proxy variable (HTTPS_PROXY, ...) is unreadable or invalid.',
  BAD_CREDENTIALS_FILE: 'A docker config.json, auth.json or Kubernetes secret holding credentials is invalid.',
  BAD_REQUEST: 'The registry answered HTTP 400 without an OCI error code.',
  BASE_NOT_FOUND: 'A FROM image is neither in the store nor in a registry.',
  BASE_PLATFORM_MISMATCH: 'The base image has another platform than the one being built.',
  BASE_RESOLVE_FAILED: 'A FROM image could not be resolved (registry or store error).',
  BINFMT_DISABLED: 'A foreign-platform RUN needs binfmt_misc, which is disabled.',
  BINFMT_MISSING: 'A foreign-platform RUN needs a qemu-user binfmt_misc entry that is not registered.',
  BINFMT_NOT_FIXED: 'The qemu binfmt_misc entry lacks the F flag, so it cannot run inside the image.',
  BLOB_NOT_FOUND: 'A blob named by a manifest is missing from a layout, store or archive.',
  BLOB_TOO_LARGE: 'A manifest, config or other small blob is larger than gantry reads into memory.',
  BLOB_UNKNOWN: 'Registry (OCI): the blob is not in the repository.',
  BLOB_UPLOAD_INVALID: 'Registry (OCI): the blob upload was refused as invalid.',
  BLOB_UPLOAD_UNKNOWN: 'Registry (OCI): the upload session is unknown or expired.',
  BUILD_CONTEXT_NOT_AN_IMAGE: 'A named build context that is a directory was used as an image (FROM).',
  CACHE_LAYER_CORRUPT:
    'A layer of a --cache-from cache does not match its digest; the build runs its steps instead (seen only if that fails too).',
  CANNOT_STORE_CREDENTIAL: 'A login could not be stored (nothing to store, or a bare registry token).',
  CONNECTION_DROPPED: 'A download ended before all its bytes arrived.',
  CONNECTION_FAILED:
    'A registry (or the forward proxy in front of it) could not be reached or refused the connection (refused, reset, timed out, DNS, proxy 403/407).',
  CONTEXT_FETCH_FAILED: 'A remote build context (a tar.gz URL or a git repository) could not be fetched.',
  CONTEXT_INVALID:
    'A remote or stdin build context is neither a tar archive nor a Dockerfile, or its git reference is invalid.',
  CONTEXT_NOT_FOUND: 'The build context is not a directory.',
  COPY_CONFLICT: 'COPY/ADD would put a file where a directory is (or the reverse).',
  COPY_DEST_NOT_DIR: 'COPY of several sources needs a destination ending in /.',
  COPY_FROM_LATER_STAGE: 'COPY --from names a stage defined later in the Dockerfile.',
  COPY_PARENTS_PIVOT: 'COPY --parents: the part before /./ is not a directory.',
  COPY_SOURCE_NOT_FOUND: 'A COPY/ADD source matches nothing in the context.',
  COPY_SOURCE_UNREADABLE: 'A COPY/ADD source cannot be read.',
  CORRUPT_LAYER: 'A layer of an imported archive is not a readable tar.',
  CREDENTIAL_HELPER_FAILED: 'A docker-credential-* helper failed.',
  CREDENTIAL_HELPER_MISSING: 'The docker-credential-* helper named in config.json is not installed.',
  DENIED: 'Registry: access to the repository was denied (HTTP 403).',
  DIGEST_INVALID: 'Registry (OCI): the registry refused a digest as invalid.',
  DIGEST_MISMATCH: 'Content does not match the digest that names it (DigestMismatchError).',
  DOCKERFILE_CHECK_FAILED: 'A build check (lint rule) failed and the Dockerfile says # check=error=true.',
  DOCKERFILE_EXPANSION: 'A Dockerfile word could not be expanded (variable syntax).',
  DOCKERFILE_NOT_FOUND: 'The Dockerfile does not exist.',
  DOCKERFILE_SYNTAX: 'The Dockerfile does not parse (DockerfileSyntaxError, with the line).',
  DELETE_SHARED_MANIFEST: 'A delete of a tag whose manifest other tags share, without --force-tag-dereference.',
  DOCKER_ARCHIVE_NEEDS_PLATFORM: 'A docker-archive holds one platform, and the image is an index.',
  DOCKER_ARCHIVE_NEEDS_TAG: 'A docker-archive name needs a tag.',
  DRIVER_BUILD_FAILED: 'build --driver kubernetes: the build failed in its Job (the pod exited non-zero).',
  DRIVER_CONTEXT_TOO_LARGE:
    'build --driver kubernetes: the compressed context does not fit in a ConfigMap and the build pushes to no registry that could hold it.',
  DRIVER_POD_FAILED: 'build --driver kubernetes: the build pod cannot start (image pull or configuration error).',
  EXTRACT_FAILED: 'A layer could not be extracted.',
  EXTRACT_LINK_TARGET_MISSING: 'A hard link in a layer points at an entry that does not exist.',
  EXTRACT_NOT_A_DIRECTORY: "A layer entry's parent is not a directory.",
  FIND_LINKS_NOT_FOUND: 'A --find-links directory does not exist or cannot be read.',
  FS_CANNOT_CREATE: "A directory gantry needs (the store, an output's parent) cannot be created.",
  FS_DEST_IS_DIRECTORY: 'A file output would replace an existing directory.',
  FS_DEST_IS_MOUNT_POINT: 'An output would replace a mount point (or a directory in use).',
  FS_NAME_TOO_LONG: 'A file name or path is longer than the file system allows (255 bytes a name, 4095 a path).',
  FS_NO_SPACE: 'The disk (or quota) holding the store, the temp dir or an output is full.',
  FS_NOT_FOUND: 'A path gantry was given does not exist.',
  FS_PERMISSION_DENIED: 'The file system refused access to a path.',
  FS_READ_ONLY: 'The store or an output is on a read-only file system.',
  GITEA_API: "Gitea's API failed a request (not a refusal, not a missing object).",
  GITEA_BAD_ANSWER: 'A host taken for Gitea answered its packages API with something else than the documented JSON.',
  GITEA_DENIED: "Gitea's API refused the credential (401/403) for listing or deleting packages.",
  GITEA_NOT_FOUND: "Gitea's API has no such owner or package version.",
  GITEA_OWNER: 'A Gitea image outside the owner whose credential the idpbuilder cluster lends.',
  GITEA_PUSH_DENIED: "The idpbuilder cluster's Gitea refused a push (owner, credential or quota).",
  GITEA_PUSH_TOO_LARGE: "The idpbuilder cluster's Gitea (or its ingress) refused a blob as too large.",
  GIT_MISSING: 'A git build context needs the git program, which is not installed.',
  GROUP_NOT_FOUND: "USER names a group that the image's /etc/group lacks.",
  GZIP_FAILED: 'Compressing a layer failed.',
  GZIP_WORKER_FAILED: 'A compression worker thread failed.',
  IDPBUILDER_BAD_SECRET: 'Secret gitea/gitea-credential lacks a username, or both token and password.',
  IDPBUILDER_FULL_NAME: 'build --idpbuilder was given a -t name with a registry; it takes a short name.',
  IDPBUILDER_NO_CA: 'The idpbuilder cluster holds no CA for its Gitea in any of the places idpbuilder writes it.',
  IDPBUILDER_UPPERCASE: 'An image name for Gitea with upper-case letters (Gitea package names are lowercase).',
  IGNORE_FILE_UNREADABLE: '.dockerignore cannot be read.',
  IMAGE_INVALID: 'gantry validate found a blob or manifest that is missing or does not match its digest or size.',
  IMAGE_NOT_FOUND: 'An image is not in the store, layout or archive it was looked up in.',
  IMAGE_ONLY_IN_STORE: 'A registry command named an image that only the local store has (read it as store:NAME).',
  INCOMPLETE_CREDENTIALS: 'Credentials in the environment lack a user or a password.',
  INVALID_CHMOD: 'COPY --chmod has an invalid mode.',
  INVALID_COMPRESSION: 'An unknown layer compression was asked for.',
  INVALID_COMPRESSION_LEVEL: 'A compression level is out of range.',
  INVALID_CONFIG: 'An image config is not valid.',
  INVALID_DIGEST: 'A string is not a valid digest.',
  INVALID_DOCKER_ARCHIVE: "A docker-archive's manifest.json is not valid.",
  INVALID_ENTRYPOINT: 'A project entrypoint or cmd is not a non-empty exec-form list of words.',
  INVALID_ENV: 'An environment entry is not KEY=VALUE.',
  INVALID_INDEX: 'An image index is not valid.',
  INVALID_LOCATION: 'An image location (oci:, store:, ...) is malformed.',
  INVALID_MANIFEST: 'An image manifest is not valid.',
  INVALID_MOUNT: 'A RUN mount is invalid.',
  INVALID_OCI_LAYOUT: 'An OCI layout (oci-layout, index.json) is not valid.',
  INVALID_OUTPUT: 'A build output (--output) is malformed.',
  INVALID_PAGE_SIZE: 'A listing page size is not a positive integer.',
  INVALID_PATTERN: 'A .dockerignore or COPY pattern is malformed.',
  INVALID_PLATFORM: 'A platform string (os/arch[/variant]) is malformed.',
  INVALID_POOL_SIZE: 'A worker pool size is not a positive integer.',
  INVALID_PORT: 'A port (EXPOSE, --expose) is not PORT[/tcp|udp|sctp].',
  INVALID_PREFIX: 'A layer path prefix would leave the image root.',
  INVALID_REFERENCE: 'An image reference does not parse (ReferenceError).',
  INVALID_SIZE: 'A size is negative or not an integer.',
  INVALID_SOURCE_DATE_EPOCH: 'SOURCE_DATE_EPOCH is not a number of seconds.',
  INVALID_USER: 'USER is malformed.',
  ISOLATION_NEEDS_ROOT: 'The chosen RUN isolation needs root.',
  ISOLATION_UNSUPPORTED: 'The chosen RUN isolation is not available on this machine.',
  KEY_INVALID:
    'A signing or verification key is not a PEM key of the expected kind (private for sign, public for verify).',
  KEY_NOT_FOUND: 'A key file cannot be read, or the env://VAR naming a key is not set.',
  KEY_UNSUPPORTED:
    'A key is not ECDSA P-256, or is encrypted (cosign format, password-protected PKCS#8), which gantry does not decrypt.',
  KUBE_API: 'The Kubernetes API server answered an unexpected HTTP status.',
  KUBE_BAD_CONFIG: 'The kubeconfig cannot be read or parsed.',
  KUBE_FORBIDDEN: "RBAC forbids the kubeconfig's user a read gantry needs (the message names the verb and resource).",
  KUBE_NOT_FOUND: 'A Kubernetes object gantry reads (secret, config map, custom resource) does not exist.',
  KUBE_NO_CONFIG: 'No kubeconfig: $KUBECONFIG unset, no ~/.kube/config, not in a pod.',
  KUBE_NO_CONTEXT: 'The kubeconfig has no such context (--kube-context), or no current one.',
  KUBE_UNAUTHORIZED: "The Kubernetes API server refused the kubeconfig's credentials.",
  KUBE_UNREACHABLE: 'The Kubernetes API server cannot be reached (is the cluster running?).',
  LAYER_CACHE_FAILED: "A layer could not be extracted into the build's layer cache.",
  LAYER_COUNT_MISMATCH: 'A manifest and its config disagree on the number of layers.',
  LAYER_MISMATCH: "A layer's bytes do not match its descriptor when pushed.",
  LAYER_NOT_FOUND: 'A layer named by digest is not part of the image.',
  LAYER_SOURCE_NOT_FOUND: 'gantry append: the new layer path is neither a directory nor a file.',
  LOAD_AMBIGUOUS_NAME: 'An archive holds several images, so -t cannot say which to name.',
  MALFORMED_JSON: 'A document that must be JSON is not.',
  MALFORMED_RESPONSE: 'A registry answer is not what the API specifies.',
  MANIFEST_BLOB_UNKNOWN: 'Registry (OCI): a manifest references a blob the repository lacks.',
  MANIFEST_INVALID: 'Registry (OCI): the manifest was refused as invalid.',
  MANIFEST_NOT_FOUND: 'A manifest named by digest is not part of the index.',
  MANIFEST_UNKNOWN: 'Registry (OCI): the tag or digest is not in the repository.',
  MANIFEST_UNVERIFIED: 'Registry (OCI): the manifest signature did not verify.',
  MOUNT_SOURCE_MISSING: 'A RUN bind mount source does not exist.',
  NAME_DIGEST_MISMATCH: "A name pins a digest that is not the image's.",
  NAME_INVALID: 'Registry (OCI): the repository name is invalid.',
  NAME_UNKNOWN: 'Registry (OCI): the repository does not exist.',
  NODE_BASE_NO_NODE: 'The base of a Node.js project build has no node binary.',
  NODE_BUILD_OUTPUT_MISSING:
    "A Node.js project's build script (or, with --build-on host, the host) left no output directory.",
  NODE_CA_CERT_INVALID: 'A --ca-cert file holds no PEM certificate.',
  NODE_CONFIG_INVALID: 'The "gantry" key of package.json is invalid.',
  NODE_ENTRYPOINT_TYPESCRIPT: "A Node.js project's entrypoint is a TypeScript file, which node does not run.",
  NODE_LOCKFILES_CONFLICT: 'A Node.js project has lockfiles of more than one package manager.',
  NODE_NO_ENTRYPOINT:
    'Nothing in a Node.js project says how to start it (bin, main, exports, scripts.start, index.js).',
  NODE_PACKAGE_JSON_INVALID: 'A package.json is not valid JSON or has a field of the wrong type.',
  NODE_PACKAGE_JSON_NOT_FOUND: 'A Node.js project build has no readable package.json.',
  NODE_PACKAGE_MANAGER_UNSUPPORTED: 'A Node.js project uses a package manager gantry cannot install with (bun).',
  NODE_SECRET_UNREADABLE: 'A --ca-cert file (or another install secret) cannot be read.',
  NODE_WORKSPACE_INVALID: 'pnpm-workspace.yaml is invalid.',
  NODE_WORKSPACE_NOT_FOUND: '--workspace names no workspace package of the project.',
  NOT_AN_IMAGE_ARCHIVE: 'A file is neither an OCI archive nor a docker-archive.',
  NOT_AN_OCI_LAYOUT: 'A directory is not an OCI image layout.',
  NOT_A_DIRECTORY: 'A path that must be a directory is not.',
  NOT_FOUND: 'The registry answered HTTP 404 without an OCI error code.',
  NOT_REMOTE: 'Internal: a pull was given an image that is not a registry image.',
  NO_ENTRYPOINT:
    'A Python project has no console script, __main__.py, web framework app, app.py or main.py, and no configured entrypoint.',
  NO_LAYER: "Internal: a directory build's layer step gave no layer.",
  NO_PLATFORM: 'Internal: a directory build had no platform to build.',
  NO_SANDBOX: 'No RUN sandbox works on this machine.',
  ONBUILD_FROM: 'ONBUILD FROM is not allowed.',
  OUTPUT_EXISTS: 'An output path exists and is not what the output writes.',
  OUTPUT_IS_DIRECTORY: 'A file output (a tar) names an existing directory as dest.',
  OUTPUT_NO_STDOUT: 'An output with dest=- was given to a library call without a stdout stream.',
  OUTPUT_NOT_A_STREAM: 'A directory output was asked to write to a stream (dest=-).',
  OUTPUT_TO_TERMINAL: 'A tar output to stdout (-o -, dest=-) was refused because stdout is a terminal.',
  PAGINATION_NUMBER_INVALID: 'Registry (OCI): an invalid page size was sent.',
  PLATFORM_NOT_FOUND: 'An index has no manifest for the platform asked for.',
  PLATFORM_REQUIRED: 'An operation on an index needs a platform.',
  PLATFORM_UNSUPPORTED: 'The machine cannot run steps of this platform.',
  PRIVATE_DIR_SHARED: 'A directory gantry must keep private (0700) is a shared one, such as a sticky temp directory.',
  POOL_CLOSED: 'Internal: work was given to a closed worker pool.',
  PROJECT_CONFIG_INVALID:
    'gantry.toml, [tool.gantry] or package.json "gantry" does not match the configuration schema.',
  PROJECT_FRONTEND_UNAVAILABLE: 'A project front end was asked for (--frontend) that this gantry does not have.',
  PROTOCOL_ERROR: "A registry's HTTP answer could not be parsed.",
  PYPROJECT_INVALID: 'pyproject.toml (or a lock file) is not valid, or a console script target is not module:function.',
  PYTHON_BASE_NO_PYTHON:
    'The base of a Python project build has no python interpreter (not on PATH, not in /usr/bin or /usr/local/bin).',
  PYTHON_BUILD_BACKEND_MISSING:
    "--wheel: the project's PEP 517 build backend (setuptools, hatchling, poetry-core...) is not importable in the base image.",
  PYTHON_NOT_A_PACKAGE:
    '--wheel on a project that is no package (no pyproject [build-system] or [project], setup.py or setup.cfg).',
  PYTHON_TOOLS_NO_PIP:
    'Neither the base nor the tools image python:<version>-slim has pip to install the dependencies.',
  PYTHON_TOOLS_VERSION_MISMATCH:
    "The tools image that installs for a base without pip runs another Python major.minor than the base's.",
  PYTHON_VERSION_UNSATISFIABLE: 'requires-python allows none of the Python versions gantry knows a base for.',
  RANGE_INVALID: 'Registry: a byte range was refused (HTTP 416).',
  REBASE_MISMATCH: "gantry rebase: the image's first layers are not the old base's layers.",
  REFERENCE_INCOMPLETE: 'A reference names neither a tag nor a digest.',
  REFERRERS_TAG_CONFLICT: 'The referrers fallback tag holds something other than a referrers index.',
  REGISTRY_BLOCKED: 'The registry or repository is blocked (blocked = true) in a containers registries.conf.',
  REGISTRY_ERROR: 'The registry answered with an error status gantry has no better name for.',
  REGISTRY_OUTPUT: 'Internal: a type=registry output was written as a file output.',
  REGISTRY_UNAVAILABLE: 'The registry answered HTTP 5xx.',
  REQUEST_TIMEOUT: 'The registry answered HTTP 408.',
  REQUIREMENTS_INVALID:
    'A requirements file cannot be read or holds an option gantry cannot honour (-e, unknown options, -r cycles).',
  ROOTFS_MISSING: "A RUN step's root filesystem is missing.",
  ROOTLESS_USER_UNSUPPORTED: 'RUN as another user needs root or user namespaces with a subordinate id range.',
  RUN_BAD_COMMAND: 'A RUN command is empty or malformed.',
  RUN_BAD_WORKDIR: 'A RUN working directory is not an absolute path.',
  RUN_FAILED: 'A RUN command exited non-zero (RunFailedError, with the exit code).',
  RUN_MOUNT_INVALID: 'RUN --mount has an invalid field.',
  RUN_MOUNT_SOURCE_NOT_FOUND: 'RUN --mount=from= names a stage or image that does not exist.',
  RUN_NO_COMMAND: 'RUN has no command.',
  SANDBOX_FAILED: 'The RUN sandbox failed for a reason other than the command.',
  SANDBOX_HELPER: 'A helper the sandbox needs (ldd) failed.',
  SANDBOX_START_FAILED: 'The RUN sandbox process could not start.',
  SANDBOX_TOOL_MISSING: 'A tool the chosen sandbox needs is not installed.',
  SBOM_BASE_UNKNOWN:
    "Warning: the SBOM of a push marks a base image's contents (or build-cache layers) unknown: its layers are not in the store and it has no SBOM referrer (--sbom=full reads them).",
  SBOM_FILE_TOO_LARGE:
    "A package database in the image (dpkg status, apk db, package.json...) is over the SBOM reader's 64 MiB limit.",
  SCANNER_INPUT: 'The scanner cannot read that input (osv-scanner and an OCI layout).',
  SCANNER_NOT_FOUND:
    'No supported vulnerability scanner (grype, trivy, osv-scanner) is on PATH, or the one named is not executable.',
  SCANNER_UNKNOWN: '--scanner names a program that is not grype, trivy or osv-scanner.',
  SECRET_MISSING: 'RUN --mount=type=secret names a secret that was not given.',
  SHELL_EXPANSION: 'A shell word could not be expanded (ShellExpansionError).',
  SHORT_NAME_AMBIGUOUS:
    'A push, delete or copy names a short name, and unqualified-search-registries lists several registries.',
  SHORT_NAME_NOT_FOUND: 'A short name was found in none of the unqualified-search-registries.',
  SIGNATURE_INVALID:
    'An image has signatures, but none verifies with the key over a payload naming its digest (changed image, moved signature, other key).',
  SIGNATURE_NOT_FOUND: 'An image has no cosign signature (no sha256-<hex>.sig tag and no signature referrer).',
  SSH_AGENT_FAILED: 'An ssh-agent for --ssh key files could not be started or refused a key.',
  SSH_MISSING: 'RUN --mount=type=ssh,required names an ssh id that was not given with --ssh.',
  SIZE_INVALID: 'Registry (OCI): the registry refused a size.',
  SIZE_MISMATCH: 'Content does not have the size its descriptor says.',
  SNAPSHOT_CHANGED_UNDERFOOT: 'A file changed while its snapshot was taken.',
  SNAPSHOT_RELEASED: 'Internal: a snapshot was used after release.',
  SNAPSHOT_TOOL_FAILED: 'A tool the snapshotter runs (mount, mknod, setfattr or tar and cp for xattrs) failed.',
  SNAPSHOT_TOOL_MISSING: 'A tool the snapshotter needs is not installed.',
  SNAPSHOT_XATTR_FAILED: 'Extended attributes could not be read or written for a snapshot.',
  STORE_BUSY: 'Another gantry command is using the store.',
  STORE_LOCKED: 'The store lock could not be taken in time.',
  SUBJECT_MISMATCH: "A referrer's subject is not the manifest it is attached to.",
  SYMLINK_LOOP:
    'A path resolved inside a root (build context, stage, layer) names more than 255 symbolic links: a loop.',
  TAG_INVALID: 'Registry (OCI): the tag is invalid.',
  TAR_BAD_ENTRY: 'A tar entry to write is invalid.',
  TAR_BAD_HEADER: 'A tar header is corrupt (checksum or fields).',
  TAR_BAD_PAX: 'A PAX extended header is malformed.',
  TAR_HEADER_TOO_LARGE: 'A tar extended header exceeds the size limit.',
  TAR_NEEDS_PLATFORM: 'A type=tar output holds one platform, and the build made several.',
  TAR_SIZE_MISMATCH: "A tar entry's content does not have its declared size.",
  TAR_TRUNCATED: 'A tar stream ends inside an entry.',
  TAR_BAD_SPARSE: 'A GNU sparse file map in a tar is malformed or does not match the stored data.',
  TAR_UNSUPPORTED: 'A tar entry type is not supported.',
  TLS_ERROR: 'TLS with a registry failed (certificate, or HTTPS to a plain-HTTP registry).',
  TIMEOUT: 'The command ran past its --timeout deadline (exit code 4).',
  TOKEN_INVALID: "A registry token server's answer holds no usable token.",
  TOOMANYREQUESTS: 'Registry: rate limited (HTTP 429).',
  TOO_LARGE: 'The registry answered HTTP 413 (request too large).',
  TOO_MANY_REDIRECTS: 'A registry request was redirected too often.',
  UNAUTHORIZED: 'Registry: credentials are missing or refused (HTTP 401).',
  UNAVAILABLE: 'Registry (OCI): the registry is temporarily unavailable.',
  UNKNOWN_TARGET: '--target names a stage the Dockerfile does not have.',
  UNSAFE_PATH: 'A tar entry or path would escape its root (UnsafePathError).',
  UNSUPPORTED: 'Registry (OCI): the operation is not supported (or HTTP 405).',
  UNSUPPORTED_MEDIA_TYPE: 'A media type gantry does not handle.',
  UPLOAD_INTERRUPTED: 'A blob upload was interrupted.',
  UPLOAD_NO_LOCATION: 'A registry started an upload without a Location header.',
  USAGE: 'Invalid arguments: a CLI flag or an API option (phase usage; the CLI exits 2).',
  USER_NOT_FOUND: "USER names a user that the image's /etc/passwd lacks.",
  VENV_INVALID: '--venv names a directory that is not a virtual environment (no pyvenv.cfg or no version in it).',
  VENV_PLATFORM_MISMATCH: '--venv holds compiled files for another architecture than the target platform.',
  VENV_PYTHON_MISMATCH: "--venv was made with another Python major.minor than the image's.",
  WORKDIR_NOT_DIRECTORY: 'WORKDIR exists in the image and is not a directory.',
  WRONG_MEDIA_TYPE: 'A document has another media type than expected.',
  XATTRS_UNAVAILABLE: 'Extended attributes cannot be read here: neither attr nor GNU tar and coreutils cp.',
  ZSTD_CORRUPT: 'A zstd-compressed blob is corrupt or truncated.',
} as const satisfies Record<string, string>;

export type ErrorCode = keyof typeof ERROR_CODES;

/** True when `code` is one of gantry's documented codes. */
export function isErrorCode(code: string): code is ErrorCode {
  return Object.hasOwn(ERROR_CODES, code);
}

export interface GantryErrorOptions {
  readonly phase?: Phase;
  readonly suggestion?: string;
  readonly cause?: unknown;
}

const BRAND = Symbol.for('gantry.error');

export class GantryError extends Error {
  /** One of ERROR_CODES (a RegistryError may carry another code its registry sent). */
  readonly code: ErrorCode | (string & Record<never, never>);
  readonly phase: Phase;
  readonly suggestion: string | undefined;

  constructor(code: string, message: string, options: GantryErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'GantryError';
    this.code = code;
    this.phase = options.phase ?? 'io';
    this.suggestion = options.suggestion;
    Object.defineProperty(this, BRAND, { value: true });
  }

  /** True for any gantry error, even one thrown by another copy of the package. */
  static is(value: unknown): value is GantryError {
    return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[BRAND] === true;
  }

  /** The one line the CLI prints (a word of over 200 characters, an over-long name, shortened). */
  oneLine(): string {
    const message = abbreviate(this.message);
    return this.suggestion ? `${message}: ${abbreviate(this.suggestion)}` : message;
  }
}

/** A blob or manifest whose bytes do not match the digest (or size) that names them. */
export class DigestMismatchError extends GantryError {
  readonly expected: string;
  readonly actual: string;
  constructor(expected: string, actual: string, what = 'content', options: GantryErrorOptions = {}) {
    super('DIGEST_MISMATCH', `${what} digest mismatch: expected ${expected}, got ${actual}`, {
      phase: options.phase ?? 'io',
      suggestion: options.suggestion ?? 'the data is corrupt or was changed in transit; fetch it again',
      cause: options.cause,
    });
    this.name = 'DigestMismatchError';
    this.expected = expected;
    this.actual = actual;
  }
}

/** Input that is not what it claims to be: malformed JSON, a wrong media type, a bad size. */
export class InvalidContentError extends GantryError {
  constructor(code: string, message: string, options: GantryErrorOptions = {}) {
    super(code, message, options);
    this.name = 'InvalidContentError';
  }
}

/** A tar entry or path that would escape the directory it is extracted into. */
export class UnsafePathError extends GantryError {
  readonly path: string;
  constructor(path: string, reason: string, options: GantryErrorOptions = {}) {
    super('UNSAFE_PATH', `refusing ${JSON.stringify(path)}: ${reason}`, {
      phase: options.phase ?? 'layer',
      suggestion: options.suggestion ?? 'the archive is malicious or malformed; do not use it',
      cause: options.cause,
    });
    this.name = 'UnsafePathError';
    this.path = path;
  }
}

/** Thrown when an AbortSignal fires. */
export class AbortedError extends GantryError {
  constructor(options: GantryErrorOptions = {}) {
    super('ABORTED', 'operation aborted', options);
    this.name = 'AbortedError';
  }
}

export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new AbortedError({ cause: signal.reason });
}

/** Options every I/O function takes. */
export interface IoOptions {
  readonly signal?: AbortSignal;
}

/** `text` with every word (a run without spaces) longer than `max` characters cut to its start, `…` and its end. */
export function abbreviate(text: string, max = 200): string {
  return text.replace(new RegExp(`\\S{${max + 1},}`, 'g'), (word) => {
    const head = Math.floor(max * 0.6);
    const tail = Math.floor(max * 0.2);
    return `${word.slice(0, head)}…(${word.length} characters)…${word.slice(-tail)}`;
  });
}

/** Where a failing path belongs, for the advice on it. */
export interface SystemErrorContext {
  /** The store directory: its failures point at --store. */
  readonly store?: string | undefined;
}

const NAME_LIMITS = 'a file name may have at most 255 bytes and a path 4095';

/**
 * One line that says what to do about a failed system call (a Node errno error), or undefined for
 * one without specific advice. The raw text (EROFS, `EISDIR … rename`, `EBUSY rmdir`) names
 * neither the cause nor the fix; these do.
 */
export function explainSystemError(err: unknown, context: SystemErrorContext = {}): GantryError | undefined {
  if (!(err instanceof Error)) return undefined;
  const e = err as NodeJS.ErrnoException & { dest?: string };
  if (typeof e.code !== 'string' || typeof e.syscall !== 'string') return undefined;
  const path = e.path ?? '';
  // An atomic write's temp name (`.NAME.tmp-PID-hex`) stands for NAME.
  const shown = JSON.stringify(abbreviate(path.replace(/\/\.([^/]+)\.tmp-\d+-[0-9a-f]+$/, '/$1'), 120));
  const store = context.store;
  const inStore = store !== undefined && store !== '' && (path === store || path.startsWith(`${store}/`));
  // mkdir -p of a path whose parent cannot be created reports the missing parent.
  const storeParent = store !== undefined && store !== '' && store.startsWith(`${path}/`);
  const make = (code: ErrorCode, message: string, suggestion: string) =>
    new GantryError(code, message, { phase: 'io', suggestion, cause: err });
  const writable =
    inStore || storeParent ? 'give --store (or GANTRY_STORE) a writable directory' : 'write to a writable directory';
  switch (e.code) {
    case 'ENAMETOOLONG':
      return make('FS_NAME_TOO_LONG', `the name ${shown} is too long (${NAME_LIMITS})`, 'use a shorter name');
    case 'EROFS':
      return make('FS_READ_ONLY', `${shown} is on a read-only file system`, writable);
    case 'ENOSPC':
    case 'EDQUOT':
      return make(
        'FS_NO_SPACE',
        path ? `no space left on the device of ${shown}` : 'no space left on the device',
        'free disk space (gantry prune removes unused blobs), or put --store, TMPDIR or the output on a larger disk',
      );
    case 'EISDIR':
      if (e.syscall === 'rename' && e.dest)
        return make(
          'FS_DEST_IS_DIRECTORY',
          `the output ${JSON.stringify(abbreviate(e.dest, 120))} is a directory`,
          'give dest= a file path (e.g. DIR/image.tar), or remove the directory',
        );
      return undefined;
    case 'EBUSY':
      if (e.syscall === 'rmdir' || e.syscall === 'rename')
        return make(
          'FS_DEST_IS_MOUNT_POINT',
          `${shown} is a mount point or in use, so it cannot be replaced`,
          'give dest= a directory below it (e.g. DIR/out) or one that is not mounted',
        );
      return undefined;
    case 'ENOENT':
      if (e.syscall === 'mkdir' && (inStore || storeParent))
        return make(
          'FS_CANNOT_CREATE',
          `cannot create the store ${JSON.stringify(abbreviate(store ?? path, 120))}`,
          'give --store (or GANTRY_STORE) a directory whose parent exists and is writable',
        );
      return make('FS_NOT_FOUND', `${shown} does not exist`, 'check the path');
    case 'EACCES':
    case 'EPERM':
      return make(
        'FS_PERMISSION_DENIED',
        `permission denied: ${shown}`,
        inStore || storeParent ? writable : 'check the permissions of that path',
      );
    default:
      return undefined;
  }
}
