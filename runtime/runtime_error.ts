/**
 * The runtime's one error class: a message for the user and the exit status
 * the runtime ends with.
 *
 * @module
 */

import { accessSync, constants, existsSync } from "node:fs";
import { dirname } from "node:path";
import { systemErrorState } from "../errors.ts";

/** The exit status when the app cannot be started at all (as the AppImage type2 runtime). */
export const EXIT_CANNOT_START = 127;

/** A failure the runtime reports in one line and exits on. */
export class RuntimeError extends Error {
  /** The status the runtime exits with. */
  readonly exitCode: number;
  /**
   * @param message "Cannot <action> <object>: <state>", with the fix when known.
   * @param exitCode The exit status, 127 (cannot start the app) by default.
   */
  constructor(message: string, exitCode: number = EXIT_CANNOT_START) {
    super(message);
    this.name = "RuntimeError";
    this.exitCode = exitCode;
  }
}

/**
 * Describes a filesystem error in words a user can act on.
 *
 * @param error A thrown value, usually a Node errno exception.
 * @returns E.g. "read-only file system (EROFS)".
 */
export function describeError(error: unknown): string {
  const code = (error as { code?: string })?.code;
  const words = code ? systemErrorState(code) : undefined;
  if (words) return `${words} (${code})`;
  return error instanceof Error ? error.message : String(error);
}

/**
 * Finds the real cause of a failed write below `path`: a recursive mkdir on a
 * read-only filesystem reports ENOENT, so ask the nearest existing ancestor.
 *
 * @param path Where the write went.
 * @param error What it threw.
 * @returns The ancestor's EROFS or EACCES when it explains the failure, else `error`.
 */
export function writeFailureCause(path: string, error: unknown): unknown {
  if ((error as { code?: string }).code !== "ENOENT") return error;
  let dir = path;
  while (dir !== "/" && !existsSync(dir)) dir = dirname(dir);
  try {
    accessSync(dir, constants.W_OK);
  } catch (cause) {
    return cause;
  }
  return error;
}
