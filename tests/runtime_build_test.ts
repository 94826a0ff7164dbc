/**
 * Tests of the runtime build: engine choice, the cache, the embed edition
 * (tools built into the runtime, no .pbundle_static_tools section) and the
 * aarch64 cross build.
 */

import assert from "node:assert/strict";
import { copyFile, mkdir, mkdtemp, open, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { UsageError } from "../errors.ts";
import { pack } from "../packers/appdir.ts";
import { readElf } from "../format/elf/read_elf.ts";
import { readBundle } from "../format/bundle.ts";
import { runCli } from "./_helpers.ts";
import { cachedRuntime, resolveEngine } from "../runtime/build/build_runtime.ts";
import { NODE_PACKAGES, pinnedFile } from "../runtime/build/_node_toolchain.ts";
import { userCacheDir } from "../runtime/user_cache_dir.ts";
import { areaEnv, fuseWorks, listTree, runBundleProcess, writeAppDir } from "./_runtime_helper.ts";

const EM_X86_64 = 62;
const EM_AARCH64 = 183;

async function elfMachine(path: string): Promise<number> {
  const handle = await open(path, "r");
  try {
    const head = new Uint8Array(20);
    await handle.read(head, 0, 20, 0);
    return new DataView(head.buffer).getUint16(0x12, true);
  } finally {
    await handle.close();
  }
}

Deno.test("pack adds the static tools section for a runtime without embedded tools", async () => {
  const root = await mkdtemp(join(tmpdir(), "pbundle-plain-rt-test-"));
  try {
    const tools = join(root, "tools");
    await mkdir(tools);
    await copyFile("/usr/bin/true", join(tools, "squashfuse"));
    const appDir = join(root, "AppDir");
    await writeAppDir(appDir, { AppRun: "#!/bin/sh\necho hi\n" });
    const packed = await pack({
      appDir,
      appBundleId: "plain-20260101-pbundle",
      output: join(root, "app.AppBundle"),
      runtime: (await cachedRuntime({ engine: "node" })).path,
      staticToolsDir: tools,
    });
    assert.equal(packed.toolsInRuntime, false);
    assert.deepEqual(packed.staticTools, ["squashfuse"]);
    assert.ok((await readBundle(packed.output)).staticTools !== undefined);
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});

Deno.test("resolveEngine() picks node without a denort, and refuses deno without one", () => {
  const saved = Deno.env.get("DENORT_BIN");
  try {
    Deno.env.delete("DENORT_BIN");
    assert.equal(resolveEngine("auto").engine, "node");
    assert.match(resolveEngine("auto").reason, /no denort available/);
    assert.equal(resolveEngine("node").engine, "node");
    assert.throws(
      () => resolveEngine("deno"),
      (e) => e instanceof UsageError && /DENORT_BIN/.test(e.message),
    );
    Deno.env.set("DENORT_BIN", Deno.execPath()); // any existing file counts as available
    assert.equal(resolveEngine("auto").engine, "deno");
  } finally {
    if (saved === undefined) Deno.env.delete("DENORT_BIN");
    else Deno.env.set("DENORT_BIN", saved);
  }
});

Deno.test("cachedRuntime() reuses the cached runtime while the sources are unchanged", async () => {
  const first = await cachedRuntime({ engine: "node" });
  const second = await cachedRuntime({ engine: "node" });
  assert.equal(second.path, first.path);
  assert.equal(second.fromCache, true);
  assert.match(second.path, /runtimes\/[^/]+\/node-x86_64$|runtimes\/[^/]+\/node-aarch64$/);
  assert.equal(
    await elfMachine(second.path),
    Deno.build.arch === "x86_64" ? EM_X86_64 : EM_AARCH64,
  );
});

Deno.test("the node runtime leaves out the Node binary's debug sections: over 10 MB smaller (the runtime_run tests run bundles with it)", async () => {
  const built = await cachedRuntime({ engine: "node" });
  const node = await pinnedFile(NODE_PACKAGES[built.target], userCacheDir());
  const runtime = await readElf(built.path);
  const nodeSize = (await Deno.stat(node)).size;
  assert.ok(
    nodeSize - runtime.fileSize > 10e6,
    `runtime ${runtime.fileSize} bytes, node ${nodeSize} bytes`,
  );
  const names = runtime.sections.map((s) => s.name);
  for (const gone of [".debug_info", ".symtab", ".strtab"]) assert.ok(!names.includes(gone));
  for (const kept of [".text", ".rodata", ".dynsym", ".dynstr"]) assert.ok(names.includes(kept));
});

Deno.test({
  name:
    "an embed-edition runtime carries the tools itself: a bundle without a tools section mounts with them",
  ignore: !fuseWorks(),
  async fn() {
    const root = await mkdtemp(join(tmpdir(), "pbundle-embed-test-"));
    try {
      const tools = join(root, "tools");
      await mkdir(tools);
      await copyFile("/usr/bin/squashfuse", join(tools, "squashfuse"));
      const runtime = await cachedRuntime({
        engine: "node",
        embedToolsDir: tools,
        cacheDir: join(root, "build-cache"),
      });
      assert.match(runtime.path, /-embed-[0-9a-f]{16}$/);
      const appDir = join(root, "AppDir");
      await writeAppDir(appDir, { AppRun: '#!/bin/sh\necho "mounted at $APPDIR"\n' });
      const bundle = join(root, "app.AppBundle");
      // No noStaticTools: pack must see that the runtime carries the tools and
      // add no section of its own (the runtime would prefer the section).
      const packed = await pack({
        appDir,
        appBundleId: "embed-20260101-pbundle",
        output: bundle,
        runtime: runtime.path,
        runBehavior: 0,
      });
      assert.equal(packed.toolsInRuntime, true);
      assert.deepEqual(packed.staticTools, []);
      assert.equal((await readBundle(bundle)).staticTools, undefined);
      const sections = (await readElf(bundle)).sections.map((s) => s.name);
      assert.ok(!sections.includes(".pbundle_static_tools"), sections.join(" "));
      // The CLI says so.
      const cli = await runCli([
        "pack",
        "-a",
        appDir,
        "-i",
        "embed-20260101-pbundle",
        "--runtime",
        runtime.path,
        "-o",
        join(root, "cli.AppBundle"),
      ]);
      assert.equal(cli.code, 0, cli.stderr);
      assert.match(cli.stdout, /; no static tools section: the runtime carries the tools\)\n$/);
      const area = { tmp: join(root, "tmp"), cache: join(root, "cache"), home: root };
      await mkdir(area.tmp);
      const emptyPath = join(root, "empty-bin");
      await mkdir(emptyPath);
      // PATH has no squashfuse: only the embedded copy can mount.
      const env = {
        ...areaEnv({ ...area, root, bundle, cleanup: async () => {} }),
        PATH: emptyPath,
      };
      const r = await runBundleProcess(bundle, [], { env });
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /^mounted at /);
      assert.ok(
        listTree(join(area.cache, "pbundle", "tools")).some((p) => p.endsWith("/squashfuse")),
      );
      assert.deepEqual(listTree(area.tmp), []);
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  },
});

Deno.test({
  name: "the node engine cross-builds an aarch64 runtime on x86_64",
  ignore: Deno.build.arch !== "x86_64",
  async fn() {
    const built = await cachedRuntime({ engine: "node", target: "aarch64" });
    assert.equal(built.target, "aarch64");
    assert.equal(await elfMachine(built.path), EM_AARCH64);
    const names = (await readElf(built.path)).sections.map((s) => s.name);
    assert.ok(!names.includes(".debug_info") && names.includes(".dynsym"));
  },
});
