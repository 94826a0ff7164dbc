/**
 * The error classes pbundle throws. The CLI maps each class to an exit code:
 * {@linkcode UsageError} exits 2, {@linkcode FormatError} and
 * {@linkcode InputError} exit 1 with one line; anything else is a bug and keeps
 * its stack trace.
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
