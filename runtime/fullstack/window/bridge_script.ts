/**
 * The bridge script the app server injects into every HTML page of the
 * frontend: it defines `window.auroraview`, the page's way to the Python
 * backend and the host's plugins. Engine-neutral (node: built-ins only).
 *
 * ```js ignore
 * await auroraview.call("api.get_sample", { name: "colors.yaml" }); // -> the result
 * await auroraview.api.get_sample({ name: "colors.yaml" });        // the same, through the proxy
 * auroraview.on("count", (data) => console.log(data.value));        // events from Python
 * await auroraview.shell.open("https://example.com");               // plugins
 * const { id } = await auroraview.process.spawn("ls", ["-l"]);      // output arrives as
 * auroraview.on("process:stdout", ({ id, data }) => {});            // process:stdout/stderr/exit
 * ```
 *
 * @module
 */

/** Paths of the bridge's endpoints on the app server. */
export const BRIDGE_PATHS = {
  /** The bridge script. */
  script: "/__pbundle/bridge.js",
  /** POST {method, params} -> {ok, result} or {ok: false, error}. */
  call: "/__pbundle/call",
  /** The WebSocket carrying events to the page. */
  events: "/__pbundle/events",
  /** The one-time launch address that hands the page its session cookie. */
  launch: "/__pbundle/launch",
} as const;

/** What the page learns when the script is served. */
export interface BridgeConfig {
  /** The handlers the backend registered, e.g. ["api.echo", "api.info"]. */
  methods: string[];
  /** What the backend announced (pbundle.ready), or null. */
  backend: unknown;
  /** [app] title: set as the document's title (the window's) once the page is parsed. */
  title: string;
  /** [app] allow_new_window: false makes window.open and target=_blank links do nothing. */
  allowNewWindow: boolean;
  /** [window] min_width/min_height, applied best-effort by resizing back. */
  minWidth: number | null;
  /** See minWidth. */
  minHeight: number | null;
}

/**
 * Returns the bridge script's source for a page.
 *
 * @param config What the page should know.
 * @returns JavaScript source.
 * @example Serve the bridge
 * ```ts
 * import { bridgeScript } from "./bridge_script.ts";
 * const js = bridgeScript({
 *   methods: ["api.echo"], backend: null, title: "Demo", allowNewWindow: false,
 *   minWidth: null, minHeight: null,
 * });
 * if (!js.includes("window.auroraview")) throw new Error("no bridge");
 * ```
 */
export function bridgeScript(config: BridgeConfig): string {
  const json = JSON.stringify(config).replace(/</g, "\\u003c").replace(
    /\u2028|\u2029/g,
    (c) => c === "\u2028" ? "\\u2028" : "\\u2029",
  );
  return `// pbundle bridge: window.auroraview (generated; see runtime/fullstack/window/bridge_script.ts)
(() => {
  "use strict";
  if (window.auroraview) return;
  const config = ${json};
  const paths = ${JSON.stringify(BRIDGE_PATHS)};
  const listeners = new Map();
  let methods = config.methods.slice();
  let backend = config.backend;

  class AuroraViewError extends Error {
    constructor(message, method) {
      super(message);
      this.name = "AuroraViewError";
      this.method = method;
    }
  }

  async function call(method, params) {
    if (typeof method !== "string" || method === "") {
      throw new AuroraViewError("Cannot call a method without a name", method);
    }
    let response;
    try {
      response = await fetch(paths.call, {
        method: "POST",
        credentials: "same-origin",
        cache: "no-store",
        headers: { "Content-Type": "application/json", "X-Pbundle-Bridge": "1" },
        body: JSON.stringify({ method, params: params === undefined ? null : params }),
      });
    } catch (error) {
      throw new AuroraViewError("Cannot call " + method + ": the app is not running (" +
        (error && error.message) + ")", method);
    }
    let answer;
    try {
      answer = await response.json();
    } catch {
      throw new AuroraViewError("Cannot call " + method + ": HTTP " + response.status, method);
    }
    if (answer && answer.ok) return answer.result;
    throw new AuroraViewError(String(answer && answer.error), method);
  }

  function dispatch(event, data) {
    for (const key of [event, "*"]) {
      const set = listeners.get(key);
      if (!set) continue;
      for (const callback of Array.from(set)) {
        try {
          if (key === "*") callback(event, data);
          else callback(data);
        } catch (error) {
          console.error("auroraview: listener for " + event + " failed", error);
        }
      }
    }
  }

  function on(event, callback) {
    if (typeof callback !== "function") throw new TypeError("auroraview.on needs a callback");
    if (!listeners.has(event)) listeners.set(event, new Set());
    listeners.get(event).add(callback);
    return () => off(event, callback);
  }

  function off(event, callback) {
    const set = listeners.get(event);
    if (set) set.delete(callback);
  }

  function once(event, callback) {
    const stop = on(event, (data) => {
      stop();
      callback(data);
    });
    return stop;
  }

  // Events: one WebSocket, reconnected with backoff while the app runs.
  let socket;
  let retryMs = 100;
  let readyResolve;
  const connected = new Promise((resolve) => (readyResolve = resolve));
  function connect() {
    const url = (location.protocol === "https:" ? "wss://" : "ws://") + location.host + paths.events;
    socket = new WebSocket(url);
    socket.onopen = () => {
      retryMs = 100;
      readyResolve();
    };
    socket.onmessage = (message) => {
      let parsed;
      try {
        parsed = JSON.parse(message.data);
      } catch {
        return;
      }
      if (!parsed || typeof parsed.event !== "string") return;
      if (parsed.event === "pbundle.ready" && parsed.data) {
        backend = parsed.data;
        if (Array.isArray(parsed.data.methods)) methods = parsed.data.methods.slice();
      }
      dispatch(parsed.event, parsed.data);
    };
    socket.onclose = () => {
      setTimeout(connect, retryMs);
      retryMs = Math.min(retryMs * 2, 3000);
    };
  }

  // auroraview.api.NAME(...) calls "api.NAME": no arguments -> null, one plain object ->
  // keyword arguments, anything else -> positional arguments.
  function paramsOf(args) {
    if (args.length === 0) return null;
    const first = args[0];
    if (args.length === 1 && first !== null && typeof first === "object" && !Array.isArray(first)) {
      return first;
    }
    return args;
  }
  function apiName(method) {
    return method.startsWith("api.") ? method.slice(4) : method;
  }
  const api = new Proxy({}, {
    get(_target, name) {
      if (typeof name !== "string" || name === "then") return undefined;
      const method = methods.find((m) => apiName(m) === name) || "api." + name;
      return (...args) => call(method, paramsOf(args));
    },
    has(_target, name) {
      return methods.some((m) => apiName(m) === name);
    },
    ownKeys() {
      return methods.map(apiName);
    },
    getOwnPropertyDescriptor(_target, name) {
      if (!methods.some((m) => apiName(m) === name)) return undefined;
      return { enumerable: true, configurable: true, value: api[name] };
    },
  });

  function invoke(command, args) {
    return call(command.startsWith("plugin:") ? command : "plugin:" + command, args);
  }

  const bridge = {
    call,
    invoke,
    on,
    off,
    once,
    api,
    get backend() {
      return backend;
    },
    methods: () => methods.slice(),
    ready: connected,
    shell: {
      open: (target) => call("plugin:shell|open", { target }),
    },
    process: {
      spawn: (program, args, options) =>
        call("plugin:process|spawn", Object.assign({ program, args: args || [] }, options || {})),
      write: (id, data) => call("plugin:process|write", { id, data }),
      closeStdin: (id) => call("plugin:process|close_stdin", { id }),
      kill: (id, signal) => call("plugin:process|kill", { id, signal: signal || "SIGTERM" }),
      list: () => call("plugin:process|list", null),
    },
    AuroraViewError,
  };
  Object.defineProperty(window, "auroraview", { value: Object.freeze(bridge), enumerable: true });

  if (!config.allowNewWindow) {
    window.open = () => {
      console.warn("auroraview: this app does not open new windows ([app] allow_new_window = false)");
      return null;
    };
    document.addEventListener("click", (event) => {
      const link = event.target instanceof Element ? event.target.closest("a[target]") : null;
      if (link && link.target !== "_self" && link.target !== "_top" && link.target !== "_parent") {
        event.preventDefault();
        console.warn("auroraview: new windows are off ([app] allow_new_window = false)");
      }
    }, true);
  }
  if (config.minWidth || config.minHeight) {
    window.addEventListener("resize", () => {
      const w = Math.max(window.outerWidth, config.minWidth || 0);
      const h = Math.max(window.outerHeight, config.minHeight || 0);
      if (w !== window.outerWidth || h !== window.outerHeight) window.resizeTo(w, h);
    });
  }
  // [app] title is the window's title, as a WebView's is: it replaces the page's
  // own <title> once the page is parsed; a later change by the page stands.
  const setTitle = () => {
    if (config.title) document.title = config.title;
  };
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", setTitle);
  else setTitle();
  connect();
})();
`;
}
