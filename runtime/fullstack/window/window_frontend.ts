/**
 * The window frontend of a full-stack app: serves the frontend directory on
 * 127.0.0.1 with the bridge injected, opens it in an app window (a Chromium-
 * family browser in app mode with its own profile; else the default browser
 * through xdg-open), forwards the backend's events to the page and answers
 * the backend's plugin requests. The app ends when the window closes, or on
 * SIGINT/SIGTERM. Headless (PBUNDLE_HEADLESS=1, or the headless option) prints
 * the address and serves until a signal, for servers and tests.
 *
 * Environment: PBUNDLE_HEADLESS=1 (no window), BROWSER (the browser to use),
 * PBUNDLE_BROWSER_FLAGS (extra browser flags, space-separated), XDG_DATA_HOME
 * (where profiles live). Engine-neutral (node: built-ins only).
 *
 * @module
 */

import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { isAbsolute, join, resolve } from "node:path";
import process from "node:process";
import type { FullstackDocument } from "../document.ts";
import type { Frontend, FrontendContext } from "../host.ts";
import {
  chromiumArgs,
  findBrowser,
  findDesktopProgram,
  type FoundBrowser,
  makePrivateDir,
  openWith,
  profileDirOf,
  profileHolder,
  releaseProfileLock,
  screenSize,
  startBrowser,
} from "./app_browser.ts";
import { type AppServer, startAppServer } from "./app_server.ts";
import type { BridgeConfig } from "./bridge_script.ts";
import { DEFAULT_PLUGIN_SETTINGS, HostPlugins, type PluginSettings } from "./host_plugins.ts";

/** Options for {@linkcode createWindowFrontend}. */
export interface WindowFrontendOptions {
  /**
   * Serve without opening a window: print the address and serve until a signal.
   * @default {true when PBUNDLE_HEADLESS is 1, true or yes}
   */
  headless?: boolean;
  /**
   * Where the headless mode prints the address (one line).
   * @default a writer to stdout
   */
  print?: (line: string) => void;
  /** The browser; found with BROWSER and PATH by default. Null: none (use the opener). */
  browser?: FoundBrowser | null;
  /**
   * Without a window of our own (xdg-open), the app ends this long after its
   * last page went away.
   * @default 10000
   */
  pageGoneMs?: number;
}

/**
 * Creates the window frontend.
 *
 * @param options Headless mode, printer, browser.
 * @returns The frontend, for runFullstack's frontend option.
 * @example Serve headless
 * ```ts ignore
 * import { runFullstack } from "@pbundle/pbundle";
 * import { createWindowFrontend } from "./window_frontend.ts";
 * const status = await runFullstack(ctx, { frontend: createWindowFrontend({ headless: true }) });
 * ```
 */
export function createWindowFrontend(options: WindowFrontendOptions = {}): Frontend {
  return (context) => runWindow(context, options);
}

/** The window frontend with its defaults (PBUNDLE_HEADLESS, BROWSER). */
export const windowFrontend: Frontend = createWindowFrontend();

/**
 * The [plugins] settings of a document (absent in documents written before
 * plugins existed: the defaults).
 *
 * @param doc The document.
 * @returns The settings.
 */
export function pluginSettingsOf(doc: FullstackDocument): PluginSettings {
  const given: Partial<PluginSettings> = doc.plugins ?? {};
  return {
    shell: given.shell ?? DEFAULT_PLUGIN_SETTINGS.shell,
    process: given.process ?? DEFAULT_PLUGIN_SETTINGS.process,
    processAllow: [...(given.processAllow ?? DEFAULT_PLUGIN_SETTINGS.processAllow)],
  };
}

async function runWindow(
  context: FrontendContext,
  options: WindowFrontendOptions,
): Promise<number> {
  const { host, doc, appDir, ctx, log, stopRequested } = context;
  const env = ctx.env;
  const headless = options.headless ?? /^(1|true|yes)$/i.test(env["PBUNDLE_HEADLESS"] ?? "");
  const print = options.print ?? ((line: string) => void process.stdout.write(line + "\n"));
  const cwd = env["OWD"] ?? process.cwd();
  let server: AppServer | undefined;
  const plugins = new HostPlugins({
    settings: pluginSettingsOf(doc),
    emit: (event, data) => server?.broadcast(event, data),
    env,
    cwd,
    log,
  });
  host?.setRequestHandler((method, params) => {
    if (HostPlugins.isPluginMethod(method)) return plugins.call(method, params);
    throw new Error(`The host has no method ${JSON.stringify(method)}`);
  });
  const cleanups: Array<() => void | Promise<void>> = [];
  try {
    let url: string;
    if (doc.url) {
      url = doc.url;
      log.debug(`[app] url: opening ${url}; a remote page gets no window.auroraview bridge`);
    } else if (doc.frontend) {
      const frontendDir = isAbsolute(doc.frontend) ? doc.frontend : resolve(appDir, doc.frontend);
      server = await startAppServer({
        frontendDir,
        log,
        reusableLaunch: headless,
        // A page that connects after the host gave up on the backend still learns why.
        onConnect: (send) => {
          if (host?.failure !== undefined) {
            send("pbundle.backend_failed", { restarts: host.restarts, message: host.failure });
          }
        },
        call: (method, params) => {
          if (HostPlugins.isPluginMethod(method)) return plugins.call(method, params);
          if (!host) {
            return Promise.reject(
              new Error(
                `Cannot call ${method}: this app has no Python backend ([python] enabled = false)`,
              ),
            );
          }
          return host.call(method, params);
        },
        bridgeConfig: () => bridgeConfigOf(context),
      });
      const unsubscribe = host?.on((event, data) => server?.broadcast(event, data));
      if (unsubscribe) cleanups.push(unsubscribe);
      url = server.launchUrl;
    } else {
      log.error(`Cannot open a window for "${doc.name}": [app] has neither frontend_path nor url`);
      return 1;
    }

    if (headless) {
      print(url);
      log.info(
        server
          ? `serving "${doc.title}" at ${server.origin} until interrupted (headless)`
          : `"${doc.title}" shows ${url}; running until interrupted (headless)`,
      );
      return await stopRequested;
    }

    if (!env["DISPLAY"] && !env["WAYLAND_DISPLAY"]) {
      log.warn(
        "Cannot open a window: no display (DISPLAY and WAYLAND_DISPLAY are unset); " +
          "serving until interrupted at:",
      );
      print(url);
      return await stopRequested;
    }
    const browser = options.browser === undefined ? findBrowser(env) : options.browser;
    if (browser?.kind === "chromium") {
      const status = await runAppWindow(context, browser, url, server, cleanups);
      if (status !== undefined) return status;
      // The browser could not show the page: fall through to the default browser.
    }
    const opener = browser?.kind === "other" ? browser.path : findDesktopProgram("xdg-open", env);
    if (!opener) {
      log.warn(
        "Cannot open a window: no Chromium-family browser (chromium, google-chrome, microsoft-edge, brave) " +
          "on PATH or in BROWSER, and no xdg-open; serving until interrupted at:",
      );
      print(url);
      return await stopRequested;
    }
    log.debug(`opening ${server?.origin ?? url} with ${opener}`);
    const code = await openWith(opener, url, browserEnv(env));
    if (code !== 0) {
      log.warn(
        `Cannot open a window: ${opener} exited with status ${code}; serving until interrupted at:`,
      );
      print(url);
      return await stopRequested;
    }
    if (!server) return await stopRequested; // a remote page: nothing tells us it closed
    return await Promise.race([stopRequested, pageGone(server, options.pageGoneMs ?? 10000)]);
  } finally {
    host?.setRequestHandler(undefined);
    for (const cleanup of cleanups.reverse()) {
      try {
        await cleanup();
      } catch (error) {
        log.debug(`cleanup failed: ${error}`);
      }
    }
    await plugins.stop();
    await server?.close();
  }
}

/**
 * Runs the Chromium app window and resolves with the app's status when the
 * window closes, or undefined when the browser failed before the page loaded.
 */
async function runAppWindow(
  context: FrontendContext,
  browser: FoundBrowser,
  url: string,
  server: AppServer | undefined,
  cleanups: Array<() => void | Promise<void>>,
): Promise<number | undefined> {
  const { doc, ctx, log, stopRequested } = context;
  const env = ctx.env;
  const win = windowSettings(doc);
  explainLimits(doc, env, log);
  let profile = profileDirOf(env, doc.name);
  const holder = profileHolder(profile);
  if (holder !== undefined) {
    log.debug(`the profile "${profile}" is in use by process ${holder}; using a temporary profile`);
    profile = mkdtempSync(join(tmpdir(), `pbundle-profile-${doc.name}-`));
    const temporary = profile;
    cleanups.push(() => rmSync(temporary, { recursive: true, force: true }));
  }
  makePrivateDir(profile);
  const screen = win.center ? screenSize(env) : undefined;
  const args = chromiumArgs({
    url,
    profileDir: profile,
    name: doc.name,
    width: win.width,
    height: win.height,
    ...(screen
      ? {
        position: {
          x: Math.max(0, Math.round((screen.width - win.width) / 2)),
          y: Math.max(0, Math.round((screen.height - win.height) / 2)),
        },
      }
      : {}),
    devtools: doc.debug.devtools,
    allowNewWindow: doc.allowNewWindow,
    extraFlags: (env["PBUNDLE_BROWSER_FLAGS"] ?? "").split(/\s+/).filter((f) => f !== ""),
  });
  log.debug(`window: ${browser.path} ${args.join(" ").replace(/token=[\w-]+/, "token=…")}`);
  const started = await startBrowser(browser.path, args, browserEnv(env), {
    passthrough: (line) => log.debug(`browser: ${line}`),
  });
  const stopBrowser = () => started.stop();
  cleanups.push(async () => {
    await stopBrowser();
    releaseProfileLock(profile);
  });
  if (win.alwaysOnTop) keepOnTop(doc.name, env, server, log, cleanups);
  const outcome = await Promise.race([
    started.exited.then((code) => ({ closed: code })),
    stopRequested.then((status) => ({ stopped: status })),
  ]);
  if ("stopped" in outcome) return outcome.stopped;
  if (server && !server.launched && outcome.closed !== 0) {
    log.warn(
      `Cannot open the app window: ${browser.path} exited with status ${outcome.closed} before the page loaded` +
        `${started.stderrTail() ? ` (${started.stderrTail()})` : ""}; trying the default browser`,
    );
    return undefined;
  }
  log.debug(`the window closed (browser status ${outcome.closed}); ending the app`);
  return 0;
}

interface WindowSettings {
  width: number;
  height: number;
  minWidth: number | null;
  minHeight: number | null;
  center: boolean;
  alwaysOnTop: boolean;
}

function windowSettings(doc: FullstackDocument): WindowSettings {
  const w = doc.window;
  const num = (v: unknown, d: number | null) => (typeof v === "number" && v > 0 ? v : d);
  return {
    width: num(w["width"], 1280)!,
    height: num(w["height"], 720)!,
    minWidth: num(w["minWidth"] ?? w["min_width"], null),
    minHeight: num(w["minHeight"] ?? w["min_height"], null),
    center: (w["startPosition"] ?? w["start_position"] ?? "center") === "center",
    alwaysOnTop: (w["alwaysOnTop"] ?? w["always_on_top"]) === true,
  };
}

/** Says once, in verbose mode, which [window] settings the browser window cannot honour. */
function explainLimits(
  doc: FullstackDocument,
  env: Record<string, string>,
  log: FrontendContext["log"],
): void {
  const w = doc.window;
  const notes: string[] = [];
  if (w["frameless"] === true) {
    notes.push("frameless = true (a browser app window always has its frame)");
  }
  if (w["transparent"] === true) notes.push("transparent = true (a browser window is opaque)");
  if (w["resizable"] === false) {
    notes.push("resizable = false (a browser window can always be resized)");
  }
  const win = windowSettings(doc);
  if (win.minWidth || win.minHeight) {
    notes.push(
      "min_width/min_height are kept by resizing the window back from the page (best effort)",
    );
  }
  if (win.alwaysOnTop && !(env["DISPLAY"] && findDesktopProgram("wmctrl", env))) {
    notes.push("always_on_top = true needs wmctrl on X11");
  }
  if (win.center && !(env["DISPLAY"] && findDesktopProgram("xrandr", env))) {
    notes.push(
      'start_position = "center" needs xrandr on X11 (the window manager places the window)',
    );
  }
  if (notes.length > 0) {
    log.debug(`[window] settings the app window cannot apply: ${notes.join("; ")}`);
  }
}

/** Asks the window manager to keep the window above others once the page is up (wmctrl, X11). */
function keepOnTop(
  name: string,
  env: Record<string, string>,
  server: AppServer | undefined,
  log: FrontendContext["log"],
  cleanups: Array<() => void | Promise<void>>,
): void {
  const wmctrl = env["DISPLAY"] ? findDesktopProgram("wmctrl", env) : undefined;
  if (!wmctrl) return;
  const apply = () => {
    void openWithArgs(wmctrl, ["-x", "-r", name, "-b", "add,above"], env).then((code) =>
      log.debug(`always_on_top: wmctrl exited with ${code}`)
    );
  };
  if (!server) {
    const timer = setTimeout(apply, 2000);
    cleanups.push(() => clearTimeout(timer));
    return;
  }
  const stop = server.onConnections((count) => {
    if (count > 0) {
      stop();
      apply();
    }
  });
  cleanups.push(stop);
}

function openWithArgs(
  program: string,
  args: string[],
  env: Record<string, string>,
): Promise<number> {
  return new Promise((done) => {
    const child = spawn(program, args, { env, stdio: "ignore" });
    child.once("error", () => done(-1));
    child.once("exit", (code) => done(code ?? -1));
  });
}

async function bridgeConfigOf(context: FrontendContext): Promise<BridgeConfig> {
  const { host, doc } = context;
  const win = windowSettings(doc);
  let methods: string[] = [];
  let backend: unknown = null;
  if (host) {
    const ready = await host.waitReady(5000);
    backend = ready ?? null;
    methods = ready?.methods ?? [];
    try {
      const listed = await host.call("pbundle.methods", null, { timeoutMs: 2000 });
      if (Array.isArray(listed)) methods = listed.map(String);
    } catch (error) {
      context.log.debug(`the backend did not list its methods (pbundle.methods): ${error}`);
    }
  }
  return {
    methods,
    backend,
    title: doc.title,
    allowNewWindow: doc.allowNewWindow,
    minWidth: win.minWidth,
    minHeight: win.minHeight,
  };
}

/** Resolves with 0 once the server has had no page for ms (after having had one). */
function pageGone(server: AppServer, ms: number): Promise<number> {
  return new Promise((resolveGone) => {
    let timer: ReturnType<typeof setTimeout> | undefined;
    let seen = server.connections > 0;
    server.onConnections((count) => {
      if (count > 0) {
        seen = true;
        if (timer) clearTimeout(timer);
        timer = undefined;
      } else if (seen && !timer) {
        timer = setTimeout(() => resolveGone(0), ms);
      }
    });
  });
}

function browserEnv(env: Record<string, string>): Record<string, string> {
  const out = { ...env };
  delete out["AURORAVIEW_PACKED"];
  return out;
}
