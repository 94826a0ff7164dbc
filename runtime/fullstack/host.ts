/**
 * The full-stack host: the runtime calls {@linkcode runFullstack} when the
 * image holds `.pbundle/fullstack.json`. It starts the Python backend with the
 * document's environment, keeps it running (restarts with backoff), hands it to
 * a frontend, and stops it (SIGTERM, then SIGKILL) when the app ends.
 *
 * Frontends: this module has the stdio frontend (JSON lines on the bundle's own
 * stdin/stdout: the same protocol, forwarded, plus the backend's events), which
 * scripts and tests use; the window frontend (browser window + bridge) plugs in
 * through {@linkcode RunFullstackOptions.frontend}. Engine-neutral (node:
 * built-ins only).
 *
 * @module
 */

import process from "node:process";
import { BackendCallError, BackendHost } from "./backend_host.ts";
import { type FullstackDocument, readFullstackDocument, resolveBackendLaunch } from "./document.ts";
import { createLogger, type Logger, logLevelFrom } from "./log.ts";
import { windowFrontend } from "./window/window_frontend.ts";

export { BackendCallError, BackendHost } from "./backend_host.ts";
export type { BackendLaunch, BackendReady, HostRequestHandler } from "./backend_host.ts";
export { FULLSTACK_MARKER, FullstackError, readFullstackDocument } from "./document.ts";
export type { FullstackDocument } from "./document.ts";

/** What the runtime hands the host. */
export interface FullstackContext {
  /** The mounted or extracted AppDir. */
  appDir: string;
  /** The environment prepared by the runtime (APPDIR, SELF, portable HOME...). */
  env: Record<string, string>;
  /** The bundle's arguments, verbatim; passed on to the backend. */
  args: string[];
  /** The bundle's runtime info. */
  runtimeInfo: Record<string, unknown>;
}

/** Everything a frontend gets. */
export interface FrontendContext {
  /** The running backend host, or undefined when [python] enabled = false. */
  host: BackendHost | undefined;
  /** The document. */
  doc: FullstackDocument;
  /** The AppDir. */
  appDir: string;
  /** The runtime's context. */
  ctx: FullstackContext;
  /** The logger. */
  log: Logger;
  /** Resolves when the host is asked to stop (a signal); the frontend should then return. */
  stopRequested: Promise<number>;
}

/** A frontend: shows the app and resolves with the exit status when the app ends. */
export type Frontend = (context: FrontendContext) => Promise<number>;

/** Options for {@linkcode runFullstack}. */
export interface RunFullstackOptions {
  /**
   * The frontend. Without one, PBUNDLE_FRONTEND picks it ("window" or "stdio");
   * the default is "window" for a packed app with a frontend or url, else "stdio".
   */
  frontend?: Frontend;
  /** Use this document instead of reading the AppDir's marker (`pbundle dev`). */
  document?: FullstackDocument;
  /** Where pbundle_backend lives when the AppDir has no .pbundle/python (`pbundle dev`). */
  supportDir?: string;
  /** The backend's working directory. @default the OWD variable, else the current directory */
  cwd?: string;
}

const SIGNALS = { SIGINT: 2, SIGTERM: 15, SIGHUP: 1 } as const;

/**
 * Runs a full-stack app from its AppDir and resolves with the exit status:
 * the frontend's, 128+N after signal N, 127 when the backend cannot be started.
 *
 * @param ctx The runtime's context.
 * @param options Frontend and document overrides.
 * @returns The exit status.
 * @example Host an extracted bundle
 * ```ts ignore
 * import { runFullstack } from "@pbundle/pbundle";
 * const status = await runFullstack({ appDir: "squashfs-root", env: { ...Deno.env.toObject() }, args: [], runtimeInfo: {} });
 * ```
 */
export async function runFullstack(
  ctx: FullstackContext,
  options: RunFullstackOptions = {},
): Promise<number> {
  let doc: FullstackDocument;
  try {
    doc = options.document ?? readFullstackDocument(ctx.appDir);
  } catch (error) {
    createLogger("pbundle").error((error as Error).message);
    return 127;
  }
  const log = createLogger(doc.name, { level: logLevelFrom(ctx.env, doc.debug.verbose) });
  log.debug(`full-stack app "${doc.title}" ${doc.appVersion} from "${ctx.appDir}"`);
  let host: BackendHost | undefined;
  if (doc.python) {
    const py = doc.python;
    const cwd = options.cwd ?? ctx.env["OWD"] ?? process.cwd();
    let launch;
    try {
      launch = resolveBackendLaunch(doc, ctx.appDir, ctx.env, {
        args: ctx.args,
        cwd,
        ...(options.supportDir ? { supportDir: options.supportDir } : {}),
      });
    } catch (error) {
      log.error((error as Error).message);
      return 127;
    }
    log.debug(`backend PYTHONPATH=${launch.env["PYTHONPATH"]}`);
    log.debug(`backend PATH=${launch.env["PATH"]}`);
    host = new BackendHost({
      launch,
      log,
      callTimeoutMs: py.process.callTimeoutMs,
      maxRestarts: py.process.maxRestarts,
      restartBackoffMs: py.process.restartBackoffMs,
      shutdownGraceMs: py.process.shutdownGraceMs,
    });
    try {
      await host.start();
    } catch (error) {
      log.error((error as Error).message);
      return 127;
    }
  }

  let requestStop: (status: number) => void = () => {};
  const stopRequested = new Promise<number>((resolve) => (requestStop = resolve));
  const handlers: Array<[string, () => void]> = [];
  for (const [name, number] of Object.entries(SIGNALS)) {
    const handler = () => {
      log.debug(`received ${name}; stopping`);
      requestStop(128 + number);
    };
    process.on(name, handler);
    handlers.push([name, handler]);
  }
  // Signal listeners do not keep Node's event loop alive: a frontend that only
  // waits for a stop request (headless, a remote [app] url, no display) would
  // let the process exit at once with its promise unsettled. This timer holds
  // the loop open until the app ends.
  const keepAlive = setInterval(() => {}, KEEP_ALIVE_MS);
  const frontend = options.frontend ?? pickFrontend(ctx.env, log, doc);
  const running =
    (async () => await frontend({ host, doc, appDir: ctx.appDir, ctx, log, stopRequested }))();
  let status: number;
  try {
    status = await Promise.race([running, stopRequested]);
  } catch (error) {
    log.error(`the frontend failed: ${(error as Error).message}`);
    status = 1;
  } finally {
    // A stop request settles the race at once; the frontend still has to close
    // its window and server before the backend stops and the process exits, or
    // the browser would outlive the app.
    await settledWithin(
      running,
      FRONTEND_STOP_MS,
      () => log.warn(`the frontend did not stop within ${FRONTEND_STOP_MS} ms; leaving it`),
    );
    for (const [name, handler] of handlers) process.off(name, handler);
    await host?.stop();
    clearInterval(keepAlive);
  }
  return status;
}

/** The period of the timer that keeps the event loop alive while the app runs (it does nothing). */
const KEEP_ALIVE_MS = 1 << 30;

/** How long a frontend may take to close its window after a stop request. */
const FRONTEND_STOP_MS = 10_000;

/** Waits until a promise settles or the time passes (then calls onTimeout). */
async function settledWithin(
  promise: Promise<unknown>,
  ms: number,
  onTimeout: () => void,
): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const settled = await Promise.race([
    promise.then(() => true, () => true),
    new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), ms))),
  ]);
  clearTimeout(timer);
  if (!settled) onTimeout();
}

function pickFrontend(env: Record<string, string>, log: Logger, doc: FullstackDocument): Frontend {
  // A packed app with a frontend or a url opens its window (runtime/fullstack/window/).
  const name = env["PBUNDLE_FRONTEND"] ??
    (doc.packed && (doc.frontend || doc.url) ? "window" : "stdio");
  if (name === "window") return windowFrontend;
  if (name !== "stdio") {
    log.warn(`PBUNDLE_FRONTEND=${name} is unknown (window, stdio); using stdio`);
  }
  return stdioFrontend;
}

/**
 * The stdio frontend: each line on stdin is a request {"id","method","params"}
 * forwarded to the backend; answers {"id","ok",...} and events {"event","data"}
 * are written to stdout, one per line. Ends with 0 when stdin closes, 127 when
 * the backend cannot be kept running.
 *
 * @param context The frontend context.
 * @returns The exit status.
 */
export function stdioFrontend(context: FrontendContext): Promise<number> {
  const { host, log } = context;
  return new Promise((resolve) => {
    const write = (message: unknown) => {
      process.stdout.write(JSON.stringify(message) + "\n");
    };
    const unsubscribe = host?.on((event, data) => {
      write({ event, data });
      if (event === "pbundle.backend_failed") finish(127);
    });
    let inFlight = 0;
    let ended = false;
    let finished = false;
    const finish = (status: number) => {
      if (finished) return;
      finished = true;
      unsubscribe?.();
      process.stdin.off("data", onData);
      process.stdin.pause();
      resolve(status);
    };
    const maybeFinish = () => {
      if (ended && inFlight === 0) finish(0);
    };
    let buffered = "";
    const onLine = (line: string) => {
      if (line.trim() === "") return;
      let request: Record<string, unknown>;
      try {
        request = JSON.parse(line);
      } catch {
        log.warn(`ignoring a stdin line that is not JSON: ${line.slice(0, 200)}`);
        return;
      }
      const id = request["id"] ?? null;
      const method = request["method"];
      if (!host) {
        write({
          id,
          ok: false,
          error: "This app has no Python backend ([python] enabled = false)",
        });
        return;
      }
      if (typeof method !== "string") {
        write({ id, ok: false, error: "Invalid request: no method" });
        return;
      }
      inFlight++;
      host.call(method, request["params"]).then(
        (result) => write({ id, ok: true, result }),
        (error) =>
          write({
            id,
            ok: false,
            error: error instanceof BackendCallError ? error.message : String(error),
          }),
      ).finally(() => {
        inFlight--;
        maybeFinish();
      });
    };
    const onData = (chunk: string) => {
      buffered += chunk;
      let index = buffered.indexOf("\n");
      while (index !== -1) {
        onLine(buffered.slice(0, index));
        buffered = buffered.slice(index + 1);
        index = buffered.indexOf("\n");
      }
    };
    if (host?.failure !== undefined) {
      // The backend failed before this frontend subscribed (an import error at start).
      write({
        event: "pbundle.backend_failed",
        data: { restarts: host.restarts, message: host.failure },
      });
      finish(127);
      return;
    }
    process.stdin.setEncoding("utf8");
    process.stdin.on("data", onData);
    process.stdin.once("end", () => {
      if (buffered !== "") onLine(buffered);
      ended = true;
      maybeFinish();
    });
    context.stopRequested.then(finish);
  });
}
