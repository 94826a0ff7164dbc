/**
 * What every part of the runtime needs to know about this run: the bundle it
 * operates on (SELF, or TARGET_APPIMAGE), its layout and runtime info, the
 * command line, the environment it started with and the cache root.
 *
 * @module
 */

import { realpathSync } from "node:fs";
import { basename } from "node:path";
import type { BundleInfo } from "../format/bundle.ts";
import type { RuntimeInfo } from "../format/runtime_info.ts";
import { executablePath, rawCommandLine } from "./_engine.ts";
import { describeError, RuntimeError } from "./runtime_error.ts";
import { userCacheDir } from "./user_cache_dir.ts";
import { readOwnBundle } from "./read_own_bundle.ts";

/** Everything a run knows before it touches the image. */
export interface RuntimeContext {
  /** The real path of the bundle operated on: the executable, or TARGET_APPIMAGE. */
  bundlePath: string;
  /** The real path of the running executable. */
  executable: string;
  /** argv[0] as the bundle was started (a symlink's name for multicall). */
  argv0: string;
  /** The arguments after argv[0], as raw bytes. */
  args: Uint8Array[];
  /** The environment the runtime started with. */
  env: Record<string, string>;
  /** The bundle's layout. */
  bundle: BundleInfo;
  /** The bundle's runtime info. */
  info: RuntimeInfo;
  /** pbundle's cache root. */
  cacheRoot: string;
  /** AppBundleID reduced to [A-Za-z0-9._-], for file names. */
  safeId: string;
  /** The working directory the runtime started in (OWD). */
  cwd: string;
}

/**
 * Reduces an AppBundleID to characters safe in a file name.
 *
 * @param id The AppBundleID.
 * @returns A non-empty name of [A-Za-z0-9._-].
 */
export function safeName(id: string): string {
  const name = id.replace(/[^A-Za-z0-9._-]/g, "_").replace(/^\.+/, "_").slice(0, 100);
  return name || "bundle";
}

/**
 * Reads the bundle this run operates on.
 *
 * @returns The context.
 * @throws {RuntimeError} When the bundle cannot be read or is not a bundle.
 */
export async function loadRuntimeContext(): Promise<RuntimeContext> {
  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (value !== undefined) env[key] = value;
  }
  const { argv0, args } = rawCommandLine();
  // realpathSync.native: one realpath(3) instead of an lstat per path component.
  const executable = realpathSync.native(executablePath());
  const target = env.TARGET_APPIMAGE;
  let bundlePath = executable;
  if (target) {
    try {
      bundlePath = realpathSync.native(target);
    } catch (error) {
      throw new RuntimeError(`Cannot open TARGET_APPIMAGE "${target}": ${describeError(error)}`);
    }
  }
  let bundle: BundleInfo;
  try {
    bundle = await readOwnBundle(bundlePath);
  } catch (error) {
    throw new RuntimeError(
      `Cannot read the bundle "${bundlePath}": ${
        error instanceof Error ? error.message : String(error)
      }`,
    );
  }
  const info = bundle.runtimeInfo;
  return {
    bundlePath,
    executable,
    argv0: new TextDecoder().decode(argv0),
    args,
    env,
    bundle,
    info,
    cacheRoot: userCacheDir(env),
    safeId: safeName(info.AppBundleID),
    cwd: process.cwd(),
  };
}

/**
 * The name of the bundle file without directories, e.g. "hello.AppBundle".
 *
 * @param ctx The run's context.
 * @returns The base name.
 */
export function bundleBaseName(ctx: RuntimeContext): string {
  return basename(ctx.bundlePath);
}
