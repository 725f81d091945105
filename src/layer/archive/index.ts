/**
 * Images as files: OCI archives and layout directories, docker-archives, imports of all of them
 * into an OCI layout, and an image's root filesystem as a directory or a tar.
 */
export { type DockerArchiveItem, writeDockerArchive } from './docker-archive.js';
export { type LoadedItem, loadArchive } from './load.js';
export { type NamedItem, type OciArchiveOptions, writeOciArchive } from './oci-archive.js';
export { exportRootfs, type RootfsOptions, rootfsEntries } from './rootfs.js';
