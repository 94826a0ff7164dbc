/**
 * `pbundle pack` end to end: real AppDirs packed through the CLI's `main`, the
 * results read back with readelf, objcopy, zstd, tar, unsquashfs and (when
 * installed) python3's cbor2, and run as real processes.
 */

import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { join } from "node:path";
import { readBundle } from "../format/bundle.ts";
import { decodeRuntimeInfo, FORMAT_VERSION } from "../format/runtime_info.ts";
import { hostInfo } from "../packers/appdir.ts";
import { mksquashfsCompressionArgs, parseBlockSize } from "../packers/make_image.ts";
import { readSuperblock } from "../format/squashfs/mod.ts";
import { UsageError } from "../errors.ts";
import { testRuntime } from "./_runtime_helper.ts";
import { decodeStrictCbor, FIXED_KEYS } from "./_cbor.ts";
import {
  type AppDirOptions,
  APPRUN_OUTPUT,
  cliProcessArgs,
  HOST_ELF,
  listDir,
  makePackInputs,
  onPath,
  packArgs,
  packFixture,
  pseudoRandomBytes,
  readelfSections,
  readRange,
  requireTools as tools,
  run,
  runCli,
  runOk,
  withTempDir,
} from "./_helpers.ts";

/** Dumps a section with objcopy, the independent reader. */
async function dumpSection(bundle: string, name: string, dir: string): Promise<Uint8Array> {
  const out = join(dir, `section${name}`);
  await runOk("objcopy", ["--dump-section", `${name}=${out}`, bundle, "/dev/null"]);
  return await Deno.readFile(out);
}

/** Makes a directory of stand-in static tools: copies of a small host program. */
async function fakeToolsDir(dir: string, names = ["squashfuse", "unsquashfs"]): Promise<string> {
  const tools = join(dir, "static-tools");
  await Deno.mkdir(tools);
  for (const name of names) {
    await Deno.copyFile(HOST_ELF, join(tools, name));
    await Deno.chmod(join(tools, name), 0o755);
  }
  return tools;
}

/** Lists a .pbundle_static_tools section with the zstd and tar command line tools. */
async function listToolsArchive(archive: Uint8Array, dir: string): Promise<string[]> {
  const zst = join(dir, "tools.tar.zst");
  await Deno.writeFile(zst, archive);
  await runOk("zstd", ["-q", "-d", "-f", zst, "-o", join(dir, "tools.tar")]);
  return (await runOk("tar", ["-tf", join(dir, "tools.tar")])).trim().split("\n");
}

Deno.test("pack writes runtime info with exactly the seven keys and their types", async () => {
  if (!tools("objcopy")) return;
  await withTempDir(async (dir) => {
    const { bundle } = await packFixture(dir, ["-t"]);
    const bytes = await dumpSection(bundle, ".pbundle_runtime_info", dir);
    const map = decodeStrictCbor(bytes);
    assert.deepEqual([...map.keys()], FIXED_KEYS);
    assert.equal(map.get("AppBundleID"), "hello-20260101-pbundle");
    assert.equal(map.get("PelfVersion"), FORMAT_VERSION);
    assert.equal(map.get("HostInfo"), hostInfo());
    assert.equal(map.get("FilesystemType"), "squashfs");
    assert.match(String(map.get("Hash")), /^[0-9a-f]{64}$/);
    assert.equal(map.get("DisableRandomWorkDir"), false);
    assert.equal(map.get("MountOrExtract"), 3);
    // Hash is the SHA-256 of the bytes from the image offset to the end of the file.
    const info = await readBundle(bundle);
    const file = await Deno.readFile(bundle);
    const digest = createHash("sha256").update(file.subarray(info.imageOffset)).digest("hex");
    assert.equal(map.get("Hash"), digest);
  });
});

Deno.test("pack's runtime info decodes with python3's cbor2", async () => {
  if (!tools("objcopy")) return;
  const probe = onPath("python3") ? await run("python3", ["-c", "import cbor2"]) : { code: 1 };
  if (probe.code !== 0) {
    // scripts/install_deps.sh installs cbor2; on a developer's machine without it, say so.
    if (Deno.env.get("CI") === "true") throw new Error("python3 has no cbor2 module in CI");
    console.warn("skipped: python3 has no cbor2 module (pip install cbor2)");
    return;
  }
  await withTempDir(async (dir) => {
    const { bundle } = await packFixture(dir, ["-t", "-d", "-b", "1"]);
    const bytes = await dumpSection(bundle, ".pbundle_runtime_info", dir);
    const file = join(dir, "info.cbor");
    await Deno.writeFile(file, bytes);
    const script = [
      "import cbor2, json, sys",
      "data = open(sys.argv[1], 'rb').read()",
      "value = cbor2.loads(data)",
      "print(json.dumps({k: [type(v).__name__, v] for k, v in value.items()}))",
    ].join("\n");
    const out = JSON.parse(await runOk("python3", ["-c", script, file]));
    assert.deepEqual(Object.keys(out), FIXED_KEYS);
    assert.deepEqual(out.AppBundleID, ["str", "hello-20260101-pbundle"]);
    assert.equal(out.PelfVersion[0], "str");
    assert.equal(out.HostInfo[0], "str");
    assert.deepEqual(out.FilesystemType, ["str", "squashfs"]);
    assert.equal(out.Hash[0], "str");
    assert.deepEqual(out.DisableRandomWorkDir, ["bool", true]);
    assert.deepEqual(out.MountOrExtract, ["int", 1]);
  });
});

Deno.test("pack -d and -b set DisableRandomWorkDir and MountOrExtract", async () => {
  for (const behavior of [0, 1, 2, 3] as const) {
    await withTempDir(async (dir) => {
      const { bundle } = await packFixture(dir, [
        "-t",
        "--disable-use-random-workdir",
        "--run-behavior",
        String(behavior),
      ]);
      const { runtimeInfo } = await readBundle(bundle);
      assert.equal(runtimeInfo.MountOrExtract, behavior);
      assert.equal(runtimeInfo.DisableRandomWorkDir, true);
    });
  }
});

Deno.test("pack --add-runtime-info-section adds string keys after the fixed ones", async () => {
  if (!tools("objcopy")) return;
  await withTempDir(async (dir) => {
    const { bundle } = await packFixture(dir, [
      "-t",
      "--add-runtime-info-section",
      ".Homepage:https://example.org/a:b",
      "--add-runtime-info-section",
      ".Empty:",
    ]);
    const map = decodeStrictCbor(await dumpSection(bundle, ".pbundle_runtime_info", dir));
    assert.deepEqual([...map.keys()], [...FIXED_KEYS, "Homepage", "Empty"]);
    assert.equal(map.get("Homepage"), "https://example.org/a:b");
    assert.equal(map.get("Empty"), "");
  });
});

for (
  const [entry, pattern] of [
    ["Homepage:x", /expected '\.key:value'/],
    [".Homepage", /expected '\.key:value'/],
    [".Hash:abc", /Hash is set by pbundle itself/],
  ] as const
) {
  Deno.test(`pack refuses --add-runtime-info-section ${JSON.stringify(entry)} with exit 2`, async () => {
    await withTempDir(async (dir) => {
      const inputs = await makePackInputs(dir);
      const out = join(dir, "out");
      await Deno.mkdir(out);
      const result = await runCli(
        packArgs(inputs, ["-o", join(out, "x.AppBundle"), "--add-runtime-info-section", entry]),
      );
      assert.equal(result.code, 2);
      assert.match(result.stderr, pattern);
      assert.deepEqual(await listDir(out), []);
    });
  });
}

Deno.test("pack --static-tools-dir stores the tools as a zstd tar that zstd and tar read", async () => {
  if (!tools("objcopy", "zstd", "tar")) return;
  await withTempDir(async (dir) => {
    const toolsDir = await fakeToolsDir(dir);
    const { bundle, cli } = await packFixture(dir, ["--static-tools-dir", toolsDir]);
    assert.equal(cli.stderr, "");
    const archive = await dumpSection(bundle, ".pbundle_static_tools", dir);
    // The zstd frame magic, then a tar holding exactly the tools (HOST_ELF needs only libc).
    assert.deepEqual([...archive.subarray(0, 4)], [0x28, 0xb5, 0x2f, 0xfd]);
    assert.deepEqual(await listToolsArchive(archive, dir), ["squashfuse", "unsquashfs"]);
    // Reproducible archive entries: owner 0, mtime 1970.
    const verbose = await runOk("tar", ["-tvf", join(dir, "tools.tar"), "--numeric-owner"]);
    for (const line of verbose.trim().split("\n")) assert.match(line, /^-rwx.* 0\/0 .*1970-01-01/);
    // The extracted tool is the original program.
    await runOk("tar", ["-xf", join(dir, "tools.tar"), "-C", dir]);
    assert.deepEqual(
      await Deno.readFile(join(dir, "squashfuse")),
      await Deno.readFile(HOST_ELF),
    );
    const info = await readBundle(bundle);
    assert.equal(info.staticTools?.size, archive.length);
  });
});

Deno.test("pack collects dynamically linked host tools with their non-libc libraries under lib/", async () => {
  if (!tools("objcopy", "zstd", "tar", "squashfuse", "unsquashfs", "ldd")) return;
  await withTempDir(async (dir) => {
    const { bundle, cli } = await packFixture(dir, []);
    assert.equal(cli.stderr, "");
    const listed = await listToolsArchive(
      await dumpSection(bundle, ".pbundle_static_tools", dir),
      dir,
    );
    // What ldd says the tools need, less the C library itself.
    const expected = new Set<string>();
    for (const tool of ["squashfuse", "unsquashfs"]) {
      const path = (await runOk("sh", ["-c", `command -v ${tool}`])).trim();
      for (const line of (await run("ldd", [path])).stdout.split("\n")) {
        const m = /^\s*(\S+)\s+=>\s+\//.exec(line);
        if (m && !/^(ld-linux|libc|libm|libpthread|libdl|librt)[.-]/.test(m[1]!)) {
          expected.add(`lib/${m[1]}`);
        }
      }
    }
    const libs = listed.filter((n) => n.startsWith("lib/") && n !== "lib/");
    assert.deepEqual(libs.sort(), [...expected].sort());
    assert.ok(listed.includes("squashfuse") && listed.includes("unsquashfs"));
    assert.ok(!listed.some((n) => /^lib\/libc\.so/.test(n)), "libc is never copied");
    // The collected unsquashfs runs against the collected libraries.
    const unpacked = join(dir, "tools");
    await Deno.mkdir(unpacked);
    await runOk("tar", ["-xf", join(dir, "tools.tar"), "-C", unpacked]);
    const version = await run(join(unpacked, "unsquashfs"), ["-version"], {
      env: { LD_LIBRARY_PATH: join(unpacked, "lib") },
    });
    assert.match(version.stdout + version.stderr, /unsquashfs version/);
  });
});

Deno.test("pack warns about static tools missing from --static-tools-dir", async () => {
  if (!tools("zstd", "tar", "objcopy")) return;
  await withTempDir(async (dir) => {
    const toolsDir = await fakeToolsDir(dir, ["unsquashfs"]);
    const { bundle, cli } = await packFixture(dir, ["--static-tools-dir", toolsDir]);
    assert.match(cli.stderr, /warning: static tools not found in ".*static-tools": squashfuse;/);
    assert.deepEqual(
      await listToolsArchive(await dumpSection(bundle, ".pbundle_static_tools", dir), dir),
      ["unsquashfs"],
    );
  });
});

Deno.test("pack -t and --no-static-tools add no static tools section", async () => {
  if (!tools("readelf")) return;
  for (const flag of ["-t", "--no-static-tools"]) {
    await withTempDir(async (dir) => {
      const { bundle } = await packFixture(dir, [flag]);
      const names = (await readelfSections(bundle)).map((s) => s.name);
      assert.ok(names.includes(".pbundle_runtime_info"));
      assert.ok(!names.includes(".pbundle_static_tools"), flag);
      assert.equal((await readBundle(bundle)).staticTools, undefined);
    });
  }
});

Deno.test("pack --list-static-tools lists the tools with their hashes and exits", async () => {
  await withTempDir(async (dir) => {
    const toolsDir = await fakeToolsDir(dir);
    const result = await runCli(["pack", "--list-static-tools", "--static-tools-dir", toolsDir]);
    assert.equal(result.code, 0);
    const sha = createHash("sha256").update(await Deno.readFile(HOST_ELF)).digest("hex");
    assert.equal(
      result.stdout,
      `squashfuse # ${sha} (${join(toolsDir, "squashfuse")})\n` +
        `unsquashfs # ${sha} (${join(toolsDir, "unsquashfs")})\n`,
    );
    assert.deepEqual(await listDir(dir), ["static-tools"], "nothing is written");
  });
});

Deno.test("pack --static-tools-dir naming a missing directory fails with one line", async () => {
  await withTempDir(async (dir) => {
    const missing = join(dir, "nope");
    const result = await runCli(["pack", "--list-static-tools", "--static-tools-dir", missing]);
    assert.equal(result.code, 1);
    assert.equal(
      result.stderr,
      `pbundle: Cannot read the static tools directory "${missing}": no such directory\n`,
    );
  });
});

Deno.test("pack writes the magic AB\\x02 at offset 8, or AI\\x02 with -A", async () => {
  const cases: [string[], string][] = [
    [[], "AB\x02"],
    [["-A"], "AI\x02"],
    [["--appimage-compat"], "AI\x02"],
  ];
  for (const [args, magic] of cases) {
    await withTempDir(async (dir) => {
      const { bundle } = await packFixture(dir, ["-t", ...args]);
      const head = await Deno.readFile(bundle);
      assert.equal(new TextDecoder().decode(head.subarray(8, 11)), magic);
      assert.equal((await run(bundle, [])).code, 0, "the magic does not stop the ELF from running");
    });
  }
});

Deno.test("pack --add-elf-section and --add-updinfo add sections objcopy reads back", async () => {
  if (!tools("objcopy")) return;
  await withTempDir(async (dir) => {
    const extra = join(dir, ".my_signature.elfS");
    const payload = new Uint8Array([0, 1, 2, 3, 255, 254, 0, 7]);
    await Deno.writeFile(extra, payload);
    const updInfo = "gh-releases-zsync|pbundle|hello|latest|hello-*x86_64.AppBundle.zsync";
    const { bundle } = await packFixture(dir, [
      "-t",
      "--add-elf-section",
      extra,
      "--add-updinfo",
      updInfo,
    ]);
    assert.deepEqual(await dumpSection(bundle, ".my_signature", dir), payload);
    assert.equal(new TextDecoder().decode(await dumpSection(bundle, ".upd_info", dir)), updInfo);
    assert.equal((await readBundle(bundle)).updInfo, updInfo);
  });
});

Deno.test("pack --add-elf-section refuses a file not named *.elfS, or a missing one", async () => {
  await withTempDir(async (dir) => {
    const inputs = await makePackInputs(dir);
    await Deno.writeTextFile(join(dir, "section.bin"), "x");
    for (
      const [file, code, message] of [
        [join(dir, "section.bin"), 2, /the file name must end in \.elfS/],
        [join(dir, "gone.elfS"), 1, /Cannot add ELF section from ".*gone\.elfS": no such file/],
      ] as const
    ) {
      const output = join(dir, "x.AppBundle");
      const result = await runCli(packArgs(inputs, ["-o", output, "--add-elf-section", file]));
      assert.equal(result.code, code);
      assert.match(result.stderr, message);
      await assert.rejects(Deno.stat(output), Deno.errors.NotFound);
    }
  });
});

for (
  const id of [
    "hello-20260101-pbundle",
    "hello-2026_01_01-pbundle",
    "hello-01_01_2026-pbundle",
    "hello#pbundle/examples:1.0",
    "hello#pbundle/examples:1.0@20260101",
  ]
) {
  Deno.test(`pack takes the AppBundleID "${id}" without a warning`, async () => {
    await withTempDir(async (dir) => {
      const { bundle, cli } = await packFixture(dir, ["-t"], { id });
      assert.equal(cli.stderr, "");
      assert.equal((await readBundle(bundle)).runtimeInfo.AppBundleID, id);
    });
  });
}

Deno.test("pack warns about an AppBundleID in none of pelf's forms, and still packs", async () => {
  await withTempDir(async (dir) => {
    const { bundle, cli } = await packFixture(dir, ["-t"], { id: "hello world" });
    assert.match(cli.stderr, /^pbundle: warning: AppBundleID "hello world" follows none/);
    assert.equal((await readBundle(bundle)).runtimeInfo.AppBundleID, "hello world");
  });
});

Deno.test("pack names the bundle after the ID when -o is absent", async () => {
  await withTempDir(async (dir) => {
    const inputs = await makePackInputs(dir);
    const work = join(dir, "cwd");
    await Deno.mkdir(work);
    const previous = Deno.cwd();
    Deno.chdir(work);
    try {
      const cases: [string, string][] = [
        ["hello-20260101-me", "hello.AppBundle"],
        ["tool#org/repo:2", "tool.AppBundle"],
      ];
      for (const [id, name] of cases) {
        const result = await runCli(packArgs(inputs, ["-t"], { id }));
        assert.equal(result.code, 0, result.stderr);
        assert.match(result.stdout, new RegExp(`into ${join(work, name).replaceAll(".", "\\.")} `));
      }
    } finally {
      Deno.chdir(previous);
    }
    assert.deepEqual(await listDir(work), ["hello.AppBundle", "tool.AppBundle"]);
  });
});

const APPRUN_REFUSALS: [string, AppDirOptions, (appDir: string) => string][] = [
  [
    "pack refuses an AppDir without AppRun, naming the file",
    { appRun: false },
    (appDir) =>
      `pbundle: Cannot pack "${appDir}": it has no AppRun ("${
        join(appDir, "AppRun")
      }" is missing)\n`,
  ],
  [
    "pack refuses an AppRun that is not executable, naming the file and the fix",
    { appRunExecutable: false },
    (appDir) => {
      const appRun = join(appDir, "AppRun");
      return `pbundle: Cannot pack "${appDir}": "${appRun}" is not executable; run chmod +x "${appRun}"\n`;
    },
  ],
];

for (const [name, options, message] of APPRUN_REFUSALS) {
  Deno.test(name, async () => {
    await withTempDir(async (dir) => {
      const inputs = await makePackInputs(dir, options);
      const result = await runCli(packArgs(inputs, ["-o", join(dir, "x.AppBundle")]));
      assert.equal(result.code, 1);
      assert.equal(result.stderr, message(inputs.appDir));
      assert.deepEqual(await listDir(dir), ["A.AppDir", "runtime"]);
    });
  });
}

for (
  const [what, options, pattern] of [
    [".DirIcon", { dirIcon: false }, /has no \.DirIcon/],
    ["a .desktop file", { desktop: false }, /has no \.desktop file/],
    ["AppStream metadata", { appStream: false }, /has no AppStream metadata/],
  ] as const
) {
  Deno.test(`pack warns when the AppDir lacks ${what}`, async () => {
    await withTempDir(async (dir) => {
      const { cli } = await packFixture(dir, ["-t"], { appDir: options });
      const lines = cli.stderr.trim().split("\n");
      assert.equal(lines.length, 1, cli.stderr);
      assert.match(lines[0]!, /^pbundle: warning: /);
      assert.match(lines[0]!, pattern);
    });
  });
}

Deno.test("pack of a complete AppDir prints one line and no warnings, and the bundle runs", async () => {
  await withTempDir(async (dir) => {
    const { bundle, cli } = await packFixture(dir, ["-t"]);
    assert.equal(cli.stderr, "");
    assert.match(cli.stdout, /^Packed hello-20260101-pbundle into .*hello\.AppBundle \(.*\)\n$/);
    const result = await run(bundle, []);
    assert.equal(result.code, 0);
  });
});

Deno.test("pack --json prints the result as JSON", async () => {
  await withTempDir(async (dir) => {
    const { bundle, cli } = await packFixture(dir, ["-t", "--json"]);
    const result = JSON.parse(cli.stdout);
    assert.equal(result.output, bundle);
    assert.equal(result.size, (await Deno.stat(bundle)).size);
    assert.equal(result.imageOffset, (await readBundle(bundle)).imageOffset);
    assert.equal(result.runtimeInfo.AppBundleID, "hello-20260101-pbundle");
  });
});

Deno.test("pack infers squashfs from an output named *.sqfs.AppBundle", async () => {
  if (!tools("unsquashfs")) return;
  await withTempDir(async (dir) => {
    const { bundle } = await packFixture(dir, ["-t"], { name: "hello.sqfs.AppBundle" });
    const info = await readBundle(bundle);
    assert.equal(info.runtimeInfo.FilesystemType, "squashfs");
    await runOk("unsquashfs", ["-o", String(info.imageOffset), "-l", bundle]);
  });
});

/** Runs `fn` with PATH holding only mksquashfs, so mkdwarfs is surely missing. */
async function withoutMkdwarfs(dir: string, fn: () => Promise<void>): Promise<void> {
  const bin = join(dir, "bin");
  await Deno.mkdir(bin);
  const mksquashfs = (await runOk("sh", ["-c", "command -v mksquashfs"])).trim();
  await Deno.symlink(mksquashfs, join(bin, "mksquashfs"));
  const previous = Deno.env.get("PATH") ?? "";
  Deno.env.set("PATH", bin);
  try {
    await fn();
  } finally {
    Deno.env.set("PATH", previous);
  }
}

for (
  const [how, args, name] of [
    ["-j dwarfs", ["-j", "dwarfs"], "hello.AppBundle"],
    ["an output named *.dwfs.AppBundle", [], "hello.dwfs.AppBundle"],
  ] as const
) {
  Deno.test(`pack with ${how} and no mkdwarfs names the tool and how to install it`, async () => {
    await withTempDir(async (dir) => {
      const inputs = await makePackInputs(dir);
      const out = join(dir, "out");
      await Deno.mkdir(out);
      await withoutMkdwarfs(dir, async () => {
        const result = await runCli(packArgs(inputs, ["-o", join(out, name), "-t", ...args]));
        assert.equal(result.code, 1);
        const lines = result.stderr.trim().split("\n");
        assert.equal(lines.length, 1);
        assert.match(lines[0]!, /^pbundle: Cannot make a dwarfs image: mkdwarfs is not on PATH; /);
        assert.match(lines[0]!, /install dwarfs/);
      });
      assert.deepEqual(await listDir(out), [], "no bundle and no work directory left behind");
    });
  });
}

Deno.test("pack refuses -j squashfs with an output named *.dwfs.AppBundle", async () => {
  await withTempDir(async (dir) => {
    const inputs = await makePackInputs(dir);
    const result = await runCli(
      packArgs(inputs, ["-o", join(dir, "x.dwfs.AppBundle"), "-j", "squashfs"]),
    );
    assert.equal(result.code, 2);
    assert.match(
      result.stderr,
      /Cannot pack a squashfs image into ".*x\.dwfs\.AppBundle": the name says dwarfs/,
    );
  });
});

Deno.test("pack is reproducible: the same AppDir twice gives byte-identical bundles", async () => {
  await withTempDir(async (dir) => {
    const toolsDir = await fakeToolsDir(dir);
    const args = [
      "--static-tools-dir",
      toolsDir,
      "--add-runtime-info-section",
      ".Homepage:https://example.org",
      "--add-updinfo",
      "zsync|x",
    ];
    const first = await packFixture(dir, args, { name: "one.AppBundle" });
    // New timestamps everywhere in the AppDir must not change the image.
    const later = new Date("2030-05-05T05:05:05Z");
    for (const file of ["AppRun", "usr/bin/hello", "usr/share/blob.bin", "usr"]) {
      await Deno.utime(join(first.appDir, file), later, later);
    }
    const second = await packFixture(dir, args, { name: "two.AppBundle" });
    const a = await Deno.readFile(first.bundle);
    const b = await Deno.readFile(second.bundle);
    assert.equal(a.length, b.length);
    assert.ok(a.every((byte, i) => byte === b[i]), "the bundles differ");
  });
});

Deno.test("pack's image holds the AppDir: the bundle's AppRun runs from an extracted copy", async () => {
  if (!tools("unsquashfs")) return;
  await withTempDir(async (dir) => {
    const { bundle } = await packFixture(dir, ["-t"]);
    const info = await readBundle(bundle);
    const out = join(dir, "x");
    await runOk("unsquashfs", ["-o", String(info.imageOffset), "-d", out, "-no-progress", bundle]);
    const result = await run(join(out, "AppRun"), ["a", "b"]);
    assert.equal(result.stdout, `${APPRUN_OUTPUT} a b\n`);
    // Owners are root and times are the epoch.
    const listing = await runOk("unsquashfs", [
      "-o",
      String(info.imageOffset),
      "-lln",
      "-d",
      "",
      bundle,
    ]);
    for (const line of listing.trim().split("\n").filter((l) => /^[-dlp]/.test(l))) {
      assert.match(line, / 0\/0 .* 1970-01-01 00:00 /, line);
    }
  });
});

Deno.test("decodeRuntimeInfo() reads the section pack wrote, as the runtime will", async () => {
  if (!tools("objcopy")) return;
  await withTempDir(async (dir) => {
    const { bundle } = await packFixture(dir, ["-t"]);
    const { info, encoding } = decodeRuntimeInfo(
      await dumpSection(bundle, ".pbundle_runtime_info", dir),
    );
    assert.equal(encoding, "cbor");
    assert.deepEqual(info, (await readBundle(bundle)).runtimeInfo);
  });
});

/** Reads the block size from a bundle's squashfs superblock with pbundle's reader. */
async function imageBlockSize(bundle: string): Promise<number> {
  const { imageOffset, imageSize } = await readBundle(bundle);
  return readSuperblock(await readRange(bundle, imageOffset, 96), 0, imageSize).blockSize;
}

for (
  const [text, bytes] of [
    ["4K", 4096],
    ["4096", 4096],
    ["131072", 131072],
    ["128K", 131072],
    ["128k", 131072],
    ["256KiB", 262144],
    ["1M", 1048576],
    ["1MiB", 1048576],
  ] as const
) {
  Deno.test(`parseBlockSize() reads "${text}" as ${bytes}`, () => {
    assert.equal(parseBlockSize(text), bytes);
    assert.throws(() => parseBlockSize(`${bytes * 2 + 1}`), UsageError);
  });
}

for (const text of ["3K", "2K", "100000", "2M", "0", "", "abc", "128KB", "1.5M"]) {
  Deno.test(`pack -B ${JSON.stringify(text)} is a usage error with exit 2 and no output`, async () => {
    await withTempDir(async (dir) => {
      const output = join(dir, "x.AppBundle");
      const result = await runCli(packArgs(await makePackInputs(dir), ["-o", output, "-B", text]));
      assert.equal(result.code, 2, result.stderr);
      assert.equal(
        result.stderr,
        `pbundle: Cannot use block size "${text}": expected a power of two from 4K to 1M\n` +
          "hint: e.g. -B 131072, -B 128K or -B 1M (a power of two from 4K to 1M)\n",
      );
      await assert.rejects(Deno.stat(output), Deno.errors.NotFound);
    });
  });
}

Deno.test("pack -B with a DwarFS image is a usage error", async () => {
  await withTempDir(async (dir) => {
    const result = await runCli(
      packArgs(await makePackInputs(dir), [
        "-o",
        join(dir, "x.AppBundle"),
        "-j",
        "dwarfs",
        "-B",
        "1M",
      ]),
    );
    assert.equal(result.code, 2);
    assert.match(result.stderr, /^pbundle: Cannot use a block size with a dwarfs image/);
  });
});

Deno.test("pack writes 128 KiB blocks by default, as mksquashfs", async () => {
  await withTempDir(async (dir) => {
    const { bundle } = await packFixture(dir, ["-t"]);
    assert.equal(await imageBlockSize(bundle), 131072);
  });
});

Deno.test("pack -B 1M makes 1 MiB blocks; the bundle runs and extracts", async () => {
  if (!tools("unsquashfs")) return;
  await withTempDir(async (dir) => {
    const appDir = join(dir, "Big.AppDir");
    await Deno.mkdir(join(appDir, "usr"), { recursive: true });
    await Deno.writeTextFile(
      join(appDir, "AppRun"),
      '#!/bin/sh\nsha256sum "$APPDIR/usr/big.bin" | cut -c1-64\n',
    );
    await Deno.chmod(join(appDir, "AppRun"), 0o755);
    // 2.5 MiB: two full 1 MiB blocks and a tail.
    const big = pseudoRandomBytes(2_621_440 + 1000);
    await Deno.writeFile(join(appDir, "usr/big.bin"), big);
    const bundle = join(dir, "big.AppBundle");
    const result = await runCli([
      "pack",
      "-a",
      appDir,
      "-i",
      "big-20260101-test",
      "--runtime",
      await testRuntime(),
      "-o",
      bundle,
      "-t",
      "-B",
      "1M",
      "-b",
      "1",
    ]);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(await imageBlockSize(bundle), 1048576);
    // unsquashfs, the independent reader, agrees.
    const { imageOffset } = await readBundle(bundle);
    const summary = await runOk("unsquashfs", ["-s", "-o", String(imageOffset), bundle]);
    assert.match(summary, /^Block size 1048576$/m);
    // The bundle runs (run behaviour 1: extract, so no FUSE is needed).
    const home = join(dir, "home");
    await Deno.mkdir(home);
    const ran = await run(bundle, [], {
      env: {
        PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin",
        HOME: home,
        TMPDIR: home,
        XDG_CACHE_HOME: join(home, "cache"),
      },
    });
    const digest = createHash("sha256").update(big).digest("hex");
    assert.equal(ran.code, 0, ran.stderr);
    assert.equal(ran.stdout, `${digest}\n`);
    // pbundle extract reads it back.
    const out = join(dir, "out");
    const extracted = await runCli(["extract", bundle, out]);
    assert.equal(extracted.code, 0, extracted.stderr);
    assert.deepEqual(await Deno.readFile(join(out, "usr/big.bin")), big);
  });
});

Deno.test("pack --mksquashfs -B 64K passes the block size to mksquashfs", async () => {
  if (!tools("mksquashfs")) return;
  await withTempDir(async (dir) => {
    const { bundle } = await packFixture(dir, ["-t", "--mksquashfs", "-B", "64K"]);
    assert.equal(await imageBlockSize(bundle), 65536);
  });
});

Deno.test("mksquashfsCompressionArgs() passes levels mksquashfs takes and refuses to invent the others", () => {
  assert.deepEqual(mksquashfsCompressionArgs({ algorithm: "zstd" }), {
    args: ["-Xcompression-level", "15"],
  });
  assert.deepEqual(mksquashfsCompressionArgs({ algorithm: "zstd", level: 19 }), {
    args: ["-Xcompression-level", "19"],
  });
  assert.deepEqual(mksquashfsCompressionArgs({ algorithm: "gzip", level: 6 }), {
    args: ["-Xcompression-level", "6"],
  });
  assert.deepEqual(mksquashfsCompressionArgs({ algorithm: "lzo", level: 5 }), {
    args: ["-Xcompression-level", "5"],
  });
  assert.deepEqual(mksquashfsCompressionArgs({ algorithm: "xz" }), { args: [] });
  for (const algorithm of ["xz", "lz4"] as const) {
    const { args, warning } = mksquashfsCompressionArgs({ algorithm, level: 5 });
    assert.deepEqual(args, []);
    assert.match(warning ?? "", new RegExp(`^mksquashfs's ${algorithm} has no compression level`));
  }
});

for (const algorithm of ["xz", "lz4"] as const) {
  Deno.test(`pack --mksquashfs -c ${algorithm}:5 warns that the level is ignored and packs ${algorithm}`, async () => {
    if (!tools("mksquashfs", "unsquashfs")) return;
    await withTempDir(async (dir) => {
      const { bundle, cli } = await packFixture(dir, [
        "-t",
        "--mksquashfs",
        "-c",
        `${algorithm}:5`,
      ]);
      assert.match(
        cli.stderr,
        new RegExp(
          `^pbundle: warning: mksquashfs's ${algorithm} has no compression level \\(.*\\); ignoring the level 5 of "-c ${algorithm}:5"$`,
          "m",
        ),
      );
      const { imageOffset } = await readBundle(bundle);
      const summary = await runOk("unsquashfs", ["-s", "-o", String(imageOffset), bundle]);
      assert.match(summary, new RegExp(`^Compression ${algorithm}$`, "m"));
    });
  });
}

Deno.test("pack --mksquashfs -c gzip:3 gives mksquashfs the level", async () => {
  if (!tools("mksquashfs", "unsquashfs")) return;
  await withTempDir(async (dir) => {
    const { bundle, cli } = await packFixture(dir, ["-t", "--mksquashfs", "-c", "gzip:3"]);
    assert.equal(cli.stderr, "");
    const { imageOffset } = await readBundle(bundle);
    const summary = await runOk("unsquashfs", ["-s", "-o", String(imageOffset), bundle]);
    assert.match(summary, /^\s*compression-level 3$/m);
  });
});

Deno.test("pack and extract work with no mksquashfs or unsquashfs on PATH", async () => {
  await withTempDir(async (dir) => {
    const bin = join(dir, "bin");
    await Deno.mkdir(bin);
    await Deno.symlink(Deno.execPath(), join(bin, "deno"));
    const inputs = await makePackInputs(dir);
    const bundle = join(dir, "alone.AppBundle");
    // Only PATH changes: the rest of the environment (HOME, Deno's cache) is inherited.
    const env = { PATH: bin };
    const cli = (args: string[]) => run(join(bin, "deno"), cliProcessArgs(args), { env, cwd: dir });
    const packed = await cli(packArgs(inputs, ["-o", bundle, "-t"]));
    assert.equal(packed.code, 0, packed.stderr);
    const out = join(dir, "out");
    const extracted = await cli(["extract", bundle, out]);
    assert.equal(extracted.code, 0, extracted.stderr);
    assert.deepEqual(
      await Deno.readFile(join(out, "usr/share/blob.bin")),
      await Deno.readFile(join(inputs.appDir, "usr/share/blob.bin")),
    );
    assert.equal(await Deno.readLink(join(out, "usr/hello-link")), "bin/hello");
    // And --mksquashfs without it names the tool.
    const refused = await cli(
      packArgs(inputs, ["-o", join(dir, "x.AppBundle"), "-t", "--mksquashfs"]),
    );
    assert.equal(refused.code, 1);
    assert.match(
      refused.stderr,
      /^pbundle: Cannot make a squashfs image: mksquashfs is not on PATH; install squashfs-tools/,
    );
  });
});
