/**
 * Gets at the AppDir: mounts the image or extracts it, as MountOrExtract says
 * (0 mount only, 1 extract, 2 mount else extract, 3 as 2 but extraction only
 * for bundles under 350 MB), in a random or a fixed work directory, verifying
 * the image before its first use. Registers the matching cleanup.
 *
 * Fixed (DisableRandomWorkDir) runs share one mount per AppBundleID and image
 * hash, counted with instance files; the last run out unmounts. Fixed
 * extractions are a cache, `<cache>/apps/<id>/<hash>/root`: extracted into a
 * temporary sibling, marked complete, then renamed into place, so concurrent
 * first launches are safe and a killed extraction is never used.
 *
 * @module
 */

import { existsSync, mkdirSync, readdirSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { dropCleanup, onCleanup } from "./_cleanup.ts";
import { writeOut } from "./_engine.ts";
import {
  fuseAvailability,
  isMountPoint,
  mountAnswers,
  mountImage,
  mountImageOwned,
  type OwnedMount,
  readMounts,
  unmount,
  unmountOwned,
} from "./fuse_mount.ts";
import { openImageReader } from "./image_reader.ts";
import {
  isIdentityAlive,
  liveInstances,
  registerInstance,
  selfIdentity,
  unregisterInstance,
  withDirLock,
} from "./instance_lock.ts";
import { removeTree } from "./remove_tree.ts";
import type { RuntimeContext } from "./runtime_context.ts";
import { describeError, RuntimeError, writeFailureCause } from "./runtime_error.ts";
import type { Tool, ToolBox } from "./tool_box.ts";
import { verifyImage } from "./verify_image.ts";
import {
  cleanStale,
  createRandomWorkDir,
  removeRootIfEmpty,
  removeWorkDir,
  workRoot,
} from "./work_root.ts";

/** Bundles at least this large do not fall back to extraction in mode 3. */
export const MODE3_EXTRACT_LIMIT = 350 * 1024 * 1024;

/**
 * Tells whether a failed or impossible mount may fall back to extraction:
 * mode 2 always, mode 3 only for bundles under 350 MB (the bundle file's own
 * size), mode 0 never.
 *
 * @param mode MountOrExtract.
 * @param bundleSize The bundle file's size in bytes.
 * @returns True when extraction is allowed.
 */
export function mayFallBackToExtraction(mode: number, bundleSize: number): boolean {
  if (mode === 1 || mode === 2) return true;
  if (mode === 3) return bundleSize < MODE3_EXTRACT_LIMIT;
  return false;
}

/** The AppDir of a run. */
export interface OpenedAppDir {
  /** The AppDir's path (APPDIR). */
  appDir: string;
  /** How it was made. */
  how: "mount" | "extract" | "cached-extract";
}

/** Options for {@linkcode openAppDir}. */
export interface OpenAppDirOptions {
  /** Extract whatever MountOrExtract says (--pbundle_extract_and_run). */
  forceExtract?: boolean;
  /** Keep a random extraction after the run (NO_CLEANUP=1). */
  keep?: boolean;
}

function warn(line: string): void {
  writeOut(2, `pbundle runtime: ${line}\n`);
}

function hash16(ctx: RuntimeContext): string {
  return ctx.info.Hash.toLowerCase().replace(/[^0-9a-z]/g, "").slice(0, 16) || "nohash";
}

/**
 * Mounts or extracts the image for this run.
 *
 * @param ctx The run's context.
 * @param tools The run's tools.
 * @param options See {@linkcode OpenAppDirOptions}.
 * @returns The AppDir.
 * @throws {RuntimeError} When the image is corrupt, or can be neither mounted
 * nor extracted as the mode allows.
 */
export async function openAppDir(
  ctx: RuntimeContext,
  tools: ToolBox,
  options: OpenAppDirOptions = {},
): Promise<OpenedAppDir> {
  const mode = options.forceExtract ? 1 : ctx.info.MountOrExtract;
  const fixed = ctx.info.DisableRandomWorkDir === true;
  // A cached extraction needs no work root: skip creating one.
  if (mode === 1 && fixed) {
    return { appDir: await extractCached(ctx, tools), how: "cached-extract" };
  }
  const root = workRoot(ctx);
  onCleanup(() => removeRootIfEmpty(root)); // registered first, so it runs last
  cleanStale(ctx, root, tools);
  if (mode !== 1) {
    const fuse = fuseAvailability(ctx, tools);
    let failure: string;
    if (fuse.ok) {
      try {
        const appDir = fixed
          ? mountFixed(ctx, tools, root, fuse.mounter)
          : mountRandom(ctx, tools, root, fuse.mounter);
        return { appDir, how: "mount" };
      } catch (error) {
        if (error instanceof RuntimeError) throw error;
        failure = `mounting failed: ${error instanceof Error ? error.message : String(error)}`;
      }
    } else {
      failure = fuse.missing;
    }
    if (mode === 0) {
      throw new RuntimeError(
        `Cannot mount the image of "${ctx.bundlePath}": ${failure}; ` +
          `install fuse3 and squashfuse, or run it anyway with --pbundle_extract_and_run ` +
          `(or APPIMAGE_EXTRACT_AND_RUN=1)`,
      );
    }
    if (!mayFallBackToExtraction(mode, ctx.bundle.fileSize)) {
      throw new RuntimeError(
        `Cannot mount the image of "${ctx.bundlePath}": ${failure}; the bundle is ` +
          `${Math.round(ctx.bundle.fileSize / 1048576)} MB, too large to extract on every launch ` +
          `(limit 350 MB); install fuse3 and squashfuse, or use --pbundle_extract_and_run`,
      );
    }
    warn(`${failure}; extracting instead`);
  }
  if (fixed) return { appDir: await extractCached(ctx, tools), how: "cached-extract" };
  return { appDir: await extractRandom(ctx, tools, root, options.keep === true), how: "extract" };
}

function mountRandom(ctx: RuntimeContext, tools: ToolBox, root: string, mounter: Tool): string {
  verifyImage(ctx);
  const work = createRandomWorkDir(ctx, root);
  // Registered before mounting, so a signal during the mount still cleans up.
  const mount: { owned?: OwnedMount } = {};
  onCleanup(() => {
    if (mount.owned) unmountOwned(mount.owned, tools);
    removeWorkDir(work.dir, tools);
  });
  const owned = mountImageOwned(ctx, mounter, work.appDir);
  if (owned) mount.owned = owned;
  else mountImage(ctx, mounter, work.appDir);
  return work.appDir;
}

function mountFixed(ctx: RuntimeContext, tools: ToolBox, root: string, mounter: Tool): string {
  const dir = join(root, `${ctx.safeId}_${hash16(ctx)}`);
  const appDir = join(dir, "app");
  const instances = join(dir, "instances");
  const lock = `${dir}.lock`;
  withDirLock(lock, () => {
    mkdirSync(appDir, { recursive: true, mode: 0o700 });
    registerInstance(instances);
    try {
      if (isMountPoint(appDir) && !mountAnswers(appDir)) unmount(appDir, tools); // its daemon died
      if (!isMountPoint(appDir)) {
        verifyImage(ctx);
        mountImage(ctx, mounter, appDir);
      }
    } catch (error) {
      unregisterInstance(instances);
      if (liveInstances(instances) === 0) removeWorkDir(dir, tools);
      throw error;
    }
  });
  onCleanup(() => {
    withDirLock(lock, () => {
      unregisterInstance(instances);
      if (liveInstances(instances) === 0) removeWorkDir(dir, tools);
    });
    removeRootIfEmpty(root);
  });
  return appDir;
}

async function extractRandom(
  ctx: RuntimeContext,
  tools: ToolBox,
  root: string,
  keep: boolean,
): Promise<string> {
  verifyImage(ctx);
  const work = createRandomWorkDir(ctx, root);
  const release = onCleanup(() => {
    removeWorkDir(work.dir, tools);
  });
  try {
    await (await openImageReader(ctx, tools)).extract(work.appDir);
  } catch (error) {
    if (error instanceof RuntimeError) throw error;
    throw new RuntimeError(
      `Cannot extract "${ctx.bundlePath}" into "${work.dir}": ${describeError(error)}` +
        `${fullDisk(work.dir, error)}` +
        storageHint(error, "free some space, or set TMPDIR to a directory with room"),
    );
  }
  if (keep) {
    // NO_CLEANUP=1: the directory outlives the run, and stale cleaning skips it.
    writeFileSync(join(work.dir, "kept"), "");
    rmSync(join(work.dir, "owner"), { force: true });
    dropCleanup(release);
  }
  return work.appDir;
}

async function extractCached(ctx: RuntimeContext, tools: ToolBox): Promise<string> {
  const base = join(ctx.cacheRoot, "apps", ctx.safeId);
  const hash = hash16(ctx) + ctx.info.Hash.toLowerCase().replace(/[^0-9a-z]/g, "").slice(16, 64);
  const final = join(base, hash);
  const complete = join(final, "complete");
  try {
    mkdirSync(base, { recursive: true, mode: 0o700 });
    cleanAbandoned(base);
    if (!existsSync(complete)) {
      if (existsSync(final)) removeTree(final); // no marker: not ours to trust
      verifyImage(ctx);
      const temporary = join(base, `.tmp-${hash.slice(0, 16)}-${selfIdentity()}`);
      const release = onCleanup(() => removeTree(temporary));
      mkdirSync(join(temporary, "root"), { recursive: true, mode: 0o700 });
      await (await openImageReader(ctx, tools)).extract(join(temporary, "root"));
      writeFileSync(
        join(temporary, "complete"),
        JSON.stringify({ hash: ctx.info.Hash, verified: true, bundle: ctx.bundlePath }),
      );
      try {
        renameSync(temporary, final);
      } catch (error) {
        const code = (error as { code?: string }).code;
        if ((code !== "ENOTEMPTY" && code !== "EEXIST") || !existsSync(complete)) throw error;
        // A concurrent first launch finished first; use its copy.
      }
      release();
    }
    registerInstance(join(final, "instances"));
  } catch (error) {
    if (error instanceof RuntimeError) throw error;
    const cause = writeFailureCause(base, error);
    throw new RuntimeError(
      `Cannot extract "${ctx.bundlePath}" into the cache "${base}": ${describeError(cause)}` +
        `${fullDisk(base, cause)}` +
        storageHint(cause, "free some space or set XDG_CACHE_HOME to a writable directory"),
    );
  }
  onCleanup(() => unregisterInstance(join(final, "instances")));
  pruneOtherHashes(base, hash);
  return join(final, "root");
}

/**
 * The fix to suggest after a failed extraction: `; <hint>` when writing
 * failed, nothing when the image itself is malformed or hostile (a
 * FormatError from the reader: more room would not help).
 */
function storageHint(error: unknown, hint: string): string {
  return (error as { name?: string })?.name === "FormatError" ? "" : `; ${hint}`;
}

/**
 * Names the filesystem that ran out of room, for a write that failed with
 * ENOSPC or EDQUOT: ` on the filesystem mounted at "/mnt/x"` (the mount that
 * holds `path`), or "" for any other failure.
 */
function fullDisk(path: string, error: unknown): string {
  const code = (error as { code?: string })?.code;
  if (code !== "ENOSPC" && code !== "EDQUOT") return "";
  let best = "";
  for (const { mountPoint } of readMounts()) {
    const inside = path === mountPoint || mountPoint === "/" || path.startsWith(`${mountPoint}/`);
    if (inside && mountPoint.length >= best.length) best = mountPoint;
  }
  return best ? ` on the filesystem mounted at "${best}"` : "";
}

/** Removes temporary extractions whose run died. */
function cleanAbandoned(base: string): void {
  for (const name of readdirSync(base)) {
    const match = /^\.tmp-[0-9a-z]+-(\d+-\d+)$/.exec(name);
    if (match && !isIdentityAlive(match[1]!)) {
      try {
        removeTree(join(base, name));
      } catch { /* try again next time */ }
    }
  }
}

/** Removes cached extractions of other hashes of the same AppBundleID that nobody runs. */
function pruneOtherHashes(base: string, keepHash: string): void {
  for (const name of readdirSync(base)) {
    if (name === keepHash || name.startsWith(".")) continue;
    const dir = join(base, name);
    if (liveInstances(join(dir, "instances")) > 0) continue;
    const aside = join(base, `.tmp-old-${selfIdentity()}`);
    try {
      renameSync(dir, aside);
      removeTree(aside);
    } catch { /* in use or gone */ }
  }
}
