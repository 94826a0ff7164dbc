/**
 * End-to-end tests of running bundles: exit statuses, arguments passed byte for
 * byte, signals forwarded, the environment, multicall and nothing left under
 * $TMPDIR. Every bundle is built with the node-engine runtime and run as a real
 * process.
 */

import assert from "node:assert/strict";
import { symlink } from "node:fs/promises";
import { join } from "node:path";
import {
  areaEnv,
  fuseWorks,
  listTree,
  makeBundle,
  runBundleProcess,
  type TestArea,
  withBundle,
} from "./_runtime_helper.ts";

const STATUS_APPRUN = `#!/bin/sh
case "$1" in
  exit) exit "$2" ;;
  signal) kill -"$2" $$ ;;
  env) for v in APPDIR SELF ARGV0 APPIMAGE OWD HOME XDG_CONFIG_HOME XDG_DATA_HOME REAL_HOME REAL_XDG_CONFIG_HOME REAL_XDG_DATA_HOME TARGET_APPIMAGE; do eval "printf '%s=%s\\n' $v \\"\\$$v\\""; done; printf 'PATH=%s\\n' "$PATH" ;;
  wait) trap 'echo "got $2"; exit 7' "$2"; echo ready; while :; do sleep 0.05; done ;;
  sleep) echo ready; exec sleep 30 ;;
  *) for a in "$@"; do printf '<%s>\\n' "$a"; done ;;
esac
`;

const FILES = {
  AppRun: STATUS_APPRUN,
  "usr/bin/tool": '#!/bin/sh\necho "tool ran with $*"\n',
  ".DirIcon": "PNG",
};

const SHARED_AREAS: Promise<TestArea>[] = [];

for (const mode of ["mount", "extract"] as const) {
  const areaPromise: Promise<TestArea> = (async () =>
    await makeBundle({ files: FILES, runBehavior: mode === "mount" ? 0 : 1 }))();
  SHARED_AREAS.push(areaPromise);
  const skip = mode === "mount" && !fuseWorks();

  Deno.test({
    name: `bundle (${mode} mode) exits with the app's status: 0, 1, 42`,
    ignore: skip,
    async fn() {
      const area = await areaPromise;
      for (const status of [0, 1, 42]) {
        const r = await runBundleProcess(area.bundle, ["exit", String(status)], {
          env: areaEnv(area),
        });
        assert.equal(r.code, status, r.stderr);
        assert.equal(r.stderr, "");
      }
      assert.deepEqual(listTree(area.tmp), []);
    },
  });

  Deno.test({
    name: `bundle (${mode} mode) exits with 128+N when signal N ends the app, and cleans up`,
    ignore: skip,
    async fn() {
      const area = await areaPromise;
      for (const [signal, status] of [["TERM", 143], ["KILL", 137], ["SEGV", 139]] as const) {
        const r = await runBundleProcess(area.bundle, ["signal", signal], { env: areaEnv(area) });
        assert.equal(r.code, status, `${signal}: ${r.stderr}`);
      }
      assert.deepEqual(listTree(area.tmp), []);
    },
  });

  Deno.test({
    name: `bundle (${mode} mode) passes arguments verbatim: spaces, quotes, newlines, non-UTF-8`,
    ignore: skip,
    async fn() {
      const area = await areaPromise;
      const args: (string | Uint8Array)[] = [
        "a b",
        'it\'s "quoted"',
        "line1\nline2",
        "",
        "--pbundle_help",
        "$HOME `x` *",
        new Uint8Array([0xff, 0xfe, 0x41, 0x0a]),
      ];
      const r = await runBundleProcess(area.bundle, ["echo", ...args], { env: areaEnv(area) });
      assert.equal(r.code, 0, r.stderr);
      const expected: number[] = [];
      for (const arg of ["echo", ...args]) {
        const bytes = typeof arg === "string" ? new TextEncoder().encode(arg) : arg;
        expected.push(0x3c, ...bytes, 0x3e, 0x0a);
      }
      assert.deepEqual([...r.stdoutBytes], expected);
    },
  });

  Deno.test({
    name: `bundle (${mode} mode) forwards SIGINT, SIGTERM and SIGHUP to the app`,
    ignore: skip,
    async fn() {
      const area = await areaPromise;
      for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
        const child = new Deno.Command(area.bundle, {
          args: ["wait", signal.slice(3)],
          env: areaEnv(area),
          clearEnv: true,
          stdout: "piped",
          stderr: "piped",
        }).spawn();
        const reader = child.stdout.getReader();
        let out = "";
        while (!out.includes("ready")) {
          const { value, done } = await reader.read();
          if (done) break;
          out += new TextDecoder().decode(value);
        }
        child.kill(signal);
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          out += new TextDecoder().decode(value);
        }
        const status = await child.status;
        await child.stderr.cancel();
        assert.match(out, new RegExp(`got ${signal.slice(3)}`));
        assert.equal(status.code, 7, `${signal}: ${out}`);
      }
      assert.deepEqual(listTree(area.tmp), []);
    },
  });

  Deno.test({
    name:
      `bundle (${mode} mode) killed by SIGINT/SIGTERM while the app ignores nothing leaves nothing in $TMPDIR`,
    ignore: skip,
    async fn() {
      const area = await areaPromise;
      for (const signal of ["SIGINT", "SIGTERM"] as const) {
        const child = new Deno.Command(area.bundle, {
          args: ["sleep"],
          env: areaEnv(area),
          clearEnv: true,
          stdout: "piped",
          stderr: "null",
        }).spawn();
        const reader = child.stdout.getReader();
        await reader.read();
        child.kill(signal);
        await reader.cancel();
        const status = await child.status;
        assert.equal(status.code, signal === "SIGINT" ? 130 : 143);
        assert.deepEqual(listTree(area.tmp), [], signal);
      }
    },
  });

  Deno.test({
    name: `bundle (${mode} mode) sets APPDIR, SELF, ARGV0, APPIMAGE, OWD and PATH`,
    ignore: skip,
    async fn() {
      const area = await areaPromise;
      const r = await runBundleProcess(area.bundle, ["env"], {
        env: areaEnv(area, { TARGET_APPIMAGE: "" }),
        cwd: area.home,
      });
      assert.equal(r.code, 0, r.stderr);
      const vars = Object.fromEntries(
        r.stdout.trim().split("\n").map((
          l,
        ) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)]),
      );
      assert.match(vars.APPDIR!, new RegExp(`^${area.tmp}/\\.pbundles/testapp-20260101-pbundle_`));
      assert.equal(vars.SELF, area.bundle);
      assert.equal(vars.APPIMAGE, area.bundle);
      assert.equal(vars.ARGV0, "app.AppBundle");
      assert.equal(vars.OWD, area.home);
      assert.equal(vars.HOME, area.home);
      assert.ok(vars.PATH!.includes(`${vars.APPDIR}/usr/bin`), vars.PATH);
    },
  });
}

Deno.test("portable home, config and share beside the bundle replace HOME and XDG dirs", async () => {
  await withBundle({ files: FILES, runBehavior: 1 }, async (area) => {
    const env = areaEnv(area, { XDG_CONFIG_HOME: "/somewhere/config" });
    let r = await runBundleProcess(area.bundle, ["--pbundle_portableHome"], { env });
    assert.equal(r.code, 0, r.stderr);
    const home = join(area.root, "out", ".testapp-20260101-pbundle.home");
    assert.equal(r.stdout.trim(), home);
    r = await runBundleProcess(area.bundle, ["--appimage-portable-config"], { env });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), `${area.bundle}.config`);
    await Deno.mkdir(join(area.root, "out", ".testapp-20260101-pbundle.share"));
    r = await runBundleProcess(area.bundle, ["env"], { env });
    const vars = Object.fromEntries(
      r.stdout.trim().split("\n").map((
        l,
      ) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)]),
    );
    assert.equal(vars.HOME, home);
    assert.equal(vars.REAL_HOME, area.home);
    assert.equal(vars.XDG_CONFIG_HOME, `${area.bundle}.config`);
    assert.equal(vars.REAL_XDG_CONFIG_HOME, "/somewhere/config");
    assert.equal(vars.XDG_DATA_HOME, join(area.root, "out", ".testapp-20260101-pbundle.share"));
    assert.equal(vars.REAL_XDG_DATA_HOME, join(area.home, ".local", "share"));
  });
});

Deno.test("a symlink named after a program in the bundle's bin dirs runs it (multicall), like --pbundle_link", async () => {
  await withBundle({ files: FILES, runBehavior: 1 }, async (area) => {
    const link = join(area.root, "out", "tool");
    await symlink(area.bundle, link);
    let r = await runBundleProcess(link, ["x", "y"], { env: areaEnv(area) });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, "tool ran with x y\n");
    r = await runBundleProcess(area.bundle, ["--pbundle_link", "tool", "z"], {
      env: areaEnv(area),
    });
    assert.equal(r.stdout, "tool ran with z\n");
    // A symlink with any other name runs AppRun.
    const other = join(area.root, "out", "other-name");
    await symlink(area.bundle, other);
    r = await runBundleProcess(other, ["q"], { env: areaEnv(area) });
    assert.equal(r.stdout, "<q>\n");
    // --pbundle_link finds system programs too, in the bundle's environment.
    r = await runBundleProcess(area.bundle, ["--pbundle_link", "sh", "-c", 'echo "$APPDIR"'], {
      env: areaEnv(area),
    });
    assert.match(r.stdout, /\.pbundles\/testapp-20260101-pbundle_/);
    assert.deepEqual(listTree(area.tmp), []);
  });
});

Deno.test("ARGV0 is the base name of $SELF, also when started through a symlink that is no multicall name", async () => {
  await withBundle({ files: FILES, runBehavior: 1 }, async (area) => {
    const link = join(area.root, "launcher");
    await symlink(area.bundle, link);
    const r = await runBundleProcess(link, ["env"], { env: areaEnv(area) });
    assert.equal(r.code, 0, r.stderr);
    const vars = Object.fromEntries(
      r.stdout.trim().split("\n").map((
        l,
      ) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)]),
    );
    assert.equal(vars.SELF, area.bundle);
    assert.equal(vars.ARGV0, "app.AppBundle"); // not "launcher", as AppImage would say
    // Multicall still reads the symlink's own name.
    const tool = join(area.root, "tool");
    await symlink(link, tool);
    const multi = await runBundleProcess(tool, ["x"], { env: areaEnv(area) });
    assert.equal(multi.stdout, "tool ran with x\n", multi.stderr);
  });
});

Deno.test("--appimage-portable-home creates BUNDLE.home, which is $HOME from then on", async () => {
  await withBundle({ files: FILES, runBehavior: 1 }, async (area) => {
    const env = areaEnv(area);
    let r = await runBundleProcess(area.bundle, ["env"], { env });
    assert.match(r.stdout, new RegExp(`^HOME=${area.home}$`, "m"));
    r = await runBundleProcess(area.bundle, ["--appimage-portable-home"], { env });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, `${area.bundle}.home\n`);
    assert.ok((await Deno.stat(`${area.bundle}.home`)).isDirectory);
    assert.deepEqual(
      (await Array.fromAsync(Deno.readDir(join(area.root, "out")))).map((e) => e.name).sort(),
      [
        "app.AppBundle",
        "app.AppBundle.home",
      ],
    );
    r = await runBundleProcess(area.bundle, ["env"], { env });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`^HOME=${area.bundle}\\.home$`, "m"));
    assert.match(r.stdout, new RegExp(`^REAL_HOME=${area.home}$`, "m"));
    assert.match(r.stdout, /^XDG_CONFIG_HOME=$/m); // only HOME was made portable
  });
});

Deno.test("APPIMAGE_EXTRACT_AND_RUN=1 extracts and runs; NO_CLEANUP=1 keeps the directory", async () => {
  await withBundle({ files: FILES, runBehavior: 0 }, async (area) => {
    let r = await runBundleProcess(area.bundle, ["env"], {
      env: areaEnv(area, { APPIMAGE_EXTRACT_AND_RUN: "1" }),
    });
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(listTree(area.tmp), []);
    r = await runBundleProcess(area.bundle, ["--appimage-extract-and-run", "env"], {
      env: areaEnv(area, { NO_CLEANUP: "1" }),
    });
    assert.equal(r.code, 0, r.stderr);
    const appDir = /APPDIR=(.*)/.exec(r.stdout)![1]!;
    assert.ok(listTree(area.tmp).some((p) => appDir.endsWith(p) && p.endsWith("/app")));
    // A later run does not clean a kept directory as stale.
    await runBundleProcess(area.bundle, ["--pbundle_extract_and_run", "exit", "0"], {
      env: areaEnv(area),
    });
    assert.ok(listTree(area.tmp).some((p) => appDir.endsWith(p)));
  });
});

Deno.test("(cleanup of the shared test bundles)", async () => {
  for (const area of SHARED_AREAS) await (await area).cleanup();
});
