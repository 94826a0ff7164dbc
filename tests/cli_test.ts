/**
 * The `pbundle` command through `main(args, io)`: inspect, verify and extract
 * of real bundles, pelf 3.x bundles, and every kind of bad input, each of which
 * must give one line on stderr, a non-zero exit and no file left behind.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { encode as encodeCbor } from "cbor-x";
import { encode as encodeMsgpack } from "@msgpack/msgpack";
import { main } from "../cli.ts";
import { withIdentBytes } from "../fixtures/make_elf.ts";
import { assembleBundle, hashImage, readBundle } from "../format/bundle.ts";
import { EI_CLASS, EI_DATA, ELFCLASS32, ELFDATA2MSB } from "../format/elf/elf_constants.ts";
import { encodeRuntimeInfo, FORMAT_VERSION } from "../format/runtime_info.ts";
import { writeSquashfs } from "../format/squashfs/mod.ts";
import { VERSION } from "../version.ts";
import {
  captureIo,
  cliProcessArgs,
  copyRuntime,
  HOST_ELF,
  isRoot,
  listDir,
  makeAppDir,
  makePackInputs,
  packArgs,
  packFixture,
  requireTools as tools,
  runCli,
  withTempDir,
} from "./_helpers.ts";

/** Checks the contract for bad input: exit 1, exactly one line, no stack trace. */
function assertOneLineError(result: { code: number; stdout: string; stderr: string }) {
  assert.equal(result.code, 1, `exit status (stderr: ${result.stderr})`);
  assert.equal(result.stdout, "");
  assert.match(result.stderr, /^pbundle: Cannot [^\n]*\n$/, "one line starting 'pbundle: Cannot'");
  assert.doesNotMatch(result.stderr, /\n\s+at |Error:/, "no stack trace");
  assert.doesNotMatch(result.stderr, /\.\n$/, "no full stop at the end");
}

/** Builds a squashfs image of a small AppDir with pbundle's writer. */
async function makeImage(dir: string): Promise<string> {
  const appDir = join(dir, "image-src");
  await Deno.mkdir(join(appDir, "usr"), { recursive: true });
  await Deno.writeTextFile(join(appDir, "AppRun"), "#!/bin/sh\n");
  await Deno.writeTextFile(join(appDir, "usr/data.txt"), "data\n");
  const image = join(dir, "image.sqfs");
  await writeSquashfs(appDir, image);
  return image;
}

/** Assembles a bundle whose runtime info section holds exactly `info`. */
async function bundleWithInfo(dir: string, name: string, info: Uint8Array): Promise<string> {
  const image = await makeImage(dir);
  const output = join(dir, name);
  await assembleBundle({
    runtime: HOST_ELF,
    sections: [{ name: ".pbundle_runtime_info", data: info }],
    image,
    output,
  });
  return output;
}

const GOOD_INFO = {
  AppBundleID: "hello-20260101-pbundle",
  PelfVersion: FORMAT_VERSION,
  HostInfo: "Linux test",
  FilesystemType: "squashfs",
  Hash: "00".repeat(32),
  DisableRandomWorkDir: false,
  MountOrExtract: 3,
};

Deno.test("inspect prints runtime info, magic, image and sections", async () => {
  await withTempDir(async (dir) => {
    const { bundle } = await packFixture(dir, ["-t", "--add-updinfo", "zsync|x"]);
    const info = await readBundle(bundle);
    const result = await runCli(["inspect", bundle]);
    assert.equal(result.code, 0);
    assert.equal(result.stderr, "");
    const text = result.stdout;
    assert.match(text, /^File: +.*hello\.AppBundle \(/m);
    assert.match(text, /^Magic: +AB$/m);
    assert.match(text, /^Runtime info: +CBOR$/m);
    assert.match(text, /^ {2}AppBundleID: hello-20260101-pbundle$/m);
    assert.match(text, /^ {2}MountOrExtract: 3$/m);
    assert.match(text, /^ {2}DisableRandomWorkDir: false$/m);
    assert.match(text, new RegExp(`^Image: +squashfs at offset ${info.imageOffset}, `, "m"));
    assert.match(text, /^Static tools: +none$/m);
    assert.match(text, /^Update info: +zsync\|x$/m);
    assert.match(text, /^ {2}\[\d+\] \.pbundle_runtime_info +offset +\d+ +size \d+$/m);
  });
});

Deno.test("inspect --json prints what readBundle() reads", async () => {
  await withTempDir(async (dir) => {
    const { bundle } = await packFixture(dir, ["-t", "-A"]);
    const result = await runCli(["inspect", "--json", bundle]);
    assert.equal(result.code, 0);
    const report = JSON.parse(result.stdout);
    assert.deepEqual(report, JSON.parse(JSON.stringify(await readBundle(bundle))));
    assert.equal(report.magic, "AI");
    assert.equal(report.imageOffset + report.imageSize, report.fileSize);
  });
});

Deno.test("inspect reads a pelf 3.x bundle whose runtime info is MessagePack", async () => {
  await withTempDir(async (dir) => {
    const { MountOrExtract: _, ...pelfInfo } = { ...GOOD_INFO, PelfVersion: "3.0" };
    const bundle = await bundleWithInfo(dir, "pelf.AppBundle", encodeMsgpack(pelfInfo));
    const result = await runCli(["inspect", bundle]);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /^Runtime info: +MessagePack \(pelf 3\.x\)$/m);
    assert.match(result.stdout, /^ {2}PelfVersion: 3\.0$/m);
    assert.match(result.stdout, /^ {2}MountOrExtract: 3$/m, "pelf's default run behaviour");
    const json = JSON.parse((await runCli(["inspect", "--json", bundle])).stdout);
    assert.equal(json.runtimeInfoEncoding, "msgpack");
    assert.equal(json.runtimeInfo.AppBundleID, GOOD_INFO.AppBundleID);
  });
});

Deno.test("verify says OK for an intact bundle", async () => {
  await withTempDir(async (dir) => {
    const { bundle } = await packFixture(dir, ["-t"]);
    const { runtimeInfo } = await readBundle(bundle);
    const result = await runCli(["verify", bundle]);
    assert.equal(result.code, 0);
    assert.equal(result.stdout, `${bundle}: OK (sha256 ${runtimeInfo.Hash})\n`);
    const json = JSON.parse((await runCli(["verify", "--json", bundle])).stdout);
    assert.deepEqual(json, { ok: true, expected: runtimeInfo.Hash, actual: runtimeInfo.Hash });
  });
});

Deno.test("verify fails with exit 1 and a clear message when one image byte is flipped", async () => {
  await withTempDir(async (dir) => {
    const { bundle } = await packFixture(dir, ["-t"]);
    const info = await readBundle(bundle);
    const bytes = await Deno.readFile(bundle);
    const at = info.imageOffset + Math.floor(info.imageSize / 2);
    bytes[at] = bytes[at]! ^ 0xff;
    await Deno.writeFile(bundle, bytes);
    const actual = await hashImage(bundle, info.imageOffset, info.imageSize);
    const result = await runCli(["verify", bundle]);
    assertOneLineError(result);
    assert.equal(
      result.stderr,
      `pbundle: Cannot verify "${bundle}": the image's hash is ${actual}, the runtime info says ${info.runtimeInfo.Hash}\n`,
    );
  });
});

Deno.test("extract unpacks the image into DIR with every kind of entry", async () => {
  await withTempDir(async (dir) => {
    const { bundle, appDir } = await packFixture(dir, ["-t"]);
    const out = join(dir, "extracted");
    const result = await runCli(["extract", bundle, out]);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout, `Extracted ${bundle} into ${out}\n`);
    for (const file of ["AppRun", "usr/bin/hello", "usr/share/blob.bin", "usr/share/grüße.txt"]) {
      assert.deepEqual(
        await Deno.readFile(join(out, file)),
        await Deno.readFile(join(appDir, file)),
      );
    }
    assert.equal(await Deno.readLink(join(out, "usr/hello-link")), "bin/hello");
    assert.equal(await Deno.readLink(join(out, ".DirIcon")), "hello.png");
    assert.equal((await Deno.stat(join(out, "AppRun"))).mode! & 0o777, 0o755);
    assert.deepEqual(await listDir(join(out, "usr/share/empty")), []);
    assert.equal((await Deno.stat(join(out, "usr/share/empty.txt"))).size, 0);
    // A fifo is skipped with a warning unless asked for (and running as root).
    await assert.rejects(Deno.lstat(join(out, "usr/share/fifo")), Deno.errors.NotFound);
    assert.match(result.stderr, /warning: .*fifo/);
  });
});

Deno.test("extract --devices creates fifos when running as root", async () => {
  if (Deno.uid() !== 0) return;
  await withTempDir(async (dir) => {
    const { bundle } = await packFixture(dir, ["-t"]);
    const out = join(dir, "extracted");
    const result = await runCli(["extract", bundle, out, "--devices"]);
    assert.equal(result.code, 0, result.stderr);
    assert.ok((await Deno.lstat(join(out, "usr/share/fifo"))).isFifo);
  });
});

Deno.test("extract --pattern extracts only the matching paths", async () => {
  await withTempDir(async (dir) => {
    const { bundle } = await packFixture(dir, ["-t"]);
    const out = join(dir, "extracted");
    const result = await runCli(["extract", bundle, out, "--pattern", "usr/bin/*"]);
    assert.equal(result.code, 0, result.stderr);
    assert.ok((await Deno.stat(join(out, "usr/bin/hello"))).isFile);
    await assert.rejects(Deno.lstat(join(out, "AppRun")), Deno.errors.NotFound);
  });
});

Deno.test("extract without DIR unpacks into NAME_squashfs in the current directory", async () => {
  await withTempDir(async (dir) => {
    const { bundle } = await packFixture(dir, ["-t"]);
    const previous = Deno.cwd();
    Deno.chdir(dir);
    try {
      const result = await runCli(["extract", bundle]);
      assert.equal(result.code, 0, result.stderr);
    } finally {
      Deno.chdir(previous);
    }
    assert.ok((await Deno.stat(join(dir, "hello_squashfs", "AppRun"))).isFile);
  });
});

/** Bundles that are wrong in one way each, and what the error must say. */
const BAD_BUNDLES: [string, (dir: string) => Promise<string>, RegExp][] = [
  ["a file that is not ELF", async (dir) => {
    const file = join(dir, "notes.txt");
    await Deno.writeTextFile(file, "just some text, long enough to be more than a header\n");
    return file;
  }, /Cannot read ELF header in ".*notes\.txt": the file is not an ELF executable/],
  ["an empty file", async (dir) => {
    const file = join(dir, "empty");
    await Deno.writeFile(file, new Uint8Array());
    return file;
  }, /not an ELF executable/],
  [
    "a missing file",
    (dir) => Promise.resolve(join(dir, "nope.AppBundle")),
    /^pbundle: Cannot open ".*nope\.AppBundle": no such file or directory/,
  ],
  [
    "a directory",
    (dir) => Promise.resolve(dir),
    /Cannot read ".*" as an AppBundle: it is not a file/,
  ],
  ["a bundle cut inside its image", async (dir) => {
    const { bundle } = await packFixture(dir, ["-t"]);
    const bytes = await Deno.readFile(bundle);
    // More than mksquashfs's 4 KiB padding, so real image bytes go missing.
    await Deno.writeFile(bundle, bytes.subarray(0, bytes.length - 10_000));
    return bundle;
  }, /it needs \d+ bytes but only \d+ follow the ELF \(truncated\?\)/],
  ["a bundle cut where its image starts", async (dir) => {
    const { bundle } = await packFixture(dir, ["-t"]);
    const { imageOffset } = await readBundle(bundle);
    await Deno.truncate(bundle, imageOffset);
    return bundle;
  }, /the file ends where the image should start \(truncated\?\)/],
  ["a bundle cut inside its section header table", async (dir) => {
    const { bundle } = await packFixture(dir, ["-t"]);
    const { imageOffset } = await readBundle(bundle);
    await Deno.truncate(bundle, imageOffset - 100);
    return bundle;
  }, /Cannot read section headers in ".*": .*\(truncated\?\)/],
  [
    "a plain ELF without runtime info",
    async (dir) => await copyRuntime(dir),
    /Cannot read ".*runtime" as an AppBundle: it has no \.pbundle_runtime_info section/,
  ],
  ["corrupt CBOR", async (dir) => {
    const cbor = encodeRuntimeInfo(GOOD_INFO as Parameters<typeof encodeRuntimeInfo>[0]);
    return await bundleWithInfo(dir, "x.AppBundle", cbor.subarray(0, cbor.length - 20));
  }, /Cannot decode \.pbundle_runtime_info in ".*x\.AppBundle": corrupt CBOR/],
  [
    "an unknown FilesystemType",
    async (dir) => {
      return await bundleWithInfo(
        dir,
        "x.AppBundle",
        encodeCbor({ ...GOOD_INFO, FilesystemType: "ext4" }),
      );
    },
    /Cannot read \.pbundle_runtime_info in ".*": FilesystemType is "ext4", expected "squashfs" or "dwarfs"/,
  ],
  ["MountOrExtract out of range", async (dir) => {
    return await bundleWithInfo(
      dir,
      "x.AppBundle",
      encodeCbor({ ...GOOD_INFO, MountOrExtract: 4 }),
    );
  }, /MountOrExtract is 4, expected an unsigned integer from 0 to 3/],
  ["an image that is not squashfs", async (dir) => {
    const junk = join(dir, "junk.img");
    await Deno.writeFile(junk, new Uint8Array(4096).fill(0x42));
    const output = join(dir, "x.AppBundle");
    await assembleBundle({
      runtime: HOST_ELF,
      sections: [{ name: ".pbundle_runtime_info", data: encodeCbor(GOOD_INFO) }],
      image: junk,
      output,
    });
    return output;
  }, /Cannot read the squashfs superblock of ".*": magic is 0x42424242, expected 0x73717368/],
];

for (const command of ["inspect", "verify", "extract"]) {
  for (const [what, make, pattern] of BAD_BUNDLES) {
    Deno.test(`${command} of ${what} fails with one line and exit 1`, async () => {
      await withTempDir(async (dir) => {
        const file = await make(dir);
        const out = join(dir, "extract-here");
        const result = await runCli(command === "extract" ? [command, file, out] : [command, file]);
        assertOneLineError(result);
        assert.match(result.stderr, pattern);
        await assert.rejects(Deno.stat(out), Deno.errors.NotFound, "extract made no directory");
      });
    });
  }
}

/** Runs a pack that must fail, and checks the output directory stays empty. */
async function failingPack(
  dir: string,
  change: { appDir?: string; runtime?: string; output?: string; args?: string[] },
): Promise<{ code: number; stdout: string; stderr: string }> {
  const appDir = change.appDir ?? await makeAppDir(join(dir, "A.AppDir"));
  const runtime = change.runtime ?? await copyRuntime(dir);
  const outDir = join(dir, "out");
  await Deno.mkdir(outDir);
  const result = await runCli(
    packArgs({ appDir, runtime }, [
      "-o",
      change.output ?? join(outDir, "x.AppBundle"),
      "-t",
      ...(change.args ?? []),
    ]),
  );
  assert.deepEqual(await listDir(outDir), [], "no output, temporary file or work directory");
  return result;
}

/** Writes HOST_ELF to `file` with some e_ident bytes changed, as the runtime of a pack. */
async function patchedRuntime(
  file: string,
  patch: Record<number, number>,
): Promise<{ runtime: string }> {
  await Deno.writeFile(file, withIdentBytes(await Deno.readFile(HOST_ELF), patch));
  return { runtime: file };
}

const BAD_PACKS: [string, (dir: string) => Promise<Parameters<typeof failingPack>[1]>, RegExp][] = [
  [
    "a missing AppDir",
    (dir) => Promise.resolve({ appDir: join(dir, "Missing.AppDir") }),
    /^pbundle: Cannot pack ".*Missing\.AppDir": no such file or directory\n$/,
  ],
  ["an AppDir that is a file", async (dir) => {
    await Deno.writeTextFile(join(dir, "file.AppDir"), "x");
    return { appDir: join(dir, "file.AppDir") };
  }, /Cannot pack ".*file\.AppDir": it is not a directory/],
  [
    "an output in a missing directory",
    (dir) => Promise.resolve({ output: join(dir, "no", "such", "x.AppBundle") }),
    /^pbundle: Cannot write ".*no\/such\/x\.AppBundle": the directory does not exist\n$/,
  ],
  [
    "a missing runtime",
    (dir) => Promise.resolve({ runtime: join(dir, "no-runtime") }),
    /Cannot use the runtime ".*no-runtime": no such file or directory/,
  ],
  ["a runtime that is not ELF", async (dir) => {
    await Deno.writeTextFile(join(dir, "rt.sh"), "#!/bin/sh\nexit 0\n".repeat(8));
    return { runtime: join(dir, "rt.sh") };
  }, /Cannot read ELF header in ".*rt\.sh": the file is not an ELF executable/],
  [
    "a 32-bit runtime",
    (dir) => patchedRuntime(join(dir, "rt32"), { [EI_CLASS]: ELFCLASS32 }),
    /Cannot use a 32-bit ELF in ".*rt32": pbundle needs a 64-bit little-endian ELF/,
  ],
  [
    "a big-endian runtime",
    (dir) => patchedRuntime(join(dir, "rtbe"), { [EI_DATA]: ELFDATA2MSB }),
    /Cannot use a big-endian ELF in ".*rtbe": pbundle needs a 64-bit little-endian ELF/,
  ],
];

for (const [what, make, pattern] of BAD_PACKS) {
  Deno.test(`pack with ${what} fails with one line, exit 1 and nothing written`, async () => {
    await withTempDir(async (dir) => {
      const result = await failingPack(dir, await make(dir));
      assertOneLineError(result);
      assert.match(result.stderr, pattern);
    });
  });
}

Deno.test("pack with an unreadable AppDir fails with one line and exit 1", async () => {
  await withTempDir(async (dir) => {
    const appDir = await makeAppDir(join(dir, "Locked.AppDir"));
    await Deno.chmod(appDir, 0o000);
    try {
      const result = isRoot()
        ? await packWithoutDacOverride(dir, appDir)
        : await failingPack(dir, { appDir });
      assertOneLineError(result);
      assert.match(result.stderr, /Cannot pack ".*Locked\.AppDir": permission denied/);
    } finally {
      await Deno.chmod(appDir, 0o755);
    }
  });
});

/**
 * Root reads every directory through CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH,
 * so as root the CLI runs with those two capabilities dropped (setpriv): still
 * root, but bound by the mode bits like any user.
 */
async function packWithoutDacOverride(dir: string, appDir: string, args: string[] = []) {
  const out = join(dir, "out");
  await Deno.mkdir(out);
  const caps = "-dac_override,-dac_read_search";
  const pack = packArgs(
    { appDir, runtime: HOST_ELF },
    ["-o", join(out, "locked.AppBundle"), "-t", ...args],
    { id: "locked-20260101-test" },
  );
  const { code, stdout, stderr } = await new Deno.Command("setpriv", {
    args: ["--bounding-set", caps, "--inh-caps", caps, Deno.execPath(), ...cliProcessArgs(pack)],
  }).output();
  assert.deepEqual([...Deno.readDirSync(out)], [], "nothing is left in the output directory");
  const decode = (b: Uint8Array) => new TextDecoder().decode(b);
  return { code, stdout: decode(stdout), stderr: decode(stderr) };
}

for (
  const [how, args, pattern] of [
    [
      "pbundle's writer",
      [],
      /^pbundle: Cannot open ".*\/usr\/share\/secret\.txt": permission denied\n$/,
    ],
    [
      "--mksquashfs",
      ["--mksquashfs"],
      /^pbundle: Cannot make a squashfs image with mksquashfs: .*secret\.txt/,
    ],
  ] as const
) {
  Deno.test(`pack (${how}) of an AppDir holding an unreadable file fails with one line naming it`, async () => {
    if (args.length > 0 && !tools("mksquashfs")) return;
    await withTempDir(async (dir) => {
      const appDir = await makeAppDir(join(dir, "Secret.AppDir"));
      const secret = join(appDir, "usr/share/secret.txt");
      await Deno.writeTextFile(secret, "not for you\n");
      await Deno.chmod(secret, 0o000);
      // Root reads it anyway unless its capabilities are dropped.
      const result = isRoot()
        ? await packWithoutDacOverride(dir, appDir, [...args])
        : await failingPack(dir, { appDir, args: [...args] });
      assertOneLineError(result);
      assert.match(result.stderr, pattern);
    });
  });
}

Deno.test("extract into an existing regular file fails with one line and leaves the file alone", async () => {
  await withTempDir(async (dir) => {
    const { bundle } = await packFixture(dir, ["-t"]);
    const file = join(dir, "afile");
    await Deno.writeTextFile(file, "keep me\n");
    const result = await runCli(["extract", bundle, file]);
    assertOneLineError(result);
    assert.equal(result.stderr, `pbundle: Cannot extract into "${file}": it is not a directory\n`);
    assert.equal(await Deno.readTextFile(file), "keep me\n");
  });
});

for (
  const [where, pattern] of [
    ["/proc/nope", /^pbundle: Cannot extract into "\/proc\/nope": no such file or directory\n$/],
    [
      "/dev/null/x",
      /^pbundle: Cannot extract into "\/dev\/null\/x": a part of the path is not a directory\n$/,
    ],
  ] as const
) {
  Deno.test(`extract into ${where} fails with one line and exit 1`, async () => {
    await withTempDir(async (dir) => {
      const { bundle } = await packFixture(dir, ["-t"]);
      const result = await runCli(["extract", bundle, where]);
      assertOneLineError(result);
      assert.match(result.stderr, pattern);
    });
  });
}

Deno.test("extract of a bundle whose data block is damaged fails naming the file and leaves no directory", async () => {
  await withTempDir(async (dir) => {
    const appDir = join(dir, "Text.AppDir");
    await Deno.mkdir(appDir);
    await Deno.writeTextFile(join(appDir, "AppRun"), "#!/bin/sh\necho hi\n");
    await Deno.chmod(join(appDir, "AppRun"), 0o755);
    // Compressible, so its first block is stored compressed and a flipped byte is detected.
    await Deno.writeTextFile(join(appDir, "big.txt"), "all work and no play\n".repeat(20_000));
    const bundle = join(dir, "text.AppBundle");
    const packed = await runCli(
      packArgs({ appDir, runtime: HOST_ELF }, ["-o", bundle, "-t", "-c", "gzip"]),
    );
    assert.equal(packed.code, 0, packed.stderr);
    const { imageOffset } = await readBundle(bundle);
    const bytes = await Deno.readFile(bundle);
    // The data of the first file with a full block (big.txt) starts after the 96-byte superblock.
    for (let i = 100; i < 140; i++) bytes[imageOffset + i] = bytes[imageOffset + i]! ^ 0x5a;
    await Deno.writeFile(bundle, bytes);
    const out = join(dir, "new", "extracted");
    const result = await runCli(["extract", bundle, out]);
    assertOneLineError(result);
    assert.match(result.stderr, /big\.txt/);
    await assert.rejects(Deno.lstat(join(dir, "new")), Deno.errors.NotFound, "nothing left behind");
  });
});

for (
  const [args, pattern] of [
    [
      ["pack", "--output-too", "x"],
      /unknown option --output-too\nhint: did you mean --output-to\?\n$/,
    ],
    [["pack", "--apbundle-id", "x"], /did you mean --appbundle-id\?/],
    [["inspect", "--jsno", "f"], /unknown option --jsno\nhint: did you mean --json\?\n$/],
    [["verfiy", "x"], /unknown command "verfiy"\nhint: did you mean verify\?\n$/],
    [["pack", "-j", "sqaushfs"], /expected squashfs or dwarfs\nhint: did you mean squashfs\?\n$/],
    [
      ["pack", "-a", "x", "-i", "y", "--runtime", "z", "-b", "4"],
      /Cannot use run behavior "4": expected 0, 1, 2 or 3/,
    ],
    [["pack", "-i", "y", "--runtime", "z"], /Cannot pack: --add-appdir is required/],
    [
      ["pack", "-a"],
      /Cannot run pbundle pack: --add-appdir needs a value\nhint: see pbundle pack --help\n$/,
    ],
    [["inspect", "--json=yes", "f"], /Cannot run pbundle inspect: --json takes no value\n/],
    [["inspect"], /expected one FILE, got 0/],
    [["extract"], /expected FILE and an optional DIR/],
  ] as const
) {
  Deno.test(`pbundle ${args.join(" ")} is a usage error with exit 2`, async () => {
    const result = await runCli([...args]);
    assert.equal(result.code, 2, result.stderr);
    assert.match(result.stderr, /^pbundle: Cannot /);
    assert.match(result.stderr, pattern);
    assert.doesNotMatch(result.stderr, /\n\s+at /);
  });
}

Deno.test("pack -c with an unknown algorithm is a usage error with exit 2", async () => {
  await withTempDir(async (dir) => {
    const output = join(dir, "x.AppBundle");
    const result = await runCli(
      packArgs(await makePackInputs(dir), ["-o", output, "-c", "brotli"]),
    );
    assert.equal(result.code, 2);
    assert.match(result.stderr, /^pbundle: Cannot use compression "brotli": expected ALGO/);
    assert.match(result.stderr, /\nhint: e\.g\. -c zstd:19/);
    await assert.rejects(Deno.stat(output), Deno.errors.NotFound);
  });
});

Deno.test("pbundle --version prints the version and the format version", async () => {
  const result = await runCli(["--version"]);
  assert.equal(result.code, 0);
  assert.equal(result.stdout, `pbundle ${VERSION} (writes AppBundle format ${FORMAT_VERSION})\n`);
});

Deno.test("pbundle --help exits 0 and pbundle with no command exits 2, both printing usage", async () => {
  const help = await runCli(["--help"]);
  assert.equal(help.code, 0);
  assert.match(help.stdout, /^Usage: pbundle <command>/);
  const bare = await runCli([]);
  assert.equal(bare.code, 2);
  assert.match(bare.stdout, /^Usage: pbundle <command>/);
  const packHelp = await runCli(["pack", "--help"]);
  assert.equal(packHelp.code, 0);
  assert.match(packHelp.stdout, /--add-appdir/);
});

Deno.test("main() stays quiet on a non-terminal: pack prints only its result line", async () => {
  await withTempDir(async (dir) => {
    const inputs = await makePackInputs(dir);
    const captured = captureIo(false);
    const code = await main(packArgs(inputs, ["-o", join(dir, "x.AppBundle"), "-t"]), captured.io);
    assert.equal(code, 0);
    assert.equal(captured.stderr(), "");
    assert.equal(captured.stdout().split("\n").length, 2);
  });
});
