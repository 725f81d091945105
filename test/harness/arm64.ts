/**
 * Test harness: the arm64 Debian fixture the foreign-platform tests share. One package list for
 * the Python and the Node.js arm64 cases, so the slow part (debootstrap's second stage under
 * qemu-user, tens of minutes the first time) is one cached fixture, not one per test file:
 * Python with pip, venv, headers and Flask (the Python base and its C-extension wheels), and the
 * compilers node-gyp needs (`nodeBaseImage({ arch: 'arm64', include: ARM64_TOOLS_PACKAGES })`).
 */
import { type DebianImage, debianImage } from './debian.js';

export const ARM64_TOOLS_PACKAGES: readonly string[] = [
  'g++',
  'gcc',
  'make',
  'python3',
  'python3-dev',
  'python3-flask',
  'python3-pip',
  'python3-venv',
];

/** Debian bookworm minbase for arm64 with ARM64_TOOLS_PACKAGES, bootstrapped under qemu-user, cached by recipe. */
export function arm64ToolsImage(): Promise<DebianImage> {
  return debianImage({ arch: 'arm64', include: ARM64_TOOLS_PACKAGES });
}
