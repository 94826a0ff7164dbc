/**
 * The [app], [window] and [plugins] settings of a packed app, each shown by
 * its effect: small apps without a Python backend are packed and run as real
 * processes, with a Chromium named by BROWSER (a wrapper that records its
 * arguments and runs Debian's chromium headless, reachable over CDP) and fake
 * desktop tools on PATH (xrandr prints a screen size; wmctrl and xdg-open
 * record their arguments).
 */

import assert from "node:assert/strict";
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import type { Browser } from "playwright-core";
import { alive, waitFor } from "./_fullstack.ts";
import {
  chromiumPath,
  launchChromium,
  leftovers,
  packSmallApp,
  type RunningBundle,
  startBundle,
  writeScript,
} from "./_window.ts";

const CHROMIUM = chromiumPath();
const ignore = CHROMIUM === undefined;

/** A page without a <title>, and one with its own. */
const FRONTEND = {
  "frontend/index.html":
    `<!doctype html>\n<html><head><meta charset="utf-8"></head><body><p id="hello">small ✓</p></body></html>\n`,
  "frontend/titled.html":
    `<!doctype html>\n<html><head><meta charset="utf-8"><title>The page's own title</title></head><body><p>titled</p></body></html>\n`,
};

/** Fake desktop tools for one run. */
interface FakeBin {
  /** The directory (put first on PATH). */
  dir: string;
  /** The browser wrapper (for BROWSER). */
  browser: string;
  /** Where the wrapper writes its pid, then its arguments, one a line. */
  browserArgs: string;
  /** Where the fake wmctrl writes its arguments. */
  wmctrlArgs: string;
  /** Where the fake xdg-open writes its arguments. */
  openedFile: string;
}

/**
 * A bin directory with a chromium wrapper (real headless chromium, with a
 * DevTools port written to its profile's DevToolsActivePort) and, as asked,
 * a fake xrandr (a 1920 x 1080 screen), wmctrl and xdg-open.
 */
function fakeBin(dir: string, tools: { xrandr?: boolean; wmctrl?: boolean } = {}): FakeBin {
  mkdirSync(dir, { recursive: true });
  const bin: FakeBin = {
    dir,
    browser: join(dir, "chromium-under-test"),
    browserArgs: join(dir, "browser-args"),
    wmctrlArgs: join(dir, "wmctrl-args"),
    openedFile: join(dir, "opened"),
  };
  writeScript(
    bin.browser,
    `#!/bin/sh\nprintf '%s\\n' "$$" "$@" > '${bin.browserArgs}'\n` +
      // The app's PATH may be the fake bin alone; Debian's chromium script needs the usual one.
      `PATH='${
        Deno.env.get("PATH")
      }' exec '${CHROMIUM}' --headless --no-sandbox --disable-gpu --remote-debugging-port=0 "$@"\n`,
  );
  if (tools.xrandr) {
    writeScript(
      join(dir, "xrandr"),
      `#!/bin/sh\necho "Screen 0: minimum 320 x 200, current 1920 x 1080, maximum 16384 x 16384"\n` +
        `echo "XWAYLAND0 connected primary 1920x1080+0+0 0mm x 0mm"\n`,
    );
  }
  if (tools.wmctrl) {
    writeScript(join(dir, "wmctrl"), `#!/bin/sh\nprintf '%s\\n' "$@" > '${bin.wmctrlArgs}'\n`);
  }
  writeScript(join(dir, "xdg-open"), `#!/bin/sh\nprintf '%s\\n' "$@" > '${bin.openedFile}'\n`);
  return bin;
}

/** The arguments the browser wrapper was started with (after it wrote them). */
async function browserArgsOf(bin: FakeBin, app: RunningBundle): Promise<string[]> {
  assert.ok(
    await waitFor(() => existsSync(bin.browserArgs), 30_000),
    `the browser never started:\n${app.stderr()}`,
  );
  return readFileSync(bin.browserArgs, "utf8").trim().split("\n").slice(1);
}

/** Starts a bundle with a display, BROWSER naming the wrapper and the fake bin first on PATH. */
function startWindowed(
  bundle: string,
  bin: FakeBin,
  env: Record<string, string> = {},
): Promise<RunningBundle> {
  return startBundle(bundle, {
    waitForUrl: false,
    env: {
      PBUNDLE_HEADLESS: "0",
      DISPLAY: ":0",
      BROWSER: bin.browser,
      PATH: `${bin.dir}:${Deno.env.get("PATH")}`,
      ...env,
    },
  });
}

/** The app's exit status, or "still running" after a generous wait. */
function exitedWithin(app: RunningBundle, ms = 30_000): Promise<number | string> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  return Promise.race([
    app.exited,
    new Promise<string>((r) => (timer = setTimeout(() => r("still running"), ms))),
  ]).finally(() => clearTimeout(timer));
}

/** Connects playwright to the app window's browser through its DevTools port. */
async function connectToWindow(app: RunningBundle, profile: string): Promise<Browser> {
  const portFile = join(profile, "DevToolsActivePort");
  assert.ok(
    await waitFor(() => existsSync(portFile) && readFileSync(portFile, "utf8").includes("\n")),
    `no DevTools port:\n${app.stderr()}`,
  );
  const port = readFileSync(portFile, "utf8").split("\n")[0];
  const { chromium } = await import("playwright-core");
  return await chromium.connectOverCDP(`http://127.0.0.1:${port}`);
}

/** A local HTTP server standing in for a remote page; records the paths asked for. */
async function remotePage(): Promise<{ origin: string; asked: string[]; server: Server }> {
  const asked: string[] = [];
  const server = createServer((request, response) => {
    asked.push(request.url ?? "");
    response.writeHead(200, { "Content-Type": "text/html; charset=utf-8" });
    response.end(`<!doctype html><title>Remote page</title><p id="remote">remote ✓</p>`);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return { origin: `http://127.0.0.1:${port}`, asked, server };
}

Deno.test({
  name:
    "[app] url with no backend: headless, the app prints the remote address and runs until SIGTERM",
  ignore,
  fn: async () => {
    const remote = await remotePage();
    const url = `${remote.origin}/page?from=app`;
    const bundle = await packSmallApp("remote-page", `[app]\ntitle = "Remote"\nurl = "${url}"`);
    const browser = await launchChromium(CHROMIUM!);
    try {
      for (const env of [{ PBUNDLE_HEADLESS: "1" }, { PBUNDLE_HEADLESS: "0" }]) {
        // PBUNDLE_HEADLESS=0 without DISPLAY: no display, so the same as headless, with a warning.
        const app = await startBundle(bundle, { env });
        try {
          assert.equal(app.url, url, app.stderr());
          // A person opens the printed address; meanwhile the app keeps running.
          const page = await browser.newPage();
          await page.goto(app.url);
          assert.equal(await page.textContent("#remote"), "remote ✓");
          await page.close();
          assert.ok(remote.asked.includes("/page?from=app"));
          assert.ok(alive(app.pid), `the app exited early:\n${app.stderr()}`);
          Deno.kill(app.pid, "SIGTERM");
          // An app that had already ended by itself would show 0 here.
          assert.equal(await app.exited, 143, app.stderr());
          assert.deepEqual(leftovers(app.area), []);
        } finally {
          await app.stop();
        }
      }
    } finally {
      await browser.close();
      await new Promise((resolve) => remote.server.close(resolve));
    }
  },
});

Deno.test({
  name:
    "[app] url with no backend: the window opens the remote page and the app runs until it closes",
  ignore,
  fn: async () => {
    const remote = await remotePage();
    const url = `${remote.origin}/page?from=window`;
    const bundle = await packSmallApp("remote-window", `[app]\ntitle = "Remote"\nurl = "${url}"`);
    const temp = await Deno.makeTempDir();
    const bin = fakeBin(join(temp, "bin"));
    try {
      for (const ending of ["window closes", "SIGTERM"] as const) {
        rmSync(bin.browserArgs, { force: true });
        remote.asked.length = 0;
        const app = await startWindowed(bundle, bin);
        try {
          const args = await browserArgsOf(bin, app);
          assert.equal(args[0], `--app=${url}`);
          // The window loads the remote page: the app is still there afterwards.
          assert.ok(
            await waitFor(() => remote.asked.includes("/page?from=window"), 30_000),
            app.stderr(),
          );
          assert.ok(alive(app.pid), `the app exited early:\n${app.stderr()}`);
          const browserPid = Number(readFileSync(bin.browserArgs, "utf8").split("\n")[0]);
          if (ending === "window closes") {
            Deno.kill(browserPid, "SIGTERM");
            assert.equal(await exitedWithin(app), 0, app.stderr());
            assert.match(app.stderr(), /the window closed/);
          } else {
            Deno.kill(app.pid, "SIGTERM");
            assert.equal(await app.exited, 143, app.stderr());
            assert.ok(!alive(browserPid), "the browser outlived the app");
          }
          assert.deepEqual(leftovers(app.area), []);
        } finally {
          await app.stop();
        }
      }
    } finally {
      await Deno.remove(temp, { recursive: true });
      await new Promise((resolve) => remote.server.close(resolve));
    }
  },
});

/** Evaluates a script in the page that uses auroraview (typed loosely on purpose). */
// deno-lint-ignore no-explicit-any
type AV = any;

const WINDOW_TOML = `[app]
title = "Small Title ✓"
frontend_path = "./frontend"

[window]
width = 800
height = 600
min_width = 640
min_height = 480
always_on_top = true
frameless = true
transparent = true
resizable = false
start_position = "center"

[debug]
verbose = true
`;

/** The lines of stderr that list the [window] settings the window cannot apply. */
function limitNotes(stderr: string): string[] {
  return stderr.split("\n").filter((l) => l.includes("settings the app window cannot apply"));
}

Deno.test({
  name:
    "[window]: size, centered position (xrandr), always_on_top (wmctrl), min size kept, [app] title; limits said once",
  ignore,
  fn: async () => {
    const bundle = await packSmallApp("small-window", WINDOW_TOML, FRONTEND);
    const temp = await Deno.makeTempDir();
    const bin = fakeBin(join(temp, "bin"), { xrandr: true, wmctrl: true });
    // Verbose through [debug] verbose = true, not PBUNDLE_LOG.
    const app = await startWindowed(bundle, bin, { PBUNDLE_LOG: "" });
    let cdp: Browser | undefined;
    try {
      const args = await browserArgsOf(bin, app);
      assert.ok(args.includes("--window-size=800,600"), args.join(" "));
      // (1920 - 800) / 2, (1080 - 600) / 2 on the screen the fake xrandr reports.
      assert.ok(args.includes("--window-position=560,240"), args.join(" "));
      assert.ok(args.includes("--class=small-window"), args.join(" "));

      // wmctrl is asked once the page is up.
      assert.ok(await waitFor(() => existsSync(bin.wmctrlArgs), 30_000), app.stderr());
      assert.deepEqual(readFileSync(bin.wmctrlArgs, "utf8").trim().split("\n"), [
        "-x",
        "-r",
        "small-window",
        "-b",
        "add,above",
      ]);

      const profile = join(app.area, "data", "pbundle", "profiles", "small-window");
      cdp = await connectToWindow(app, profile);
      const page = cdp.contexts()[0]!.pages()[0]!;
      await page.waitForFunction(() => (window as AV).auroraview !== undefined);
      await page.waitForFunction(() => (globalThis as AV).document.readyState === "complete");
      // The page has no <title>: the window's title can only come from [app] title.
      assert.equal(await page.title(), "Small Title ✓");

      // Shrink the window below [window] min_width/min_height: the bridge resizes it back.
      const session = await page.context().newCDPSession(page);
      const { windowId, bounds: first } = await session.send("Browser.getWindowForTarget");
      assert.deepEqual(
        [first.left, first.top, first.width, first.height],
        [560, 240, 800, 600],
        "the window is placed and sized as asked",
      );
      await session.send("Browser.setWindowBounds", {
        windowId,
        bounds: { width: 400, height: 300 },
      });
      let bounds = { width: 0, height: 0 };
      const end = Date.now() + 30_000;
      while (!(bounds.width >= 640 && bounds.height >= 480) && Date.now() < end) {
        await new Promise((r) => setTimeout(r, 50));
        ({ bounds } = await session.send("Browser.getWindowBounds", { windowId }) as {
          bounds: typeof bounds;
        });
      }
      assert.deepEqual(
        [bounds.width, bounds.height],
        [640, 480],
        "the window is resized back to [window] min_width x min_height",
      );

      const notes = limitNotes(app.stderr());
      assert.equal(notes.length, 1, app.stderr());
      for (
        const note of [
          "frameless = true (a browser app window always has its frame)",
          "transparent = true (a browser window is opaque)",
          "resizable = false (a browser window can always be resized)",
          "min_width/min_height are kept by resizing the window back from the page (best effort)",
        ]
      ) assert.ok(notes[0]!.includes(note), `${note} in ${notes[0]}`);
      assert.ok(!notes[0]!.includes("needs wmctrl") && !notes[0]!.includes("needs xrandr"));
    } finally {
      await cdp?.close();
      await app.stop();
      await Deno.remove(temp, { recursive: true });
    }
  },
});

Deno.test({
  name:
    "[window]: without xrandr and wmctrl nothing is placed or raised; the limits are said in verbose mode only",
  ignore,
  fn: async () => {
    const quiet = WINDOW_TOML.replace("verbose = true", "verbose = false");
    const bundle = await packSmallApp("small-quiet", quiet, FRONTEND);
    const temp = await Deno.makeTempDir();
    const bin = fakeBin(join(temp, "bin"));
    try {
      for (const log of ["", "debug"]) {
        rmSync(bin.browserArgs, { force: true });
        // Only the fake bin on PATH: no xrandr or wmctrl of the host's.
        const app = await startWindowed(bundle, bin, { PBUNDLE_LOG: log, PATH: bin.dir });
        try {
          const args = await browserArgsOf(bin, app);
          assert.ok(args.includes("--window-size=800,600"), args.join(" "));
          assert.ok(!args.some((a) => a.startsWith("--window-position")), args.join(" "));
          const browserPid = Number(readFileSync(bin.browserArgs, "utf8").split("\n")[0]);
          // The page is up (a window closed before that would make the app try xdg-open).
          const profile = join(app.area, "data", "pbundle", "profiles", "small-quiet");
          const cdp = await connectToWindow(app, profile);
          const page = cdp.contexts()[0]!.pages()[0]!;
          await page.waitForFunction(() => (window as AV).auroraview !== undefined);
          await cdp.close();
          Deno.kill(browserPid, "SIGTERM"); // the user closes the window
          assert.equal(await exitedWithin(app), 0, app.stderr());
          await app.closed;
          const notes = limitNotes(app.stderr());
          if (log === "") {
            assert.deepEqual(notes, [], "said without verbose mode");
          } else {
            assert.equal(notes.length, 1, app.stderr());
            assert.ok(notes[0]!.includes("always_on_top = true needs wmctrl on X11"), notes[0]);
            assert.ok(
              notes[0]!.includes('start_position = "center" needs xrandr on X11'),
              notes[0],
            );
          }
          assert.ok(!existsSync(bin.wmctrlArgs));
          assert.deepEqual(leftovers(app.area), []);
        } finally {
          await app.stop();
        }
      }
    } finally {
      await Deno.remove(temp, { recursive: true });
    }
  },
});

/** Runs fn with a bundle running headless (fake xdg-open first on PATH) and a page on it. */
async function withHeadlessPage(
  bundle: string,
  fn: (
    s: { app: RunningBundle; page: import("playwright-core").Page; bin: FakeBin },
  ) => Promise<void>,
): Promise<void> {
  const temp = await Deno.makeTempDir();
  const bin = fakeBin(join(temp, "bin"));
  const app = await startBundle(bundle, { env: { PATH: `${bin.dir}:${Deno.env.get("PATH")}` } });
  const browser = await launchChromium(CHROMIUM!);
  try {
    const page = await browser.newPage();
    await page.goto(app.url);
    await page.waitForFunction(() => (window as AV).auroraview !== undefined);
    await fn({ app, page, bin });
  } catch (error) {
    throw new Error(`${error}\n--- the bundle's stderr:\n${app.stderr()}`);
  } finally {
    await browser.close();
    Deno.kill(app.pid, "SIGTERM");
    assert.equal(await app.exited, 143, app.stderr());
    assert.deepEqual(leftovers(app.area), []);
    await app.stop();
    await Deno.remove(temp, { recursive: true });
  }
}

const SMALL_TOML = `[app]\ntitle = "Small Title ✓"\nfrontend_path = "./frontend"\n`;

Deno.test({
  name: "[app] title is the window's title, over the page's own <title>",
  ignore,
  fn: async () => {
    const bundle = await packSmallApp("small-app", SMALL_TOML, FRONTEND);
    await withHeadlessPage(bundle, async ({ page }) => {
      await page.waitForFunction(() => (globalThis as AV).document.readyState === "complete");
      assert.equal(await page.textContent("#hello"), "small ✓");
      assert.equal(await page.title(), "Small Title ✓");
      await page.goto(new URL("/titled.html", page.url()).href);
      await page.waitForFunction(() => (globalThis as AV).document.readyState === "complete");
      assert.equal(await page.textContent("p"), "titled");
      assert.equal(await page.title(), "Small Title ✓");
      // A page that changes its title later keeps its change.
      await page.evaluate(() => ((globalThis as AV).document.title = "changed by the page"));
      assert.equal(await page.title(), "changed by the page");
    });
  },
});

Deno.test({
  name: "shell plugin: opens a file (relative to where the app started, or a file: URL)",
  ignore,
  fn: async () => {
    const bundle = await packSmallApp("small-app", SMALL_TOML, FRONTEND);
    await withHeadlessPage(bundle, async ({ app, page, bin }) => {
      mkdirSync(join(app.area, "notes"));
      const file = join(app.area, "notes", "read me ✓.txt");
      writeFileSync(file, "hello\n");
      const opened = await page.evaluate(
        (target) => (window as AV).auroraview.shell.open(target),
        "notes/read me ✓.txt",
      );
      assert.deepEqual(opened, { opened: file });
      assert.equal(readFileSync(bin.openedFile, "utf8"), `${file}\n`);
      rmSync(bin.openedFile);

      const byUrl = await page.evaluate(
        (target) => (window as AV).auroraview.shell.open(target),
        pathToFileURL(file).href,
      );
      assert.deepEqual(byUrl, { opened: file });
      assert.equal(readFileSync(bin.openedFile, "utf8"), `${file}\n`);
      rmSync(bin.openedFile);

      const missing = await page.evaluate(async () => {
        try {
          await (window as AV).auroraview.shell.open("notes/nothing.txt");
          return "opened";
        } catch (e) {
          return (e as Error).message;
        }
      });
      assert.equal(
        missing,
        `Cannot open "${join(app.area, "notes", "nothing.txt")}": no such file or directory`,
      );
      assert.ok(!existsSync(bin.openedFile));
    });
  },
});

Deno.test({
  name: "shell plugin: refused with [plugins] shell = false, from the page; nothing is opened",
  ignore,
  fn: async () => {
    const bundle = await packSmallApp(
      "small-no-shell",
      `${SMALL_TOML}\n[plugins]\nshell = false\n`,
      FRONTEND,
    );
    await withHeadlessPage(bundle, async ({ app, page, bin }) => {
      writeFileSync(join(app.area, "file.txt"), "x");
      const messages = await page.evaluate(async () => {
        const out: string[] = [];
        for (const target of ["https://example.com/", "file.txt"]) {
          try {
            await (window as AV).auroraview.shell.open(target);
            out.push("opened");
          } catch (e) {
            out.push((e as Error).message);
          }
        }
        return out;
      });
      assert.deepEqual(messages, [
        "Cannot call plugin:shell|open: the shell plugin is off ([plugins] shell = false)",
        "Cannot call plugin:shell|open: the shell plugin is off ([plugins] shell = false)",
      ]);
      assert.ok(!existsSync(bin.openedFile), "the opener ran");
    });
  },
});
