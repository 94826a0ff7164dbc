/**
 * The app window: a Chromium-family browser (chromium, google-chrome,
 * microsoft-edge, brave) in app mode (`--app=URL`: no tabs, no address bar)
 * with its own profile directory, sized and placed from [window]. Finding the
 * browser, the command line (pure), the profile and its lock, and starting it.
 * Engine-neutral (node: built-ins only).
 *
 * @module
 */

import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { mkdirSync, readlinkSync, rmSync } from "node:fs";
import { hostname } from "node:os";
import { basename, dirname, isAbsolute, join } from "node:path";
import process from "node:process";
import { findOnPath } from "../../_find_program.ts";

/** Browsers looked for on PATH, in this order, when BROWSER names none. */
export const CHROMIUM_NAMES = [
  "chromium",
  "chromium-browser",
  "google-chrome",
  "google-chrome-stable",
  "microsoft-edge",
  "microsoft-edge-stable",
  "brave-browser",
  "brave",
] as const;

/** A browser found for the window. */
export interface FoundBrowser {
  /** Its absolute path. */
  path: string;
  /** "chromium" for the Chromium family (app mode works), "other" for anything else. */
  kind: "chromium" | "other";
}

/**
 * Finds a program the window uses (a browser, xdg-open, xrandr, wmctrl) on the
 * app's PATH. Relative PATH entries are ignored: what a page can start must not
 * depend on the current directory.
 *
 * @param name The program's name.
 * @param env The app's environment.
 * @returns Its absolute path, or undefined.
 */
export function findDesktopProgram(
  name: string,
  env: Record<string, string | undefined>,
): string | undefined {
  return findOnPath(name, env["PATH"], { absoluteOnly: true });
}

/**
 * Finds the browser: each entry of $BROWSER (colon-separated, a name on PATH
 * or an absolute path; `%s` arguments are dropped), then the Chromium family
 * on PATH.
 *
 * @param env The environment (BROWSER, PATH).
 * @returns The browser, or undefined when there is none.
 * @example Find one
 * ```ts ignore
 * import { findBrowser } from "./app_browser.ts";
 * console.log(findBrowser({ PATH: "/usr/bin:/bin" }));
 * ```
 */
export function findBrowser(env: Record<string, string | undefined>): FoundBrowser | undefined {
  for (const entry of (env["BROWSER"] ?? "").split(":")) {
    const command = entry.trim().split(/\s+/)[0] ?? "";
    if (command === "") continue;
    const path = isAbsolute(command) ? command : findDesktopProgram(command, env);
    if (path) return { path, kind: isChromiumFamily(path) ? "chromium" : "other" };
  }
  for (const name of CHROMIUM_NAMES) {
    const path = findDesktopProgram(name, env);
    if (path) return { path, kind: "chromium" };
  }
  return undefined;
}

/**
 * Whether a browser's file name says it is of the Chromium family.
 *
 * @param path The browser's path.
 * @returns True for chromium, chrome, edge, brave, vivaldi and opera.
 */
export function isChromiumFamily(path: string): boolean {
  return /chrom|edge|brave|vivaldi|opera/i.test(basename(path));
}

/** The window's settings as the command line needs them. */
export interface AppWindowSettings {
  /** The address to open. */
  url: string;
  /** The profile directory. */
  profileDir: string;
  /** The app's name (WM_CLASS on X11). */
  name: string;
  /** [window] width and height. */
  width: number;
  /** See width. */
  height: number;
  /** The window's top-left corner, when known (start_position = "center" on a known screen). */
  position?: { x: number; y: number };
  /** [debug] devtools. */
  devtools: boolean;
  /** [app] allow_new_window. */
  allowNewWindow: boolean;
  /** Extra flags (PBUNDLE_BROWSER_FLAGS). */
  extraFlags?: string[];
}

/**
 * Builds a Chromium command line for an app window.
 *
 * @param settings The window's settings.
 * @returns The arguments.
 * @example The flags
 * ```ts
 * import { chromiumArgs } from "./app_browser.ts";
 * const args = chromiumArgs({
 *   url: "http://127.0.0.1:1/", profileDir: "/tmp/p", name: "demo", width: 800, height: 600,
 *   devtools: false, allowNewWindow: true,
 * });
 * if (!args.includes("--app=http://127.0.0.1:1/")) throw new Error("not app mode");
 * ```
 */
export function chromiumArgs(settings: AppWindowSettings): string[] {
  const args = [
    `--app=${settings.url}`,
    `--user-data-dir=${settings.profileDir}`,
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--password-store=basic",
    `--class=${settings.name}`,
    `--window-size=${settings.width},${settings.height}`,
  ];
  if (settings.position) {
    args.push(`--window-position=${settings.position.x},${settings.position.y}`);
  }
  if (settings.devtools) args.push("--auto-open-devtools-for-tabs");
  if (!settings.allowNewWindow) args.push("--block-new-web-contents");
  args.push(...(settings.extraFlags ?? []));
  return args;
}

/**
 * The app's browser profile: $XDG_DATA_HOME/pbundle/profiles/NAME, or
 * ~/.local/share/pbundle/profiles/NAME.
 *
 * @param env The environment (XDG_DATA_HOME, HOME).
 * @param name The app's name.
 * @returns The directory (not created).
 */
export function profileDirOf(env: Record<string, string | undefined>, name: string): string {
  const xdg = env["XDG_DATA_HOME"];
  const data = xdg && isAbsolute(xdg) ? xdg : join(env["HOME"] ?? "/tmp", ".local", "share");
  return join(data, "pbundle", "profiles", name.replace(/[^A-Za-z0-9._-]/g, "_"));
}

const LOCK_FILES = ["SingletonLock", "SingletonSocket", "SingletonCookie"];

/**
 * Returns the process that holds a Chromium profile (its SingletonLock link
 * reads HOST-PID), or undefined when the profile is free or the lock is stale.
 *
 * @param profileDir The profile.
 * @returns The pid of the live holder on this host.
 */
export function profileHolder(profileDir: string): number | undefined {
  let target: string;
  try {
    target = readlinkSync(join(profileDir, "SingletonLock"));
  } catch {
    return undefined;
  }
  const dash = target.lastIndexOf("-");
  const pid = Number(target.slice(dash + 1));
  if (target.slice(0, dash) !== hostname() || !Number.isInteger(pid) || pid <= 0) return undefined;
  try {
    process.kill(pid, 0);
    return pid;
  } catch {
    return undefined;
  }
}

/**
 * Removes a profile's lock files when they belong to a process that is gone
 * (Chromium removes them itself when it exits normally), and the directory in
 * $TMPDIR that its SingletonSocket link points to (`org.chromium.Chromium.XXXXXX`,
 * `com.google.Chrome.XXXXXX`...), which a browser that was killed leaves behind.
 *
 * @param profileDir The profile.
 * @returns True when a stale lock was removed.
 */
export function releaseProfileLock(profileDir: string): boolean {
  let removed = false;
  try {
    readlinkSync(join(profileDir, "SingletonLock"));
  } catch {
    return false;
  }
  if (profileHolder(profileDir) !== undefined) return false;
  let socketDir: string | undefined;
  try {
    socketDir = dirname(readlinkSync(join(profileDir, "SingletonSocket")));
  } catch { /* no socket link */ }
  if (
    socketDir && isAbsolute(socketDir) &&
    /^\.?[A-Za-z]+\.[A-Za-z]+\.[A-Za-z-]+\.\w{6}$/.test(basename(socketDir))
  ) {
    rmSync(socketDir, { recursive: true, force: true });
  }
  for (const name of LOCK_FILES) {
    try {
      rmSync(join(profileDir, name), { force: true });
      removed = true;
    } catch { /* already gone */ }
  }
  return removed;
}

/**
 * The screen's size from xrandr on X11, for centering; undefined elsewhere.
 *
 * @param env The environment (DISPLAY, PATH).
 * @returns The size in pixels.
 */
export function screenSize(
  env: Record<string, string | undefined>,
): { width: number; height: number } | undefined {
  if (!env["DISPLAY"]) return undefined;
  const xrandr = findDesktopProgram("xrandr", env);
  if (!xrandr) return undefined;
  try {
    const out = execFileSync(xrandr, ["--current"], {
      env: env as Record<string, string>,
      encoding: "utf8",
      stdio: ["ignore", "pipe", "ignore"],
      timeout: 2000,
    });
    const match = /current (\d+) x (\d+)/.exec(out);
    return match ? { width: Number(match[1]), height: Number(match[2]) } : undefined;
  } catch {
    return undefined;
  }
}

/** A started browser. */
export interface StartedBrowser {
  /** The process. */
  child: ChildProcess;
  /** Resolves with the exit status (128+N after signal N) when the browser exits. */
  exited: Promise<number>;
  /** The last lines the browser wrote to stderr. */
  stderrTail(): string;
  /** Ends the browser and everything it started (SIGTERM, then SIGKILL after graceMs). */
  stop(graceMs?: number): Promise<void>;
}

/**
 * Starts a browser in its own process group.
 *
 * @param path The browser.
 * @param args Its arguments.
 * @param env Its environment.
 * @param options passthrough: a function that gets each stderr line.
 * @returns The started browser.
 * @throws {Error} When it cannot be started at all.
 */
export async function startBrowser(
  path: string,
  args: string[],
  env: Record<string, string>,
  options: { passthrough?: (line: string) => void } = {},
): Promise<StartedBrowser> {
  const child = spawn(path, args, {
    env,
    stdio: ["ignore", "ignore", "pipe"],
    detached: true,
  });
  await new Promise<void>((resolve, reject) => {
    child.once("spawn", resolve);
    child.once(
      "error",
      (error) => reject(new Error(`Cannot start the browser "${path}": ${error.message}`)),
    );
  });
  const tail: string[] = [];
  let partial = "";
  child.stderr!.setEncoding("utf8");
  child.stderr!.on("data", (chunk: string) => {
    const lines = (partial + chunk).split("\n");
    partial = lines.pop() ?? "";
    for (const line of lines) {
      if (line.trim() === "") continue;
      tail.push(line);
      if (tail.length > 10) tail.shift();
      options.passthrough?.(line);
    }
  });
  const exited = new Promise<number>((resolve) => {
    child.once("exit", (code, signal) => resolve(code ?? 128 + signalNumber(signal)));
  });
  const pgid = child.pid!;
  return {
    child,
    exited,
    stderrTail: () => tail.join(" | "),
    async stop(graceMs = 3000) {
      if (child.exitCode !== null || child.signalCode !== null) {
        killGroup(pgid, "SIGKILL"); // helpers the browser left behind
        return;
      }
      killGroup(pgid, "SIGTERM");
      const timedOut = await Promise.race([
        exited.then(() => false),
        new Promise<boolean>((r) => setTimeout(() => r(true), graceMs)),
      ]);
      if (timedOut) killGroup(pgid, "SIGKILL");
      await exited;
      killGroup(pgid, "SIGKILL");
    },
  };
}

/**
 * Opens a URL with the desktop's default browser (xdg-open, or a non-Chromium
 * $BROWSER), which returns at once.
 *
 * @param opener The opener's path.
 * @param url The address.
 * @param env The environment.
 * @returns The opener's exit status (-1 when it could not be started).
 */
export function openWith(
  opener: string,
  url: string,
  env: Record<string, string>,
): Promise<number> {
  return new Promise((resolve) => {
    const child = spawn(opener, [url], { env, stdio: "ignore", detached: true });
    child.once("error", () => resolve(-1));
    child.once("exit", (code, signal) => resolve(code ?? 128 + signalNumber(signal)));
    child.unref();
  });
}

/** Creates a directory with 0700 permissions (profiles hold cookies). */
export function makePrivateDir(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
}

function killGroup(pgid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pgid, signal);
  } catch { /* gone */ }
}

const SIGNAL_NUMBERS: Record<string, number> = { SIGHUP: 1, SIGINT: 2, SIGKILL: 9, SIGTERM: 15 };

function signalNumber(signal: NodeJS.Signals | null): number {
  return signal ? SIGNAL_NUMBERS[signal] ?? 0 : 0;
}
