/**
 * The error classes pbundle throws. The CLI maps each class to an exit code:
 * {@linkcode UsageError} exits 2, {@linkcode FormatError} and
 * {@linkcode InputError} exit 1 with one line; anything else is a bug and keeps
 * its stack trace, except errors of the operating system (a missing or
 * unreadable file), which {@linkcode systemErrorMessage} turns into one line and
 * exit status 1.
 *
 * @module
 */

/** A mistake in how pbundle was called: a bad flag, a missing argument. Exit status 2. */
export class UsageError extends Error {
  /** A hint printed under the message, e.g. "did you mean --output-to?". */
  readonly hint: string | undefined;
  /**
   * Makes a usage error.
   *
   * @param message What is wrong, in the form "Cannot <action> <object>: <state>".
   * @param hint An optional hint for the user.
   */
  constructor(message: string, hint?: string) {
    super(message);
    this.name = "UsageError";
    this.hint = hint;
  }
}

/** Malformed bytes in a file pbundle reads (ELF, CBOR, squashfs). Exit status 1. */
export class FormatError extends Error {
  /** The format being read, e.g. "ELF" or "squashfs". */
  readonly format: string;
  /** The byte offset where the problem was found, when known. */
  readonly offset: number | undefined;
  /**
   * Makes a format error; the offset, when given, is appended to the message.
   *
   * @param format The format being read.
   * @param message What is wrong.
   * @param offset The byte offset of the problem, when known.
   */
  constructor(format: string, message: string, offset?: number) {
    super(offset === undefined ? message : `${message} (at byte 0x${offset.toString(16)})`);
    this.name = "FormatError";
    this.format = format;
    this.offset = offset;
  }
}

/** Bad input that is not a format problem: a missing AppDir, an unwritable output. Exit status 1. */
export class InputError extends Error {
  /**
   * Makes an input error.
   *
   * @param message What is wrong, in the form "Cannot <action> <object>: <state>".
   */
  constructor(message: string) {
    super(message);
    this.name = "InputError";
  }
}

/** What a system call's error code means, as the end of a "Cannot ..." message. */
const SYSTEM_ERROR_STATES: Record<string, string> = {
  ENOENT: "no such file or directory",
  EACCES: "permission denied",
  EPERM: "operation not permitted",
  EEXIST: "it already exists",
  ENOTDIR: "a part of the path is not a directory",
  EISDIR: "it is a directory",
  ENOTEMPTY: "the directory is not empty",
  ENOSPC: "no space left on the device",
  EDQUOT: "the disk quota is exceeded",
  EROFS: "read-only file system",
  ELOOP: "too many levels of symbolic links",
  ENAMETOOLONG: "the name is too long",
  EMFILE: "too many open files",
  ENFILE: "too many open files in the system",
  EBUSY: "it is busy",
  ETXTBSY: "the file is being executed",
  EXDEV: "it is on another filesystem",
  EFBIG: "the file is too large",
  EIO: "an input/output error",
  EINVAL: "invalid argument",
  ENXIO: "no such device or address",
  ENODEV: "no such device",
  ENOEXEC: "not an executable format",
};

/**
 * Says in words what a system error code means, for the end of a "Cannot ..."
 * message (the CLI and the runtime use the same words).
 *
 * @param code An errno name such as "ENOSPC".
 * @returns E.g. "no space left on the device", or undefined for a code it does not know.
 */
export function systemErrorState(code: string): string | undefined {
  return Object.hasOwn(SYSTEM_ERROR_STATES, code) ? SYSTEM_ERROR_STATES[code] : undefined;
}

/** The action named in a "Cannot <action>" message, by system call (Node's and Deno's names). */
const SYSTEM_CALL_ACTIONS: Record<string, string> = {
  open: "open",
  read: "read",
  readfile: "read",
  write: "write",
  writefile: "write",
  stat: "read",
  lstat: "read",
  fstat: "read",
  mkdir: "create the directory",
  mkdtemp: "create a temporary directory",
  rmdir: "remove the directory",
  rm: "remove",
  remove: "remove",
  unlink: "remove",
  scandir: "read the directory",
  opendir: "read the directory",
  readdir: "read the directory",
  rename: "rename",
  copyfile: "copy",
  symlink: "create the symbolic link",
  link: "create the hard link",
  readlink: "read the symbolic link",
  realpath: "resolve",
  access: "access",
  chmod: "change the mode of",
  fchmod: "change the mode of",
  chown: "change the owner of",
  lchown: "change the owner of",
  utime: "set the times of",
  futime: "set the times of",
  lutime: "set the times of",
  truncate: "resize",
  ftruncate: "resize",
  spawn: "run",
};

/**
 * Turns an error from the operating system (an error with a `code` such as
 * "EACCES" and a `path` or `syscall`, as node:fs and Deno's file API throw) into
 * the one line the CLI prints, e.g. `Cannot open "/a/b": permission denied`.
 * Node's wording ("EACCES: permission denied, open '/a/b'") and Deno's
 * ("Permission denied (os error 13): open '/a/b'") both give the path when the
 * error carries none of its own.
 *
 * @example Describe a failed open
 * ```ts ignore
 * import { systemErrorMessage } from "@pbundle/pbundle/errors.ts";
 * import { readFile } from "node:fs/promises";
 * try {
 *   await readFile("/no/such/file");
 * } catch (error) {
 *   console.log(systemErrorMessage(error)); // Cannot open "/no/such/file": no such file or directory
 * }
 * ```
 *
 * @param error Anything thrown.
 * @returns The message, or undefined when `error` is not a system error.
 */
export function systemErrorMessage(error: unknown): string | undefined {
  if (!(error instanceof Error)) return undefined;
  const fields = error as { code?: unknown; path?: unknown; syscall?: unknown };
  const code = fields.code;
  if (typeof code !== "string" || !/^E[A-Z0-9]+$/.test(code)) return undefined;
  let path = typeof fields.path === "string" ? fields.path : undefined;
  let syscall = typeof fields.syscall === "string" ? fields.syscall : undefined;
  const quoted = /[,:] (\w+) '([^']*)'(?: -> '[^']*')?$/.exec(error.message);
  if (quoted) {
    syscall ??= quoted[1];
    path ??= quoted[2];
  }
  if (path === undefined && syscall === undefined) return undefined;
  const action = (syscall && SYSTEM_CALL_ACTIONS[syscall.toLowerCase()]) ??
    (syscall ? `${syscall}` : "use");
  const state = SYSTEM_ERROR_STATES[code] ??
    (/^E[A-Z0-9]+: ([^,]+)/.exec(error.message)?.[1] ?? code);
  return `Cannot ${action}${path === undefined ? "" : ` "${path}"`}: ${state}`;
}
