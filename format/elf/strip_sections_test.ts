import assert from "node:assert/strict";
import { join } from "node:path";
import { FormatError } from "../../errors.ts";
import { makeMinimalElf } from "../../fixtures/make_elf.ts";
import { readelfSections, requireTool, run, withTempDir } from "../../tests/_helpers.ts";
import {
  ELF64_EHDR_SIZE,
  ELF64_PHDR_SIZE,
  SHF_ALLOC,
  SHF_INFO_LINK,
  SHT_NOBITS,
  SHT_NULL,
  SHT_PROGBITS,
  SHT_RELA,
  SHT_STRTAB,
} from "./elf_constants.ts";
import { parseSectionHeader, readElf } from "./read_elf.ts";
import type { SectionHeader } from "./read_elf.ts";
import { planStrip, stripSections } from "./strip_sections.ts";
import type { StripLayout } from "./strip_sections.ts";

/** A section of a synthetic layout. */
interface Spec {
  name: string;
  type?: number;
  alloc?: boolean;
  offset: number;
  size: number;
  link?: number;
  info?: number;
  infoLink?: boolean;
}

/**
 * A layout with a program span ending at 0x1000, section 0, the given
 * sections, and .shstrtab and the section header table last.
 */
function layoutOf(specs: Spec[], span = 0x1000): { layout: StripLayout; fileSize: number } {
  const names = [".shstrtab", ...specs.map((s) => s.name)];
  const shstrtab = new TextEncoder().encode(`\0${names.join("\0")}\0`);
  const nameOffset = (name: string) =>
    1 + names.slice(0, names.indexOf(name)).join("\0").length +
    (names.indexOf(name) > 0 ? 1 : 0);
  const header = (s: Spec): SectionHeader => ({
    nameOffset: nameOffset(s.name),
    type: s.type ?? SHT_PROGBITS,
    flags: (s.alloc ? SHF_ALLOC : 0n) | (s.infoLink ? SHF_INFO_LINK : 0n),
    addr: 0n,
    offset: s.offset,
    size: s.size,
    link: s.link ?? 0,
    info: s.info ?? 0,
    addralign: 1n,
    entsize: 0n,
  });
  let end = Math.max(span, ...specs.map((s) => s.offset + s.size));
  const strOffset = end;
  end += shstrtab.length;
  const shoff = end;
  const sectionHeaders = [
    header({ name: "", type: SHT_NULL, offset: 0, size: 0 }),
    ...specs.map(header),
    header({ name: ".shstrtab", type: SHT_STRTAB, offset: strOffset, size: shstrtab.length }),
  ];
  sectionHeaders[0]!.nameOffset = 0;
  end += sectionHeaders.length * 64;
  const layout: StripLayout = {
    header: { machine: 62, shoff, shentsize: 64, shnum: sectionHeaders.length, shstrndx: 0 },
    sectionHeaders,
    sections: sectionHeaders.map((h, index) => ({
      index,
      name: index === 0
        ? ""
        : index === sectionHeaders.length - 1
        ? ".shstrtab"
        : specs[index - 1]!.name,
      type: h.type,
      offset: h.offset,
      size: h.size,
    })),
    shstrndx: sectionHeaders.length - 1,
    shstrtab,
    end,
    phoff: ELF64_EHDR_SIZE,
    programHeaders: [{ type: 1, offset: 0, fileSize: span }],
  };
  return { layout, fileSize: end };
}

/** The section headers a plan writes. */
function plannedHeaders(plan: ReturnType<typeof planStrip>): SectionHeader[] {
  const table = plan.writes[1]!.bytes;
  const headers: SectionHeader[] = [];
  for (let at = 0; at < table.length; at += 64) headers.push(parseSectionHeader(table, at));
  return headers;
}

Deno.test("planStrip() drops non-allocated sections after the program span and cuts the file there", () => {
  const { layout, fileSize } = layoutOf([
    { name: ".text", alloc: true, offset: 0x100, size: 0x100 },
    { name: ".bss", type: SHT_NOBITS, alloc: true, offset: 0x1000, size: 0x800 },
    { name: ".comment", offset: 0x1000, size: 0x20 },
    { name: ".debug_info", offset: 0x1020, size: 0x400 },
    { name: ".symtab", type: 2, offset: 0x1420, size: 0x60, link: 6, info: 3 },
    { name: ".strtab", type: SHT_STRTAB, offset: 0x1480, size: 0x30 },
  ]);
  const plan = planStrip(layout, fileSize);
  assert.equal(plan.cut, 0x1000);
  assert.deepEqual(plan.removed, [".comment", ".debug_info", ".symtab", ".strtab"]);
  assert.deepEqual(plan.kept, []);
  const headers = plannedHeaders(plan);
  assert.equal(headers.length, 4);
  assert.equal(headers[3]!.type, SHT_STRTAB);
  assert.equal(headers[3]!.offset, 0x1000);
  assert.equal(plan.end, plan.writes[1]!.offset + 4 * 64);
  assert.equal(plan.writes[1]!.offset % 8, 0);
});

Deno.test("planStrip() keeps a non-allocated section inside the program span and says so", () => {
  const { layout, fileSize } = layoutOf([
    { name: ".text", alloc: true, offset: 0x100, size: 0x100 },
    { name: ".gnu_debuglink", offset: 0x800, size: 0x10 },
    { name: ".debug_info", offset: 0x1000, size: 0x400 },
  ]);
  const plan = planStrip(layout, fileSize);
  assert.deepEqual(plan.removed, [".debug_info"]);
  assert.deepEqual(plan.kept, [".gnu_debuglink"]);
  assert.equal(plan.cut, 0x1000);
});

Deno.test("planStrip() keeps a non-allocated section that lies before one that must stay", () => {
  const { layout, fileSize } = layoutOf([
    { name: ".text", alloc: true, offset: 0x100, size: 0x100 },
    { name: ".debug_info", offset: 0x1000, size: 0x400 },
    // Allocated but outside every segment (malformed, yet it must keep its bytes).
    { name: ".odd", alloc: true, offset: 0x1400, size: 0x10 },
    { name: ".debug_line", offset: 0x1410, size: 0x40 },
  ]);
  const plan = planStrip(layout, fileSize);
  assert.deepEqual(plan.removed, [".debug_line"]);
  assert.deepEqual(plan.kept, [".debug_info"]);
  assert.equal(plan.cut, 0x1410);
});

Deno.test("planStrip() drops relocations of a dropped section and renumbers sh_link and sh_info", () => {
  const { layout, fileSize } = layoutOf([
    { name: ".text", alloc: true, offset: 0x100, size: 0x100 },
    { name: ".debug_info", offset: 0x1000, size: 0x400 },
    { name: ".rela.debug_info", type: SHT_RELA, offset: 0x1400, size: 0x18, link: 5, info: 2 },
    { name: ".dynstr", alloc: true, type: SHT_STRTAB, offset: 0x200, size: 0x10 },
    { name: ".symtab", type: 2, offset: 0x1418, size: 0x18, link: 6 },
    { name: ".strtab", type: SHT_STRTAB, offset: 0x1430, size: 0x8 },
    {
      name: ".rela.dyn",
      alloc: true,
      type: SHT_RELA,
      offset: 0x300,
      size: 0x18,
      link: 4,
      info: 1,
      infoLink: true,
    },
  ]);
  const plan = planStrip(layout, fileSize);
  assert.deepEqual(plan.removed, [".debug_info", ".rela.debug_info", ".symtab", ".strtab"]);
  const headers = plannedHeaders(plan);
  // Every dropped section lies before .rela.dyn: they stay as SHT_NULL placeholders.
  assert.deepEqual(
    headers.map((h) => h.type),
    [
      SHT_NULL,
      SHT_PROGBITS,
      SHT_NULL,
      SHT_NULL,
      SHT_STRTAB,
      SHT_NULL,
      SHT_NULL,
      SHT_RELA,
      SHT_STRTAB,
    ],
  );
  assert.equal(headers[7]!.link, 4);
  assert.equal(headers[7]!.info, 1);
});

Deno.test("planStrip() renumbers sh_link of a kept section after a dropped one", () => {
  const { layout, fileSize } = layoutOf([
    { name: ".text", alloc: true, offset: 0x100, size: 0x100 },
    { name: ".debug_info", offset: 0x1000, size: 0x400 },
    { name: ".note.x", type: 7, offset: 0x800, size: 0x10, link: 4 },
    { name: ".note.y", type: 7, offset: 0x810, size: 0x10 },
  ]);
  const plan = planStrip(layout, fileSize);
  assert.deepEqual(plan.removed, [".debug_info"]);
  assert.deepEqual(plan.kept, [".note.x", ".note.y"]);
  const headers = plannedHeaders(plan);
  assert.deepEqual(headers.map((h) => h.offset), [0, 0x100, 0x800, 0x810, 0x1000]);
  assert.equal(headers[2]!.link, 3);
});

Deno.test("planStrip() keeps a section that an allocated section links to", () => {
  const { layout, fileSize } = layoutOf([
    { name: ".text", alloc: true, offset: 0x100, size: 0x100 },
    { name: ".rela.odd", alloc: true, type: SHT_RELA, offset: 0x200, size: 0x18, link: 3 },
    { name: ".symtab", type: 2, offset: 0x1000, size: 0x18 },
    { name: ".debug_info", offset: 0x1018, size: 0x100 },
  ]);
  const plan = planStrip(layout, fileSize);
  assert.deepEqual(plan.removed, [".debug_info"]);
  assert.deepEqual(plan.kept, [".symtab"]);
  assert.equal(plan.cut, 0x1018);
});

Deno.test("planStrip() changes nothing when there is nothing to drop, or no section header table", () => {
  const { layout, fileSize } = layoutOf([{
    name: ".text",
    alloc: true,
    offset: 0x100,
    size: 0x100,
  }]);
  assert.deepEqual(planStrip(layout, fileSize), {
    cut: fileSize,
    writes: [],
    end: fileSize,
    removed: [],
    kept: [],
  });
  const bare: StripLayout = { ...layout, sectionHeaders: [], sections: [], shstrndx: 0, end: 200 };
  assert.equal(planStrip(bare, 200).writes.length, 0);
});

Deno.test("planStrip() refuses an ELF with bytes after its end, and a link to no section", () => {
  const { layout, fileSize } = layoutOf([
    { name: ".text", alloc: true, offset: 0x100, size: 0x100 },
    { name: ".debug_info", offset: 0x1000, size: 0x400 },
  ]);
  assert.throws(
    () => planStrip(layout, fileSize + 10),
    (e: unknown) =>
      e instanceof FormatError && /10 bytes follow the end of the ELF/.test(e.message),
  );
  layout.sectionHeaders[1]!.link = 99;
  assert.throws(
    () => planStrip(layout, fileSize),
    (e: unknown) => e instanceof FormatError && /refers to section 99/.test(e.message),
  );
});

Deno.test("stripSections() leaves a minimal ELF without sections as it is", async () => {
  await withTempDir(async (dir) => {
    const input = join(dir, "min");
    await Deno.writeFile(input, makeMinimalElf(), { mode: 0o755 });
    const result = await stripSections(input, join(dir, "out"));
    assert.deepEqual(result.removed, []);
    assert.deepEqual(await Deno.readFile(join(dir, "out")), makeMinimalElf());
  });
});

Deno.test("stripSections() refuses a program header table cut short with a FormatError", async () => {
  await withTempDir(async (dir) => {
    const bytes = makeMinimalElf();
    const input = join(dir, "cut");
    await Deno.writeFile(input, bytes.slice(0, ELF64_EHDR_SIZE + ELF64_PHDR_SIZE - 8));
    await assert.rejects(
      stripSections(input, join(dir, "out")),
      (e: unknown) => e instanceof FormatError && /program headers/.test(e.message),
    );
  });
});

const C_PROGRAM = `#include <stdio.h>
static int square(int x) { return x * x; }
int main(int argc, char **argv) { printf("hello %d\\n", square(argc + 6)); return 3; }
`;

Deno.test("stripSections() on a gcc -g program: same program headers and bytes, no debug info, still runs", async () => {
  if (!requireTool("gcc") || !requireTool("readelf") || !requireTool("objcopy")) return;
  await withTempDir(async (dir) => {
    await Deno.writeTextFile(join(dir, "hello.c"), C_PROGRAM);
    const built = await run("gcc", ["-g", "-O1", "-o", join(dir, "hello"), join(dir, "hello.c")]);
    assert.equal(built.code, 0, built.stderr);
    const input = join(dir, "hello");
    const output = join(dir, "hello.stripped");
    const result = await stripSections(input, output);
    for (const name of [".debug_info", ".debug_line", ".symtab", ".strtab", ".comment"]) {
      assert.ok(result.removed.includes(name), `${name} in ${result.removed.join(" ")}`);
    }
    assert.deepEqual(result.kept, []);
    assert.equal((await Deno.stat(output)).size, result.outputSize);
    assert.equal((await Deno.stat(output)).mode! & 0o777, (await Deno.stat(input)).mode! & 0o777);

    // Program headers and every byte up to the cut are unchanged.
    const before = await run("readelf", ["-lW", input]);
    const after = await run("readelf", ["-lW", output]);
    assert.equal(after.stderr, "");
    assert.equal(after.stdout, before.stdout);
    const inBytes = await Deno.readFile(input);
    const outBytes = await Deno.readFile(output);
    const layout = await readElf(output);
    const names = layout.sections[layout.shstrndx]!;
    assert.deepEqual(
      outBytes.subarray(ELF64_EHDR_SIZE, names.offset),
      inBytes.subarray(ELF64_EHDR_SIZE, names.offset),
    );
    assert.deepEqual(outBytes.subarray(0, 0x28), inBytes.subarray(0, 0x28));

    // readelf agrees on the sections and finds no debug information.
    const sections = await readelfSections(output);
    assert.deepEqual(
      sections.map((s) => s.name),
      (await readelfSections(input)).map((s) => s.name).filter((n) => !result.removed.includes(n)),
    );
    const sectionDump = await run("readelf", ["-SW", output]);
    assert.equal(sectionDump.stderr, "");
    const debug = await run("readelf", ["--debug-dump=info", output]);
    assert.equal(debug.stdout.trim(), "");

    // It runs as before.
    const ran = await run(output, ["a"]);
    assert.equal(ran.stdout, "hello 64\n");
    assert.equal(ran.code, 3);

    // About what binutils achieve: no more than objcopy --strip-debug, near strip --strip-all.
    const objcopied = join(dir, "hello.objcopy");
    assert.equal((await run("objcopy", ["--strip-debug", input, objcopied])).code, 0);
    const stripAll = join(dir, "hello.strip-all");
    assert.equal((await run("objcopy", ["--strip-all", input, stripAll])).code, 0);
    assert.ok(result.outputSize <= (await Deno.stat(objcopied)).size);
    assert.ok(Math.abs(result.outputSize - (await Deno.stat(stripAll)).size) < 1024);

    // Deterministic, and a second strip finds nothing more to drop.
    const again = join(dir, "hello.again");
    await stripSections(input, again);
    assert.deepEqual(await Deno.readFile(again), outBytes);
    const twice = await stripSections(output, join(dir, "hello.twice"));
    assert.deepEqual(twice.removed, []);
  });
});
