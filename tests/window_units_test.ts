/**
 * The window frontend's parts without a bundle: plugins called by the Python
 * backend (forwarded by the host), the app server's launch token and
 * WebSocket framing, the browser's command line, the browser lookup and the
 * static path resolver.
 */

import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import {
  chmodSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ConfigError, parsePackConfig, readPackConfig } from "../packers/fullstack/config.ts";
import { planFullstack } from "../packers/fullstack/plan_fullstack.ts";
import { devDocument } from "../packers/fullstack/dev_document.ts";
import { SUPPORT_SOURCE_DIR } from "../packers/fullstack/write_fullstack_app_dir.ts";
import { runFullstack } from "../runtime/fullstack/host.ts";
import { createLogger } from "../runtime/fullstack/log.ts";
import {
  chromiumArgs,
  findBrowser,
  profileDirOf,
} from "../runtime/fullstack/window/app_browser.ts";
import {
  injectBridge,
  resolveStatic,
  startAppServer,
} from "../runtime/fullstack/window/app_server.ts";
import { createWindowFrontend } from "../runtime/fullstack/window/window_frontend.ts";
import type { BridgeConfig } from "../runtime/fullstack/window/bridge_script.ts";
import { PROBE, waitFor } from "./_fullstack.ts";

const quiet = createLogger("test", { level: "error", write: () => {} });

/** The bridge config of a page titled "t" with no methods, no backend and no size limits. */
function plainBridgeConfig(): BridgeConfig {
  return {
    methods: [],
    backend: null,
    title: "t",
    allowNewWindow: false,
    minWidth: null,
    minHeight: null,
  };
}

/** Logs in through the launch address; returns the session cookie. */
async function login(url: string): Promise<string> {
  const response = await fetch(url, { redirect: "manual" });
  await response.body?.cancel();
  assert.equal(response.status, 302);
  return response.headers.get("set-cookie")!.split(";")[0]!;
}

async function bridgeCall(origin: string, cookie: string, method: string, params: unknown) {
  const response = await fetch(`${origin}/__pbundle/call`, {
    method: "POST",
    headers: { "Content-Type": "application/json", Cookie: cookie },
    body: JSON.stringify({ method, params }),
  });
  return await response.json();
}

/** The HTTP request that opens the events WebSocket (RFC 6455's example key). */
function eventsHandshake(origin: string, cookie: string): string {
  return [
    "GET /__pbundle/events HTTP/1.1",
    `Host: ${new URL(origin).host}`,
    `Cookie: ${cookie}`,
    `Origin: ${origin}`,
    "Upgrade: websocket",
    "Connection: Upgrade",
    "Sec-WebSocket-Version: 13",
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
    "",
    "",
  ].join("\r\n");
}

Deno.test("the backend's plugin requests are forwarded by the host (shell and process)", async () => {
  const dir = mkdtempSync(join(tmpdir(), "pbundle-window-units-"));
  const opened = join(dir, "opened");
  mkdirSync(join(dir, "bin"));
  writeFileSync(join(dir, "bin", "xdg-open"), `#!/bin/sh\nprintf '%s\\n' "$@" > '${opened}'\n`);
  chmodSync(join(dir, "bin", "xdg-open"), 0o755);
  const doc = devDocument(readPackConfig(PROBE));
  doc.resources = join(PROBE, "resources");
  doc.plugins = { shell: true, process: true, processAllow: ["echo"] };
  let url = "";
  let stop: (status: number) => void = () => {};
  const env = {
    ...Deno.env.toObject(),
    PATH: `${join(dir, "bin")}:${Deno.env.get("PATH")}`,
    PBUNDLE_LOG: "error",
  };
  const running = runFullstack({ appDir: PROBE, env, args: [], runtimeInfo: {} }, {
    document: doc,
    supportDir: SUPPORT_SOURCE_DIR,
    cwd: dir,
    frontend: async (context) => {
      const inner = createWindowFrontend({ headless: true, print: (line) => (url = line) });
      return await inner({ ...context, stopRequested: new Promise((r) => (stop = r)) });
    },
  });
  try {
    assert.ok(await waitFor(() => url !== ""), "no address printed");
    const origin = new URL(url).origin;
    const cookie = await login(url);
    const events: Array<{ event: string; data: { id: number; data?: string } }> = [];
    const socket = new WebSocket(`${origin.replace("http", "ws")}/__pbundle/events`, {
      headers: { Cookie: cookie, Origin: origin },
    } as unknown as string[]);
    socket.onmessage = (m) => events.push(JSON.parse(m.data));
    await new Promise((r) => (socket.onopen = r));

    const spawned = await bridgeCall(origin, cookie, "api.ask_host", {
      method: "process.spawn",
      params: { program: "echo", args: ["from python ✓"] },
    });
    assert.equal(spawned.ok, true, JSON.stringify(spawned));
    const id = spawned.result.id;
    assert.ok(
      await waitFor(() => events.some((e) => e.event === "process:exit" && e.data.id === id)),
    );
    const out = events.filter((e) => e.event === "process:stdout" && e.data.id === id);
    assert.equal(out.map((e) => e.data.data).join(""), "from python ✓\n");

    const refused = await bridgeCall(origin, cookie, "api.ask_host", {
      method: "plugin:process|spawn",
      params: { program: "sh", args: ["-c", "true"] },
    });
    assert.equal(refused.ok, false);
    assert.match(refused.error, /^Cannot start "sh": it is not in the allowed programs/);

    const shown = await bridgeCall(origin, cookie, "api.ask_host", {
      method: "shell.open",
      params: { target: "https://example.com/a b" },
    });
    assert.deepEqual(shown, { ok: true, result: { opened: "https://example.com/a%20b" } });
    assert.equal(readFileSync(opened, "utf8"), "https://example.com/a%20b\n");
    const bad = await bridgeCall(origin, cookie, "plugin:shell|open", {
      target: "javascript:alert(1)",
    });
    assert.match(bad.error, /only http, https, mailto and files can be opened/);
    const unknown = await bridgeCall(origin, cookie, "api.ask_host", { method: "host.nothing" });
    assert.equal(unknown.error, 'The host has no method "host.nothing"');
    socket.close();
  } finally {
    stop(130);
    assert.equal(await running, 130);
    rmSync(dir, { recursive: true, force: true });
  }
});

Deno.test("the app server: one-time launch token, 403 without the session, WebSocket events", async () => {
  const dir = mkdtempSync(join(tmpdir(), "pbundle-window-units-"));
  writeFileSync(
    join(dir, "index.html"),
    "<!doctype html><html><head><title>t</title></head></html>",
  );
  const server = await startAppServer({
    frontendDir: dir,
    log: quiet,
    call: (method, params) =>
      method === "fail" ? Promise.reject(new Error("nope ü")) : Promise.resolve({ method, params }),
    bridgeConfig: plainBridgeConfig,
  });
  try {
    const cookie = await login(server.launchUrl);
    const again = await fetch(server.launchUrl, { redirect: "manual" });
    await again.body?.cancel();
    assert.equal(again.status, 403, "the launch token works once");
    const none = await fetch(`${server.origin}/index.html`);
    await none.body?.cancel();
    assert.equal(none.status, 403);
    assert.deepEqual(await bridgeCall(server.origin, cookie, "echo", [1, "ü"]), {
      ok: true,
      result: { method: "echo", params: [1, "ü"] },
    });
    assert.deepEqual(await bridgeCall(server.origin, cookie, "fail", null), {
      ok: false,
      error: "nope ü",
    });

    // WebSocket, by hand: a masked text frame in, a ping, broadcast frames out (small and 70 kB).
    const { port } = new URL(server.origin);
    const socket = connect(Number(port), "127.0.0.1");
    let received = Buffer.alloc(0);
    socket.on("data", (chunk: Buffer) => (received = Buffer.concat([received, chunk])));
    socket.write(eventsHandshake(server.origin, cookie));
    assert.ok(await waitFor(() => received.includes("\r\n\r\n")));
    assert.match(received.toString(), /^HTTP\/1\.1 101 /);
    assert.match(received.toString(), /Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK\+xOo=/); // RFC 6455's example
    assert.ok(await waitFor(() => server.connections === 1));
    received = Buffer.alloc(0);
    const mask = [1, 2, 3, 4];
    const ping = Buffer.from([
      0x89,
      0x80 | 2,
      ...mask,
      ..."hi".split("").map((c, i) => c.charCodeAt(0) ^ mask[i]!),
    ]);
    socket.write(ping);
    assert.ok(await waitFor(() => received.length >= 4));
    assert.deepEqual([...received.subarray(0, 4)], [0x8a, 2, 0x68, 0x69], "pong echoes the ping");
    received = Buffer.alloc(0);
    const big = "x".repeat(70000);
    server.broadcast("small", { v: 1 });
    server.broadcast("big", big);
    const expected = [
      JSON.stringify({ event: "small", data: { v: 1 } }),
      JSON.stringify({ event: "big", data: big }),
    ];
    const size = expected.reduce((n, t) => n + t.length, 0) + 2 + 10; // a 2-byte header, then a 10-byte one (64-bit length)
    assert.ok(await waitFor(() => received.length >= size));
    assert.equal(received[0], 0x81);
    assert.equal(received[1], expected[0]!.length);
    assert.equal(received.subarray(2, 2 + expected[0]!.length).toString(), expected[0]);
    const second = received.subarray(2 + expected[0]!.length);
    assert.deepEqual([...second.subarray(0, 2)], [0x81, 127]);
    assert.equal(Number(second.readBigUInt64BE(2)), expected[1]!.length);
    // An unmasked client frame is a protocol error: the server closes.
    socket.write(Buffer.from([0x81, 0x01, 0x41]));
    assert.ok(await waitFor(() => server.connections === 0), "closed after an unmasked frame");
    socket.destroy();
  } finally {
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

Deno.test("resolveStatic() keeps to the frontend directory", async () => {
  const dir = mkdtempSync(join(tmpdir(), "pbundle-window-units-"));
  try {
    mkdirSync(join(dir, "root", "sub"), { recursive: true });
    writeFileSync(join(dir, "root", "index.html"), "i");
    writeFileSync(join(dir, "root", "sub", "index.html"), "s");
    writeFileSync(join(dir, "root", "a b.js"), "a");
    writeFileSync(join(dir, "secret"), "x");
    symlinkSync(join(dir, "secret"), join(dir, "root", "link.txt"));
    const root = join(dir, "root");
    const cases: Array<[string, string | undefined]> = [
      ["/", "index.html"],
      ["/sub/", "sub/index.html"],
      ["/sub", "sub/index.html"],
      ["/a%20b.js?v=1", "a b.js"],
      ["/client/route", "index.html"],
      ["/missing.js", undefined],
      ["/../secret", undefined],
      ["/%2e%2e/secret", undefined],
      ["/sub/%2E%2E/%2E%2E/secret", undefined],
      ["/link.txt", undefined],
      ["/%E0%A4%A", undefined],
      ["/a%00.js", undefined],
      ["/..%5csecret", undefined],
    ];
    for (const [url, want] of cases) {
      const found = await resolveStatic(root, url);
      assert.equal(found?.path, want === undefined ? undefined : join(root, want), url);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

Deno.test("injectBridge() puts the script first in the head, or at the start without one", () => {
  const tag = '<script src="/__pbundle/bridge.js"></script>';
  const cases: Array<[string, string]> = [
    [
      "<html><HEAD lang=x><title>t</title></HEAD></html>",
      `<html><HEAD lang=x>${tag}<title>t</title></HEAD></html>`,
    ],
    [
      "<!doctype html><html><body></body></html>",
      `<!doctype html><html>${tag}<body></body></html>`,
    ],
    ["<p>bare</p>", `${tag}<p>bare</p>`],
    ["<header>not a head</header>", `${tag}<header>not a head</header>`],
  ];
  for (const [html, want] of cases) assert.equal(injectBridge(html), want);
});

Deno.test("chromiumArgs() builds the app window's command line", () => {
  const base = {
    url: "http://127.0.0.1:5/x",
    profileDir: "/p",
    name: "demo",
    width: 800,
    height: 600,
    devtools: false,
    allowNewWindow: true,
  };
  const cases: Array<
    [Partial<typeof base> & { position?: { x: number; y: number } }, string[], string[]]
  > = [
    [{}, [
      "--app=http://127.0.0.1:5/x",
      "--user-data-dir=/p",
      "--window-size=800,600",
      "--class=demo",
    ], [
      "--auto-open-devtools-for-tabs",
      "--block-new-web-contents",
    ]],
    [{ devtools: true }, ["--auto-open-devtools-for-tabs"], []],
    [{ allowNewWindow: false }, ["--block-new-web-contents"], []],
    [{ position: { x: 10, y: 20 } }, ["--window-position=10,20"], []],
  ];
  for (const [change, present, absent] of cases) {
    const args = chromiumArgs({ ...base, ...change });
    for (const flag of present) {
      assert.ok(args.includes(flag), `${flag} for ${JSON.stringify(change)}`);
    }
    for (const flag of absent) {
      assert.ok(!args.includes(flag), `no ${flag} for ${JSON.stringify(change)}`);
    }
  }
});

Deno.test("findBrowser() takes BROWSER first, then the Chromium family on PATH; profileDirOf() follows XDG", () => {
  const dir = mkdtempSync(join(tmpdir(), "pbundle-window-units-"));
  try {
    for (const name of ["google-chrome", "firefox"]) {
      writeFileSync(join(dir, name), "#!/bin/sh\n");
      chmodSync(join(dir, name), 0o755);
    }
    assert.deepEqual(findBrowser({ PATH: dir }), {
      path: join(dir, "google-chrome"),
      kind: "chromium",
    });
    assert.deepEqual(findBrowser({ PATH: dir, BROWSER: "nothing:firefox %s" }), {
      path: join(dir, "firefox"),
      kind: "other",
    });
    assert.equal(findBrowser({ PATH: join(dir, "none") }), undefined);
    assert.equal(
      profileDirOf({ XDG_DATA_HOME: "/d", HOME: "/h" }, "my app"),
      "/d/pbundle/profiles/my_app",
    );
    assert.equal(profileDirOf({ HOME: "/h" }, "a"), "/h/.local/share/pbundle/profiles/a");
    assert.equal(
      profileDirOf({ XDG_DATA_HOME: "relative", HOME: "/h" }, "a"),
      "/h/.local/share/pbundle/profiles/a",
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

Deno.test("[plugins]: defaults, values in the document, and errors naming the nearest key", () => {
  const base = '[package]\nname = "p"\nversion = "1"\n[app]\nfrontend_path = "f"\n';
  const plain = parsePackConfig(base, "/x/pbundle.pack.toml");
  assert.deepEqual(plain.plugins, { shell: true, process: false, processAllow: [] });
  const on = parsePackConfig(
    base + '[plugins]\nshell = false\nprocess = true\nprocess_allow = ["ffmpeg", "/usr/bin/env"]\n',
    "/x/pbundle.pack.toml",
  );
  assert.deepEqual(planFullstack(on).document.plugins, {
    shell: false,
    process: true,
    processAllow: ["ffmpeg", "/usr/bin/env"],
  });
  assert.throws(
    () => parsePackConfig(base + "[plugins]\nproces = true\n", "/x/pbundle.pack.toml"),
    (e) => e instanceof ConfigError && /proces/.test(e.message) && /"?process"?/.test(e.message),
  );
  assert.throws(
    () => parsePackConfig(base + '[plugins]\nprocess_allow = "ls"\n', "/x/pbundle.pack.toml"),
    ConfigError,
  );
});

Deno.test("the app server greets each page that connects for events (onConnect)", async () => {
  const dir = mkdtempSync(join(tmpdir(), "pbundle-window-units-"));
  writeFileSync(join(dir, "index.html"), "<!doctype html><html><head></head></html>");
  const server = await startAppServer({
    frontendDir: dir,
    log: quiet,
    call: () => Promise.resolve(null),
    bridgeConfig: plainBridgeConfig,
    onConnect: (send) => send("pbundle.backend_failed", { restarts: 5, message: "gave up" }),
  });
  try {
    const cookie = await login(server.launchUrl);
    const { port } = new URL(server.origin);
    const socket = connect(Number(port), "127.0.0.1");
    let received = Buffer.alloc(0);
    socket.on("data", (chunk: Buffer) => (received = Buffer.concat([received, chunk])));
    socket.write(eventsHandshake(server.origin, cookie));
    const text = JSON.stringify({
      event: "pbundle.backend_failed",
      data: { restarts: 5, message: "gave up" },
    });
    assert.ok(await waitFor(() => received.includes(text)), "the greeting reaches the new page");
    const frame = received.subarray(received.indexOf("\r\n\r\n") + 4);
    assert.deepEqual([...frame.subarray(0, 2)], [0x81, text.length]);
    socket.destroy();
  } finally {
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
