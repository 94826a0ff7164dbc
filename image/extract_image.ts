/**
 * Extracts a bundle's image into a directory: squashfs with pbundle's own
 * reader (no host tool needed; safe against hostile images), DwarFS with
 * `dwarfsextract --image-offset OFFSET`.
 *
 * @module
 */

import { spawn } from "node:child_process";
import { mkdir, rm, stat } from "node:fs/promises";
import { InputError, systemErrorMessage } from "../errors.ts";
import type { BundleInfo } from "../format/bundle.ts";
import { SquashfsImage } from "../format/squashfs/mod.ts";
import { findOnPath } from "../runtime/_find_program.ts";

/** Options of {@linkcode extractImage}. */
export interface ExtractImageOptions {
  /** Glob patterns of the paths to extract; everything when absent. */
  patterns?: string[];
  /**
   * Create device nodes and fifos (squashfs; only when running as root).
   * @default {false}
   */
  allowDevices?: boolean;
  /** Called with each warning (skipped device nodes, fifos). */
  onWarning?: (message: string) => void;
}

/**
 * Extracts a bundle's image into `dest`.
 *
 * @example Extract the .desktop files of a bundle
 * ```ts
 * import { extractImage, pack, readBundle } from "@pbundle/pbundle";
 * import assert from "node:assert/strict";
 *
 * const dir = await Deno.makeTempDir();
 * try {
 *   await Deno.mkdir(`${dir}/AppDir/usr/bin`, { recursive: true });
 *   await Deno.writeTextFile(`${dir}/AppDir/AppRun`, "#!/bin/sh\n", { mode: 0o755 });
 *   await Deno.writeTextFile(`${dir}/AppDir/hello.desktop`, "[Desktop Entry]\nName=hello\n");
 *   await Deno.writeTextFile(`${dir}/AppDir/usr/bin/hello`, "#!/bin/sh\n", { mode: 0o755 });
 *   const { output } = await pack({
 *     appDir: `${dir}/AppDir`,
 *     appBundleId: "hello-20260101-me",
 *     output: `${dir}/hello.AppBundle`,
 *   });
 *
 *   const bundle = await readBundle(output);
 *   await extractImage(bundle, `${dir}/files`, { patterns: ["*.desktop"] });
 *   const names = [...Deno.readDirSync(`${dir}/files`)].map((entry) => entry.name);
 *   assert.deepEqual(names, ["hello.desktop"]);
 * } finally {
 *   await Deno.remove(dir, { recursive: true });
 * }
 * ```
 *
 * @param bundle The bundle, as {@linkcode readBundle} read it.
 * @param dest The directory to extract into; created when missing.
 * @param options Patterns and a warning callback.
 * @throws {FormatError} When the squashfs image is corrupt or hostile.
 * @throws {InputError} When `dest` is a file or cannot be created or written
 * (a directory this call created is removed again), or dwarfsextract is missing or fails.
 */
export async function extractImage(
  bundle: BundleInfo,
  dest: string,
  options: ExtractImageOptions = {},
): Promise<void> {
  const created = await makeDestination(dest);
  try {
    await extractInto(bundle, dest, options);
  } catch (error) {
    // A failed extraction into a directory it made leaves nothing behind.
    if (created !== undefined) await rm(created, { recursive: true, force: true });
    if (error instanceof Error && !(error instanceof InputError)) {
      const system = systemErrorMessage(error);
      if (system !== undefined) throw new InputError(system);
    }
    throw error;
  }
}

/**
 * Makes the destination directory, refusing a file in its place.
 *
 * @returns The first directory created, or undefined when `dest` existed.
 */
async function makeDestination(dest: string): Promise<string | undefined> {
  try {
    if (!(await stat(dest)).isDirectory()) {
      throw new InputError(`Cannot extract into "${dest}": it is not a directory`);
    }
    return undefined;
  } catch (error) {
    if (error instanceof InputError) throw error;
    if ((error as { code?: string }).code !== "ENOENT") {
      throw new InputError(`Cannot extract into "${dest}": ${describeState(error)}`);
    }
  }
  try {
    return await mkdir(dest, { recursive: true });
  } catch (error) {
    throw new InputError(`Cannot extract into "${dest}": ${describeState(error)}`);
  }
}

/** The state part of a system error's message ("permission denied"). */
function describeState(error: unknown): string {
  const message = systemErrorMessage(error);
  if (message !== undefined) return message.slice(message.indexOf(": ") + 2);
  return error instanceof Error ? error.message : String(error);
}

async function extractInto(
  bundle: BundleInfo,
  dest: string,
  options: ExtractImageOptions,
): Promise<void> {
  if (bundle.runtimeInfo.FilesystemType === "squashfs") {
    const image = await SquashfsImage.open(bundle.path, bundle.imageOffset);
    try {
      await image.extract(dest, {
        ...(options.patterns ? { patterns: options.patterns } : {}),
        ...(options.allowDevices ? { allowDevices: true } : {}),
        ...(options.onWarning ? { onWarning: options.onWarning } : {}),
      });
    } finally {
      await image.close();
    }
    return;
  }
  const path = findOnPath("dwarfsextract", process.env.PATH);
  if (!path) {
    throw new InputError(
      `Cannot extract "${bundle.path}": dwarfsextract is not on PATH; install dwarfs (https://github.com/mhx/dwarfs/releases)`,
    );
  }
  const args = ["-i", bundle.path, "-o", dest, "--image-offset", String(bundle.imageOffset)];
  for (const pattern of options.patterns ?? []) args.push("--pattern", pattern);
  const stderr: string[] = [];
  const code = await new Promise<number>((resolve, reject) => {
    const child = spawn(path, args, { stdio: ["ignore", "ignore", "pipe"] });
    child.stderr.on("data", (c: Uint8Array) => stderr.push(new TextDecoder().decode(c)));
    child.on("error", reject);
    child.on("close", (status) => resolve(status ?? 1));
  });
  if (code !== 0) {
    const last = stderr.join("").trim().split("\n").at(-1) ?? `exit status ${code}`;
    throw new InputError(`Cannot extract "${bundle.path}" with dwarfsextract: ${last}`);
  }
}
