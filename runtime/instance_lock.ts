/**
 * Counting and mutual exclusion between runtime instances, without guesses:
 * each live instance owns one file named after its identity (pid and kernel
 * start time, so a reused pid is not mistaken for the old process); a short
 * critical section is guarded by a directory lock (mkdir is atomic) whose owner
 * is checked the same way, so a lock left by a killed process is broken.
 *
 * @module
 */

import {
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";

const STAT_STARTTIME_FIELD = 19; // field 22 of /proc/PID/stat, counted after "(comm) "
const LOCK_TIMEOUT_MS = 60_000;
const OWNERLESS_LOCK_GRACE_MS = 5_000;

/**
 * Returns a process's kernel start time (clock ticks since boot), or undefined
 * when the process does not exist.
 *
 * @param pid The process id.
 * @returns The start time as text.
 */
export function processStartTime(pid: number | "self"): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "latin1");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return fields[STAT_STARTTIME_FIELD];
  } catch {
    return undefined;
  }
}

let selfIdentityCache: string | undefined;

/**
 * Returns this process's identity, "PID-STARTTIME".
 *
 * @returns The identity.
 */
export function selfIdentity(): string {
  selfIdentityCache ??= `${process.pid}-${processStartTime("self") ?? Date.now()}`;
  return selfIdentityCache;
}

/**
 * Tells whether the process an identity names is still running.
 *
 * @param identity "PID-STARTTIME".
 * @returns True when that very process is alive.
 */
export function isIdentityAlive(identity: string): boolean {
  const dash = identity.indexOf("-");
  const pid = Number(identity.slice(0, dash));
  if (!Number.isInteger(pid) || pid <= 0) return false;
  const start = processStartTime(pid);
  if (start === undefined) {
    // No /proc for it: alive only if signal 0 reaches it.
    try {
      process.kill(pid, 0);
      return !existsProc();
    } catch (error) {
      return (error as NodeJS.ErrnoException).code === "EPERM";
    }
  }
  return start === identity.slice(dash + 1);
}

function existsProc(): boolean {
  try {
    return statSync("/proc/self/stat").isFile();
  } catch {
    return false;
  }
}

/**
 * Sleeps synchronously (the lock is held for milliseconds, and cleanup runs
 * inside signal handlers, where awaiting is not possible).
 *
 * @param ms Milliseconds.
 */
export function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

function lockIsStale(lockDir: string): boolean {
  let owner: string | undefined;
  try {
    owner = readFileSync(join(lockDir, "owner"), "utf8");
  } catch {
    try {
      return Date.now() - statSync(lockDir).mtimeMs > OWNERLESS_LOCK_GRACE_MS;
    } catch {
      return false;
    }
  }
  return !isIdentityAlive(owner);
}

/**
 * Runs a function while holding a directory lock; breaks a lock whose owner died.
 *
 * @param lockDir The lock's path (a directory that exists only while held).
 * @param fn The critical section; keep it short.
 * @returns What fn returns.
 * @throws {Error} When the lock cannot be taken within a minute, or its parent
 * directory cannot be written.
 */
export function withDirLock<T>(lockDir: string, fn: () => T): T {
  const deadline = Date.now() + LOCK_TIMEOUT_MS;
  let delay = 2;
  for (;;) {
    try {
      mkdirSync(lockDir, { mode: 0o700 });
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
    }
    if (lockIsStale(lockDir)) {
      const aside = `${lockDir}.stale-${selfIdentity()}`;
      try {
        renameSync(lockDir, aside);
        rmSync(aside, { recursive: true, force: true });
      } catch { /* another instance broke it first */ }
      continue;
    }
    if (Date.now() > deadline) {
      throw new Error(`Cannot take the lock "${lockDir}": another instance holds it`);
    }
    sleepSync(delay);
    delay = Math.min(delay * 2, 50);
  }
  try {
    writeFileSync(join(lockDir, "owner"), selfIdentity());
    return fn();
  } finally {
    rmSync(lockDir, { recursive: true, force: true });
  }
}

/**
 * Registers this process as a user of a shared directory.
 *
 * @param instancesDir The directory of instance files; created when missing.
 */
export function registerInstance(instancesDir: string): void {
  mkdirSync(instancesDir, { recursive: true, mode: 0o700 });
  writeFileSync(join(instancesDir, selfIdentity()), "");
}

/**
 * Removes this process's registration.
 *
 * @param instancesDir The directory of instance files.
 */
export function unregisterInstance(instancesDir: string): void {
  rmSync(join(instancesDir, selfIdentity()), { force: true });
}

/**
 * Counts the live instances registered in a directory, removing the files of
 * dead ones.
 *
 * @param instancesDir The directory of instance files.
 * @returns The number of live instances (0 when the directory is missing).
 */
export function liveInstances(instancesDir: string): number {
  let names: string[];
  try {
    names = readdirSync(instancesDir);
  } catch {
    return 0;
  }
  let live = 0;
  for (const name of names) {
    if (isIdentityAlive(name)) live++;
    else rmSync(join(instancesDir, name), { force: true });
  }
  return live;
}
