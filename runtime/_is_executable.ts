/**
 * The one check the runtime makes before running a program it found on a PATH
 * or in a bundle's bin directories.
 *
 * @module
 */

import { accessSync, constants, statSync } from "node:fs";

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
