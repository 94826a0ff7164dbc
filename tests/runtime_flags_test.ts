/**
 * End-to-end tests of the runtime's flags (--pbundle_* and --appimage-*), each
 * run on a real bundle built with the node-engine runtime.
 */

import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { readBundle } from "../format/bundle.ts";
import {
  areaEnv,
  fuseWorks,
  listTree,
  makeBundle,
  mountsUnder,
  runBundleProcess,
  type TestArea,
  withBundle,
} from "./_runtime_helper.ts";

const SVG = '<svg xmlns="http://www.w3.org/2000/svg"/>';
const FILES = {
  AppRun: '#!/bin/sh\necho "app ran: $*"\n',
  "icon.png": "\x89PNG fake",
  ".DirIcon": { symlink: "icon.png" },
  ".DirIcon.svg": SVG,
  "b.desktop": "[Desktop Entry]\nName=b\n",
  "a.desktop": "[Desktop Entry]\nName=a\n",
  "usr/share/metainfo/org.test.app.metainfo.xml": "<component/>",
  "usr/bin/tool": "#!/bin/sh\necho tool\n",
  "usr/lib/libx.so": "lib",
  "docs/readme.txt": "read me",
  "docs/deep/notes.md": "notes",
};

let shared: Promise<TestArea> | undefined;
function area(): Promise<TestArea> {
  shared ??= makeBundle({
    files: FILES,
    runBehavior: 1,
    updInfo: "zsync|https://example.org/app.zsync",
  });
  return shared;
}

async function flag(args: string[], env: Record<string, string> = {}, cwd?: string) {
  const a = await area();
  return await runBundleProcess(a.bundle, args, { env: areaEnv(a, env), ...(cwd ? { cwd } : {}) });
}

Deno.test("--pbundle_pngIcon, --pbundle_svgIcon, --pbundle_desktop, --pbundle_appstream print base64", async () => {
  let r = await flag(["--pbundle_pngIcon"]);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(
    new Uint8Array(Uint8Array.from(atob(r.stdout.trim()), (c) => c.charCodeAt(0))),
    new TextEncoder().encode("\x89PNG fake"),
  );
  r = await flag(["--pbundle_svgIcon"]);
  assert.equal(atob(r.stdout.trim()), SVG);
  r = await flag(["--pbundle_desktop"]);
  assert.equal(atob(r.stdout.trim()), "[Desktop Entry]\nName=a\n"); // the first by name
  r = await flag(["--pbundle_appstream"]);
  assert.equal(atob(r.stdout.trim()), "<component/>");
  // They answer without mounting or extracting anything.
  assert.deepEqual(listTree((await area()).tmp), []);
  assert.deepEqual(listTree(join((await area()).cache, "pbundle", "apps")), []);
});

Deno.test("icon and desktop flags exit 1 when the bundle has none", async () => {
  await withBundle({ files: { AppRun: "#!/bin/sh\n" }, runBehavior: 1 }, async (bare) => {
    for (
      const f of [
        "--pbundle_pngIcon",
        "--pbundle_svgIcon",
        "--pbundle_desktop",
        "--pbundle_appstream",
      ]
    ) {
      const r = await runBundleProcess(bare.bundle, [f], { env: areaEnv(bare) });
      assert.equal(r.code, 1, f);
      assert.equal(r.stdout, "");
      assert.match(r.stderr, /Cannot print the .*: the bundle has none/);
    }
  });
});

Deno.test("--pbundle_offset and --appimage-offset print the image offset", async () => {
  const offset = (await readBundle((await area()).bundle)).imageOffset;
  for (const f of ["--pbundle_offset", "--appimage-offset"]) {
    const r = await flag([f]);
    assert.equal(r.stdout, `${offset}\n`);
  }
});

Deno.test("--pbundle_help and --appimage-help describe the bundle and every flag", async () => {
  for (const f of ["--pbundle_help", "--appimage-help"]) {
    const r = await flag([f]);
    assert.equal(r.code, 0);
    for (
      const text of [
        "pbundle-1",
        "cfg.exeName: testapp-20260101-pbundle",
        "cfg.archiveOffset",
        "--pbundle_extract",
        "--appimage-updateinfo",
      ]
    ) {
      assert.ok(r.stdout.includes(text), text);
    }
  }
});

Deno.test("--appimage-version, --appimage-updateinfo, --appimage-signature", async () => {
  let r = await flag(["--appimage-version"]);
  assert.match(r.stdout, /^pbundle runtime \d+\.\d+\.\d+/);
  r = await flag(["--appimage-updateinfo"]);
  assert.equal(r.stdout, "zsync|https://example.org/app.zsync\n");
  r = await flag(["--appimage-signature"]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /not signed/);
});

Deno.test("--pbundle_list lists the image and the static tools", async () => {
  const r = await flag(["--pbundle_list"]);
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stdout.trim().split("\n");
  for (const p of ["AppRun", ".DirIcon", "usr/bin/tool", "docs/deep/notes.md"]) {
    assert.ok(lines.includes(p), p);
  }
  assert.ok(lines.some((l) => l.startsWith("[static tools] ")), r.stdout);
});

Deno.test("--pbundle_extract extracts everything, or what real glob patterns match, to ./<ID>_squashfs", async () => {
  const a = await area();
  const cwd = join(a.root, "work1");
  await Deno.mkdir(cwd);
  let r = await flag(["--pbundle_extract"], {}, cwd);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, "./testapp20260101pbundle_squashfs\n");
  const all = listTree(join(cwd, "testapp20260101pbundle_squashfs"));
  assert.ok(all.includes("docs/deep/notes.md") && all.includes("AppRun"));
  const cwd2 = join(a.root, "work2");
  await Deno.mkdir(cwd2);
  r = await flag(["--pbundle_extract", "**/*.md", "usr/bin/*"], {}, cwd2);
  assert.equal(r.code, 0, r.stderr);
  const some = listTree(join(cwd2, "testapp20260101pbundle_squashfs"));
  assert.ok(some.includes("docs/deep/notes.md") && some.includes("usr/bin/tool"), some.join(","));
  assert.ok(!some.includes("AppRun") && !some.includes("docs/readme.txt"), some.join(","));
});

Deno.test("--appimage-extract extracts into ./squashfs-root, optionally by pattern", async () => {
  const a = await area();
  const cwd = join(a.root, "work3");
  await Deno.mkdir(cwd);
  const r = await flag(["--appimage-extract", "*.desktop"], {}, cwd);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(listTree(join(cwd, "squashfs-root")), ["a.desktop", "b.desktop"]);
  assert.equal(
    await readFile(join(cwd, "squashfs-root", "a.desktop"), "utf8"),
    "[Desktop Entry]\nName=a\n",
  );
});

Deno.test("--pbundle_extract_and_run and --appimage-extract-and-run run the app from an extraction", async () => {
  for (const f of ["--pbundle_extract_and_run", "--appimage-extract-and-run"]) {
    const r = await flag([f, "x", "y z"]);
    assert.equal(r.stdout, "app ran: x y z\n", r.stderr);
  }
  assert.deepEqual(listTree((await area()).tmp), []);
});

Deno.test("--pbundle_verify checks the image on demand", async () => {
  const r = await flag(["--pbundle_verify"]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^OK: the image matches sha256 [0-9a-f]{64}/);
});

Deno.test("--pbundle_portableHome and --pbundle_portableConfig create the dirs beside the bundle", async () => {
  const a = await area();
  for (
    const [f, suffix] of [["--pbundle_portableHome", "home"], [
      "--pbundle_portableConfig",
      "config",
    ]]
  ) {
    const r = await flag([f!]);
    const dir = join(a.root, "out", `.testapp-20260101-pbundle.${suffix}`);
    assert.equal(r.stdout.trim(), dir);
    assert.ok((await Deno.stat(dir)).isDirectory);
    await Deno.remove(dir);
  }
});

Deno.test("an unknown runtime flag is refused with a hint, and other arguments go to the app", async () => {
  let r = await flag(["--pbundle_extrct"]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /no such flag; did you mean --pbundle_extract\?/);
  r = await flag(["--other", "--pbundle_help"]);
  assert.equal(r.stdout, "app ran: --other --pbundle_help\n");
});

Deno.test("TARGET_APPIMAGE makes a bundle operate on another bundle", async () => {
  await withBundle({
    files: { AppRun: '#!/bin/sh\necho "other: $SELF"\n' },
    runBehavior: 1,
  }, async (other) => {
    const r = await flag([], { TARGET_APPIMAGE: other.bundle });
    assert.equal(r.stdout, `other: ${other.bundle}\n`, r.stderr);
  });
});

Deno.test({
  name: "--pbundle_mount [DIR] and --appimage-mount mount until interrupted, then unmount",
  ignore: !fuseWorks(),
  async fn() {
    const a = await area();
    const dir = join(a.root, "mnt");
    await Deno.mkdir(dir);
    for (const args of [["--pbundle_mount", dir], ["--appimage-mount"]]) {
      const child = new Deno.Command(a.bundle, {
        args,
        env: areaEnv(a),
        clearEnv: true,
        stdout: "piped",
        stderr: "piped",
      }).spawn();
      const reader = child.stdout.getReader();
      const { value } = await reader.read();
      const mountPoint = new TextDecoder().decode(value).trim();
      if (args[1]) assert.equal(mountPoint, dir);
      assert.equal(await readFile(join(mountPoint, "docs", "readme.txt"), "utf8"), "read me");
      child.kill("SIGINT");
      assert.equal((await child.status).code, 0);
      await reader.cancel();
      await child.stderr.cancel();
      assert.deepEqual(await mountsUnder(a.root), []);
    }
    assert.deepEqual(listTree(a.tmp), []);
  },
});

Deno.test("(cleanup of the shared flag-test bundle)", async () => {
  if (shared) await (await shared).cleanup();
});
