/**
 * The bundle writer checked by independent tools: readelf reads the sections
 * and headers, objcopy dumps each section back, unsquashfs and squashfuse open
 * the image at the offset pbundle computes, and the bundle still runs.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { FormatError, InputError } from "../errors.ts";
import { makeMinimalElf, withIdentBytes } from "../fixtures/make_elf.ts";
import { assembleBundle, hashImage, readBundle } from "../format/bundle.ts";
import { EI_CLASS, EI_DATA, ELFCLASS32, ELFDATA2MSB } from "../format/elf/elf_constants.ts";
import { readElf } from "../format/elf/read_elf.ts";
import { encodeRuntimeInfo, FORMAT_VERSION } from "../format/runtime_info.ts";
import type { NewSection } from "../format/elf/append_sections.ts";
import {
  HOST_ELF,
  listDir,
  makeAppDir,
  pseudoRandomBytes,
  readelfHeader,
  readelfSections,
  requireTools as tools,
  run,
  runOk,
  withTempDir,
} from "./_helpers.ts";

/** Sections of awkward sizes: one byte, unaligned, larger than a page, and runtime info. */
function testSections(hash: string): NewSection[] {
  return [
    {
      name: ".pbundle_runtime_info",
      data: encodeRuntimeInfo({
        AppBundleID: "hello-20260101-pbundle",
        PelfVersion: FORMAT_VERSION,
        HostInfo: "Linux test",
        FilesystemType: "squashfs",
        Hash: hash,
        DisableRandomWorkDir: false,
        MountOrExtract: 3,
      }),
    },
    { name: ".one_byte", data: new Uint8Array([0x5a]) },
    { name: ".thirteen", data: pseudoRandomBytes(13, 1) },
    { name: ".a_longer_section_name_than_readelf_shows", data: pseudoRandomBytes(5000, 2) },
  ];
}

interface Assembled {
  dir: string;
  runtime: string;
  appDir: string;
  image: string;
  bundle: string;
  sections: NewSection[];
  imageOffset: number;
}

/** Makes an image with mksquashfs (not pbundle's packer) and assembles a bundle from it. */
async function assemble(
  dir: string,
  runtimeBytes?: Uint8Array,
  magic: "AB" | "AI" | "none" = "AB",
): Promise<Assembled> {
  const appDir = await makeAppDir(join(dir, "Hello.AppDir"));
  const image = join(dir, "image.sqfs");
  await runOk("mksquashfs", [appDir, image, "-noappend", "-all-root", "-quiet", "-no-progress"]);
  const runtime = join(dir, "runtime");
  if (runtimeBytes) await Deno.writeFile(runtime, runtimeBytes, { mode: 0o755 });
  else await Deno.copyFile(HOST_ELF, runtime);
  const sections = testSections(await hashImage(image, 0, (await Deno.stat(image)).size));
  const bundle = join(dir, "out", "hello.AppBundle");
  await Deno.mkdir(join(dir, "out"));
  const { imageOffset } = await assembleBundle({ runtime, sections, image, output: bundle, magic });
  return { dir, runtime, appDir, image, bundle, sections, imageOffset };
}

Deno.test("assembleBundle() adds sections that readelf -S lists and objcopy dumps back byte-identical", async () => {
  if (!tools("mksquashfs", "readelf", "objcopy")) return;
  await withTempDir(async (dir) => {
    const a = await assemble(dir);
    const listed = await readelfSections(a.bundle);
    const original = await readelfSections(a.runtime);
    assert.deepEqual(
      listed.map((s) => s.name),
      [...original.map((s) => s.name), ...a.sections.map((s) => s.name)],
    );
    for (const section of a.sections) {
      const dumped = join(dir, `dump${section.name}`);
      await runOk("objcopy", [
        "--dump-section",
        `${section.name}=${dumped}`,
        a.bundle,
        "/dev/null",
      ]);
      assert.deepEqual(await Deno.readFile(dumped), new Uint8Array(section.data), section.name);
    }
    // The original sections still point at the same bytes; only the name table moves.
    for (const s of original.slice(1).filter((s) => s.name !== ".shstrtab")) {
      const after = listed[s.index]!;
      assert.deepEqual([after.name, after.offset, after.size], [s.name, s.offset, s.size]);
    }
  });
});

Deno.test("assembleBundle() puts the image at max(section header table end, last section end)", async () => {
  if (!tools("mksquashfs", "readelf")) return;
  await withTempDir(async (dir) => {
    const a = await assemble(dir);
    const header = await readelfHeader(a.bundle);
    const sections = await readelfSections(a.bundle);
    const tableEnd = header.shoff + header.shnum * 64;
    const lastSectionEnd = Math.max(
      ...sections.filter((s) => s.type !== "NOBITS").map((s) => s.offset + s.size),
    );
    const expected = Math.max(tableEnd, lastSectionEnd);
    assert.equal(a.imageOffset, expected);
    assert.equal((await readBundle(a.bundle)).imageOffset, expected);
    const image = await Deno.readFile(a.image);
    const bundle = await Deno.readFile(a.bundle);
    assert.equal(bundle.length, expected + image.length);
    assert.deepEqual(bundle.subarray(expected), image);
  });
});

Deno.test("assembleBundle() patches e_shoff, e_shnum and e_shstrndx and nothing else of the runtime", async () => {
  if (!tools("mksquashfs", "readelf")) return;
  await withTempDir(async (dir) => {
    const a = await assemble(dir, undefined, "none");
    const before = await readelfHeader(a.runtime);
    const after = await readelfHeader(a.bundle);
    const runtime = await Deno.readFile(a.runtime);
    assert.equal(after.shnum, before.shnum + a.sections.length);
    assert.equal(after.shstrndx, before.shstrndx, "the name table keeps its index");
    assert.ok(after.shoff >= runtime.length, "the new table lies past the old file");
    const layout = await readElf(a.bundle);
    assert.equal(layout.header.shoff, after.shoff);
    // Byte for byte, the runtime is unchanged but for the three patched header fields.
    const bundle = await Deno.readFile(a.bundle);
    const changed: number[] = [];
    for (let i = 0; i < runtime.length; i++) if (runtime[i] !== bundle[i]) changed.push(i);
    const patched = new Set([
      ...range(0x28, 8), // e_shoff
      ...range(0x3c, 2), // e_shnum
      ...range(0x3e, 2), // e_shstrndx
    ]);
    assert.deepEqual(changed.filter((i) => !patched.has(i)), []);
  });
});

function range(start: number, length: number): number[] {
  return Array.from({ length }, (_, i) => start + i);
}

Deno.test("assembleBundle() leaves the program headers byte-identical (readelf -lW)", async () => {
  if (!tools("mksquashfs", "readelf")) return;
  await withTempDir(async (dir) => {
    const a = await assemble(dir);
    const before = await runOk("readelf", ["-lW", a.runtime]);
    const after = await runOk("readelf", ["-lW", a.bundle]);
    // The section-to-segment mapping names the same sections; the new ones map to no segment.
    assert.equal(after, before);
  });
});

Deno.test("a bundle with sections and an image appended still runs", async () => {
  if (!tools("mksquashfs")) return;
  await withTempDir(async (dir) => {
    const a = await assemble(dir);
    const result = await run(a.bundle, []);
    assert.equal(result.code, 0, result.stderr);
  });
});

Deno.test("assembleBundle() gives an ELF without a section header table one, and it still runs", async () => {
  if (Deno.build.os !== "linux" || Deno.build.arch !== "x86_64") return;
  if (!tools("mksquashfs", "readelf", "objcopy")) return;
  await withTempDir(async (dir) => {
    const a = await assemble(dir, makeMinimalElf());
    const sections = await readelfSections(a.bundle);
    assert.deepEqual(
      sections.map((s) => s.name),
      ["", ".shstrtab", ...a.sections.map((s) => s.name)],
    );
    const dumped = join(dir, "info");
    await runOk("objcopy", [
      "--dump-section",
      `.pbundle_runtime_info=${dumped}`,
      a.bundle,
      "/dev/null",
    ]);
    assert.deepEqual(await Deno.readFile(dumped), new Uint8Array(a.sections[0]!.data));
    // readelf adds a section-to-segment mapping once there are sections: compare the headers.
    const programHeaders = async (file: string) =>
      (await runOk("readelf", ["-lW", file])).split("\n\n").slice(0, 2).join("\n\n").trimEnd();
    assert.equal(await programHeaders(a.bundle), await programHeaders(a.runtime));
    assert.match(await programHeaders(a.bundle), /LOAD\s+0x000000 0x0000000000400000/);
    assert.equal((await run(a.bundle, [])).code, 0);
    assert.equal((await readBundle(a.bundle)).imageOffset, a.imageOffset);
  });
});

Deno.test("unsquashfs -o OFFSET lists the image of a bundle", async () => {
  if (!tools("mksquashfs", "unsquashfs")) return;
  await withTempDir(async (dir) => {
    const a = await assemble(dir);
    const fromBundle = await runOk("unsquashfs", [
      "-o",
      String(a.imageOffset),
      "-l",
      "-d",
      "",
      a.bundle,
    ]);
    const fromImage = await runOk("unsquashfs", ["-l", "-d", "", a.image]);
    assert.equal(fromBundle, fromImage);
    for (const path of ["/AppRun", "/usr/bin/hello", "/usr/share/blob.bin", "/usr/share/fifo"]) {
      assert.ok(fromBundle.split("\n").includes(path), `${path} is listed`);
    }
  });
});

Deno.test("squashfuse -o offset=OFFSET mounts the image of a bundle", async () => {
  if (!tools("mksquashfs", "squashfuse", "fusermount3")) return;
  // Deno.stat of a /dev path needs more than --allow-read; ask the shell.
  if ((await run("sh", ["-c", "test -c /dev/fuse"])).code !== 0) {
    if (Deno.env.get("CI") === "true") throw new Error("/dev/fuse is missing");
    console.warn("skipped: /dev/fuse is missing");
    return;
  }
  await withTempDir(async (dir) => {
    const a = await assemble(dir);
    const mountPoint = join(dir, "mnt");
    await Deno.mkdir(mountPoint);
    await runOk("squashfuse", ["-o", `offset=${a.imageOffset}`, a.bundle, mountPoint]);
    try {
      assert.equal(
        await Deno.readTextFile(join(mountPoint, "usr/bin/hello")),
        await Deno.readTextFile(join(a.appDir, "usr/bin/hello")),
      );
      assert.deepEqual(
        await Deno.readFile(join(mountPoint, "usr/share/blob.bin")),
        await Deno.readFile(join(a.appDir, "usr/share/blob.bin")),
      );
      assert.equal(await Deno.readLink(join(mountPoint, "usr/hello-link")), "bin/hello");
      const result = await run(join(mountPoint, "AppRun"), []);
      assert.equal(result.code, 0);
    } finally {
      await runOk("fusermount3", ["-u", mountPoint]);
    }
  });
});

for (
  const [name, patch, pattern] of [
    ["a 32-bit", { [EI_CLASS]: ELFCLASS32 }, /32-bit ELF/],
    ["a big-endian", { [EI_DATA]: ELFDATA2MSB }, /big-endian ELF/],
  ] as const
) {
  Deno.test(`assembleBundle() refuses ${name} runtime and leaves no file behind`, async () => {
    if (!tools("mksquashfs")) return;
    await withTempDir(async (dir) => {
      const bytes = withIdentBytes(await Deno.readFile(HOST_ELF), patch);
      await assert.rejects(assemble(dir, bytes), (error: unknown) => {
        assert.ok(error instanceof FormatError);
        assert.match(error.message, pattern);
        assert.match(error.message, /64-bit little-endian/);
        return true;
      });
      assert.deepEqual(await listDir(join(dir, "out")), []);
    });
  });
}

Deno.test("assembleBundle() refuses a runtime that is already a bundle", async () => {
  if (!tools("mksquashfs")) return;
  await withTempDir(async (dir) => {
    const a = await assemble(dir);
    await assert.rejects(
      assembleBundle({
        runtime: a.bundle,
        sections: a.sections,
        image: a.image,
        output: join(dir, "out", "again.AppBundle"),
      }),
      (error: unknown) =>
        error instanceof FormatError && /already an AppBundle/.test(error.message),
    );
    assert.deepEqual(await listDir(join(dir, "out")), ["hello.AppBundle"]);
  });
});

Deno.test("assembleBundle() refuses two sections of one name", async () => {
  if (!tools("mksquashfs")) return;
  await withTempDir(async (dir) => {
    const a = await assemble(dir);
    await assert.rejects(
      assembleBundle({
        runtime: a.runtime,
        sections: [...a.sections, { name: ".one_byte", data: new Uint8Array(2) }],
        image: a.image,
        output: join(dir, "out", "dup.AppBundle"),
      }),
      (error: unknown) =>
        error instanceof FormatError && /".one_byte".*already has a section/.test(error.message),
    );
    assert.deepEqual(await listDir(join(dir, "out")), ["hello.AppBundle"]);
  });
});

Deno.test("assembleBundle() names the missing output directory, not the runtime", async () => {
  if (!tools("mksquashfs")) return;
  await withTempDir(async (dir) => {
    const a = await assemble(dir);
    const output = join(dir, "missing", "x.AppBundle");
    await assert.rejects(
      assembleBundle({ runtime: a.runtime, sections: a.sections, image: a.image, output }),
      (error: unknown) => {
        assert.ok(error instanceof InputError);
        assert.equal(error.message, `Cannot write "${output}": no such file or directory`);
        return true;
      },
    );
  });
});

for (const [magic, bytes] of [["AB", "AB\x02"], ["AI", "AI\x02"], ["none", "\0\0\0"]] as const) {
  Deno.test(`assembleBundle() writes magic ${JSON.stringify(bytes)} at offset 8 for "${magic}"`, async () => {
    if (!tools("mksquashfs")) return;
    await withTempDir(async (dir) => {
      const a = await assemble(dir, undefined, magic);
      const head = await Deno.readFile(a.bundle);
      assert.equal(new TextDecoder().decode(head.subarray(8, 11)), bytes);
      const info = await readBundle(a.bundle);
      assert.equal(info.magic, magic === "none" ? undefined : magic);
    });
  });
}
