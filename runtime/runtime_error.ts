/**
 * The runtime's one error class: a message for the user and the exit status
 * the runtime ends with.
 *
 * @module
 */

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
  const words: Record<string, string> = {
    EROFS: "read-only file system",
    ENOSPC: "no space left on the device",
    EDQUOT: "disk quota exceeded",
    EACCES: "permission denied",
    EPERM: "operation not permitted",
    ENOENT: "no such file or directory",
    ENOTDIR: "not a directory",
    EISDIR: "is a directory",
    ENOEXEC: "not an executable format",
  };
  if (code && words[code]) return `${words[code]} (${code})`;
  return error instanceof Error ? error.message : String(error);
}
