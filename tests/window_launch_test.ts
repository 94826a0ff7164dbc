/**
 * The app window's launcher with the packed example: the bundle (not headless)
 * opens its window in a Chromium named by BROWSER (a wrapper that records its
 * arguments and runs Debian's chromium headless), and ends when the window
 * closes; SIGTERM closes the window; a browser that fails falls back to
 * xdg-open.
 */

import assert from "node:assert/strict";
import { chmodSync, existsSync, lstatSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { alive, waitFor } from "./_fullstack.ts";
import {
  childrenOf,
  chromiumPath,
  hostPythonPath,
  leftovers,
  packedExample,
  type RunningBundle,
  startBundle,
} from "./_window.ts";

const CHROMIUM = chromiumPath();
const ignore = CHROMIUM === undefined || hostPythonPath() === undefined;

/** Writes an executable script. */
function script(path: string, text: string): string {
  writeFileSync(path, text);
  chmodSync(path, 0o755);
  return path;
}

/** A bin directory with a chromium wrapper (named so it counts as Chromium) and a fake xdg-open. */
function fakeBin(
  dir: string,
  browserExit?: number,
): { browser: string; argsFile: string; openedFile: string } {
  mkdirSync(dir, { recursive: true });
  const argsFile = join(dir, "browser-args");
  const openedFile = join(dir, "opened");
  const browser = script(
    join(dir, "chromium-under-test"),
    browserExit === undefined
      ? `#!/bin/sh\nprintf '%s\\n' "$$" "$@" > '${argsFile}'\n` +
        `exec '${CHROMIUM}' --headless --no-sandbox --disable-gpu "$@"\n`
      : `#!/bin/sh\necho "cannot open display" >&2\nexit ${browserExit}\n`,
  );
  script(join(dir, "xdg-open"), `#!/bin/sh\nprintf '%s\\n' "$@" > '${openedFile}'\n`);
  return { browser, argsFile, openedFile };
}

/** The packed example started to open a window, with the browser of {@linkcode fakeBin}. */
interface WindowedApp {
  /** The running bundle. */
  app: RunningBundle;
  /** Where the browser wrapper writes its pid and arguments. */
  argsFile: string;
  /** Where the fake xdg-open writes the address it was given. */
  openedFile: string;
}

/**
 * Runs `fn` with the packed example started not headless, with a display and
 * BROWSER naming the wrapper of {@linkcode fakeBin} (whose directory also heads
 * PATH); then stops the app and removes the wrapper, whatever happens.
 *
 * @returns The app's exit status.
 */
async function withWindowedApp(
  browserExit: number | undefined,
  fn: (windowed: WindowedApp) => Promise<void>,
): Promise<number> {
  const bundle = await packedExample();
  const temp = await Deno.makeTempDir();
  const bin = join(temp, "bin");
  const { browser, argsFile, openedFile } = fakeBin(bin, browserExit);
  const app = await startBundle(bundle, {
    waitForUrl: false,
    env: {
      PBUNDLE_HEADLESS: "0",
      DISPLAY: ":0",
      BROWSER: browser,
      PATH: `${bin}:${Deno.env.get("PATH")}`,
    },
  });
  let status: number;
  try {
    await fn({ app, argsFile, openedFile });
  } finally {
    status = await app.stop();
    await Deno.remove(temp, { recursive: true });
  }
  return status;
}

Deno.test({
  name:
    "window launcher: app mode with its own profile; closing the window ends the app and frees the profile",
  ignore,
  fn: async () => {
    await withWindowedApp(undefined, async ({ app, argsFile }) => {
      assert.ok(
        await waitFor(() => app.stderr().includes("a page connected for events"), 20000),
        `the page never connected:\n${app.stderr()}`,
      );
      const [pid, ...args] = readFileSync(argsFile, "utf8").trim().split("\n");
      const profile = join(app.area, "data", "pbundle", "profiles", "yaml-viewer");
      assert.match(
        args[0]!,
        /^--app=http:\/\/127\.0\.0\.1:\d+\/__pbundle\/launch\?token=[\w-]{43}$/,
      );
      for (
        const flag of [
          `--user-data-dir=${profile}`,
          "--window-size=960,640",
          "--class=yaml-viewer",
          "--no-first-run",
          "--block-new-web-contents",
        ]
      ) assert.ok(args.includes(flag), `${flag} in ${args.join(" ")}`);
      assert.ok(!args.includes("--auto-open-devtools-for-tabs"));
      assert.ok(
        lstatSync(join(profile, "SingletonLock")).isSymbolicLink(),
        "the browser holds the profile",
      );
      const backend = childrenOf(app.pid).find((c) => c.comm.startsWith("python"));
      assert.ok(backend, "the backend runs");
      // The launch address is spent once the window has used it.
      const launch = await fetch(args[0]!.slice("--app=".length), { redirect: "manual" });
      await launch.body?.cancel();
      assert.equal(launch.status, 403);

      Deno.kill(Number(pid), "SIGTERM"); // the user closes the window
      const code = await Promise.race([
        app.exited,
        new Promise((r) => setTimeout(() => r("timeout"), 15000)),
      ]);
      assert.equal(code, 0, app.stderr());
      assert.match(app.stderr(), /the window closed/);
      assert.ok(!alive(backend!.pid), "the backend stopped");
      assert.ok(!existsSync(join(profile, "SingletonLock")), "the profile lock is released");
      assert.ok(existsSync(profile), "the profile stays for the next launch");
      // The work directory, the browser's socket directory and anything else the
      // app made in TMPDIR or the cache is gone; the extraction cache stays.
      assert.deepEqual(leftovers(app.area), []);
      assert.ok(existsSync(join(app.area, "cache", "pbundle", "apps")), "the extraction cache");
    });
  },
});

Deno.test({
  name: "window launcher: SIGTERM to the app closes its window and stops the backend",
  ignore,
  fn: async () => {
    await withWindowedApp(undefined, async ({ app, argsFile }) => {
      assert.ok(
        await waitFor(() => app.stderr().includes("a page connected for events"), 20000),
        app.stderr(),
      );
      const browserPid = Number(readFileSync(argsFile, "utf8").split("\n")[0]);
      const backend = childrenOf(app.pid).find((c) => c.comm.startsWith("python"))!;
      assert.ok(alive(browserPid) && alive(backend.pid));
      Deno.kill(app.pid, "SIGTERM");
      assert.equal(await app.exited, 143, app.stderr());
      // The app waits for its window and backend before it exits: nothing outlives it.
      assert.ok(!alive(browserPid), "the browser outlived the app");
      assert.ok(!alive(backend.pid), "the backend outlived the app");
      assert.deepEqual(leftovers(app.area), []);
    });
  },
});

Deno.test({
  name: "window launcher: a browser that cannot start falls back to xdg-open",
  ignore,
  fn: async () => {
    const status = await withWindowedApp(1, async ({ app, openedFile }) => {
      assert.ok(await waitFor(() => existsSync(openedFile), 20000), app.stderr());
      assert.match(
        app.stderr(),
        /exited with status 1 before the page loaded \(cannot open display\); trying the default browser/,
      );
      const url = readFileSync(openedFile, "utf8").trim();
      assert.match(url, /^http:\/\/127\.0\.0\.1:\d+\/__pbundle\/launch\?token=/);
      const page = await fetch(url, { redirect: "manual" });
      await page.body?.cancel();
      assert.equal(page.status, 302);
      assert.match(
        page.headers.get("set-cookie") ?? "",
        /^pbundle_session_\d+=[\w-]+; Path=\/; HttpOnly; SameSite=Strict$/,
      );
    });
    assert.equal(status, 143);
  },
});

Deno.test({
  name: "window launcher: without a display the app serves and prints its address",
  ignore,
  fn: async () => {
    const bundle = await packedExample();
    const app = await startBundle(bundle, { env: { PBUNDLE_HEADLESS: "0" } });
    try {
      assert.match(app.url, /^http:\/\/127\.0\.0\.1:\d+\/__pbundle\/launch\?token=[\w-]{43}$/);
      assert.match(app.stderr(), /Cannot open a window: no display/);
    } finally {
      assert.equal(await app.stop(), 143);
    }
  },
});
