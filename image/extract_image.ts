/**
 * Extracts a bundle's image into a directory: squashfs with unsquashfs -o OFFSET,
 * DwarFS with dwarfsextract --image-offset OFFSET.
 *
 * @module
 */

import { spawn } from "node:child_process";
import { mkdir } from "node:fs/promises";
import { InputError } from "../errors.ts";
import type { BundleInfo } from "../format/bundle.ts";
import { findOnPath } from "../packers/collect_static_tools.ts";

/** Options of {@linkcode extractImage}. */
export interface ExtractImageOptions {
  /** Glob patterns of the paths to extract; everything when absent. */
  patterns?: string[];
  /** Called with each warning. */
  onWarning?: (message: string) => void;
}

/**
 * Extracts a bundle's image into `dest`.
 *
 * @param bundle The bundle, as {@linkcode readBundle} read it.
 * @param dest The directory to extract into; created when missing.
 * @param options Patterns and a warning callback.
 * @throws {InputError} When the extraction tool is missing or fails.
 */
export async function extractImage(
  bundle: BundleInfo,
  dest: string,
  options: ExtractImageOptions = {},
): Promise<void> {
  const squashfs = bundle.runtimeInfo.FilesystemType === "squashfs";
  const tool = squashfs ? "unsquashfs" : "dwarfsextract";
  const path = await findOnPath(tool);
  if (!path) {
    throw new InputError(`Cannot extract "${bundle.path}": ${tool} is not on PATH`);
  }
  await mkdir(dest, { recursive: true });
  const args = squashfs
    ? [
      "-o",
      String(bundle.imageOffset),
      "-d",
      dest,
      "-f",
      "-no-progress",
      bundle.path,
      ...(options.patterns ?? []),
    ]
    : ["-i", bundle.path, "-o", dest, "--image-offset", String(bundle.imageOffset)];
  const stderr: string[] = [];
  const code = await new Promise<number>((resolve, reject) => {
    const child = spawn(path, args, { stdio: ["ignore", "ignore", "pipe"] });
    child.stderr.on("data", (c: Uint8Array) => stderr.push(new TextDecoder().decode(c)));
    child.on("error", reject);
    child.on("close", (status) => resolve(status ?? 1));
  });
  if (code !== 0) {
    const last = stderr.join("").trim().split("\n").at(-1) ?? `exit status ${code}`;
    throw new InputError(`Cannot extract "${bundle.path}" with ${tool}: ${last}`);
  }
}
