/**
 * Finding programs: the one check made before running a program found on a
 * PATH or in a bundle's bin directories, and the PATH search that the
 * runtime, the packer and the extractor share.
 *
 * @module
 */

import { accessSync, constants, statSync } from "node:fs";
import { isAbsolute, join } from "node:path";

/**
 * Tells whether `path` is a regular file this process may execute (following symlinks).
 *
 * @param path The candidate.
 * @returns True for an executable regular file.
 */
export function isExecutableFile(path: string): boolean {
  try {
    if (!statSync(path).isFile()) return false;
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * Finds a program on a PATH as a shell would: the first directory holding an
 * executable regular file of that name. Empty entries are skipped.
 *
 * @param name A program name without slashes.
 * @param pathValue A colon-separated list of directories.
 * @param options absoluteOnly: skip relative directories too (for requests that
 * come from a web page, where the current directory must not matter).
 * @returns Its path (absolute when the directory is), or undefined.
 */
export function findOnPath(
  name: string,
  pathValue: string | undefined,
  options: { absoluteOnly?: boolean } = {},
): string | undefined {
  for (const dir of (pathValue ?? "").split(":")) {
    if (dir === "" || (options.absoluteOnly && !isAbsolute(dir))) continue;
    const candidate = join(dir, name);
    if (isExecutableFile(candidate)) return candidate;
  }
  return undefined;
}
