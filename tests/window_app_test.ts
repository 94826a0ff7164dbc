/**
 * The packed full-stack example in a real browser: the bundle runs headless
 * (PBUNDLE_HEADLESS=1: it prints its address and serves), Debian's chromium
 * opens that address through playwright-core, and the page talks to Python
 * through window.auroraview. Also takes docs/screenshot.png.
 */

import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { dirname, join } from "node:path";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { alive, ROOT, waitFor } from "./_fullstack.ts";
import {
  chromiumPath,
  hostPythonPath,
  launchChromium,
  leftovers,
  packedExample,
  rawRequest,
  type RunningBundle,
  startBundle,
} from "./_window.ts";

const CHROMIUM = chromiumPath();
const ignore = CHROMIUM === undefined || hostPythonPath() === undefined;
const PROCESS_ON = `[plugins]\nprocess = true\nprocess_allow = ["sh", "cat"]\n`;

/** Runs fn with the example bundle running headless and a page opened on it. */
async function withApp(
  fn: (
    s: { app: RunningBundle; page: Page; context: BrowserContext; browser: Browser },
  ) => Promise<void>,
  extraToml = "",
): Promise<void> {
  const bundle = await packedExample(extraToml);
  const app = await startBundle(bundle);
  const browser = await launchChromium(CHROMIUM!);
  try {
    const context = await browser.newContext({ viewport: { width: 960, height: 640 } });
    const page = await context.newPage();
    const errors: string[] = [];
    page.on("pageerror", (e) => errors.push(String(e)));
    await page.goto(app.url);
    await page.waitForFunction(() => (window as unknown as { auroraview?: unknown }).auroraview);
    await fn({ app, page, context, browser });
  } catch (error) {
    throw new Error(`${error}\n--- the bundle's stderr:\n${app.stderr()}`);
  } finally {
    await browser.close();
    Deno.kill(app.pid, "SIGTERM");
    const code = await app.exited;
    assert.equal(code, 143, `the bundle ends with 128+SIGTERM after SIGTERM:\n${app.stderr()}`);
    // Nothing the app made is left but the extraction cache (the backend's
    // processes, the plugin's, the work directory).
    assert.deepEqual(leftovers(app.area), []);
    await app.stop();
  }
}

/** Evaluates a script in the page that uses auroraview (typed loosely on purpose). */
// deno-lint-ignore no-explicit-any
type AV = any;

Deno.test({
  name: "window: the page calls Python handlers and shows the results (screenshot for the README)",
  ignore,
  fn: () =>
    withApp(async ({ page }) => {
      await page.waitForFunction(() =>
        /Python 3\.11/.test((globalThis as AV).document.getElementById("status")!.textContent!)
      );
      const status = await page.textContent("#status");
      assert.match(status!, /^Python 3\.11\.\d+, pyyaml [\d.]+, packed: true$/);
      await page.waitForSelector("#samples li");
      assert.deepEqual(await page.$$eval("#samples li", (lis) => lis.map((l) => l.textContent)), [
        "colors.yaml",
        "server.yaml",
      ]);
      await page.click("#samples li:first-child");
      await page.waitForFunction(() =>
        (globalThis as AV).document.getElementById("sample")!.textContent !== ""
      );
      assert.match((await page.textContent("#sample"))!, /"ja": "青"/);
      await page.click("#parse");
      await page.waitForFunction(() =>
        (globalThis as AV).document.getElementById("parsed")!.textContent !== ""
      );
      assert.deepEqual(JSON.parse((await page.textContent("#parsed"))!), {
        greeting: "héllo",
        items: [1, 2, 3],
      });
      const title = await page.title();
      assert.equal(title, "YAML Viewer");
      await page.click("#samples li:nth-child(2)");
      await page.waitForFunction(() =>
        /routes/.test((globalThis as AV).document.getElementById("sample")!.textContent)
      );
      const shot = join(ROOT, "docs", "screenshot.png");
      mkdirSync(dirname(shot), { recursive: true });
      await page.screenshot({ path: shot, fullPage: true });
    }),
});

Deno.test({
  name: "window: auroraview.api has a proxy per handler; errors reject with the backend's message",
  ignore,
  fn: () =>
    withApp(async ({ page }) => {
      const out = await page.evaluate(async () => {
        const av = (window as AV).auroraview;
        const keys = Object.keys(av.api).sort();
        const echoed = await av.api.echo({ text: "ünï ✓" });
        const positional = await av.api.echo("positional");
        const failures: string[] = [];
        for (
          const attempt of [() => av.api.parse_yaml({ text: "a: [1" }), () => av.call("api.nope")]
        ) {
          try {
            await attempt();
            failures.push("resolved");
          } catch (e) {
            failures.push(`${(e as Error).name}: ${(e as Error).message}`);
          }
        }
        return { keys, echoed, positional, failures, methods: av.methods() };
      });
      assert.deepEqual(out.keys, [
        "count",
        "echo",
        "get_sample",
        "info",
        "list_samples",
        "parse_yaml",
        "sleep",
      ]);
      assert.ok(out.methods.includes("api.list_samples"));
      assert.equal(out.echoed, "ünï ✓");
      assert.equal(out.positional, "positional");
      assert.match(
        out.failures[0]!,
        /^AuroraViewError: ParserError: while parsing a flow sequence/,
      );
      assert.equal(out.failures[1], "AuroraViewError: Unknown method 'api.nope'");
    }),
});

Deno.test({
  name: "window: events from Python reach the page over the WebSocket",
  ignore,
  fn: () =>
    withApp(async ({ page }) => {
      const values = await page.evaluate(async () => {
        const av = (window as AV).auroraview;
        await av.ready;
        const seen: number[] = [];
        const all: string[] = [];
        av.on("*", (event: string) => all.push(event));
        const stop = av.on("count", (data: { value: number }) => seen.push(data.value));
        const result = await av.api.count({ to: 3 });
        const end = Date.now() + 20_000;
        while (seen.length < 3 && Date.now() < end) await new Promise((r) => setTimeout(r, 10));
        stop();
        return { seen, result, all };
      });
      assert.deepEqual(values.seen, [1, 2, 3]);
      assert.equal(values.result, 3);
      await page.waitForFunction(() =>
        (globalThis as AV).document.getElementById("status")!.textContent === "count 3"
      );
    }),
});

Deno.test({
  name:
    "window: killing the backend shows the error in the page; the next call works after the restart",
  ignore,
  fn: () =>
    withApp(async ({ app, page }) => {
      await page.waitForFunction(() =>
        /Python/.test((globalThis as AV).document.getElementById("status")!.textContent!)
      );
      const pid = await page.evaluate(() => (window as AV).auroraview.backend.pid) as number;
      assert.ok(alive(pid));
      // A call in flight when the backend dies; the example shows unhandled failures in #error.
      await page.evaluate(() => {
        void (window as AV).auroraview.api.sleep(30);
      });
      // The host logs each call it sends to the backend (PBUNDLE_LOG=debug).
      assert.ok(
        await waitFor(() => /call \S+ api\.sleep/.test(app.stderr())),
        "the call never left",
      );
      Deno.kill(pid, "SIGKILL");
      await page.waitForFunction(() =>
        (globalThis as AV).document.getElementById("error")!.textContent !== ""
      );
      assert.equal(
        await page.textContent("#error"),
        "Error: Cannot call api.sleep: the Python backend was killed by SIGKILL",
      );
      await page.waitForFunction(() =>
        (globalThis as AV).document.getElementById("status")!.textContent === "Backend restarted"
      );
      const after = await page.evaluate(async () => {
        const av = (window as AV).auroraview;
        return { echo: await av.api.echo("back"), pid: av.backend.pid };
      });
      assert.equal(after.echo, "back");
      assert.notEqual(after.pid, pid);
      assert.ok(await waitFor(() => !alive(pid)));
    }),
});

Deno.test({
  name: "window: requests without the secret get 403, cross-origin requests are refused",
  ignore,
  fn: () =>
    withApp(async ({ app, context }) => {
      const origin = new URL(app.url).origin;
      const cookie = (await context.cookies(origin)).map((c) => `${c.name}=${c.value}`).join("; ");
      assert.match(cookie, /^pbundle_session_\d+=[\w-]{43}$/);
      const host = `Host: ${new URL(origin).host}`;
      const cases: Array<[string, string[], number]> = [
        ["the page without the cookie", ["GET / HTTP/1.1", host], 403],
        ["a file without the cookie", ["GET /app.js HTTP/1.1", host], 403],
        ["a call without the cookie", [
          "POST /__pbundle/call HTTP/1.1",
          host,
          "Content-Type: application/json",
          "Content-Length: 0",
        ], 403],
        [
          "a wrong cookie",
          ["GET / HTTP/1.1", host, `Cookie: ${cookie.replace(/=.*/, "=nope")}`],
          403,
        ],
        ["a wrong launch token", ["GET /__pbundle/launch?token=guess HTTP/1.1", host], 403],
        ["with the cookie", ["GET / HTTP/1.1", host, `Cookie: ${cookie}`], 200],
        ["another origin", [
          "GET / HTTP/1.1",
          host,
          `Cookie: ${cookie}`,
          "Origin: http://evil.example",
        ], 403],
        ["a cross-site fetch", [
          "GET / HTTP/1.1",
          host,
          `Cookie: ${cookie}`,
          "Sec-Fetch-Site: cross-site",
        ], 403],
        ["a rebound host name", ["GET / HTTP/1.1", "Host: evil.example", `Cookie: ${cookie}`], 403],
        ["a WebSocket without the cookie", [
          "GET /__pbundle/events HTTP/1.1",
          host,
          "Upgrade: websocket",
          "Connection: Upgrade",
          "Sec-WebSocket-Version: 13",
          "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
          `Origin: ${origin}`,
        ], 403],
        ["a WebSocket from another origin", [
          "GET /__pbundle/events HTTP/1.1",
          host,
          `Cookie: ${cookie}`,
          "Upgrade: websocket",
          "Connection: Upgrade",
          "Sec-WebSocket-Version: 13",
          "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
          "Origin: http://evil.example",
        ], 403],
      ];
      for (const [what, lines, status] of cases) {
        const answer = await rawRequest(origin, lines);
        assert.equal(answer.status, status, `${what}: ${answer.text.slice(0, 200)}`);
      }
      // A page of another origin cannot call: the browser sends Origin, the server refuses.
      const other = await context.newPage();
      await other.goto("data:text/html,<p>elsewhere</p>");
      const refused = await other.evaluate(async (o) => {
        try {
          const r = await fetch(`${o}/__pbundle/call`, {
            method: "POST",
            headers: { "Content-Type": "application/json" },
            body: JSON.stringify({ method: "api.info" }),
            credentials: "include",
          });
          return `status ${r.status}`;
        } catch (e) {
          return `blocked: ${(e as Error).message}`;
        }
      }, origin);
      assert.match(refused, /^blocked: |^status 403$/);
    }),
});

Deno.test({
  name: "window: static files: ../ gets 404, content types, caching headers, the injected bridge",
  ignore,
  fn: () =>
    withApp(async ({ app, context }) => {
      const origin = new URL(app.url).origin;
      const cookie = (await context.cookies(origin)).map((c) => `${c.name}=${c.value}`).join("; ");
      const get = (path: string, ...extra: string[]) =>
        rawRequest(origin, [
          `GET ${path} HTTP/1.1`,
          `Host: ${new URL(origin).host}`,
          `Cookie: ${cookie}`,
          ...extra,
        ]);
      for (
        const path of [
          "/../python/main.py",
          "/../../../../etc/passwd",
          "/%2e%2e/.pbundle/fullstack.json",
          "/..%2f..%2fetc%2fpasswd",
          "/style.css/../../python/main.py",
          "/..\\python\\main.py",
          "/%00index.html",
        ]
      ) {
        const answer = await get(path);
        assert.equal(answer.status, 404, `${path}: ${answer.text.slice(0, 200)}`);
      }
      const css = await get("/style.css");
      assert.equal(css.status, 200);
      assert.match(css.text, /^Content-Type: text\/css; charset=utf-8$/mi);
      assert.match(css.text, /^Cache-Control: no-cache$/mi);
      assert.match(css.text, /^X-Content-Type-Options: nosniff$/mi);
      const etag = /^ETag: (.+)$/mi.exec(css.text)![1]!.trim();
      assert.equal((await get("/style.css", `If-None-Match: ${etag}`)).status, 304);
      const js = await get("/app.js");
      assert.match(js.text, /^Content-Type: text\/javascript; charset=utf-8$/mi);
      const html = await get("/");
      assert.match(html.text, /^Content-Type: text\/html; charset=utf-8$/mi);
      assert.match(html.text, /<head><script src="\/__pbundle\/bridge\.js"><\/script>/);
      const bridge = await get("/__pbundle/bridge.js");
      assert.match(bridge.text, /^Cache-Control: no-store$/mi);
      assert.match(bridge.text, /"api\.list_samples"/);
    }),
});

Deno.test({
  name: "window: the process plugin is refused when [plugins] process is off",
  ignore,
  fn: () =>
    withApp(async ({ page }) => {
      const message = await page.evaluate(async () => {
        try {
          await (window as AV).auroraview.process.spawn("sh", ["-c", "echo hi"]);
          return "started";
        } catch (e) {
          return (e as Error).message;
        }
      });
      assert.equal(
        message,
        "Cannot call plugin:process|spawn: the process plugin is off (turn it on with [plugins] process = true)",
      );
    }),
});

Deno.test({
  name:
    "window: the process plugin streams output, takes stdin, is killed, and keeps to its allow-list",
  ignore,
  fn: () =>
    withApp(async ({ page }) => {
      const out = await page.evaluate(async () => {
        const av = (window as AV).auroraview;
        await av.ready;
        const events: Array<[string, unknown]> = [];
        for (const e of ["process:stdout", "process:stderr", "process:exit"]) {
          av.on(e, (d: unknown) => events.push([e, d]));
        }
        const waitExit = async (id: number) => {
          const end = Date.now() + 20_000;
          while (Date.now() < end) {
            if (
              events.some(([e, d]) => e === "process:exit" && (d as { id: number }).id === id)
            ) return;
            await new Promise((r) => setTimeout(r, 10));
          }
        };
        const sh = await av.process.spawn("sh", [
          "-c",
          'echo "out ✓"; echo err >&2; read line; echo "got $line"',
        ]);
        await av.process.write(sh.id, "ping\n");
        await waitExit(sh.id);
        const cat = await av.process.spawn("cat");
        await av.process.kill(cat.id);
        await waitExit(cat.id);
        let refused = "";
        try {
          await av.process.spawn("ls", ["/"]);
        } catch (e) {
          refused = (e as Error).message;
        }
        return { events, sh, cat, refused };
      });
      const of = (id: number, event: string) =>
        out.events.filter(([e, d]) => e === event && (d as { id: number }).id === id)
          .map(([, d]) => d as Record<string, unknown>);
      const stdout = of(out.sh.id, "process:stdout").map((d) => d["data"]).join("");
      assert.equal(stdout, "out ✓\ngot ping\n");
      assert.equal(of(out.sh.id, "process:stderr").map((d) => d["data"]).join(""), "err\n");
      assert.deepEqual(of(out.sh.id, "process:exit"), [{ id: out.sh.id, code: 0, signal: null }]);
      assert.deepEqual(of(out.cat.id, "process:exit"), [{
        id: out.cat.id,
        code: null,
        signal: "SIGTERM",
      }]);
      assert.match(out.refused, /^Cannot start "ls": it is not in the allowed programs/);
    }, PROCESS_ON),
});
