/**
 * Helpers for the app window tests: the packed example (packed once per test
 * run and shared), a bundle running headless with its address read from
 * stdout, Debian's chromium for playwright-core, raw HTTP requests and process
 * lookups.
 *
 * @module
 */

import { spawn } from "node:child_process";
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join, relative } from "node:path";
import type { Browser } from "playwright-core";
import { packFullstack } from "../packers/fullstack/mod.ts";
import { copyProject, EXAMPLE } from "./_fullstack.ts";
import { testRuntime } from "./_runtime_helper.ts";

/** The flags ENVIRONMENT.md lists for Debian's chromium on our machines. */
export const CHROMIUM_FLAGS = [
  "--no-sandbox",
  "--disable-gpu",
  "--disable-background-networking",
  "--disable-component-update",
  "--no-first-run",
];

/**
 * The chromium for the tests (PBUNDLE_TEST_CHROMIUM or /usr/bin/chromium), or
 * undefined with a note on a developer's machine without it; with CI=true a
 * missing chromium fails instead.
 *
 * @returns The path, or undefined (skip).
 */
export function chromiumPath(): string | undefined {
  const path = Deno.env.get("PBUNDLE_TEST_CHROMIUM") ?? "/usr/bin/chromium";
  if (existsSync(path)) return path;
  if (Deno.env.get("CI") === "true") {
    throw new Error(
      `chromium is required when CI=true ("${path}" is missing; run scripts/install_deps.sh)`,
    );
  }
  console.warn(
    `skipped: no chromium at "${path}" (apt-get install chromium, or set PBUNDLE_TEST_CHROMIUM)`,
  );
  return undefined;
}

/** Whether the host has the Python the embedded strategy uses (python3.11). */
export function hostPythonPath(): string | undefined {
  for (const dir of (Deno.env.get("PATH") ?? "").split(":")) {
    if (dir && existsSync(join(dir, "python3.11"))) return join(dir, "python3.11");
  }
  if (Deno.env.get("CI") === "true") throw new Error("python3.11 is required when CI=true");
  console.warn("skipped: no python3.11 on PATH for the embedded strategy");
  return undefined;
}

/**
 * Launches headless chromium through playwright-core.
 *
 * @param executablePath The chromium.
 * @returns The browser.
 */
export async function launchChromium(executablePath: string): Promise<Browser> {
  const { chromium } = await import("playwright-core");
  return await chromium.launch({ executablePath, headless: true, args: CHROMIUM_FLAGS });
}

const packed = new Map<string, Promise<string>>();

/**
 * Packs the full-stack example (embedded strategy: the host's python3.11, the
 * example's pyyaml in site-packages) with extra pack-file text, once per test
 * run for each text.
 *
 * @param extraToml Appended to the pack file (e.g. a [plugins] table).
 * @returns The bundle's path (in a temporary directory removed at exit).
 */
export function packedExample(extraToml = ""): Promise<string> {
  let promise = packed.get(extraToml);
  if (!promise) {
    promise = (async () => {
      const project = copyProject(
        EXAMPLE,
        (t) => t.replace(/^strategy = .*$/m, 'strategy = "embedded"') + "\n" + extraToml,
      );
      globalThis.addEventListener(
        "unload",
        () => rmSync(project, { recursive: true, force: true }),
      );
      return await packInto(project, "yaml-viewer");
    })();
    packed.set(extraToml, promise);
  }
  return promise;
}

/**
 * Packs a small full-stack project without a Python backend ([python]
 * enabled = false): a pack file and the given files (paths relative to the
 * project, e.g. "frontend/index.html").
 *
 * @param name The app's name ([package] name).
 * @param toml The pack file without [package] (e.g. [app], [window], [plugins]).
 * @param files The project's other files.
 * @returns The bundle's path (in a temporary directory removed at exit).
 */
export async function packSmallApp(
  name: string,
  toml: string,
  files: Record<string, string> = {},
): Promise<string> {
  const project = mkdtempSync(join(tmpdir(), "pbundle-window-small-"));
  globalThis.addEventListener("unload", () => rmSync(project, { recursive: true, force: true }));
  writeFileSync(
    join(project, "pbundle.pack.toml"),
    `[package]\nname = "${name}"\nversion = "1.0.0"\n\n${toml}\n\n[python]\nenabled = false\n`,
  );
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(project, path)), { recursive: true });
    writeFileSync(join(project, path), text);
  }
  return await packInto(project, name);
}

/** Packs a project quickly (the test runtime, zstd level 3) into its out/NAME.AppBundle. */
async function packInto(project: string, name: string): Promise<string> {
  mkdirSync(join(project, "out"));
  const output = join(project, "out", `${name}.AppBundle`);
  await packFullstack({
    config: project,
    output,
    runtime: await testRuntime(),
    compression: "zstd:3",
    log: () => {},
  });
  return output;
}

/**
 * Writes an executable script.
 *
 * @param path Where.
 * @param text The script.
 * @returns The path.
 */
export function writeScript(path: string, text: string): string {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, text);
  chmodSync(path, 0o755);
  return path;
}

/**
 * What an app run left in its isolated area that it should not have: every
 * file, directory and link under the area's TMPDIR (work directories) and
 * cache, except the runtime's caches that are meant to stay (the extraction
 * cache `pbundle/apps`, the unpacked tools `pbundle/tools`, the verification
 * stamps `pbundle/verified`) and the directories that lead to them, and the
 * desktop's settings cache `dconf` that any GTK program (the browser)
 * keeps there.
 *
 * @param area The area of {@linkcode startBundle}.
 * @returns The leftover paths, relative to the area, sorted.
 */
export function leftovers(area: string): string[] {
  const kept = [
    "cache/pbundle/apps",
    "cache/pbundle/tools",
    "cache/pbundle/verified",
    "cache/dconf",
  ];
  const leadsToKept = ["cache", "cache/pbundle"];
  const out: string[] = [];
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      const rel = relative(area, path);
      if (kept.includes(rel)) continue;
      if (leadsToKept.includes(rel) && entry.isDirectory()) {
        walk(path);
        continue;
      }
      out.push(rel);
      if (entry.isDirectory()) walk(path);
    }
  };
  for (const top of ["tmp", "cache"]) {
    if (existsSync(join(area, top))) walk(join(area, top));
  }
  return out.sort();
}

/** A bundle running as a real process. */
export interface RunningBundle {
  /** The address it printed (headless), or "" when it prints none. */
  url: string;
  /** Its process id. */
  pid: number;
  /** stderr so far. */
  stderr(): string;
  /** Resolves with the exit status (128+N after signal N). */
  exited: Promise<number>;
  /** Resolves when the process has exited and its stdout and stderr are closed (all read). */
  closed: Promise<void>;
  /** Sends SIGTERM (if it still runs) and waits for the exit. */
  stop(): Promise<number>;
  /** The isolated area (HOME, cache, data, tmp), removed by stop(). */
  area: string;
}

/** Options for {@linkcode startBundle}. */
export interface StartBundleOptions {
  /** Extra environment. */
  env?: Record<string, string>;
  /** Wait for the first stdout line (the headless address). @default true */
  waitForUrl?: boolean;
}

/**
 * Starts a bundle in an isolated environment (its own HOME, XDG_CACHE_HOME,
 * XDG_DATA_HOME and TMPDIR), headless unless env says otherwise.
 *
 * @param bundle The bundle.
 * @param options Environment; whether to wait for the address.
 * @returns The running bundle.
 */
export async function startBundle(
  bundle: string,
  options: StartBundleOptions = {},
): Promise<RunningBundle> {
  const area = mkdtempSync(join(tmpdir(), "pbundle-window-test-"));
  for (const d of ["home", "cache", "data", "tmp"]) mkdirSync(join(area, d));
  const env: Record<string, string> = {
    PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin",
    HOME: join(area, "home"),
    XDG_CACHE_HOME: join(area, "cache"),
    XDG_DATA_HOME: join(area, "data"),
    TMPDIR: join(area, "tmp"),
    LANG: "C.UTF-8",
    PBUNDLE_HEADLESS: "1",
    PBUNDLE_LOG: "debug",
    ...options.env,
  };
  const child = spawn(bundle, [], { env, cwd: area, stdio: ["ignore", "pipe", "pipe"] });
  let stderr = "";
  child.stderr!.setEncoding("utf8");
  child.stderr!.on("data", (chunk: string) => (stderr += chunk));
  const exited = new Promise<number>((resolve) => {
    child.once("exit", (code, signal) => resolve(code ?? 128 + (signal === "SIGKILL" ? 9 : 15)));
  });
  const closed = new Promise<void>((resolve) => child.once("close", () => resolve()));
  let url = "";
  if (options.waitForUrl !== false) {
    url = await new Promise<string>((resolve, reject) => {
      let out = "";
      child.stdout!.setEncoding("utf8");
      child.stdout!.on("data", (chunk: string) => {
        out += chunk;
        if (out.includes("\n")) resolve(out.split("\n")[0]!);
      });
      void exited.then((code) => reject(new Error(`the bundle exited with ${code}:\n${stderr}`)));
    });
  } else {
    child.stdout!.resume();
  }
  return {
    url,
    pid: child.pid!,
    area,
    stderr: () => stderr,
    exited,
    closed,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
      const code = await exited;
      rmSync(area, { recursive: true, force: true });
      return code;
    },
  };
}

/**
 * Sends a raw HTTP/1.1 request (the path as given: no client normalizes it).
 *
 * @param origin http://127.0.0.1:PORT.
 * @param lines The request line and headers, without the final blank line.
 * @returns The status code and the raw response.
 */
export function rawRequest(
  origin: string,
  lines: string[],
): Promise<{ status: number; text: string }> {
  const { hostname, port } = new URL(origin);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname, () => {
      socket.write(lines.join("\r\n") + "\r\nConnection: close\r\n\r\n");
    });
    let text = "";
    socket.setEncoding("utf8");
    socket.on("data", (chunk: string) => (text += chunk));
    socket.on("end", () => resolve({ status: Number(text.split(" ")[1]), text }));
    socket.on("error", reject);
  });
}

/**
 * The children of a process (from /proc).
 *
 * @param pid The parent.
 * @returns Their pids and command names.
 */
export function childrenOf(pid: number): Array<{ pid: number; comm: string }> {
  const out: Array<{ pid: number; comm: string }> = [];
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, "utf8");
      const close = stat.lastIndexOf(")");
      const fields = stat.slice(close + 2).split(" ");
      if (Number(fields[1]) === pid) {
        out.push({ pid: Number(name), comm: stat.slice(stat.indexOf("(") + 1, close) });
      }
    } catch { /* gone */ }
  }
  return out;
}
