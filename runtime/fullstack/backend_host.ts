/**
 * The JSON-RPC client that runs a full-stack app's Python backend as a child
 * process and talks to it over stdin/stdout, one JSON object per line:
 * requests `{"id","method","params"}`, responses `{"id","ok":true,"result"}` or
 * `{"id","ok":false,"error"}`, events `{"event","data"}`. Engine-neutral
 * (node: built-ins only): it runs under Deno and inside a Node single
 * executable application.
 *
 * @module
 */

import { Buffer } from "node:buffer";
import { type ChildProcess, spawn } from "node:child_process";
import process from "node:process";
import type { Logger } from "./log.ts";

/** How to start the backend process. */
export interface BackendLaunch {
  /** The interpreter (absolute path or a name looked up on PATH). */
  command: string;
  /** Its arguments. */
  args: string[];
  /** The complete environment of the backend. */
  env: Record<string, string>;
  /** The working directory. */
  cwd: string;
}

/** What the backend announced when it became ready (pbundle_backend's pbundle.ready event). */
export interface BackendReady {
  /** The handler names the backend registered. */
  methods: string[];
  /** The backend's process id. */
  pid: number;
  /** The Python version, e.g. "3.11.7". */
  python?: string;
}

/** A listener for backend events and for the host's own lifecycle events. */
export type BackendEventListener = (event: string, data: unknown) => void;

/** Answers requests the backend sends to the host (its plugins). Throw to answer ok=false. */
export type HostRequestHandler = (method: string, params: unknown) => Promise<unknown> | unknown;

/** Options for {@linkcode BackendHost}. */
export interface BackendHostOptions {
  /** How to start the backend; a function is called again before each restart. */
  launch: BackendLaunch | (() => BackendLaunch | Promise<BackendLaunch>);
  /** The logger (the app's name is on every line). */
  log: Logger;
  /**
   * Milliseconds a call waits for its answer before it fails.
   * @default 30000
   */
  callTimeoutMs?: number;
  /**
   * How many times in a row a crashed backend is restarted before the host gives up.
   * A backend whose bootstrap exits with status 3 before it is ready (it cannot
   * import or find the entry point) is not restarted at all.
   * @default 5
   */
  maxRestarts?: number;
  /**
   * The delay before the first restart; it doubles on each further one, up to 5 s.
   * @default 200
   */
  restartBackoffMs?: number;
  /**
   * Milliseconds between SIGTERM and SIGKILL when the host stops the backend.
   * @default 3000
   */
  shutdownGraceMs?: number;
  /**
   * A backend that has run this long without exiting resets the restart count.
   * @default 10000
   */
  stableAfterMs?: number;
  /** Answers the backend's own requests; without it they get ok=false. */
  onRequest?: HostRequestHandler;
}

/** Options of one call. */
export interface CallOptions {
  /** Overrides the host's call timeout for this call. */
  timeoutMs?: number;
}

/** Thrown (as a rejection) when a call fails: the backend's error, a timeout or an exit. */
export class BackendCallError extends Error {
  /** "error" (the backend answered ok=false), "timeout", "exited", "stopped" or "invalid". */
  readonly kind: "error" | "timeout" | "exited" | "stopped" | "invalid";
  /**
   * Makes a call error.
   *
   * @param kind Why the call failed.
   * @param message The message.
   */
  constructor(kind: BackendCallError["kind"], message: string) {
    super(message);
    this.name = "BackendCallError";
    this.kind = kind;
  }
}

interface Pending {
  method: string;
  resolve: (value: unknown) => void;
  reject: (error: Error) => void;
  timer: ReturnType<typeof setTimeout> | undefined;
  line: string;
}

const NEWLINE = 0x0a;
const MAX_BACKOFF_MS = 5000;
const STDERR_TAIL_LINES = 20;
const STDERR_SETTLE_MS = 100;
/** pbundle_backend's bootstrap exits with this when it cannot import or find the entry point. */
const ENTRY_FAILED_STATUS = 3;
/** How the bootstrap's error line starts (after any prefix). */
const ENTRY_FAILED_MARK = "pbundle_backend: error: ";

/**
 * Runs a Python backend and calls it. Events the backend emits, and the host's
 * own lifecycle events, reach listeners added with {@linkcode BackendHost.on}:
 * `pbundle.ready` (data: {@linkcode BackendReady}), `pbundle.backend_exited`
 * ({code, signal, restartInMs}), `pbundle.backend_restarted` ({attempt, pid}) and
 * `pbundle.backend_failed` ({restarts, message}).
 *
 * @example Call a handler
 * ```ts ignore
 * import { BackendHost, createLogger } from "@pbundle/pbundle";
 * const host = new BackendHost({
 *   launch: { command: "python3", args: ["-m", "pbundle_backend", "module", "main:run"], env: {}, cwd: "." },
 *   log: createLogger("demo"),
 * });
 * await host.start();
 * console.log(await host.call("api.echo", { text: "hi" }));
 * await host.stop();
 * ```
 */
export class BackendHost {
  #options: BackendHostOptions;
  #log: Logger;
  #child: ChildProcess | undefined;
  #pending = new Map<string, Pending>();
  #queue: string[] = [];
  #nextId = 1;
  #listeners = new Set<BackendEventListener>();
  #stopping = false;
  #failed: string | undefined;
  #restarts = 0;
  #restartTimer: ReturnType<typeof setTimeout> | undefined;
  #stableTimer: ReturnType<typeof setTimeout> | undefined;
  #ready: BackendReady | undefined;
  #readyWaiters: Array<(ready: BackendReady) => void> = [];
  #stderrTail: string[] = [];
  #exitWaiters: Array<() => void> = [];
  #generation = 0;

  /**
   * Makes a host; nothing starts until the backend is launched.
   *
   * @param options How to start the backend and how patient to be with it.
   */
  constructor(options: BackendHostOptions) {
    this.#options = options;
    this.#log = options.log;
  }

  /** The running backend's process id, or undefined between runs. */
  get pid(): number | undefined {
    return this.#child?.pid;
  }

  /** What the running backend announced, or undefined before pbundle.ready. */
  get ready(): BackendReady | undefined {
    return this.#ready;
  }

  /** Why the host gave up on the backend (the message of pbundle.backend_failed), or undefined. */
  get failure(): string | undefined {
    return this.#failed;
  }

  /** The number of restarts since the backend last ran stably. */
  get restarts(): number {
    return this.#restarts;
  }

  /**
   * Adds a listener for events.
   *
   * @param listener Called with each event's name and data.
   * @returns A function that removes the listener.
   */
  on(listener: BackendEventListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /**
   * Starts the backend.
   *
   * @throws {Error} When the interpreter cannot be started at all.
   */
  async start(): Promise<void> {
    this.#stopping = false;
    this.#failed = undefined;
    await this.#spawn();
  }

  /**
   * Resolves when the backend has announced its handlers (pbundle.ready), or
   * with undefined after timeoutMs (a backend that does not use pbundle_backend
   * never announces).
   *
   * @param timeoutMs How long to wait.
   * @returns What the backend announced.
   */
  waitReady(timeoutMs = 10000): Promise<BackendReady | undefined> {
    if (this.#ready) return Promise.resolve(this.#ready);
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(undefined), timeoutMs);
      this.#readyWaiters.push((ready) => {
        clearTimeout(timer);
        resolve(ready);
      });
    });
  }

  /**
   * Calls a backend method and resolves with its result.
   *
   * @param method The method, e.g. "api.echo".
   * @param params Its params (an object becomes keyword arguments in Python, a list positional ones).
   * @param options A per-call timeout.
   * @returns The result.
   * @throws {BackendCallError} The backend's error message, a timeout, or the backend's exit.
   */
  call(method: string, params?: unknown, options: CallOptions = {}): Promise<unknown> {
    if (typeof method !== "string" || method === "") {
      return Promise.reject(new BackendCallError("invalid", "Cannot call a method without a name"));
    }
    if (this.#stopping) {
      return Promise.reject(
        new BackendCallError("stopped", `Cannot call ${method}: the backend is stopping`),
      );
    }
    if (this.#failed !== undefined) {
      return Promise.reject(
        new BackendCallError("exited", `Cannot call ${method}: ${this.#failed}`),
      );
    }
    const id = `h${this.#nextId++}`;
    let line: string;
    try {
      line = JSON.stringify({ id, method, params: params ?? null }) + "\n";
    } catch (error) {
      return Promise.reject(
        new BackendCallError("invalid", `Cannot encode the params of ${method}: ${error}`),
      );
    }
    const timeoutMs = options.timeoutMs ?? this.#options.callTimeoutMs ?? 30000;
    return new Promise((resolve, reject) => {
      const pending: Pending = { method, resolve, reject, timer: undefined, line };
      if (timeoutMs > 0 && Number.isFinite(timeoutMs)) {
        pending.timer = setTimeout(() => {
          this.#pending.delete(id);
          reject(
            new BackendCallError(
              "timeout",
              `Cannot call ${method}: no answer from the backend within ${timeoutMs} ms`,
            ),
          );
        }, timeoutMs);
      }
      this.#pending.set(id, pending);
      this.#send(line);
      this.#log.debug(`call ${id} ${method}`);
    });
  }

  /**
   * Sets (or, with undefined, removes) the handler of the backend's own
   * requests, replacing the onRequest option: a frontend installs its plugins
   * here once the host is running.
   *
   * @param handler Answers the backend's requests; throw to answer ok=false.
   */
  setRequestHandler(handler: HostRequestHandler | undefined): void {
    if (handler) this.#options.onRequest = handler;
    else delete this.#options.onRequest;
  }

  /**
   * Sends an event or a message the backend reads on stdin, unchanged (for bridges).
   *
   * @param message A JSON-serializable object.
   */
  notify(message: Record<string, unknown>): void {
    this.#send(JSON.stringify(message) + "\n");
  }

  /**
   * Stops the backend: closes its stdin and sends SIGTERM to its process group,
   * then SIGKILL after the grace period; resolves when the group is gone.
   * Calls still in flight fail.
   */
  async stop(): Promise<void> {
    this.#stopping = true;
    if (this.#restartTimer) clearTimeout(this.#restartTimer);
    if (this.#stableTimer) clearTimeout(this.#stableTimer);
    this.#restartTimer = undefined;
    const child = this.#child;
    this.#failAll("stopped", "the backend was stopped");
    if (!child || child.pid === undefined) return;
    const pgid = child.pid;
    const grace = this.#options.shutdownGraceMs ?? 3000;
    const exited = child.exitCode !== null || child.signalCode !== null
      ? Promise.resolve()
      : new Promise<void>((resolve) => this.#exitWaiters.push(resolve));
    try {
      child.stdin?.end();
    } catch { /* already closed */ }
    signalGroup(pgid, "SIGTERM");
    const deadline = Date.now() + grace;
    const timedOut = await Promise.race([
      exited.then(() => false),
      sleep(grace).then(() => true),
    ]);
    if (timedOut) {
      this.#log.warn(`backend did not stop within ${grace} ms of SIGTERM; sending SIGKILL`);
      signalGroup(pgid, "SIGKILL");
      await exited;
    }
    // Children of the backend that ignored SIGTERM: wait out the grace, then kill.
    while (groupAlive(pgid) && Date.now() < deadline) await sleep(20);
    if (groupAlive(pgid)) {
      this.#log.debug(`killing what is left of process group ${pgid}`);
      signalGroup(pgid, "SIGKILL");
    }
  }

  #send(line: string): void {
    const child = this.#child;
    if (child && child.stdin && !child.stdin.destroyed && child.exitCode === null) {
      child.stdin.write(line);
    } else {
      this.#queue.push(line);
    }
  }

  async #spawn(): Promise<void> {
    const launch = typeof this.#options.launch === "function"
      ? await this.#options.launch()
      : this.#options.launch;
    const generation = ++this.#generation;
    this.#ready = undefined;
    this.#stderrTail = [];
    this.#log.debug(
      `starting backend: ${launch.command} ${launch.args.join(" ")} (cwd ${launch.cwd})`,
    );
    const child = spawn(launch.command, launch.args, {
      cwd: launch.cwd,
      env: launch.env,
      stdio: ["pipe", "pipe", "pipe"],
      detached: true, // its own process group, so stop() reaches what it starts
    });
    this.#child = child;
    await new Promise<void>((resolve, reject) => {
      child.once("spawn", () => resolve());
      child.once("error", (error) => {
        if (this.#child === child) this.#child = undefined;
        reject(
          new Error(
            `Cannot start the Python backend "${launch.command}": ${(error as Error).message}`,
          ),
        );
      });
    });
    child.stdin!.on("error", () => {/* EPIPE after an exit; the exit handler reports it */});
    this.#readLines(child.stdout!, (line) => this.#onStdoutLine(line));
    const stderrEnded = new Promise<void>((resolve) => child.stderr!.once("end", resolve));
    this.#readLines(child.stderr!, (line) => this.#onStderrLine(line));
    child.once("exit", (code, signal) => {
      // Let the last lines of stderr arrive (they name the cause of a crash);
      // a grandchild holding the pipe open must not delay the restart for long.
      void Promise.race([stderrEnded, sleep(STDERR_SETTLE_MS)]).then(() =>
        this.#onExit(child, generation, code, signal)
      );
    });
    for (const line of this.#queue.splice(0)) child.stdin!.write(line);
    if (this.#stableTimer) clearTimeout(this.#stableTimer);
    this.#stableTimer = setTimeout(() => {
      this.#restarts = 0;
    }, this.#options.stableAfterMs ?? 10000);
    this.#unrefTimer(this.#stableTimer);
  }

  #readLines(stream: NodeJS.ReadableStream, onLine: (line: string) => void): void {
    let chunks: Uint8Array[] = [];
    stream.on("data", (chunk: Uint8Array) => {
      let start = 0;
      let index = chunk.indexOf(NEWLINE, start);
      while (index !== -1) {
        const piece = chunk.subarray(start, index);
        let bytes: Uint8Array;
        if (chunks.length === 0) bytes = piece;
        else {
          chunks.push(piece);
          bytes = Buffer.concat(chunks);
          chunks = [];
        }
        onLine(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("utf8"));
        start = index + 1;
        index = chunk.indexOf(NEWLINE, start);
      }
      if (start < chunk.length) chunks.push(chunk.subarray(start));
    });
    stream.on("end", () => {
      if (chunks.length > 0) onLine(Buffer.concat(chunks).toString("utf8"));
      chunks = [];
    });
  }

  #onStdoutLine(raw: string): void {
    const line = raw.endsWith("\r") ? raw.slice(0, -1) : raw;
    if (line.trim() === "") return;
    let message: unknown;
    try {
      message = JSON.parse(line);
    } catch {
      this.#nonProtocol(line);
      return;
    }
    if (typeof message !== "object" || message === null || Array.isArray(message)) {
      this.#nonProtocol(line);
      return;
    }
    const m = message as Record<string, unknown>;
    if (typeof m["event"] === "string" && !("id" in m)) {
      this.#onEvent(m["event"], m["data"]);
      return;
    }
    const id = m["id"];
    if ((typeof id === "string" || typeof id === "number") && typeof m["ok"] === "boolean") {
      const pending = this.#pending.get(String(id));
      if (!pending) {
        this.#log.warn(`backend answered unknown or expired call id ${JSON.stringify(id)}`);
        return;
      }
      this.#pending.delete(String(id));
      if (pending.timer) clearTimeout(pending.timer);
      this.#log.debug(`answer ${id} ${pending.method} ok=${m["ok"]}`);
      if (m["ok"]) pending.resolve(m["result"]);
      else {
        const error = m["error"];
        const text = typeof error === "string" ? error : JSON.stringify(error ?? "unknown error");
        pending.reject(new BackendCallError("error", text));
      }
      return;
    }
    if ((typeof id === "string" || typeof id === "number") && typeof m["method"] === "string") {
      void this.#answerBackend(id, m["method"], m["params"]);
      return;
    }
    this.#nonProtocol(line);
  }

  async #answerBackend(id: string | number, method: string, params: unknown): Promise<void> {
    let answer: Record<string, unknown>;
    const handler = this.#options.onRequest;
    if (!handler) {
      answer = { id, ok: false, error: `The host has no method ${JSON.stringify(method)}` };
    } else {
      try {
        answer = { id, ok: true, result: (await handler(method, params)) ?? null };
      } catch (error) {
        answer = { id, ok: false, error: error instanceof Error ? error.message : String(error) };
      }
    }
    this.#send(JSON.stringify(answer) + "\n");
  }

  #nonProtocol(line: string): void {
    const shown = line.length > 200 ? `${line.slice(0, 200)}… (${line.length} chars)` : line;
    this.#log.warn(`backend wrote a line to stdout that is not protocol (log to stderr): ${shown}`);
  }

  #onStderrLine(line: string): void {
    this.#stderrTail.push(line);
    if (this.#stderrTail.length > STDERR_TAIL_LINES) this.#stderrTail.shift();
    this.#log.passthrough(line);
  }

  #onEvent(event: string, data: unknown): void {
    if (event === "pbundle.ready" && typeof data === "object" && data !== null) {
      const d = data as Record<string, unknown>;
      const ready: BackendReady = {
        methods: Array.isArray(d["methods"]) ? d["methods"].map(String) : [],
        pid: typeof d["pid"] === "number" ? d["pid"] : this.#child?.pid ?? 0,
      };
      if (typeof d["python"] === "string") ready.python = d["python"];
      this.#ready = ready;
      this.#log.debug(`backend ready (pid ${ready.pid}): ${ready.methods.join(", ")}`);
      for (const waiter of this.#readyWaiters.splice(0)) waiter(ready);
      data = ready;
    }
    this.#dispatch(event, data);
  }

  #dispatch(event: string, data: unknown): void {
    for (const listener of this.#listeners) {
      try {
        listener(event, data);
      } catch (error) {
        this.#log.error(`event listener failed on ${event}: ${error}`);
      }
    }
  }

  #onExit(
    child: ChildProcess,
    generation: number,
    code: number | null,
    signal: NodeJS.Signals | null,
  ): void {
    if (this.#child === child) this.#child = undefined;
    for (const waiter of this.#exitWaiters.splice(0)) waiter();
    if (generation !== this.#generation || this.#stopping) return;
    if (this.#stableTimer) clearTimeout(this.#stableTimer);
    const how = signal ? `was killed by ${signal}` : `exited with status ${code}`;
    const tail = this.#stderrTail.slice(-5).join(" | ");
    if (code === ENTRY_FAILED_STATUS && !this.#ready) {
      // The bootstrap could not import or find the entry point: a restart would fail the same way.
      const cause = this.#stderrTail.findLast((l) => l.includes(ENTRY_FAILED_MARK));
      this.#failed = `the Python backend ${how} before it was ready, not restarting: ${
        cause ? cause.slice(cause.indexOf(ENTRY_FAILED_MARK) + ENTRY_FAILED_MARK.length) : tail
      }`;
      this.#log.error(`Cannot start the backend: ${this.#failed}`);
      this.#failAll("exited", this.#failed);
      this.#dispatch("pbundle.backend_failed", { restarts: this.#restarts, message: this.#failed });
      return;
    }
    this.#failAll("exited", `the Python backend ${how}`);
    if (this.#restarts >= (this.#options.maxRestarts ?? 5)) {
      this.#failed = `the Python backend ${how} and was restarted ${this.#restarts} times; ` +
        `giving up${tail ? ` (its last output: ${tail})` : ""}`;
      this.#log.error(`Cannot keep the backend running: ${this.#failed}`);
      this.#queue = [];
      this.#dispatch("pbundle.backend_failed", { restarts: this.#restarts, message: this.#failed });
      return;
    }
    const delay = Math.min(
      (this.#options.restartBackoffMs ?? 200) * 2 ** this.#restarts,
      MAX_BACKOFF_MS,
    );
    this.#restarts++;
    this.#log.warn(`backend ${how}; restarting in ${delay} ms (restart ${this.#restarts})`);
    this.#dispatch("pbundle.backend_exited", { code, signal, restartInMs: delay });
    this.#restartTimer = setTimeout(() => {
      this.#restartTimer = undefined;
      if (this.#stopping) return;
      this.#spawn().then(
        () =>
          this.#dispatch("pbundle.backend_restarted", {
            attempt: this.#restarts,
            pid: this.#child?.pid,
          }),
        (error) => {
          this.#failed = (error as Error).message;
          this.#log.error(this.#failed);
          this.#failAll("exited", this.#failed);
          this.#dispatch("pbundle.backend_failed", {
            restarts: this.#restarts,
            message: this.#failed,
          });
        },
      );
    }, delay);
  }

  #failAll(kind: BackendCallError["kind"], why: string): void {
    for (const [id, pending] of this.#pending) {
      this.#pending.delete(id);
      if (pending.timer) clearTimeout(pending.timer);
      pending.reject(new BackendCallError(kind, `Cannot call ${pending.method}: ${why}`));
    }
    this.#queue = [];
  }

  #unrefTimer(timer: ReturnType<typeof setTimeout>): void {
    const t = timer as unknown as { unref?: () => void };
    t.unref?.();
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function signalGroup(pgid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pgid, signal);
  } catch { /* the group is gone */ }
}

function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch {
    return false;
  }
}
