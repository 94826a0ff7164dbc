/**
 * The only engine-specific code in the runtime: the executable's path, the raw
 * command line, running the app as a child with signals forwarded, signal
 * traps, exiting, and the tools built into the runtime (embed edition).
 * Under `deno compile` it uses Deno's APIs; under a Node single executable
 * application it uses node: built-ins. Everything else in runtime/ is shared.
 *
 * @module
 */

import type * as ChildProcess from "node:child_process";
import { readFileSync, writeSync } from "node:fs";
import type * as Os from "node:os";
import type { RuntimeChunk } from "./_chunks.ts";

// deno-lint-ignore no-explicit-any
const DenoNs: any = (globalThis as any).Deno;
// The runtime is bundled to CommonJS for Node, where `require` exists (inside
// a single executable application it loads built-ins only); under Deno (also
// when pbundle runs from a remote module) process.getBuiltinModule gives the
// built-ins. No node:module: loading it costs the start-up 0.2 ms.
// deno-lint-ignore no-explicit-any
const nodeRequire: (id: string) => any = typeof require === "function"
  ? require
  : (id) => process.getBuiltinModule(id);

/**
 * Loads a node: built-in when first needed. child_process and crypto take
 * milliseconds to load, and a run that answers --pbundle_offset needs neither.
 *
 * @param id The module, e.g. "node:child_process".
 * @returns The module.
 */
export function builtin<T>(id: string): T {
  // deno-lint-ignore no-explicit-any
  const get = (process as any).getBuiltinModule as ((id: string) => T) | undefined;
  return get ? get(id) : nodeRequire(id);
}

/** node:child_process, loaded on first use. */
export function childProcess(): typeof ChildProcess {
  return builtin<typeof ChildProcess>("node:child_process");
}

/**
 * Returns a signal's number (node:os is loaded only when a signal needs it).
 *
 * @param name A signal's name, e.g. "SIGTERM".
 * @returns Its number, or 0 when unknown.
 */
export function signalNumber(name: string): number {
  return (builtin<typeof Os>("node:os").constants.signals as Record<string, number>)[name] ?? 0;
}

/** The signals the runtime forwards to the app and answers by cleaning up. */
export const FORWARDED_SIGNALS = ["SIGINT", "SIGTERM", "SIGHUP"] as const;
/** A forwarded signal's name. */
export type ForwardedSignal = typeof FORWARDED_SIGNALS[number];

/** The exit status the runtime uses when it cannot start the app at all (type2 runtime). */
export const EXIT_CANNOT_START = 127;

/**
 * Tells which engine runs this code.
 *
 * @returns "deno" under deno compile or deno run, "node" otherwise.
 */
export function engineName(): "deno" | "node" {
  return DenoNs?.version?.deno ? "deno" : "node";
}

/**
 * Returns the path of the running executable (the bundle when run as one).
 *
 * @returns An absolute path, symlinks not yet resolved.
 */
export function executablePath(): string {
  return engineName() === "deno" ? DenoNs.execPath() : process.execPath;
}

/**
 * Returns the process's command line as raw bytes, so that arguments that are
 * not UTF-8 reach the app unchanged. Reads /proc/self/cmdline; when /proc is
 * missing, falls back to the engine's decoded arguments.
 *
 * @returns argv[0] and the arguments after it.
 */
export function rawCommandLine(): { argv0: Uint8Array; args: Uint8Array[] } {
  const encoder = new TextEncoder();
  const decoded: string[] = engineName() === "deno" ? DenoNs.args : process.argv.slice(2);
  try {
    const bytes = readFileSync("/proc/self/cmdline");
    const parts: Uint8Array[] = [];
    let start = 0;
    for (let i = 0; i < bytes.length; i++) {
      if (bytes[i] === 0) {
        parts.push(new Uint8Array(bytes.subarray(start, i)));
        start = i + 1;
      }
    }
    if (start < bytes.length) parts.push(new Uint8Array(bytes.subarray(start)));
    // Compiled, the command line is [argv0, ...args]; run as a script
    // (deno run / node x.cjs) the engine's own arguments come first: the
    // arguments are always the last ones.
    if (parts.length > decoded.length) {
      const args = parts.slice(parts.length - decoded.length);
      const argv0 = parts.length === decoded.length + 1
        ? parts[0]!
        : encoder.encode(executablePath());
      return { argv0, args };
    }
  } catch { /* no /proc: fall through */ }
  return {
    argv0: encoder.encode(engineName() === "deno" ? DenoNs.execPath() : process.argv0),
    args: decoded.map((a) => encoder.encode(a)),
  };
}

const STRICT_UTF8 = new TextDecoder("utf-8", { fatal: true });

function decodeAll(args: readonly Uint8Array[]): string[] | undefined {
  try {
    return args.map((a) => STRICT_UTF8.decode(a));
  } catch {
    return undefined;
  }
}

function octal(bytes: Uint8Array): string {
  let out = "";
  for (const b of bytes) out += "\\" + b.toString(8).padStart(3, "0");
  return out;
}

/**
 * Both engines take arguments as strings and encode them as UTF-8, so bytes
 * that are not UTF-8 cannot be passed directly. Then /bin/sh rebuilds each
 * argument from octal escapes with printf and execs the program: the app
 * becomes the child process itself (same pid), only its arguments took a
 * detour. The trailing "x" keeps trailing newlines that $(...) would strip.
 */
function viaShell(file: string, args: readonly Uint8Array[]): { file: string; args: string[] } {
  const lines = ["set --"];
  for (const arg of args) {
    lines.push(`a=$(printf '${octal(arg)}x'); set -- "$@" "\${a%x}"`);
  }
  lines.push('exec "$0" "$@"');
  return { file: "/bin/sh", args: ["-c", lines.join("\n"), file] };
}

/** How a child ended. */
export interface ChildExit {
  /** The exit status, when it exited. */
  code: number | null;
  /** The signal's name, when a signal ended it. */
  signal: string | null;
}

/**
 * Turns a child's end into the runtime's own exit status: the child's status,
 * or 128 + N when signal N ended it.
 *
 * @param exit How the child ended.
 * @returns The status to exit with.
 */
export function exitStatusOf(exit: ChildExit): number {
  if (exit.signal) {
    return 128 + signalNumber(exit.signal);
  }
  return exit.code ?? EXIT_CANNOT_START;
}

/** Options for {@linkcode runChild}. */
export interface RunChildOptions {
  /** The complete environment of the child. */
  env: Record<string, string>;
  /**
   * Called when the child is running, with a function that sends it a signal;
   * the caller's signal traps use it to forward signals.
   */
  onStart?: (kill: (signal: ForwardedSignal) => void) => void;
}

/**
 * Runs a program as a child with stdio inherited and every argument passed
 * byte for byte, and waits for it.
 *
 * @param file The program's path.
 * @param args Its arguments, as raw bytes.
 * @param options The environment and a hook to forward signals.
 * @returns How the child ended.
 * @throws {Error} When the program cannot be started (ENOENT, EACCES…).
 */
export async function runChild(
  file: string,
  args: readonly Uint8Array[],
  options: RunChildOptions,
): Promise<ChildExit> {
  const decoded = decodeAll(args);
  const plan = decoded ? { file, args: decoded } : viaShell(file, args);
  const env = options.env;
  if (engineName() === "deno") {
    const child = new DenoNs.Command(plan.file, {
      args: plan.args,
      env,
      clearEnv: true,
      stdin: "inherit",
      stdout: "inherit",
      stderr: "inherit",
    }).spawn();
    options.onStart?.((signal) => {
      try {
        child.kill(signal);
      } catch { /* already gone */ }
    });
    const status = await child.status;
    return { code: status.signal ? null : status.code, signal: status.signal ?? null };
  }
  const fast = spawnBindings();
  if (fast) return await runChildFast(fast, plan, env, options.onStart);
  return await new Promise<ChildExit>((resolve, reject) => {
    const child = childProcess().spawn(plan.file, plan.args, { env, stdio: "inherit" });
    child.once("error", reject);
    child.once("spawn", () => {
      options.onStart?.((signal) => {
        try {
          child.kill(signal);
        } catch { /* already gone */ }
      });
    });
    child.once("exit", (code, signal) => resolve({ code, signal }));
  });
}

/**
 * The internal bindings node:child_process itself spawns with (Node 24's
 * lib/internal/child_process.js). Loading node:child_process costs about 3 ms
 * (it loads node:net, node:stream, node:dgram…), a tenth of the runtime's
 * start-up, for the two calls the runtime makes; so with the pinned Node 24
 * the runtime calls the bindings directly. The call shapes differ between
 * Node versions: any other version, Deno, or a Node that warns about
 * process.binding (NODE_PENDING_DEPRECATION) gets node:child_process.
 */
interface SpawnBindings {
  spawnSync(options: Record<string, unknown>): {
    status: number | null;
    signal: string | null;
    error?: number;
    output: (Uint8Array | null)[] | null;
  };
  Process: new () => ProcessHandle;
}

/** process_wrap's Process handle. */
interface ProcessHandle {
  onexit: (exitCode: number, signalCode: string) => void;
  spawn(
    file: string,
    args: string[],
    cwd: string | undefined,
    envPairs: string[],
    stdio: Record<string, unknown>[],
    flags: number,
    uid: number | undefined,
    gid: number | undefined,
  ): number;
  kill(signal: number): number;
  close(): void;
  unref(): void;
  readonly pid: number;
}

/** process_wrap's kProcessFlagDetached (setsid in the child). */
const PROCESS_FLAG_DETACHED = 1;

const SPAWN_BINDINGS_NODE_MAJOR = "24";
let spawnBindingsCache: SpawnBindings | null | undefined;

function spawnBindings(): SpawnBindings | undefined {
  if (spawnBindingsCache !== undefined) return spawnBindingsCache ?? undefined;
  spawnBindingsCache = null;
  if (engineName() === "deno") return undefined;
  // deno-lint-ignore no-explicit-any
  const proc = process as any;
  if (
    process.versions.node.split(".")[0] !== SPAWN_BINDINGS_NODE_MAJOR ||
    typeof proc.binding !== "function" || process.env.NODE_PENDING_DEPRECATION !== undefined ||
    process.execArgv.some((a) => a.includes("deprecation"))
  ) {
    return undefined;
  }
  try {
    const spawnSync = proc.binding("spawn_sync").spawn;
    const Process = proc.binding("process_wrap").Process;
    if (typeof spawnSync === "function" && typeof Process === "function") {
      spawnBindingsCache = { spawnSync, Process };
    }
  } catch { /* use node:child_process */ }
  return spawnBindingsCache ?? undefined;
}

function envPairs(env: Record<string, string>): string[] {
  const pairs: string[] = [];
  for (const key in env) pairs.push(`${key}=${env[key]}`);
  return pairs;
}

/** An Error like node:child_process's for a libuv error number. */
function spawnError(errno: number, file: string): Error {
  const code = builtin<typeof import("node:util")>("node:util").getSystemErrorName(errno);
  return Object.assign(new Error(`spawn ${file} ${code}`), { errno, code, path: file });
}

const STDIO_INHERIT = [0, 1, 2].map((fd) => ({ type: "inherit", fd }));
const STDIO_IGNORE = { type: "ignore" };

function runChildFast(
  bindings: SpawnBindings,
  plan: { file: string; args: string[] },
  env: Record<string, string>,
  onStart: RunChildOptions["onStart"],
): Promise<ChildExit> {
  return new Promise<ChildExit>((resolve, reject) => {
    const handle = new bindings.Process();
    let running = true;
    handle.onexit = (exitCode, signalCode) => {
      running = false;
      handle.close();
      if (exitCode < 0 && !signalCode) reject(spawnError(exitCode, plan.file));
      else resolve({ code: signalCode ? null : exitCode, signal: signalCode || null });
    };
    const error = handle.spawn(
      plan.file,
      [plan.file, ...plan.args],
      undefined,
      envPairs(env),
      STDIO_INHERIT,
      0,
      undefined,
      undefined,
    );
    if (error !== 0) {
      running = false;
      handle.close();
      reject(spawnError(error, plan.file));
      return;
    }
    onStart?.((signal) => {
      if (running) handle.kill(signalNumber(signal));
    });
  });
}

/**
 * Starts a program in its own session (detached: a terminal's Ctrl-C does not
 * reach it), stdio discarded, working directory "/", and does not wait for
 * it or keep the runtime alive for it. Only with the pinned Node's bindings.
 *
 * @param file The program's path.
 * @param args Its arguments.
 * @param env Its complete environment.
 * @returns Its pid, or undefined when it cannot be started this way.
 */
export function spawnDetached(
  file: string,
  args: string[],
  env: Record<string, string>,
): number | undefined {
  const fast = spawnBindings();
  if (!fast) return undefined;
  const handle = new fast.Process();
  handle.onexit = () => handle.close();
  const error = handle.spawn(
    file,
    [file, ...args],
    "/",
    envPairs(env),
    [STDIO_IGNORE, STDIO_IGNORE, STDIO_IGNORE],
    PROCESS_FLAG_DETACHED,
    undefined,
    undefined,
  );
  if (error !== 0) {
    handle.close();
    return undefined;
  }
  handle.unref();
  return handle.pid;
}

/** How a program run by {@linkcode runSync} ended. */
export interface SyncExit {
  /** The exit status, when it exited. */
  status: number | null;
  /** The signal's name, when a signal ended it. */
  signal: string | null;
  /** Why it could not be started (ENOENT, EACCES…). */
  error?: Error;
  /** Its standard error, when captured; otherwise "". */
  stderr: string;
}

/** Options for {@linkcode runSync}. */
export interface RunSyncOptions {
  /**
   * The complete environment of the program.
   * @default {the runtime's own environment}
   */
  env?: Record<string, string>;
  /**
   * Capture standard error (for an error message) instead of discarding it.
   * @default {false}
   */
  captureStderr?: boolean;
}

/**
 * Runs a program to its end with stdin and stdout discarded, as the runtime
 * runs its tools (squashfuse, fusermount3).
 *
 * @param file The program: a path, or a name looked up in the PATH of `env`.
 * @param args Its arguments.
 * @param options The environment and whether to capture standard error.
 * @returns How it ended.
 */
export function runSync(file: string, args: string[], options: RunSyncOptions = {}): SyncExit {
  const env = options.env ?? (process.env as Record<string, string>);
  const fast = spawnBindings();
  if (fast) {
    const result = fast.spawnSync({
      file,
      args: [file, ...args],
      envPairs: envPairs(env),
      stdio: [
        STDIO_IGNORE,
        STDIO_IGNORE,
        options.captureStderr ? { type: "pipe", readable: false, writable: true } : STDIO_IGNORE,
      ],
      detached: false,
      windowsHide: false,
      windowsVerbatimArguments: false,
      maxBuffer: 1 << 20,
    });
    const stderr = result.output?.[2];
    return {
      status: result.status,
      signal: result.signal,
      ...(result.error ? { error: spawnError(result.error, file) } : {}),
      stderr: stderr ? new TextDecoder().decode(stderr) : "",
    };
  }
  const result = childProcess().spawnSync(file, args, {
    env,
    stdio: ["ignore", "ignore", options.captureStderr ? "pipe" : "ignore"],
    encoding: "utf8",
  });
  return {
    status: result.status,
    signal: result.signal,
    ...(result.error ? { error: result.error } : {}),
    stderr: result.stderr ?? "",
  };
}

/**
 * Installs one handler for SIGINT, SIGTERM and SIGHUP (replacing the engine's
 * default of dying at once), so the runtime can forward them or clean up.
 *
 * @param handler Called with the signal's name.
 */
export function trapSignals(handler: (signal: ForwardedSignal) => void): void {
  for (const signal of FORWARDED_SIGNALS) {
    if (engineName() === "deno") DenoNs.addSignalListener(signal, () => handler(signal));
    else process.on(signal, () => handler(signal));
  }
}

/**
 * Writes bytes or text to stdout or stderr synchronously, so nothing is lost
 * when the runtime exits right after.
 *
 * @param fd 1 or 2.
 * @param data The bytes or text.
 */
export function writeOut(fd: 1 | 2, data: string | Uint8Array): void {
  const bytes = typeof data === "string" ? new TextEncoder().encode(data) : data;
  let offset = 0;
  while (offset < bytes.length) {
    try {
      offset += writeSync(fd, bytes, offset, bytes.length - offset);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "EAGAIN") continue;
      if ((error as NodeJS.ErrnoException).code === "EPIPE") return;
      throw error;
    }
  }
}

/**
 * Exits the process at once with the given status.
 *
 * @param code The exit status.
 */
export function exitProcess(code: number): never {
  if (engineName() === "deno") DenoNs.exit(code);
  process.exit(code);
}

/** The tools built into a runtime of the embed edition. */
export interface EmbeddedTools {
  /** A hash of the tools' names and contents, used as the tools cache key. */
  id: string;
  /** The files, relative paths with their modes. */
  files: { path: string; mode: number }[];
  /** Reads one file's bytes. */
  read(path: string): Uint8Array;
}

/**
 * Returns the tools built into this runtime, if it is of the embed edition
 * (a Node SEA with a "tools.json" asset).
 *
 * @returns The tools, or undefined.
 */
export function embeddedTools(): EmbeddedTools | undefined {
  if (engineName() === "deno") return undefined;
  let sea: {
    isSea(): boolean;
    getRawAsset(key: string): ArrayBuffer;
  };
  try {
    sea = nodeRequire("node:sea");
    if (!sea.isSea()) return undefined;
    const manifest = JSON.parse(new TextDecoder().decode(sea.getRawAsset("tools.json")));
    return {
      id: manifest.id,
      files: manifest.files,
      read: (path) => new Uint8Array(sea.getRawAsset(`tools/${path}`)),
    };
  } catch {
    return undefined;
  }
}

/**
 * Loads a part of the runtime that a node-engine build keeps in the assets of
 * its single executable application (see _chunks.ts): `<key>.js` holds a
 * CommonJS module inside its wrapper function, `<key>.cache` (when present)
 * the V8 code cache made for it at build time, so nothing is parsed or
 * compiled at run time. The module may require node: built-ins only.
 *
 * @param key The chunk's key, e.g. "squashfs".
 * @returns The module's exports, or undefined under Deno, outside a single
 * executable application, or when it has no such asset.
 */
export function seaModule<T>(key: RuntimeChunk): T | undefined {
  if (engineName() === "deno") return undefined;
  let source: string;
  let cachedData: Uint8Array | undefined;
  try {
    const sea = builtin<{
      isSea(): boolean;
      getAsset(key: string, encoding: string): string;
      getRawAsset(key: string): ArrayBuffer;
    }>("node:sea");
    if (!sea.isSea()) return undefined;
    source = sea.getAsset(`${key}.js`, "utf8");
    try {
      cachedData = new Uint8Array(sea.getRawAsset(`${key}.cache`));
    } catch { /* a cross build: compiled now */ }
  } catch {
    return undefined;
  }
  const vm = builtin<typeof import("node:vm")>("node:vm");
  const script = new vm.Script(source, {
    filename: `${key}.js`,
    ...(cachedData ? { cachedData } : {}),
  });
  const module = { exports: {} as T };
  script.runInThisContext().call(
    module.exports,
    module.exports,
    nodeRequire,
    module,
    `${key}.js`,
    ".",
  );
  return module.exports;
}
