/**
 * Where work directories go, and their lifecycle. The root is
 * `$TMPDIR/.pbundles` (mode 0700, ours), or, when $TMPDIR is mounted noexec,
 * `$XDG_RUNTIME_DIR/.pbundles`, or `<cache>/work`. Inside it:
 *
 * - `<id>_<random>/`: a random work dir (mode 0700) with `owner` (the
 *   identity of the run) and `app/` (mount point or extraction); removed when
 *   the run ends, and by the next launch of the same bundle when its owner died.
 * - `<id>_<hash16>/`: the fixed mount dir of DisableRandomWorkDir bundles, with
 *   `app/` and `instances/` (one file per live run); `<id>_<hash16>.lock` guards it.
 *
 * @module
 */

import {
  existsSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  realpathSync,
  rmdirSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { readMounts, unmount } from "./fuse_mount.ts";
import { isIdentityAlive, liveInstances, selfIdentity, withDirLock } from "./instance_lock.ts";
import { removeTree } from "./remove_tree.ts";
import type { RuntimeContext } from "./runtime_context.ts";
import { describeError, RuntimeError } from "./runtime_error.ts";
import type { ToolBox } from "./tool_box.ts";

const ROOT_NAME = ".pbundles";
const OWNERLESS_GRACE_MS = 10_000;

/**
 * Tells whether programs may be executed from a directory (its filesystem is
 * not mounted noexec).
 *
 * @param dir An existing directory.
 * @returns False when the mount that holds it has the noexec option.
 */
export function allowsExec(dir: string): boolean {
  let real: string;
  try {
    real = realpathSync.native(dir);
  } catch {
    return false;
  }
  let best: { length: number; noexec: boolean } = { length: -1, noexec: false };
  for (const mount of readMounts()) {
    const point = mount.mountPoint;
    const inside = real === point || point === "/" ||
      real.startsWith(point.endsWith("/") ? point : `${point}/`);
    if (inside && point.length >= best.length) {
      best = { length: point.length, noexec: mount.options.includes("noexec") };
    }
  }
  return !best.noexec;
}

function usableRoot(parent: string): string | undefined {
  try {
    if (!statSync(parent).isDirectory() || !allowsExec(parent)) return undefined;
  } catch {
    return undefined;
  }
  const uid = process.getuid?.() ?? 0;
  for (const name of [ROOT_NAME, `${ROOT_NAME}-${uid}`]) {
    const root = join(parent, name);
    try {
      const stat = lstatSync(root);
      if (stat.isDirectory() && stat.uid === uid) return root;
      continue; // someone else's, or not a directory: try the per-user name
    } catch { /* missing: create it */ }
    try {
      mkdirSync(root, { mode: 0o700 });
      return root;
    } catch (error) {
      if ((error as { code?: string }).code === "EEXIST") {
        const stat = lstatSync(root);
        if (stat.isDirectory() && stat.uid === uid) return root;
      }
    }
  }
  return undefined;
}

/**
 * Picks the work root: $TMPDIR (or /tmp), else $XDG_RUNTIME_DIR, else the cache.
 *
 * @param ctx The run's context.
 * @returns The root directory, created when missing.
 * @throws {RuntimeError} When none of them can be used.
 */
export function workRoot(ctx: RuntimeContext): string {
  const candidates = [
    ctx.env.TMPDIR || "/tmp",
    ctx.env.XDG_RUNTIME_DIR,
    join(ctx.cacheRoot, "work"),
  ];
  for (const parent of candidates) {
    if (!parent) continue;
    if (parent === candidates[2]) {
      try {
        mkdirSync(parent, { recursive: true, mode: 0o700 });
      } catch { /* reported below */ }
    }
    const root = usableRoot(parent);
    if (root) return root;
  }
  throw new RuntimeError(
    `Cannot create a work directory: $TMPDIR ("${ctx.env.TMPDIR || "/tmp"}"), ` +
      `$XDG_RUNTIME_DIR and "${candidates[2]}" are all missing, unwritable or mounted noexec`,
  );
}

/**
 * A random name part. Not a secret: the directory is created exclusively
 * (mkdir fails on a clash) inside a root only this user can write; avoiding
 * node:crypto here saves its load time on every launch.
 */
function randomSuffix(): string {
  return (Math.random().toString(36).slice(2, 10) + process.pid.toString(36)).padEnd(8, "0");
}

/** A work directory this run owns. */
export interface RandomWorkDir {
  /** The work directory. */
  dir: string;
  /** Its `app/` subdirectory: mount point or extraction root. */
  appDir: string;
}

/**
 * Creates a random work directory of mode 0700 and records this run as its owner.
 *
 * @param ctx The run's context.
 * @param root The work root.
 * @returns The directory and its app/ subdirectory.
 */
export function createRandomWorkDir(ctx: RuntimeContext, root: string): RandomWorkDir {
  for (let attempt = 0;; attempt++) {
    const dir = join(
      root,
      `${ctx.safeId}_${randomSuffix()}`,
    );
    try {
      mkdirSync(dir, { mode: 0o700 });
      writeFileSync(join(dir, "owner"), selfIdentity());
      mkdirSync(join(dir, "app"), { mode: 0o700 });
      return { dir, appDir: join(dir, "app") };
    } catch (error) {
      const code = (error as { code?: string }).code;
      if (code === "ENOENT" && attempt < 5) {
        mkdirSync(root, { recursive: true, mode: 0o700 }); // a parallel run removed the empty root
        continue;
      }
      if (code === "EEXIST" && attempt < 5) continue;
      throw new RuntimeError(
        `Cannot create a work directory in "${root}": ${describeError(error)}`,
      );
    }
  }
}

/**
 * Unmounts and removes a work directory, then the root if it became empty.
 *
 * @param dir The work directory.
 * @param tools The run's tools.
 * @returns True when it is gone.
 */
export function removeWorkDir(dir: string, tools?: ToolBox): boolean {
  const app = join(dir, "app");
  if (!unmount(app, tools)) return false;
  try {
    removeTree(dir);
  } catch {
    return false;
  }
  removeRootIfEmpty(join(dir, ".."));
  return true;
}

/**
 * Removes the work root when it is empty (a parallel run may be using it: then
 * rmdir fails and that is fine).
 *
 * @param root The work root.
 */
export function removeRootIfEmpty(root: string): void {
  try {
    rmdirSync(root);
  } catch { /* not empty, or gone */ }
}

/**
 * Cleans what earlier runs of the same bundle left behind when they were
 * killed: random work dirs whose owner died (unmounting them first) and fixed
 * mount dirs nobody uses any more.
 *
 * @param ctx The run's context.
 * @param root The work root.
 * @param tools The run's tools.
 * @returns The directories removed.
 */
export function cleanStale(ctx: RuntimeContext, root: string, tools?: ToolBox): string[] {
  const removed: string[] = [];
  let names: string[];
  try {
    names = readdirSync(root);
  } catch {
    return removed;
  }
  const prefix = `${ctx.safeId}_`;
  for (const name of names) {
    if (!name.startsWith(prefix) || name.endsWith(".lock")) continue;
    const dir = join(root, name);
    if (existsSync(join(dir, "instances"))) {
      const done = withDirLock(`${dir}.lock`, () => {
        // A fixed mount ends with its last user; one left with no live user
        // means that user was killed.
        if (liveInstances(join(dir, "instances")) > 0) return false;
        return removeWorkDir(dir, tools);
      });
      if (done) removed.push(dir);
      continue;
    }
    if (existsSync(join(dir, "kept"))) continue; // NO_CLEANUP=1 asked to keep it
    let owner: string | undefined;
    try {
      owner = readFileSync(join(dir, "owner"), "utf8");
    } catch {
      try {
        if (Date.now() - statSync(dir).mtimeMs < OWNERLESS_GRACE_MS) continue;
      } catch {
        continue;
      }
    }
    if (owner !== undefined && isIdentityAlive(owner)) continue;
    if (removeWorkDir(dir, tools)) removed.push(dir);
  }
  return removed;
}
