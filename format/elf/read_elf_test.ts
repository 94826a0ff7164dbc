import assert from "node:assert/strict";
import { join } from "node:path";
import { FormatError } from "../../errors.ts";
import { makeMinimalElf, withIdentBytes } from "../../fixtures/make_elf.ts";
import {
  HOST_ELF,
  readelfHeader,
  readelfSections,
  requireTool,
  withTempDir,
} from "../../tests/_helpers.ts";
import { planSectionAppend } from "./append_sections.ts";
import {
  E_SHOFF_OFFSET,
  EI_CLASS,
  EI_DATA,
  ELF64_SHDR_SIZE,
  ELFCLASS32,
  ELFDATA2MSB,
  EM_X86_64,
  SHT_NOBITS,
  SHT_PROGBITS,
} from "./elf_constants.ts";
import {
  parseElfHeader,
  parseSectionHeader,
  readElf,
  readStringAt,
  writeSectionHeader,
} from "./read_elf.ts";
import type { SectionHeader } from "./read_elf.ts";

const hostElf = await Deno.readFile(HOST_ELF);

Deno.test("parseElfHeader() reads a 64-bit little-endian header", () => {
  const header = parseElfHeader(makeMinimalElf());
  assert.equal(header.machine, EM_X86_64);
  assert.equal(header.shoff, 0);
  assert.equal(header.shnum, 0);
  assert.equal(header.shentsize, ELF64_SHDR_SIZE);
});

for (
  const [name, bytes, pattern] of [
    ["a 32-bit ELF", withIdentBytes(hostElf, { [EI_CLASS]: ELFCLASS32 }), /32-bit ELF.*64-bit/],
    ["a big-endian ELF", withIdentBytes(hostElf, { [EI_DATA]: ELFDATA2MSB }), /big-endian/],
    ["an unknown ELF class", withIdentBytes(hostElf, { [EI_CLASS]: 9 }), /unknown class 9/],
    ["an unknown data encoding", withIdentBytes(hostElf, { [EI_DATA]: 0 }), /data encoding 0/],
    ["a file that is not ELF", new TextEncoder().encode("#!/bin/sh\n".repeat(10)), /not an ELF/],
    ["an empty file", new Uint8Array(), /not an ELF/],
    ["a header cut short", hostElf.slice(0, 40), /truncated/],
  ] as const
) {
  Deno.test(`parseElfHeader() rejects ${name} with a FormatError`, () => {
    assert.throws(() => parseElfHeader(bytes), (error: unknown) => {
      assert.ok(error instanceof FormatError);
      assert.equal(error.format, "ELF");
      assert.match(error.message, pattern);
      assert.ok(!error.message.includes("\n"));
      return true;
    });
  });
}

Deno.test("parseSectionHeader() reads back what writeSectionHeader() wrote", () => {
  const header: SectionHeader = {
    nameOffset: 17,
    type: SHT_PROGBITS,
    flags: 0x6n,
    addr: 0x401000n,
    offset: 0x12345678,
    size: 2 ** 40,
    link: 3,
    info: 4,
    addralign: 16n,
    entsize: 24n,
  };
  const buffer = new Uint8Array(ELF64_SHDR_SIZE * 2);
  assert.equal(writeSectionHeader(buffer, ELF64_SHDR_SIZE, header), ELF64_SHDR_SIZE * 2);
  assert.deepEqual(parseSectionHeader(buffer, ELF64_SHDR_SIZE), header);
});

Deno.test("parseSectionHeader() refuses a 64-bit offset beyond a safe number", () => {
  const buffer = new Uint8Array(ELF64_SHDR_SIZE);
  new DataView(buffer.buffer).setBigUint64(0x18, 2n ** 60n, true);
  assert.throws(() => parseSectionHeader(buffer, 0), FormatError);
});

Deno.test("readStringAt() reads NUL-terminated names and tolerates bad offsets", () => {
  const table = new TextEncoder().encode("\0.text\0.data\0");
  assert.equal(readStringAt(table, 1), ".text");
  assert.equal(readStringAt(table, 7), ".data");
  assert.equal(readStringAt(table, 0), "");
  assert.equal(readStringAt(table, 99), "");
});

Deno.test("readElf() lists the same sections as readelf -S", async () => {
  if (!requireTool("readelf")) return;
  const layout = await readElf(HOST_ELF);
  const expected = await readelfSections(HOST_ELF);
  assert.deepEqual(
    layout.sections.map((s) => [s.index, s.name, s.offset]),
    expected.map((s) => [s.index, s.name, s.offset]),
  );
  for (const section of layout.sections) {
    const other = expected[section.index]!;
    assert.equal(section.size, section.type === SHT_NOBITS ? 0 : other.size, section.name);
  }
  const header = await readelfHeader(HOST_ELF);
  assert.equal(layout.header.shoff, header.shoff);
  assert.equal(layout.sectionHeaders.length, header.shnum);
  assert.equal(layout.shstrndx, header.shstrndx);
});

Deno.test("readElf() puts the ELF end at the larger of the table's end and the last section's end", async () => {
  const layout = await readElf(HOST_ELF);
  const tableEnd = layout.header.shoff + layout.sectionHeaders.length * ELF64_SHDR_SIZE;
  const sectionEnd = Math.max(
    ...layout.sectionHeaders.filter((h) => h.type !== SHT_NOBITS).map((h) => h.offset + h.size),
  );
  assert.equal(layout.end, Math.max(tableEnd, sectionEnd));
  // A linker puts the table last, so for a plain executable the ELF ends with the file.
  assert.equal(layout.end, layout.fileSize);
});

Deno.test("readElf() ends the ELF at a section that lies past the header table", async () => {
  await withTempDir(async (dir) => {
    // Add a section by hand after the table: the writer never does this, pelf-era tools might.
    const layout = await readElf(HOST_ELF);
    const plan = planSectionAppend(layout, layout.fileSize, [{
      name: ".late",
      data: new Uint8Array(100),
    }]);
    const bytes = new Uint8Array(Math.max(...plan.writes.map((w) => w.offset + w.bytes.length)));
    bytes.set(hostElf);
    for (const w of plan.writes) bytes.set(w.bytes, w.offset);
    // Move .late's data past the new table: rewrite its sh_offset and grow the file.
    const table = new DataView(bytes.buffer).getBigUint64(E_SHOFF_OFFSET, true);
    const count = layout.sectionHeaders.length + 1;
    const lateHeader = Number(table) + (count - 1) * ELF64_SHDR_SIZE;
    const lateOffset = Number(table) + count * ELF64_SHDR_SIZE + 32;
    new DataView(bytes.buffer).setBigUint64(lateHeader + 0x18, BigInt(lateOffset), true);
    const grown = new Uint8Array(lateOffset + 100 + 7);
    grown.set(bytes);
    const file = join(dir, "late");
    await Deno.writeFile(file, grown);
    const read = await readElf(file);
    assert.equal(read.sections.at(-1)?.name, ".late");
    assert.equal(read.end, lateOffset + 100);
  });
});

Deno.test("readElf() reads an ELF without a section header table", async () => {
  await withTempDir(async (dir) => {
    const file = join(dir, "mini");
    await Deno.writeFile(file, makeMinimalElf());
    const layout = await readElf(file);
    assert.deepEqual(layout.sections, []);
    assert.equal(layout.end, layout.fileSize);
  });
});

Deno.test("readElf() rejects a file cut inside the section header table", async () => {
  await withTempDir(async (dir) => {
    const layout = await readElf(HOST_ELF);
    const file = join(dir, "cut");
    await Deno.writeFile(file, hostElf.slice(0, layout.header.shoff + 200));
    await assert.rejects(readElf(file), (error: unknown) => {
      assert.ok(error instanceof FormatError);
      assert.match(error.message, /section headers.*truncated/);
      return true;
    });
  });
});

Deno.test("readElf() rejects a section whose data runs past the end of the file", async () => {
  await withTempDir(async (dir) => {
    const layout = await readElf(HOST_ELF);
    const bytes = hostElf.slice();
    const index = layout.sectionHeaders.findIndex((h) => h.type === SHT_PROGBITS);
    const at = layout.header.shoff + index * ELF64_SHDR_SIZE;
    new DataView(bytes.buffer).setBigUint64(at + 0x20, BigInt(bytes.length), true); // sh_size
    const file = join(dir, "long-section");
    await Deno.writeFile(file, bytes);
    await assert.rejects(readElf(file), (error: unknown) => {
      assert.ok(error instanceof FormatError);
      assert.match(error.message, new RegExp(`section ${index}: .*past the end of the file`));
      assert.equal(error.offset, at);
      return true;
    });
  });
});
