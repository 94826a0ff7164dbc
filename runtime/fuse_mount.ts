/**
 * FUSE mounting: whether it can work here, mounting an image at an offset with
 * squashfuse (`-o offset=N`) or dwarfs, reading the mount table, and
 * unmounting with fusermount3 -u / fusermount -u (lazily as a last resort).
 *
 * @module
 */

import { runSync, spawnDetached } from "./_engine.ts";
import { accessSync, constants, readFileSync, statSync } from "node:fs";
import { sleepSync } from "./instance_lock.ts";
import type { RuntimeContext } from "./runtime_context.ts";
import type { Tool, ToolBox } from "./tool_box.ts";
import { findOnPath } from "./_find_program.ts";

/** Whether FUSE can be used, and if not, what is missing. */
export type FuseAvailability = { ok: true; mounter: Tool } | { ok: false; missing: string };

const MOUNTERS = { squashfs: ["squashfuse", "squashfuse_ll"], dwarfs: ["dwarfs"] } as const;

function decodeMountField(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_, code) => String.fromCharCode(parseInt(code, 8)));
}

/** One line of /proc/self/mountinfo, the parts the runtime uses. */
export interface MountEntry {
  /** The mount point. */
  mountPoint: string;
  /** The per-mount options (e.g. "rw,nosuid,noexec"). */
  options: string[];
  /** The filesystem type (e.g. "fuse.squashfuse"). */
  fsType: string;
}

/**
 * Reads the mount table.
 *
 * @returns Every mount, in the table's order.
 */
export function readMounts(): MountEntry[] {
  let text: string;
  try {
    text = readFileSync("/proc/self/mountinfo", "utf8");
  } catch {
    return [];
  }
  const mounts: MountEntry[] = [];
  for (const line of text.split("\n")) {
    if (!line) continue;
    const [left, right = ""] = line.split(" - ");
    const fields = (left ?? "").split(" ");
    mounts.push({
      mountPoint: decodeMountField(fields[4] ?? ""),
      options: (fields[5] ?? "").split(","),
      fsType: right.split(" ")[0] ?? "",
    });
  }
  return mounts;
}

/**
 * Tells whether a path is a mount point.
 *
 * @param path An absolute path without symlinks.
 * @returns True when something is mounted there.
 */
export function isMountPoint(path: string): boolean {
  return readMounts().some((m) => m.mountPoint === path);
}

/**
 * Tells whether a mount point answers (a FUSE mount whose daemon died gives
 * ENOTCONN).
 *
 * @param path The mount point.
 * @returns True when it can be read.
 */
export function mountAnswers(path: string): boolean {
  try {
    statSync(path);
    return true;
  } catch {
    return false;
  }
}

/**
 * Tells whether FUSE mounting can work for this bundle, and with which program.
 *
 * @param ctx The run's context.
 * @param tools The run's tools.
 * @returns The mounter, or what is missing.
 */
export function fuseAvailability(ctx: RuntimeContext, tools: ToolBox): FuseAvailability {
  try {
    accessSync("/dev/fuse", constants.R_OK | constants.W_OK);
  } catch {
    return { ok: false, missing: "/dev/fuse is missing or not accessible" };
  }
  const isRoot = process.getuid?.() === 0;
  if (!isRoot && !tools.find(["fusermount3", "fusermount"], { pathFirst: true })) {
    return { ok: false, missing: "fusermount3 (or fusermount) is not installed" };
  }
  const names = MOUNTERS[ctx.info.FilesystemType];
  const mounter = tools.find([...names]);
  if (!mounter) {
    return { ok: false, missing: `${names[0]} is not installed and the bundle carries no copy` };
  }
  return { ok: true, mounter };
}

/**
 * Mounts the bundle's image read-only at a directory. squashfuse and dwarfs
 * return once the mount is in place (they daemonize).
 *
 * @param ctx The run's context.
 * @param mounter The mounting program.
 * @param mountPoint An existing empty directory.
 * @throws {Error} With the mounter's own message when it fails.
 */
export function mountImage(ctx: RuntimeContext, mounter: Tool, mountPoint: string): void {
  const offset = ctx.bundle.imageOffset;
  const args = ctx.info.FilesystemType === "dwarfs"
    ? [ctx.bundlePath, mountPoint, "-o", `offset=${offset},ro`]
    : ["-o", `offset=${offset}`, ctx.bundlePath, mountPoint];
  const env = { ...ctx.env, ...mounter.env };
  // First without a stderr pipe: a daemonizing mounter keeps a pipe open for a
  // while, which costs milliseconds on every launch. Only a failure is run
  // again to capture the mounter's message.
  const quick = runSync(mounter.path, args, { env });
  if (quick.error) throw quick.error;
  if (quick.status === 0 && isMountPoint(mountPoint)) return;
  if (isMountPoint(mountPoint)) unmount(mountPoint);
  const result = runSync(mounter.path, args, { env, captureStderr: true });
  if (result.error) throw result.error;
  if (result.status !== 0 || !isMountPoint(mountPoint)) {
    const reason = (result.stderr || "").trim().split("\n").pop() ||
      `exit status ${result.status}`;
    throw new Error(`${mounter.path} failed: ${reason}`);
  }
}

/** A mount whose FUSE daemon this run started (see {@linkcode mountImageOwned}). */
export interface OwnedMount {
  /** The daemon's pid. */
  pid: number;
  /** The mount point. */
  mountPoint: string;
}

const OWNED_MOUNT_TIMEOUT_MS = 10_000;
const OWNED_UNMOUNT_WAIT_MS = 2_000;
const POLL_MS = 0.1;

function isRunning(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "latin1");
    return stat[stat.lastIndexOf(")") + 2] !== "Z";
  } catch {
    return false;
  }
}

/**
 * Mounts like {@linkcode mountImage}, but runs squashfuse in the foreground
 * (`-f`) as a detached child of its own, so the run knows the daemon and
 * unmounts by stopping it ({@linkcode unmountOwned}: libfuse unmounts as its
 * daemon exits, lazily, as the last resort of {@linkcode unmount} does) rather
 * than by running fusermount3: a process fewer on every launch's critical
 * path. The mount is ready when it shows in the mount table.
 *
 * @param ctx The run's context.
 * @param mounter The mounting program (squashfuse or squashfuse_ll).
 * @param mountPoint An existing empty directory.
 * @returns The mount, or undefined when it did not work this way (the caller
 * then uses mountImage, which reports the mounter's own message).
 */
export function mountImageOwned(
  ctx: RuntimeContext,
  mounter: Tool,
  mountPoint: string,
): OwnedMount | undefined {
  if (ctx.info.FilesystemType !== "squashfs") return undefined;
  const args = ["-f", "-o", `offset=${ctx.bundle.imageOffset}`, ctx.bundlePath, mountPoint];
  const pid = spawnDetached(mounter.path, args, { ...ctx.env, ...mounter.env });
  if (pid === undefined) return undefined;
  const deadline = Date.now() + OWNED_MOUNT_TIMEOUT_MS;
  for (let i = 0;; i++) {
    if (isMountPoint(mountPoint)) return { pid, mountPoint };
    if ((i % 10 === 9 && !isRunning(pid)) || Date.now() > deadline) break;
    sleepSync(POLL_MS);
  }
  unmountOwned({ pid, mountPoint });
  return undefined;
}

/**
 * Unmounts a mount made by {@linkcode mountImageOwned}: stops its daemon
 * (SIGTERM) and waits for the mount to go, then falls back to
 * {@linkcode unmount}.
 *
 * @param mount The mount.
 * @param tools The run's tools (for fusermount when PATH lacks it).
 * @returns True when nothing is mounted there any more.
 */
export function unmountOwned(mount: OwnedMount, tools?: ToolBox): boolean {
  try {
    process.kill(mount.pid, "SIGTERM");
  } catch { /* already gone */ }
  const deadline = Date.now() + OWNED_UNMOUNT_WAIT_MS;
  while (isMountPoint(mount.mountPoint) && isRunning(mount.pid) && Date.now() < deadline) {
    sleepSync(POLL_MS);
  }
  return unmount(mount.mountPoint, tools);
}

/**
 * Unmounts a FUSE mount: fusermount3 -u (or fusermount -u, or umount as root),
 * retried briefly while busy, then lazily (-uz) so the directory can go.
 *
 * @param mountPoint The mount point.
 * @param tools The run's tools (for fusermount when PATH lacks it).
 * @returns True when nothing is mounted there any more.
 */
export function unmount(mountPoint: string, tools?: ToolBox): boolean {
  if (!isMountPoint(mountPoint)) return true;
  const fusermount = tools?.find(["fusermount3", "fusermount"], { pathFirst: true }) ??
    findSystem(["fusermount3", "fusermount"]);
  const attempt = (lazy: boolean) => {
    if (fusermount) {
      runSync(fusermount.path, [lazy ? "-uz" : "-u", mountPoint], {
        env: { ...process.env, ...fusermount.env } as Record<string, string>,
      });
    } else {
      runSync("umount", lazy ? ["-l", mountPoint] : [mountPoint]);
    }
    return !isMountPoint(mountPoint);
  };
  for (let i = 0; i < 5; i++) {
    if (attempt(false)) return true;
    sleepSync(20 * (i + 1));
  }
  return attempt(true);
}

/** The system's own program (the first name found wins), also from /usr/bin and /bin when PATH lacks them. */
function findSystem(names: string[]): Tool | undefined {
  const dirs = `${process.env.PATH ?? ""}:/usr/bin:/bin`;
  for (const name of names) {
    const path = findOnPath(name, dirs);
    if (path !== undefined) return { path, env: {}, origin: "path" };
  }
  return undefined;
}
