/**
 * Makes the filesystem image of an AppDir, reproducibly (owners 0:0, one fixed
 * timestamp): squashfs with pbundle's own writer (format/squashfs) or, on
 * request, mksquashfs; DwarFS through mkdwarfs.
 *
 * @module
 */

import { spawn } from "node:child_process";
import { stat } from "node:fs/promises";
import { InputError, UsageError } from "../errors.ts";
import { hashImage } from "../format/bundle.ts";
import { writeSquashfs } from "../format/squashfs/mod.ts";
import type { FilesystemType } from "../format/runtime_info.ts";
import { findOnPath } from "../runtime/_find_program.ts";

/** A compression choice: algorithm and optional level, from `-c ALGO[:LEVEL]`. */
export interface Compression {
  /** The algorithm. */
  algorithm: "zstd" | "gzip" | "xz" | "lz4" | "lzo";
  /** The level, when given. */
  level?: number;
}

/** The memory mksquashfs may use for its caches (its -mem option). */
export const MKSQUASHFS_MEMORY = "128M";

/** Default zstd level for squashfs images: mksquashfs's own default for zstd. */
export const DEFAULT_ZSTD_LEVEL = 15;

/**
 * Parses `-c ALGO[:LEVEL]`, e.g. "zstd", "zstd:19", "gzip:9".
 *
 * @param text The option's value.
 * @returns The compression.
 * @throws {UsageError} When the algorithm or level is not known.
 */
export function parseCompression(text: string): Compression {
  const [algorithm, levelText, extra] = text.split(":");
  const known = ["zstd", "gzip", "xz", "lz4", "lzo"] as const;
  if (!(known as readonly (string | undefined)[]).includes(algorithm) || extra !== undefined) {
    throw new UsageError(
      `Cannot use compression "${text}": expected ALGO[:LEVEL] with ALGO one of ${
        known.join(", ")
      }`,
      "e.g. -c zstd:19 or -c gzip",
    );
  }
  const result: Compression = { algorithm: algorithm as Compression["algorithm"] };
  if (levelText !== undefined) {
    const level = Number(levelText);
    const max = algorithm === "zstd" ? 22 : 9;
    if (!Number.isInteger(level) || level < 1 || level > max) {
      throw new UsageError(
        `Cannot use compression level "${levelText}": ${algorithm} takes a whole number from 1 to ${max}`,
      );
    }
    result.level = level;
  }
  return result;
}

/** The default squashfs data block size, as mksquashfs's: 128 KiB. */
export const DEFAULT_BLOCK_SIZE = 131072;

/** The smallest squashfs data block size: 4 KiB. */
export const MIN_BLOCK_SIZE = 4096;

/** The largest squashfs data block size: 1 MiB. */
export const MAX_BLOCK_SIZE = 1048576;

const BLOCK_SIZE_HINT = "e.g. -B 131072, -B 128K or -B 1M (a power of two from 4K to 1M)";

/**
 * Checks a squashfs block size in bytes: a power of two from 4 KiB to 1 MiB.
 *
 * @param bytes The block size.
 * @throws {UsageError} When it is not one.
 */
export function checkBlockSize(bytes: number): void {
  if (
    !Number.isInteger(bytes) || bytes < MIN_BLOCK_SIZE || bytes > MAX_BLOCK_SIZE ||
    (bytes & (bytes - 1)) !== 0
  ) {
    throw new UsageError(
      `Cannot use block size ${bytes}: expected a power of two from 4096 (4K) to 1048576 (1M)`,
      BLOCK_SIZE_HINT,
    );
  }
}

/**
 * Parses `-B SIZE`: bytes ("131072") or KiB and MiB with a suffix ("128K",
 * "1M"; "KiB" and "MiB" too), a power of two from 4K to 1M.
 *
 * @param text The option's value.
 * @returns The block size in bytes.
 * @throws {UsageError} When the text is not such a size.
 */
export function parseBlockSize(text: string): number {
  const m = /^(\d+)(k|kib|m|mib)?$/i.exec(text.trim());
  const unit = m?.[2]?.[0]?.toLowerCase();
  const bytes = m ? Number(m[1]) * (unit === "k" ? 1024 : unit === "m" ? 1048576 : 1) : NaN;
  if (
    !Number.isInteger(bytes) || bytes < MIN_BLOCK_SIZE || bytes > MAX_BLOCK_SIZE ||
    (bytes & (bytes - 1)) !== 0
  ) {
    throw new UsageError(
      `Cannot use block size "${text}": expected a power of two from 4K to 1M`,
      BLOCK_SIZE_HINT,
    );
  }
  return bytes;
}

/**
 * The mksquashfs options that carry a compression level. mksquashfs takes a
 * level for gzip, zstd and lzo (-Xcompression-level); its xz has none (only a
 * dictionary size and filters) and its lz4 none either (only -Xhc), so a level
 * given for those is ignored with a warning rather than turned into something
 * else.
 *
 * @param compression The compression asked for.
 * @returns The options, and a warning when the level is ignored.
 */
export function mksquashfsCompressionArgs(
  compression: Compression,
): { args: string[]; warning?: string } {
  const { algorithm, level } = compression;
  if (algorithm === "zstd") {
    return { args: ["-Xcompression-level", String(level ?? DEFAULT_ZSTD_LEVEL)] };
  }
  if (level === undefined) return { args: [] };
  if (algorithm === "gzip" || algorithm === "lzo") {
    return { args: ["-Xcompression-level", String(level)] };
  }
  const has = algorithm === "xz"
    ? "only a dictionary size (-Xdict-size) and filters (-Xbcj)"
    : "only high compression (-Xhc)";
  return {
    args: [],
    warning:
      `mksquashfs's ${algorithm} has no compression level (${has}); ignoring the level ${level} of "-c ${algorithm}:${level}"`,
  };
}

/** What {@linkcode makeImageWithTool} needs. */
export interface MakeImageOptions {
  /** The AppDir. */
  appDir: string;
  /** The image file to write. */
  output: string;
  /** The filesystem. */
  filesystem: FilesystemType;
  /** The compression. */
  compression: Compression;
  /**
   * Block size in bytes (squashfs).
   * @default {131072}
   */
  blockSize?: number;
  /** Show the tool's progress (on a terminal). */
  progress?: boolean;
  /** Called with each warning (a level mksquashfs cannot use, the native writer's notes). */
  onWarning?: (message: string) => void;
}

function installHint(tool: string): string {
  return tool === "mksquashfs"
    ? "install squashfs-tools (apt-get install squashfs-tools), or drop --mksquashfs to use pbundle's own writer"
    : "install dwarfs (https://github.com/mhx/dwarfs/releases) and put mkdwarfs on PATH";
}

/** What {@linkcode makeImage} needs beyond {@linkcode MakeImageOptions}. */
export interface MakeAnyImageOptions extends MakeImageOptions {
  /** Use mksquashfs for squashfs instead of the native writer. */
  useTool: boolean;
}

/**
 * Makes an image: squashfs zstd or gzip with the native writer unless a tool is
 * asked for (or the compression is one only mksquashfs writes), else the host tool.
 *
 * @param options What to make.
 * @returns The image's size and SHA-256.
 * @throws {InputError} When a needed tool is missing or fails.
 */
export async function makeImage(
  options: MakeAnyImageOptions,
): Promise<{ size: number; sha256: string }> {
  const { algorithm, level } = options.compression;
  const native = options.filesystem === "squashfs" && !options.useTool &&
    (algorithm === "zstd" || algorithm === "gzip");
  if (native) {
    const progress = options.progress ? progressPrinter() : undefined;
    const result = await writeSquashfs(options.appDir, options.output, {
      compression: algorithm,
      level: level ?? (algorithm === "zstd" ? DEFAULT_ZSTD_LEVEL : 9),
      blockSize: options.blockSize ?? DEFAULT_BLOCK_SIZE,
      ...(progress ? { onProgress: progress } : {}),
      ...(options.onWarning ? { onWarning: options.onWarning } : {}),
    });
    if (progress) process.stderr.write("\n");
    return { size: result.size, sha256: result.sha256 };
  }
  if (options.filesystem === "squashfs" && !options.useTool) {
    options.onWarning?.(
      `pbundle's squashfs writer does zstd and gzip; using mksquashfs for ${algorithm}`,
    );
  }
  await makeImageWithTool(options);
  const { size } = await stat(options.output);
  return { size, sha256: await hashImage(options.output, 0, size) };
}

/** Returns a progress callback that redraws one line on standard error. */
function progressPrinter(): (done: number, total: number) => void {
  let last = -1;
  return (done, total) => {
    const percent = total > 0 ? Math.floor((done / total) * 100) : 100;
    if (percent === last) return;
    last = percent;
    const mib = (n: number) => (n / 1048576).toFixed(1);
    process.stderr.write(`\rpbundle: packing ${percent}% (${mib(done)} of ${mib(total)} MiB)`);
  };
}

/**
 * Makes an image with the host tool for its filesystem.
 *
 * @param options What to make.
 * @throws {InputError} When the tool is missing or fails.
 */
export async function makeImageWithTool(options: MakeImageOptions): Promise<void> {
  const tool = options.filesystem === "squashfs" ? "mksquashfs" : "mkdwarfs";
  const path = findOnPath(tool, process.env.PATH);
  if (path === undefined) {
    throw new InputError(
      `Cannot make a ${options.filesystem} image: ${tool} is not on PATH; ${installHint(tool)}`,
    );
  }
  const { algorithm, level } = options.compression;
  let args: string[];
  if (options.filesystem === "squashfs") {
    args = [
      options.appDir,
      options.output,
      "-noappend",
      "-comp",
      algorithm,
      "-b",
      String(options.blockSize ?? DEFAULT_BLOCK_SIZE),
      "-all-root",
      "-mkfs-time",
      "0",
      "-all-time",
      "0",
      // mksquashfs otherwise sizes its caches to a quarter of physical memory
      // (over 1 GB RSS on a 2 GiB AppDir); 128 MB keeps a pack under the
      // issue's 300 MB and is no slower (bench/pack_memory.ts).
      "-mem",
      MKSQUASHFS_MEMORY,
      // A file or directory it cannot read is an error, not an empty file or
      // a silently missing directory (mksquashfs's default).
      "-exit-on-error",
    ];
    const compressionArgs = mksquashfsCompressionArgs(options.compression);
    if (compressionArgs.warning) options.onWarning?.(compressionArgs.warning);
    args.push(...compressionArgs.args);
    if (!options.progress) args.push("-no-progress", "-quiet");
  } else {
    args = [
      "--input",
      options.appDir,
      "--output",
      options.output,
      "--set-owner",
      "0",
      "--set-group",
      "0",
      "--set-time",
      "0",
      "--no-create-timestamp",
      "--no-history",
      "--force",
      "-l",
      String(level ?? 7),
    ];
    if (algorithm !== "zstd") args.push("-C", algorithm);
    args.push(`--progress=${options.progress ? "ascii" : "none"}`);
  }
  const stderr: string[] = [];
  const code = await new Promise<number>((resolve, reject) => {
    const child = spawn(path, args, {
      stdio: ["ignore", options.progress ? "inherit" : "ignore", "pipe"],
    });
    child.stderr.on("data", (chunk: Uint8Array) => {
      const text = new TextDecoder().decode(chunk);
      stderr.push(text);
      if (options.progress) process.stderr.write(chunk);
    });
    child.on("error", reject);
    child.on("close", (status) => resolve(status ?? 1));
  });
  if (code !== 0) {
    const last = stderr.join("").trim().split("\n").filter(Boolean).at(-1) ?? `exit status ${code}`;
    throw new InputError(`Cannot make a ${options.filesystem} image with ${tool}: ${last}`);
  }
}
