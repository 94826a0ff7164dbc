/**
 * The environment the app runs in, as the AppBundle runtime document lists it:
 * portable HOME / XDG_DATA_HOME / XDG_CONFIG_HOME from directories beside the
 * bundle (the previous values saved in REAL_HOME, REAL_XDG_DATA_HOME,
 * REAL_XDG_CONFIG_HOME), APPDIR, SELF, ARGV0, APPIMAGE, OWD, and PATH extended
 * with the bundle's bin directories and the static tools directory.
 *
 * @module
 */

import { statSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import type { RuntimeContext } from "./runtime_context.ts";

/** The AppDir directories that hold programs, in PATH order. */
export const BIN_DIRS = ["bin", "usr/bin", "shared/bin"] as const;
/** The AppDir directories that hold libraries (exported as <ID>_libDir, as pelf does). */
const LIB_DIRS = ["lib", "usr/lib", "shared/lib", "lib64", "usr/lib64", "lib32", "usr/lib32"];

/** The kinds of portable directory a user can create beside a bundle. */
export type PortableKind = "home" | "share" | "config";

function isDir(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

/**
 * Lists the places a portable directory may be, preferred first: the
 * document's `.AppBundleID.home` beside the bundle, then AppImage's
 * `BUNDLE.home` (for config likewise; share has only the first form... and
 * pelf's `BUNDLE.share`).
 *
 * @param ctx The run's context.
 * @param kind "home", "share" or "config".
 * @returns Absolute paths.
 */
export function portableDirCandidates(ctx: RuntimeContext, kind: PortableKind): string[] {
  return [
    join(dirname(ctx.bundlePath), `.${ctx.info.AppBundleID}.${kind}`),
    `${ctx.bundlePath}.${kind}`,
  ];
}

/**
 * Reduces an AppBundleID to a variable name, as pelf does ([A-Za-z0-9_] only).
 *
 * @param id The AppBundleID.
 * @returns The name.
 */
export function variableName(id: string): string {
  return id.replace(/[^A-Za-z0-9_]/g, "");
}

/**
 * Builds the app's environment.
 *
 * @param ctx The run's context.
 * @param appDir The AppDir (mount point or extraction).
 * @param toolsDir The static tools directory, when tools were prepared.
 * @returns The complete environment.
 */
export function buildAppEnvironment(
  ctx: RuntimeContext,
  appDir: string,
  toolsDir?: string,
): Record<string, string> {
  const env: Record<string, string> = { ...ctx.env };
  delete env.TARGET_APPIMAGE; // it named this bundle; a bundle the app starts must not inherit it
  const home = env.HOME ?? "";
  const portable: [PortableKind, string, string, string][] = [
    ["home", "HOME", "REAL_HOME", home],
    ["share", "XDG_DATA_HOME", "REAL_XDG_DATA_HOME", join(home, ".local", "share")],
    ["config", "XDG_CONFIG_HOME", "REAL_XDG_CONFIG_HOME", join(home, ".config")],
  ];
  for (const [kind, variable, saved, fallback] of portable) {
    const dir = portableDirCandidates(ctx, kind).find(isDir);
    if (!dir) continue;
    if (env[saved] === undefined) env[saved] = env[variable] || fallback;
    env[variable] = dir;
  }
  env.APPDIR = appDir;
  env.SELF = ctx.bundlePath;
  env.APPIMAGE = ctx.bundlePath;
  // The document's ARGV0 is the base name of $SELF, even when the bundle was
  // started through a symlink (AppImage's ARGV0 is argv[0] itself; multicall
  // reads argv[0] separately, see run_bundle.ts).
  env.ARGV0 = basename(ctx.bundlePath);
  env.OWD = ctx.cwd;
  const binDirs = BIN_DIRS.map((d) => join(appDir, d)).filter(isDir);
  if (toolsDir) binDirs.push(toolsDir);
  const extra = binDirs.join(":");
  if (extra) {
    const current = env.PATH;
    env.PATH = !current
      ? extra
      : env.PBUNDLE_OVERTAKE_PATH === "1"
      ? `${extra}:${current}`
      : `${current}:${extra}`;
  }
  const name = variableName(ctx.info.AppBundleID);
  if (name) {
    env[`${name}_binDir`] = BIN_DIRS.map((d) => join(appDir, d)).join(":");
    env[`${name}_libDir`] = LIB_DIRS.map((d) => join(appDir, d)).join(":");
    env[`${name}_mountDir`] = appDir;
  }
  return env;
}
