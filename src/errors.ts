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
  ADD_FETCH_FAILED: 'ADD of a URL: the download failed.',
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
  CANNOT_STORE_CREDENTIAL: 'A login could not be stored (nothing to store, or a bare registry token).',
  CONNECTION_DROPPED: 'A download ended before all its bytes arrived.',
  CONNECTION_FAILED:
    'A registry (or the forward proxy in front of it) could not be reached or refused the connection (refused, reset, timed out, DNS, proxy 403/407).',
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
  DOCKERFILE_EXPANSION: 'A Dockerfile word could not be expanded (variable syntax).',
  DOCKERFILE_NOT_FOUND: 'The Dockerfile does not exist.',
  DOCKERFILE_SYNTAX: 'The Dockerfile does not parse (DockerfileSyntaxError, with the line).',
  DOCKER_ARCHIVE_NEEDS_PLATFORM: 'A docker-archive holds one platform, and the image is an index.',
  DOCKER_ARCHIVE_NEEDS_TAG: 'A docker-archive name needs a tag.',
  EXTRACT_FAILED: 'A layer could not be extracted.',
  EXTRACT_LINK_TARGET_MISSING: 'A hard link in a layer points at an entry that does not exist.',
  EXTRACT_NOT_A_DIRECTORY: "A layer entry's parent is not a directory.",
  GITEA_API: "Gitea's API failed a request (not a refusal, not a missing object).",
  GITEA_BAD_ANSWER: 'A host taken for Gitea answered its packages API with something else than the documented JSON.',
  GITEA_DENIED: "Gitea's API refused the credential (401/403) for listing or deleting packages.",
  GITEA_NOT_FOUND: "Gitea's API has no such owner or package version.",
  GITEA_OWNER: 'A Gitea image outside the owner whose credential the idpbuilder cluster lends.',
  GITEA_PUSH_DENIED: "The idpbuilder cluster's Gitea refused a push (owner, credential or quota).",
  GITEA_PUSH_TOO_LARGE: "The idpbuilder cluster's Gitea (or its ingress) refused a blob as too large.",
  GROUP_NOT_FOUND: "USER names a group that the image's /etc/group lacks.",
  GZIP_FAILED: 'Compressing a layer failed.',
  GZIP_WORKER_FAILED: 'A compression worker thread failed.',
  IDPBUILDER_BAD_SECRET: 'Secret gitea/gitea-credential lacks a username, or both token and password.',
  IDPBUILDER_FULL_NAME: 'build --idpbuilder was given a -t name with a registry; it takes a short name.',
  IDPBUILDER_NO_CA: 'The idpbuilder cluster holds no CA for its Gitea in any of the places idpbuilder writes it.',
  IDPBUILDER_UPPERCASE: 'An image name for Gitea with upper-case letters (Gitea package names are lowercase).',
  IGNORE_FILE_UNREADABLE: '.dockerignore cannot be read.',
  IMAGE_NOT_FOUND: 'An image is not in the store, layout or archive it was looked up in.',
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
  NOT_AN_IMAGE_ARCHIVE: 'A file is neither an OCI archive nor a docker-archive.',
  NOT_AN_OCI_LAYOUT: 'A directory is not an OCI image layout.',
  NOT_A_DIRECTORY: 'A path that must be a directory is not.',
  NOT_FOUND: 'The registry answered HTTP 404 without an OCI error code.',
  NOT_REMOTE: 'Internal: a pull was given an image that is not a registry image.',
  NO_LAYER: "Internal: a directory build's layer step gave no layer.",
  NO_PLATFORM: 'Internal: a directory build had no platform to build.',
  NO_SANDBOX: 'No RUN sandbox works on this machine.',
  ONBUILD_FROM: 'ONBUILD FROM is not allowed.',
  OUTPUT_EXISTS: 'An output path exists and is not what the output writes.',
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
  RANGE_INVALID: 'Registry: a byte range was refused (HTTP 416).',
  REFERENCE_INCOMPLETE: 'A reference names neither a tag nor a digest.',
  REFERRERS_TAG_CONFLICT: 'The referrers fallback tag holds something other than a referrers index.',
  REGISTRY_BLOCKED: 'The registry or repository is blocked (blocked = true) in a containers registries.conf.',
  REGISTRY_ERROR: 'The registry answered with an error status gantry has no better name for.',
  REGISTRY_OUTPUT: 'Internal: a type=registry output was written as a file output.',
  REGISTRY_UNAVAILABLE: 'The registry answered HTTP 5xx.',
  REQUEST_TIMEOUT: 'The registry answered HTTP 408.',
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
  SBOM_FILE_TOO_LARGE:
    "A package database in the image (dpkg status, apk db, package.json...) is over the SBOM reader's 64 MiB limit.",
  SCANNER_INPUT: 'The scanner cannot read that input (osv-scanner and an OCI layout).',
  SCANNER_NOT_FOUND:
    'No supported vulnerability scanner (grype, trivy, osv-scanner) is on PATH, or the one named is not executable.',
  SCANNER_UNKNOWN: '--scanner names a program that is not grype, trivy or osv-scanner.',
  SECRET_MISSING: 'RUN --mount=type=secret names a secret that was not given.',
  SHELL_EXPANSION: 'A shell word could not be expanded (ShellExpansionError).',
  SIGNATURE_INVALID:
    'An image has signatures, but none verifies with the key over a payload naming its digest (changed image, moved signature, other key).',
  SIGNATURE_NOT_FOUND: 'An image has no cosign signature (no sha256-<hex>.sig tag and no signature referrer).',
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
  WORKDIR_NOT_DIRECTORY: 'WORKDIR exists in the image and is not a directory.',
  WRONG_MEDIA_TYPE: 'A document has another media type than expected.',
  XATTRS_UNAVAILABLE: 'Extended attributes cannot be read here: neither attr nor GNU tar and coreutils cp.',
  ZSTD_UNAVAILABLE: 'zstd needs a newer Node.js.',
  ZSTD_UNSUPPORTED: 'zstd-compressed layers cannot be read with this Node.js.',
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

  /** The one line the CLI prints. */
  oneLine(): string {
    return this.suggestion ? `${this.message}: ${this.suggestion}` : this.message;
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
