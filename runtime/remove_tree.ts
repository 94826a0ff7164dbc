/**
 * Removes a directory tree even when it holds read-only directories (an
 * extracted image keeps the modes it was packed with), never following
 * symlinks and never descending into a mount point.
 *
 * @module
 */

import { chmodSync, lstatSync, readdirSync, rmSync } from "node:fs";
import { join } from "node:path";

/**
 * Removes a file or directory tree; a missing path is not an error.
 *
 * @param path The path to remove.
 * @throws {Error} When something cannot be removed even after making its
 * directories writable (e.g. a mount point that is still mounted).
 */
export function removeTree(path: string): void {
  try {
    rmSync(path, { recursive: true, force: true });
    return;
  } catch (error) {
    const code = (error as { code?: string }).code;
    if (code !== "EACCES" && code !== "EPERM") throw error;
  }
  makeWritable(path, lstatSync(path).dev);
  rmSync(path, { recursive: true, force: true });
}

function makeWritable(dir: string, device: number): void {
  let stat;
  try {
    stat = lstatSync(dir);
  } catch {
    return;
  }
  if (!stat.isDirectory() || stat.dev !== device) return;
  try {
    chmodSync(dir, 0o700);
  } catch { /* not ours: rmSync will say so */ }
  for (const name of readdirSync(dir)) makeWritable(join(dir, name), device);
}
