/**
 * AppBundles as files: reading a bundle's sections, runtime info and image
 * location, hashing its image, and assembling a bundle from a runtime ELF,
 * sections and an image (docs/FORMAT.md).
 *
 * ```
 * | runtime ELF | added section data | .shstrtab | section headers | image |
 *                                                       ELF end = image offset
 * ```
 *
 * @module
 */

import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { copyFile, open, rename, rm } from "node:fs/promises";
import type { FileHandle } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { FormatError, InputError } from "../errors.ts";
import { trackTempPath } from "../_temp_paths.ts";
import { appendSections } from "./elf/append_sections.ts";
import type { NewSection } from "./elf/append_sections.ts";
import { EI_ABIVERSION } from "./elf/elf_constants.ts";
import { readElfLayout } from "./elf/read_elf.ts";
import { decodeRuntimeInfo } from "./runtime_info.ts";
import {
  APPBUNDLE_MAGIC,
  APPIMAGE_MAGIC,
  type BundleInfo,
  naming,
  readBundleLayout,
  RUNTIME_INFO_SECTION,
} from "./bundle_layout.ts";

export {
  APPBUNDLE_MAGIC,
  APPIMAGE_MAGIC,
  readBundleLayout,
  UPDATE_INFO_SECTION,
} from "./bundle_layout.ts";
export type { BundleInfo, RuntimeInfoDecoder, SectionLocation } from "./bundle_layout.ts";

/**
 * Reads a bundle's layout and runtime info. Only the ELF header, the section
 * header table, the small sections and the image's first bytes are read.
 *
 * @example Print a bundle's ID
 * ```ts
 * import { pack, readBundle } from "@pbundle/pbundle";
 * import assert from "node:assert/strict";
 *
 * const dir = await Deno.makeTempDir();
 * try {
 *   await Deno.mkdir(`${dir}/AppDir`);
 *   await Deno.writeTextFile(`${dir}/AppDir/AppRun`, "#!/bin/sh\n", { mode: 0o755 });
 *   const { output } = await pack({
 *     appDir: `${dir}/AppDir`,
 *     appBundleId: "hello-20260101-me",
 *     output: `${dir}/hello.AppBundle`,
 *   });
 *
 *   const info = await readBundle(output);
 *   assert.equal(info.runtimeInfo.AppBundleID, "hello-20260101-me");
 *   assert.equal(info.runtimeInfo.FilesystemType, "squashfs");
 *   // The image runs from imageOffset to the end of the file.
 *   assert.equal(info.imageOffset + info.imageSize, (await Deno.stat(output)).size);
 * } finally {
 *   await Deno.remove(dir, { recursive: true });
 * }
 * ```
 *
 * @param path The bundle.
 * @returns Its layout and runtime info.
 * @throws {FormatError} When the file is not ELF, has no runtime info, or is truncated.
 * @throws {InputError} When the file cannot be opened or is not a file.
 */
export async function readBundle(path: string): Promise<BundleInfo> {
  let handle: FileHandle;
  try {
    handle = await open(path, "r");
  } catch (error) {
    throw new InputError(`Cannot open "${path}": ${describeFsError(error)}`);
  }
  try {
    const stats = await handle.stat();
    if (!stats.isFile()) {
      throw new InputError(`Cannot read "${path}" as an AppBundle: it is not a file`);
    }
    return await readBundleLayout(handle, stats.size, path, decodeRuntimeInfo);
  } finally {
    await handle.close();
  }
}

/**
 * Computes the lowercase hex SHA-256 of a byte range of a file, streaming.
 *
 * @param path The file.
 * @param offset Where the range starts.
 * @param size How many bytes.
 * @returns The hex digest.
 */
export async function hashImage(path: string, offset: number, size: number): Promise<string> {
  const hash = createHash("sha256");
  if (size > 0) {
    const stream = createReadStream(path, {
      start: offset,
      end: offset + size - 1,
      highWaterMark: 1 << 20,
    });
    for await (const chunk of stream) hash.update(chunk as Uint8Array);
  }
  return hash.digest("hex");
}

/** What {@linkcode assembleBundle} puts together. */
export interface AssembleOptions {
  /** The runtime ELF to put at the head of the bundle. */
  runtime: string;
  /** The sections to add (runtime info first). */
  sections: NewSection[];
  /** The image file to append at the end of the ELF. */
  image: string;
  /** The bundle to write; written to a temporary sibling and renamed. */
  output: string;
  /**
   * Magic bytes at offset 8: "AB" as pelf writes, "AI" for AppImage tools, or none.
   * @default {"AB"}
   */
  magic?: "AB" | "AI" | "none";
}

/**
 * Writes a bundle: copies the runtime, adds the sections, appends the image,
 * sets the magic and the executable bits, all in a temporary file beside the
 * output that is renamed into place only when complete.
 *
 * @param options What to assemble.
 * @returns The image offset and the bundle's size.
 * @throws {FormatError} When the runtime is not a 64-bit little-endian ELF or already a bundle.
 * @throws {InputError} When the output cannot be written.
 */
export async function assembleBundle(
  options: AssembleOptions,
): Promise<{ imageOffset: number; size: number }> {
  const temp = join(
    dirname(options.output),
    `.${basename(options.output)}.${process.pid}.${Date.now()}.tmp`,
  );
  const untrack = trackTempPath(temp);
  try {
    try {
      await copyFile(options.runtime, temp);
    } catch (error) {
      const where = (error as { path?: string }).path === options.runtime
        ? `the runtime "${options.runtime}"`
        : `"${options.output}"`;
      throw new InputError(`Cannot write ${where}: ${describeFsError(error)}`);
    }
    const handle = await open(temp, "r+");
    let imageOffset: number;
    try {
      const { size } = await handle.stat();
      const layout = await naming(options.runtime, readElfLayout(handle, size));
      if (layout.sections.some((s) => s.name === RUNTIME_INFO_SECTION)) {
        throw new FormatError(
          "ELF",
          `Cannot use "${options.runtime}" as a runtime: it is already an AppBundle (it has a ${RUNTIME_INFO_SECTION} section)`,
        );
      }
      imageOffset = await appendSections(handle, options.sections);
      const magic = options.magic ?? "AB";
      if (magic !== "none") {
        await handle.write(magic === "AB" ? APPBUNDLE_MAGIC : APPIMAGE_MAGIC, 0, 3, EI_ABIVERSION);
      }
    } finally {
      await handle.close();
    }
    await appendFile(temp, options.image, imageOffset);
    const out = await open(temp, "r");
    const { size } = await out.stat();
    await out.chmod(0o755);
    await out.close();
    await rename(temp, options.output);
    untrack();
    return { imageOffset, size };
  } catch (error) {
    await rm(temp, { force: true });
    untrack();
    throw error;
  }
}

/** Copies `source` into `target` starting at `position`, in 1 MiB chunks. */
async function appendFile(target: string, source: string, position: number): Promise<void> {
  const input = await open(source, "r");
  const output = await open(target, "r+");
  try {
    const buffer = new Uint8Array(1 << 20);
    let at = position;
    for (;;) {
      const { bytesRead } = await input.read(buffer, 0, buffer.length, null);
      if (bytesRead === 0) break;
      let done = 0;
      while (done < bytesRead) {
        const { bytesWritten } = await output.write(buffer, done, bytesRead - done, at + done);
        done += bytesWritten;
      }
      at += bytesRead;
    }
    await output.truncate(at);
  } finally {
    await input.close();
    await output.close();
  }
}

/**
 * Turns a node:fs error into the short state part of a message ("no such file or directory").
 *
 * @param error The error.
 * @returns A lowercase description.
 */
export function describeFsError(error: unknown): string {
  const code = (error as { code?: string }).code;
  switch (code) {
    case "ENOENT":
      return "no such file or directory";
    case "EACCES":
    case "EPERM":
      return "permission denied";
    case "EISDIR":
      return "it is a directory";
    case "ENOTDIR":
      return "a parent is not a directory";
    case "ENOSPC":
      return "no space left on the device";
    case "EROFS":
      return "the filesystem is read-only";
    default:
      return error instanceof Error ? error.message : String(error);
  }
}

/** The outcome of {@linkcode verifyBundle}. */
export interface VerifyResult {
  /** Whether the image's hash matches the runtime info. */
  ok: boolean;
  /** The hash the runtime info records. */
  expected: string;
  /** The hash of the image bytes as they are. */
  actual: string;
}

/**
 * Recomputes a bundle's image hash (SHA-256) and compares it with the runtime info.
 *
 * @example
 * ```ts
 * import { pack, verifyBundle } from "@pbundle/pbundle";
 * import assert from "node:assert/strict";
 *
 * const dir = await Deno.makeTempDir();
 * try {
 *   await Deno.mkdir(`${dir}/AppDir`);
 *   await Deno.writeTextFile(`${dir}/AppDir/AppRun`, "#!/bin/sh\n", { mode: 0o755 });
 *   const { output } = await pack({
 *     appDir: `${dir}/AppDir`,
 *     appBundleId: "hello-20260101-me",
 *     output: `${dir}/hello.AppBundle`,
 *   });
 *   assert.equal((await verifyBundle(output)).ok, true);
 *
 *   // Flip the last byte of the image: the hash no longer matches.
 *   const file = await Deno.open(output, { read: true, write: true });
 *   const last = new Uint8Array(1);
 *   await file.seek(-1, Deno.SeekMode.End);
 *   await file.read(last);
 *   await file.seek(-1, Deno.SeekMode.End);
 *   await file.write(last.map((byte) => byte ^ 0xff));
 *   file.close();
 *   const { ok, expected, actual } = await verifyBundle(output);
 *   assert.equal(ok, false);
 *   assert.notEqual(actual, expected);
 * } finally {
 *   await Deno.remove(dir, { recursive: true });
 * }
 * ```
 *
 * @param path The bundle.
 * @returns Whether it matches, and both hashes.
 * @throws {FormatError} When the file is not a readable bundle.
 */
export async function verifyBundle(path: string): Promise<VerifyResult> {
  const bundle = await readBundle(path);
  const actual = await hashImage(path, bundle.imageOffset, bundle.imageSize);
  const expected = bundle.runtimeInfo.Hash.toLowerCase();
  return { ok: actual === expected, expected, actual };
}
