/**
 * The host's plugins (the Rust plugins of auroraview's diagram), callable from
 * the page through the bridge and, forwarded by the host, from the Python
 * backend (`pbundle_backend.call_host`):
 *
 * - shell: `plugin:shell|open` {target}: opens an http(s) or mailto URL, or an
 *   existing file or directory, with the desktop's opener (xdg-open).
 * - process: `plugin:process|spawn` {program, args?, cwd?, env?} -> {id, pid};
 *   its output arrives as `process:stdout` / `process:stderr` events {id, data}
 *   and its end as `process:exit` {id, code, signal}; `plugin:process|write`
 *   {id, data}, `plugin:process|close_stdin` {id}, `plugin:process|kill`
 *   {id, signal?}, `plugin:process|list`. Off unless [plugins] process = true;
 *   [plugins] process_allow limits it to listed programs.
 *
 * The backend may also name them `shell.open`, `process.spawn` and so on.
 * Engine-neutral (node: built-ins only).
 *
 * @module
 */

import { Buffer } from "node:buffer";
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, realpathSync } from "node:fs";
import { isAbsolute, resolve } from "node:path";
import process from "node:process";
import { StringDecoder } from "node:string_decoder";
import { fileURLToPath } from "node:url";
import type { Logger } from "../log.ts";
import { findOnPath, isExecutableFile } from "../../_find_program.ts";

/** The [plugins] settings. */
export interface PluginSettings {
  /**
   * The shell plugin (open URLs and files).
   * @default true
   */
  shell: boolean;
  /**
   * The process plugin (start programs).
   * @default false
   */
  process: boolean;
  /**
   * Programs the process plugin may start: bare names (looked up on PATH, and
   * only matching a bare name) or absolute paths. Empty allows any program.
   * @default []
   */
  processAllow: string[];
}

/** The defaults of [plugins]. */
export const DEFAULT_PLUGIN_SETTINGS: Readonly<PluginSettings> = {
  shell: true,
  process: false,
  processAllow: [],
};

/** Options for {@linkcode HostPlugins}. */
export interface HostPluginsOptions {
  /** [plugins]. */
  settings: PluginSettings;
  /** Sends an event to the page. */
  emit: (event: string, data: unknown) => void;
  /** The environment programs start with (and whose PATH finds them). */
  env: Record<string, string>;
  /** The working directory programs start in unless a call names one. */
  cwd: string;
  /** The logger. */
  log: Logger;
  /**
   * The opener for the shell plugin.
   * @default "xdg-open"
   */
  opener?: string;
}

/** Raised (as a rejection) when a plugin call is refused or fails; its message reaches the caller. */
export class PluginError extends Error {
  /** @param message "Cannot <action> <object>: <state>". */
  constructor(message: string) {
    super(message);
    this.name = "PluginError";
  }
}

interface Running {
  child: ChildProcess;
  program: string;
}

const PLUGIN_METHOD = /^plugin:([a-z_]+)\|([a-z_]+)$/;
const DOTTED_METHOD = /^(shell|process)\.([a-z_]+)$/;
const OPEN_TIMEOUT_MS = 15000;
const SIGNAL_NAMES = new Set([
  "SIGTERM",
  "SIGKILL",
  "SIGINT",
  "SIGHUP",
  "SIGQUIT",
  "SIGUSR1",
  "SIGUSR2",
]);

/**
 * The plugins of one running app.
 *
 * @example Route a call
 * ```ts ignore
 * import { HostPlugins, DEFAULT_PLUGIN_SETTINGS } from "./host_plugins.ts";
 * import { createLogger } from "../log.ts";
 * const plugins = new HostPlugins({
 *   settings: { ...DEFAULT_PLUGIN_SETTINGS, process: true },
 *   emit: (event, data) => console.log(event, data),
 *   env: { PATH: "/usr/bin:/bin" }, cwd: "/tmp", log: createLogger("demo"),
 * });
 * await plugins.call("plugin:process|spawn", { program: "echo", args: ["hi"] });
 * ```
 */
export class HostPlugins {
  #options: HostPluginsOptions;
  #running = new Map<number, Running>();
  #nextId = 1;
  #stopped = false;

  /** @param options Settings, event sink, environment. */
  constructor(options: HostPluginsOptions) {
    this.#options = options;
  }

  /**
   * Whether a method name is a plugin call.
   *
   * @param method The method.
   * @returns True for `plugin:NAME|COMMAND`, `shell.X` and `process.X`.
   */
  static isPluginMethod(method: string): boolean {
    return PLUGIN_METHOD.test(method) || DOTTED_METHOD.test(method);
  }

  /**
   * Runs a plugin command.
   *
   * @param method `plugin:NAME|COMMAND` (or `NAME.COMMAND`).
   * @param params The command's parameters.
   * @returns The command's result.
   * @throws {PluginError} When the plugin is off, the command unknown or refused, or it fails.
   */
  async call(method: string, params: unknown): Promise<unknown> {
    const match = PLUGIN_METHOD.exec(method) ?? DOTTED_METHOD.exec(method);
    if (!match) throw new PluginError(`Cannot call ${method}: no such plugin command`);
    const [, plugin, command] = match as unknown as [string, string, string];
    const p = (params ?? {}) as Record<string, unknown>;
    if (plugin === "shell") {
      if (!this.#options.settings.shell) {
        throw new PluginError(
          `Cannot call ${method}: the shell plugin is off ([plugins] shell = false)`,
        );
      }
      if (command === "open") {
        return await this.#open(typeof params === "string" ? params : p["target"] ?? p["path"]);
      }
    } else if (plugin === "process") {
      if (!this.#options.settings.process) {
        throw new PluginError(
          `Cannot call ${method}: the process plugin is off (turn it on with [plugins] process = true)`,
        );
      }
      switch (command) {
        case "spawn":
          return this.#spawn(p);
        case "write":
          return this.#write(p["id"], p["data"], false);
        case "close_stdin":
          return this.#write(p["id"], "", true);
        case "kill":
          return this.#kill(p["id"], p["signal"]);
        case "list":
          return [...this.#running].map(([id, r]) => ({
            id,
            pid: r.child.pid,
            program: r.program,
          }));
      }
    } else {
      throw new PluginError(
        `Cannot call ${method}: there is no plugin named ${JSON.stringify(plugin)}`,
      );
    }
    throw new PluginError(
      `Cannot call ${method}: the ${plugin} plugin has no command ${JSON.stringify(command)}`,
    );
  }

  /** Kills every process the plugin started (SIGTERM, then SIGKILL after a second) and refuses new ones. */
  async stop(): Promise<void> {
    this.#stopped = true;
    const running = [...this.#running.values()];
    for (const r of running) signalTree(r.child, "SIGTERM");
    const end = Date.now() + 1000;
    while (
      Date.now() < end &&
      running.some((r) => r.child.exitCode === null && r.child.signalCode === null)
    ) {
      await new Promise((done) => setTimeout(done, 20));
    }
    for (const r of running) {
      if (r.child.exitCode === null && r.child.signalCode === null) signalTree(r.child, "SIGKILL");
    }
  }

  async #open(target: unknown): Promise<{ opened: string }> {
    if (typeof target !== "string" || target === "") {
      throw new PluginError("Cannot open: give a URL or a path as target");
    }
    let what: string;
    if (/^(https?|mailto):/i.test(target)) {
      try {
        what = new URL(target).href;
      } catch {
        throw new PluginError(`Cannot open ${JSON.stringify(target)}: it is not a valid URL`);
      }
    } else if (/^file:/i.test(target) || !/^[a-z][a-z0-9+.-]*:/i.test(target)) {
      const path = /^file:/i.test(target)
        ? fileURLToPath(target)
        : resolve(this.#options.cwd, target);
      if (!existsSync(path)) {
        throw new PluginError(`Cannot open "${path}": no such file or directory`);
      }
      what = path;
    } else {
      throw new PluginError(
        `Cannot open ${JSON.stringify(target)}: only http, https, mailto and files can be opened`,
      );
    }
    const opener = this.#options.opener ?? "xdg-open";
    const found = isAbsolute(opener)
      ? opener
      : findOnPath(opener, this.#options.env["PATH"], { absoluteOnly: true });
    if (!found) {
      throw new PluginError(
        `Cannot open ${JSON.stringify(what)}: ${opener} is not installed (install xdg-utils)`,
      );
    }
    this.#options.log.debug(`shell: ${found} ${what}`);
    const child = spawn(found, [what], {
      env: withoutPacked(this.#options.env),
      cwd: this.#options.cwd,
      stdio: ["ignore", "ignore", "pipe"],
      detached: true,
    });
    let stderr = "";
    child.stderr!.on("data", (chunk) => (stderr = (stderr + chunk).slice(-500)));
    const code = await new Promise<number | null>((done) => {
      const timer = setTimeout(() => done(0), OPEN_TIMEOUT_MS); // a long-running opener is fine
      child.once("error", () => done(-1));
      child.once("exit", (c) => {
        clearTimeout(timer);
        done(c);
      });
    });
    child.unref();
    if (code !== 0) {
      throw new PluginError(
        `Cannot open ${JSON.stringify(what)}: ${opener} exited with status ${code}${
          stderr ? ` (${stderr.trim()})` : ""
        }`,
      );
    }
    return { opened: what };
  }

  #spawn(p: Record<string, unknown>): { id: number; pid: number } {
    if (this.#stopped) throw new PluginError("Cannot start a process: the app is closing");
    const program = p["program"] ?? p["command"];
    if (typeof program !== "string" || program === "") {
      throw new PluginError("Cannot start a process: give the program to run");
    }
    const args = p["args"] ?? [];
    if (!Array.isArray(args) || args.some((a) => typeof a !== "string")) {
      throw new PluginError(`Cannot start "${program}": args must be a list of strings`);
    }
    const env = withoutPacked(this.#options.env);
    if (p["env"] !== undefined && p["env"] !== null) {
      if (typeof p["env"] !== "object" || Array.isArray(p["env"])) {
        throw new PluginError(`Cannot start "${program}": env must be an object of strings`);
      }
      for (const [k, v] of Object.entries(p["env"] as Record<string, unknown>)) env[k] = String(v);
    }
    const cwd = typeof p["cwd"] === "string"
      ? resolve(this.#options.cwd, p["cwd"])
      : this.#options.cwd;
    const resolved = program.includes("/")
      ? resolve(this.#options.cwd, program)
      : findOnPath(program, this.#options.env["PATH"], { absoluteOnly: true });
    if (!resolved || !isExecutableFile(resolved)) {
      throw new PluginError(
        `Cannot start "${program}": no such program${program.includes("/") ? "" : " on PATH"}`,
      );
    }
    if (!this.#allowed(program, resolved)) {
      throw new PluginError(
        `Cannot start "${program}": it is not in the allowed programs ([plugins] process_allow = ${
          JSON.stringify(this.#options.settings.processAllow)
        })`,
      );
    }
    const child = spawn(resolved, args as string[], {
      cwd,
      env,
      stdio: ["pipe", "pipe", "pipe"],
      detached: true, // its own process group: kill reaches what it starts
    });
    if (child.pid === undefined) {
      throw new PluginError(`Cannot start "${program}": the system refused to start it`);
    }
    const id = this.#nextId++;
    this.#running.set(id, { child, program });
    this.#options.log.debug(
      `process: started #${id} ${resolved} ${args.join(" ")} (pid ${child.pid})`,
    );
    const emit = this.#options.emit;
    const pipe = (stream: NodeJS.ReadableStream, event: string) => {
      const decoder = new StringDecoder("utf8");
      stream.on("data", (chunk: Buffer) => {
        const data = decoder.write(chunk);
        if (data) emit(event, { id, data });
      });
      stream.on("end", () => {
        const rest = decoder.end();
        if (rest) emit(event, { id, data: rest });
      });
    };
    pipe(child.stdout!, "process:stdout");
    pipe(child.stderr!, "process:stderr");
    child.stdin!.on("error", () => {/* the process closed its stdin */});
    let stdoutDone = false;
    let stderrDone = false;
    let exit: { code: number | null; signal: string | null } | undefined;
    const maybeExit = () => {
      if (!exit || !stdoutDone || !stderrDone) return;
      this.#running.delete(id);
      emit("process:exit", { id, ...exit });
    };
    child.stdout!.once("close", () => {
      stdoutDone = true;
      maybeExit();
    });
    child.stderr!.once("close", () => {
      stderrDone = true;
      maybeExit();
    });
    child.once("exit", (code, signal) => {
      exit = { code, signal };
      // A grandchild may keep the pipes open; report the exit soon anyway.
      setTimeout(() => {
        stdoutDone = stderrDone = true;
        maybeExit();
      }, 200);
      maybeExit();
    });
    return { id, pid: child.pid };
  }

  #allowed(program: string, resolved: string): boolean {
    const allow = this.#options.settings.processAllow;
    if (allow.length === 0) return true;
    let real = resolved;
    try {
      real = realpathSync(resolved);
    } catch { /* checked as given */ }
    return allow.some((entry) =>
      isAbsolute(entry)
        ? entry === resolved || entry === real
        : !program.includes("/") && entry === program
    );
  }

  #find(id: unknown): Running {
    const running = typeof id === "number" ? this.#running.get(id) : undefined;
    if (!running) {
      throw new PluginError(`Cannot use process ${JSON.stringify(id)}: no such running process`);
    }
    return running;
  }

  #write(id: unknown, data: unknown, end: boolean): { written: number } {
    const { child } = this.#find(id);
    if (typeof data !== "string") {
      throw new PluginError("Cannot write to a process: data must be a string");
    }
    const stdin = child.stdin!;
    if (stdin.destroyed || stdin.writableEnded) {
      throw new PluginError(`Cannot write to process ${id}: its stdin is closed`);
    }
    if (data) stdin.write(data);
    if (end) stdin.end();
    return { written: Buffer.byteLength(data) };
  }

  #kill(id: unknown, signal: unknown): { signal: string } {
    const { child } = this.#find(id);
    const name = typeof signal === "string" ? signal.toUpperCase() : "SIGTERM";
    if (!SIGNAL_NAMES.has(name)) {
      throw new PluginError(
        `Cannot signal process ${id}: ${JSON.stringify(signal)} is not one of ${
          [...SIGNAL_NAMES].join(", ")
        }`,
      );
    }
    signalTree(child, name as NodeJS.Signals);
    return { signal: name };
  }
}

function signalTree(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    try {
      child.kill(signal);
    } catch { /* gone */ }
  }
}

function withoutPacked(env: Record<string, string>): Record<string, string> {
  const out = { ...env };
  delete out["AURORAVIEW_PACKED"];
  return out;
}
