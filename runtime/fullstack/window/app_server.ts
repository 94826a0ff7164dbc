/**
 * The app server: the frontend directory over HTTP on 127.0.0.1 (a free port),
 * the bridge script injected into its HTML pages, the bridge's call endpoint
 * and its event WebSocket. Engine-neutral (node:http and friends only).
 *
 * Who may talk to it: the page only. At launch the server makes a one-time
 * launch token and a session secret (32 random bytes each). The window opens
 * `/__pbundle/launch?token=LAUNCH`; that request gets the session secret as an
 * HttpOnly, SameSite=Strict cookie and a redirect to the page. Every other
 * request must carry the cookie, name this server in its Host header (no DNS
 * rebinding), and, when it says where it comes from (Origin, Sec-Fetch-Site),
 * come from the page's own origin; anything else is answered 403. The launch
 * token works once, so the address on the browser's command line (readable in
 * /proc) is worthless after the window has opened.
 *
 * @module
 */

import { Buffer } from "node:buffer";
import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import { createReadStream, type Stats } from "node:fs";
import { readFile, realpath, stat } from "node:fs/promises";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { extname, join, resolve, sep } from "node:path";
import type { Logger } from "../log.ts";
import { BRIDGE_PATHS, type BridgeConfig, bridgeScript } from "./bridge_script.ts";
import { contentTypeOf } from "./content_type.ts";
import { acceptWebSocket, type WebSocketConnection } from "./_websocket.ts";

/** Options for {@linkcode startAppServer}. */
export interface AppServerOptions {
  /** The directory served at /. */
  frontendDir: string;
  /** Answers the page's calls; a rejection's message becomes the page's error. */
  call: (method: string, params: unknown) => Promise<unknown>;
  /** What the bridge script tells the page; asked for each time the script is served. */
  bridgeConfig: () => Promise<BridgeConfig> | BridgeConfig;
  /** The logger. */
  log: Logger;
  /**
   * The port.
   * @default 0 (a free port)
   */
  port?: number;
  /**
   * Whether the launch address works more than once (headless servers: the
   * address is printed for a person to open).
   * @default false
   */
  reusableLaunch?: boolean;
  /**
   * Called for each page that connects for events, with a function that sends
   * an event to that page only: for state the page missed before it connected.
   */
  onConnect?: (send: (event: string, data: unknown) => void) => void;
}

/** A running app server. */
export interface AppServer {
  /** The page's origin, e.g. http://127.0.0.1:40123. */
  readonly origin: string;
  /** The address that opens the app: the launch path with its token. */
  readonly launchUrl: string;
  /** The port. */
  readonly port: number;
  /** Whether the launch address has been used (the page has loaded). */
  readonly launched: boolean;
  /** The number of pages connected for events. */
  readonly connections: number;
  /** Sends an event to every connected page. */
  broadcast(event: string, data: unknown): void;
  /** Calls listener with the number of connected pages whenever it changes. */
  onConnections(listener: (count: number) => void): () => void;
  /** Stops serving and drops every connection. */
  close(): Promise<void>;
}

const HOST = "127.0.0.1";
const MAX_CALL_BODY_BYTES = 64 * 1024 * 1024;
const HASHED_NAME = /[.-][0-9a-zA-Z_-]{8,}\.(?:js|mjs|css|woff2?|png|jpe?g|svg|webp|avif)$/;
const SECURITY_HEADERS: Record<string, string> = {
  "X-Content-Type-Options": "nosniff",
  "Referrer-Policy": "no-referrer",
  "Cross-Origin-Resource-Policy": "same-origin",
  "Cross-Origin-Opener-Policy": "same-origin",
  "X-Frame-Options": "SAMEORIGIN",
};

/**
 * Starts the app server on 127.0.0.1.
 *
 * @param options The frontend directory, the call handler, the bridge's configuration.
 * @returns The running server.
 * @throws {Error} When the port cannot be bound.
 * @example Serve a directory
 * ```ts ignore
 * import { startAppServer } from "./app_server.ts";
 * import { createLogger } from "../log.ts";
 * const server = await startAppServer({
 *   frontendDir: "frontend",
 *   call: async (method, params) => ({ method, params }),
 *   bridgeConfig: () => ({ methods: [], backend: null, title: "Demo", allowNewWindow: false, minWidth: null, minHeight: null }),
 *   log: createLogger("demo"),
 * });
 * console.log(server.launchUrl);
 * await server.close();
 * ```
 */
export async function startAppServer(options: AppServerOptions): Promise<AppServer> {
  const root = await realpath(resolve(options.frontendDir));
  const launchToken = randomBytes(32).toString("base64url");
  const secret = randomBytes(32).toString("base64url");
  let launchUsed = false;
  const sockets = new Set<WebSocketConnection>();
  const connectionListeners = new Set<(count: number) => void>();
  const log = options.log;
  let port = 0;
  let origin = "";
  let cookieName = "";

  const notifyConnections = () => {
    for (const listener of connectionListeners) listener(sockets.size);
  };

  const hasSession = (request: IncomingMessage): boolean => {
    const header = request.headers.cookie;
    if (!header) return false;
    for (const part of header.split(";")) {
      const eq = part.indexOf("=");
      if (eq < 0 || part.slice(0, eq).trim() !== cookieName) continue;
      if (sameSecret(part.slice(eq + 1).trim(), secret)) return true;
    }
    return false;
  };

  /** Host, Origin and Sec-Fetch-Site checks; returns why a request is refused, or "". */
  const refusal = (request: IncomingMessage): string => {
    if (request.headers.host !== `${HOST}:${port}`) return "foreign Host header";
    const from = request.headers.origin;
    if (from !== undefined && from !== origin) return "cross-origin request";
    const site = request.headers["sec-fetch-site"];
    if (site !== undefined && site !== "same-origin" && site !== "none") {
      return "cross-site request";
    }
    return "";
  };

  const server: Server = createServer((request, response) => {
    handle(request, response).catch((error) => {
      log.error(`app server: ${request.method} ${request.url} failed: ${error}`);
      if (!response.headersSent) plain(response, 500, "Internal error");
      else response.destroy();
    });
  });

  async function handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const url = new URL(request.url ?? "/", "http://invalid");
    const why = refusal(request);
    if (why) {
      log.debug(`app server: 403 ${request.method} ${url.pathname} (${why})`);
      return plain(response, 403, "Forbidden");
    }
    if (url.pathname === BRIDGE_PATHS.launch) return launch(request, response, url);
    if (!hasSession(request)) {
      log.debug(`app server: 403 ${request.method} ${url.pathname} (no session secret)`);
      return plain(response, 403, "Forbidden");
    }
    if (url.pathname === BRIDGE_PATHS.call) return await bridgeCall(request, response);
    if (request.method !== "GET" && request.method !== "HEAD") {
      response.setHeader("Allow", "GET, HEAD");
      return plain(response, 405, "Method not allowed");
    }
    if (url.pathname === BRIDGE_PATHS.script) {
      const body = Buffer.from(bridgeScript(await options.bridgeConfig()), "utf8");
      return send(request, response, 200, body, {
        "Content-Type": "text/javascript; charset=utf-8",
        "Cache-Control": "no-store",
      });
    }
    if (url.pathname.startsWith("/__pbundle/")) return plain(response, 404, "Not found");
    return await staticFile(request, response, request.url ?? "/");
  }

  function launch(request: IncomingMessage, response: ServerResponse, url: URL): void {
    const token = url.searchParams.get("token") ?? "";
    const valid = sameSecret(token, launchToken) && (!launchUsed || options.reusableLaunch);
    if (!valid && !hasSession(request)) {
      log.debug(`app server: 403 launch (${launchUsed ? "token already used" : "bad token"})`);
      return plain(response, 403, "Forbidden");
    }
    launchUsed = true;
    response.writeHead(302, {
      ...SECURITY_HEADERS,
      "Set-Cookie": `${cookieName}=${secret}; Path=/; HttpOnly; SameSite=Strict`,
      "Location": "/",
      "Cache-Control": "no-store",
      "Content-Length": "0",
    });
    response.end();
  }

  async function bridgeCall(request: IncomingMessage, response: ServerResponse): Promise<void> {
    if (request.method !== "POST") {
      response.setHeader("Allow", "POST");
      return plain(response, 405, "Method not allowed");
    }
    if (!/^application\/json\b/i.test(request.headers["content-type"] ?? "")) {
      return plain(response, 415, "Expected application/json");
    }
    const body = await readBody(request, MAX_CALL_BODY_BYTES);
    if (body === undefined) return plain(response, 413, "Request too large");
    let method: unknown;
    let params: unknown;
    try {
      const parsed = JSON.parse(body.toString("utf8"));
      method = parsed?.method;
      params = parsed?.params ?? null;
    } catch (error) {
      return json(response, { ok: false, error: `Cannot parse the call: ${error}` });
    }
    if (typeof method !== "string" || method === "") {
      return json(response, { ok: false, error: "Invalid request: no method" });
    }
    try {
      const result = await options.call(method, params);
      json(response, { ok: true, result: result ?? null });
    } catch (error) {
      json(response, { ok: false, error: error instanceof Error ? error.message : String(error) });
    }
  }

  async function staticFile(
    request: IncomingMessage,
    response: ServerResponse,
    rawUrl: string,
  ): Promise<void> {
    const file = await resolveStatic(root, rawUrl);
    if (!file) return plain(response, 404, "Not found");
    const { path, stats } = file;
    const etag = `"${stats.size.toString(16)}-${Math.floor(stats.mtimeMs).toString(16)}"`;
    const type = contentTypeOf(path);
    const html = type.startsWith("text/html");
    const headers: Record<string, string> = {
      "Content-Type": type,
      "Cache-Control": html || !HASHED_NAME.test(path)
        ? "no-cache"
        : "private, max-age=31536000, immutable",
      "Last-Modified": stats.mtime.toUTCString(),
    };
    if (html) {
      const page = injectBridge(await readFile(path, "utf8"));
      const body = Buffer.from(page, "utf8");
      headers["ETag"] = `"${createHash("sha256").update(body).digest("base64url").slice(0, 27)}"`;
      if (request.headers["if-none-match"] === headers["ETag"]) {
        return send(request, response, 304, Buffer.alloc(0), headers);
      }
      return send(request, response, 200, body, headers);
    }
    headers["ETag"] = etag;
    if (request.headers["if-none-match"] === etag) {
      return send(request, response, 304, Buffer.alloc(0), headers);
    }
    response.writeHead(200, {
      ...SECURITY_HEADERS,
      ...headers,
      "Content-Length": String(stats.size),
    });
    if (request.method === "HEAD") return void response.end();
    await new Promise<void>((done, fail) => {
      const stream = createReadStream(path);
      stream.on("error", fail);
      response.on("close", () => {
        stream.destroy();
        done();
      });
      stream.pipe(response).on("finish", done);
    });
  }

  server.on("upgrade", (request: IncomingMessage, socket, head: Buffer) => {
    const url = new URL(request.url ?? "/", "http://invalid");
    const why = refusal(request) ||
      (request.headers.origin !== origin ? "no Origin header" : "") ||
      (hasSession(request) ? "" : "no session secret");
    if (url.pathname !== BRIDGE_PATHS.events || why) {
      log.debug(`app server: refused WebSocket ${url.pathname} (${why || "unknown path"})`);
      const status = why ? "403 Forbidden" : "404 Not Found";
      socket.end(`HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
      return;
    }
    const connection = acceptWebSocket(request, socket, head);
    if (!connection) return;
    sockets.add(connection);
    log.debug(`app server: a page connected for events (${sockets.size} now)`);
    options.onConnect?.((event, data) => {
      connection.send(JSON.stringify({ event, data: data ?? null }));
    });
    connection.onClose = () => {
      sockets.delete(connection);
      log.debug(`app server: a page went away (${sockets.size} left)`);
      notifyConnections();
    };
    notifyConnections();
  });

  await new Promise<void>((done, fail) => {
    server.once("error", fail);
    server.listen(options.port ?? 0, HOST, () => {
      server.off("error", fail);
      done();
    });
  });
  port = (server.address() as AddressInfo).port;
  origin = `http://${HOST}:${port}`;
  cookieName = `pbundle_session_${port}`;
  log.debug(`app server: serving "${root}" at ${origin}`);

  return {
    origin,
    port,
    launchUrl: `${origin}${BRIDGE_PATHS.launch}?token=${launchToken}`,
    get launched() {
      return launchUsed;
    },
    get connections() {
      return sockets.size;
    },
    broadcast(event: string, data: unknown) {
      if (sockets.size === 0) return;
      let text: string;
      try {
        text = JSON.stringify({ event, data: data ?? null });
      } catch (error) {
        log.warn(`Cannot send event ${event} to the page: ${error}`);
        return;
      }
      for (const socket of sockets) socket.send(text);
    },
    onConnections(listener) {
      connectionListeners.add(listener);
      return () => connectionListeners.delete(listener);
    },
    async close() {
      for (const socket of sockets) socket.close(1001, "the app is closing");
      sockets.clear();
      const closed = new Promise<void>((done) => server.close(() => done()));
      const s = server as Server & { closeAllConnections?: () => void };
      s.closeAllConnections?.();
      await closed;
    },
  };
}

/**
 * Maps a request path to a file inside root, or undefined (404): the path is
 * percent-decoded, must not hold NUL, backslashes or `..` segments, and its
 * real path (symlinks resolved) must stay inside root. A directory means its
 * index.html; a missing extension-less path that accepts HTML gets /index.html
 * (single-page apps route on the client).
 *
 * @param root The frontend directory's real path.
 * @param rawUrl The request target as sent.
 * @returns The file and its stats.
 */
export async function resolveStatic(
  root: string,
  rawUrl: string,
): Promise<{ path: string; stats: Stats } | undefined> {
  const rawPath = rawUrl.split(/[?#]/, 1)[0] ?? "/";
  let decoded: string;
  try {
    decoded = decodeURIComponent(rawPath);
  } catch {
    return undefined;
  }
  if (!decoded.startsWith("/") || /[\0\\]/.test(decoded)) return undefined;
  const segments = decoded.split("/");
  if (segments.some((s) => s === "..")) return undefined;
  const candidates = [join(root, ...segments)];
  if (!extname(decoded)) candidates.push(join(root, "index.html"));
  for (const candidate of candidates) {
    let path = candidate;
    let stats: Stats;
    try {
      stats = await stat(path);
      if (stats.isDirectory()) {
        path = join(path, "index.html");
        stats = await stat(path);
      }
      if (!stats.isFile()) continue;
      const real = await realpath(path);
      if (real !== root && !real.startsWith(root + sep)) continue;
    } catch {
      continue;
    }
    return { path, stats };
  }
  return undefined;
}

/**
 * Puts the bridge's script tag first into an HTML page's head (or at the start
 * of the page when it has no head), so window.auroraview exists before the
 * page's own scripts run.
 *
 * @param html The page.
 * @returns The page with the tag.
 */
export function injectBridge(html: string): string {
  const tag = `<script src="${BRIDGE_PATHS.script}"></script>`;
  const head = /<head(?:\s[^>]*)?>/i.exec(html);
  if (head) {
    return html.slice(0, head.index + head[0].length) + tag +
      html.slice(head.index + head[0].length);
  }
  const start = /<html(?:\s[^>]*)?>/i.exec(html) ?? /<!doctype[^>]*>/i.exec(html);
  if (start) {
    return html.slice(0, start.index + start[0].length) + tag +
      html.slice(start.index + start[0].length);
  }
  return tag + html;
}

function sameSecret(given: string, expected: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

function readBody(request: IncomingMessage, limit: number): Promise<Buffer | undefined> {
  return new Promise((done, fail) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let over = false;
    request.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) over = true;
      else chunks.push(chunk);
    });
    request.on("end", () => done(over ? undefined : Buffer.concat(chunks)));
    request.on("error", fail);
  });
}

function send(
  request: IncomingMessage,
  response: ServerResponse,
  status: number,
  body: Buffer,
  headers: Record<string, string>,
): void {
  response.writeHead(status, {
    ...SECURITY_HEADERS,
    ...headers,
    ...(status === 304 ? {} : { "Content-Length": String(body.length) }),
  });
  response.end(request.method === "HEAD" || status === 304 ? undefined : body);
}

function plain(response: ServerResponse, status: number, text: string): void {
  const body = Buffer.from(text + "\n", "utf8");
  response.writeHead(status, {
    ...SECURITY_HEADERS,
    "Content-Type": "text/plain; charset=utf-8",
    "Content-Length": String(body.length),
    "Cache-Control": "no-store",
  });
  response.end(body);
}

function json(response: ServerResponse, message: unknown): void {
  let text: string;
  try {
    text = JSON.stringify(message);
  } catch (error) {
    text = JSON.stringify({ ok: false, error: `Cannot encode the answer: ${error}` });
  }
  const body = Buffer.from(text, "utf8");
  response.writeHead(200, {
    ...SECURITY_HEADERS,
    "Content-Type": "application/json; charset=utf-8",
    "Content-Length": String(body.length),
    "Cache-Control": "no-store",
  });
  response.end(body);
}
