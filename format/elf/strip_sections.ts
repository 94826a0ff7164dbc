/**
 * The ELF section stripper: writes a copy of an ELF-64 little-endian executable
 * without the sections a running program never reads (debug information,
 * symbol and string tables, comments: sections without SHF_ALLOC), as
 * `strip --strip-all` would for them, but with no host tools.
 *
 * It is safe by construction: every byte a program header covers stays at its
 * offset and the program headers are not touched. Only sections whose bytes
 * lie entirely after the last byte of the file's program span (its last
 * segment, or the program header table) are dropped; the file is cut there,
 * and a new section name table and section header table are appended. A
 * non-allocated section that lies inside the program span is kept, and named
 * in the result.
 *
 * {@linkcode planStrip} is pure: it turns a layout into the length of input to
 * keep and a list of writes. {@linkcode stripSections} applies them to a copy.
 *
 * @module
 */

import type { FileHandle } from "node:fs/promises";
import { FormatError } from "../../errors.ts";
import {
  E_PHENTSIZE_OFFSET,
  E_PHNUM_OFFSET,
  E_PHOFF_OFFSET,
  E_SHNUM_OFFSET,
  E_SHOFF_OFFSET,
  E_SHSTRNDX_OFFSET,
  ELF64_EHDR_SIZE,
  ELF64_PHDR_SIZE,
  ELF64_SHDR_SIZE,
  P_FILESZ_OFFSET,
  P_OFFSET_OFFSET,
  P_TYPE_OFFSET,
  PN_XNUM,
  SHF_ALLOC,
  SHF_INFO_LINK,
  SHN_LORESERVE,
  SHN_XINDEX,
  SHT_NOBITS,
  SHT_NULL,
  SHT_REL,
  SHT_RELA,
  SHT_STRTAB,
} from "./elf_constants.ts";
import { emptySectionHeader, readElfLayout, readExactly, writeSectionHeader } from "./read_elf.ts";
import type { ElfFile, ElfLayout, SectionHeader } from "./read_elf.ts";
import type { PlannedWrite } from "./append_sections.ts";

/** The fields of an ELF-64 program header that say which file bytes it covers. */
export interface ProgramHeader {
  /** p_type (PT_LOAD 1, PT_NOTE 4, ...). */
  type: number;
  /** p_offset: where the segment's bytes start in the file. */
  offset: number;
  /** p_filesz: how many bytes of the file the segment covers. */
  fileSize: number;
}

/** An ELF layout with what {@linkcode planStrip} needs of its program headers. */
export interface StripLayout extends ElfLayout {
  /** e_phoff: file offset of the program header table (0 when there is none). */
  phoff: number;
  /** The program headers, in table order. */
  programHeaders: ProgramHeader[];
}

/** The result of planning a strip. */
export interface StripPlan {
  /** How many bytes of the input the output starts with, unchanged. */
  cut: number;
  /** The writes to apply after the cut, header patch included (empty when nothing is removed). */
  writes: PlannedWrite[];
  /** The output's size. */
  end: number;
  /** Names of the sections removed, in table order. */
  removed: string[];
  /**
   * Names of sections without SHF_ALLOC that are kept because their bytes lie
   * inside the program span or before a section that must stay (not counting
   * the section name table, which is rewritten).
   */
  kept: string[];
}

/** What {@linkcode stripSections} did. */
export interface StripResult {
  /** Names of the sections removed, in table order. */
  removed: string[];
  /** Names of non-allocated sections that could not be removed (see {@linkcode StripPlan.kept}). */
  kept: string[];
  /** The input's size in bytes. */
  inputSize: number;
  /** The output's size in bytes. */
  outputSize: number;
}

/** Alignment of the new section header table. */
const TABLE_ALIGNMENT = 8;
const encoder = new TextEncoder();

function alignUp(value: number, alignment: number): number {
  return Math.ceil(value / alignment) * alignment;
}

/** The section indices a header refers to: sh_link, and sh_info when it holds an index. */
function referencedSections(header: SectionHeader): number[] {
  const refs: number[] = [];
  if (header.link !== 0) refs.push(header.link);
  const infoIsIndex = (header.flags & SHF_INFO_LINK) !== 0n || header.type === SHT_REL ||
    header.type === SHT_RELA;
  if (infoIsIndex && header.info !== 0) refs.push(header.info);
  return refs;
}

function hasBytes(header: SectionHeader): boolean {
  return header.type !== SHT_NOBITS && header.size > 0;
}

/**
 * Plans a copy of an ELF without its non-allocated sections that lie after the
 * program span: the output is the input's first `cut` bytes, then a new
 * section name table and section header table. Section indices are
 * renumbered in sh_link and sh_info; a removed section whose index lies before
 * an allocated section is kept as an empty SHT_NULL header instead, so that
 * the section indices in the dynamic symbol table stay true. A section that
 * refers to a removed one through sh_link or sh_info (e.g. .rela.debug_info)
 * is removed with it.
 *
 * @param layout The ELF's layout with its program headers.
 * @param fileSize The file's size.
 * @returns The cut, the writes, and which sections go and which stay.
 * @throws {FormatError} When bytes follow the ELF's end, or a section refers to one that does not exist.
 */
export function planStrip(layout: StripLayout, fileSize: number): StripPlan {
  const headers = layout.sectionHeaders;
  const count = headers.length;
  if (count === 0 || layout.shstrndx === 0 || layout.shstrndx >= count) {
    return { cut: fileSize, writes: [], end: fileSize, removed: [], kept: [] };
  }
  if (fileSize > layout.end) {
    throw new FormatError(
      "ELF",
      `Cannot strip ELF: ${
        fileSize - layout.end
      } bytes follow the end of the ELF (an appended image?); strip the executable before appending`,
      layout.end,
    );
  }
  let span = Math.max(
    ELF64_EHDR_SIZE,
    layout.phoff + layout.programHeaders.length * ELF64_PHDR_SIZE,
  );
  for (const ph of layout.programHeaders) {
    if (ph.fileSize > 0) span = Math.max(span, ph.offset + ph.fileSize);
  }

  const shstrndx = layout.shstrndx;
  const removable = (i: number) =>
    i !== 0 && i !== shstrndx && (headers[i]!.flags & SHF_ALLOC) === 0n;
  const removed = new Set<number>();
  for (let i = 0; i < count; i++) {
    if (removable(i) && headers[i]!.offset >= span) removed.add(i);
  }
  // Sections removed because they refer to a removed one; their bytes may stay.
  const dependents = new Set<number>();
  const tail = () => {
    let end = span;
    for (let i = 0; i < count; i++) {
      const h = headers[i]!;
      if (i !== shstrndx && !removed.has(i) && hasBytes(h)) end = Math.max(end, h.offset + h.size);
    }
    return end;
  };
  let cut = tail();
  for (let round = 0; round <= count; round++) {
    let changed = false;
    for (let i = 0; i < count; i++) {
      if (removed.has(i)) continue;
      for (const ref of referencedSections(headers[i]!)) {
        if (ref >= count) {
          throw new FormatError(
            "ELF",
            `Cannot strip ELF: section ${i} refers to section ${ref}, and there are ${count}`,
            layout.header.shoff + i * ELF64_SHDR_SIZE,
          );
        }
        if (!removed.has(ref) || removed.has(i)) continue;
        if (removable(i)) {
          removed.add(i);
          dependents.add(i);
        } else {
          removed.delete(ref);
          dependents.delete(ref);
        }
        changed = true;
      }
    }
    cut = tail();
    for (const i of removed) {
      if (!dependents.has(i) && hasBytes(headers[i]!) && headers[i]!.offset < cut) {
        removed.delete(i);
        changed = true;
      }
    }
    if (!changed) break;
  }
  const name = (i: number) => layout.sections[i]?.name ?? "";
  const removedNames = [...removed].sort((a, b) => a - b).map(name);
  const kept: string[] = [];
  for (let i = 1; i < count; i++) {
    if (removable(i) && !removed.has(i) && headers[i]!.type !== SHT_NULL) kept.push(name(i));
  }
  if (removed.size === 0) {
    return { cut: fileSize, writes: [], end: fileSize, removed: [], kept };
  }

  // Renumber: removed sections before the last allocated one stay as SHT_NULL placeholders.
  let lastAlloc = 0;
  for (let i = 0; i < count; i++) {
    if (!removed.has(i) && (headers[i]!.flags & SHF_ALLOC) !== 0n) lastAlloc = i;
  }
  const newIndex: (number | undefined)[] = [];
  let next = 0;
  for (let i = 0; i < count; i++) {
    newIndex.push(!removed.has(i) || i < lastAlloc ? next++ : undefined);
  }
  const remap = (i: number) => i === 0 ? 0 : newIndex[i]!;

  const names: Uint8Array[] = [new Uint8Array([0])];
  let namesLength = 1;
  const out: SectionHeader[] = [];
  for (let i = 0; i < count; i++) {
    if (newIndex[i] === undefined) continue;
    const h = headers[i]!;
    if (removed.has(i)) {
      out.push(emptySectionHeader(SHT_NULL, 0));
      continue;
    }
    let nameOffset = 0;
    if (i !== 0) {
      const bytes = encoder.encode(`${name(i)}\0`);
      nameOffset = namesLength;
      names.push(bytes);
      namesLength += bytes.length;
    }
    const infoIsIndex = (h.flags & SHF_INFO_LINK) !== 0n || h.type === SHT_REL ||
      h.type === SHT_RELA;
    out.push({
      ...h,
      nameOffset,
      link: i === 0 ? h.link : remap(h.link),
      info: i !== 0 && infoIsIndex ? remap(h.info) : h.info,
    });
  }
  const shstrtab = new Uint8Array(namesLength);
  let at = 0;
  for (const part of names) {
    shstrtab.set(part, at);
    at += part.length;
  }
  const newShstrndx = remap(shstrndx);
  out[newShstrndx] = {
    ...out[newShstrndx]!,
    type: SHT_STRTAB,
    offset: cut,
    size: shstrtab.length,
  };

  // Counts that do not fit e_shnum / e_shstrndx escape through section 0.
  const section0 = out[0]!;
  section0.size = out.length >= SHN_LORESERVE ? out.length : 0;
  section0.link = newShstrndx >= SHN_LORESERVE ? newShstrndx : 0;

  const shoff = alignUp(cut + shstrtab.length, TABLE_ALIGNMENT);
  const table = new Uint8Array(out.length * ELF64_SHDR_SIZE);
  out.forEach((h, i) => writeSectionHeader(table, i * ELF64_SHDR_SIZE, h));

  const patch = new Uint8Array(8);
  new DataView(patch.buffer).setBigUint64(0, BigInt(shoff), true);
  const shnum = new Uint8Array(2);
  new DataView(shnum.buffer).setUint16(0, out.length >= SHN_LORESERVE ? 0 : out.length, true);
  const strndx = new Uint8Array(2);
  new DataView(strndx.buffer).setUint16(
    0,
    newShstrndx >= SHN_LORESERVE ? SHN_XINDEX : newShstrndx,
    true,
  );
  const writes: PlannedWrite[] = [
    { offset: cut, bytes: shstrtab },
    { offset: shoff, bytes: table },
    { offset: E_SHOFF_OFFSET, bytes: patch },
    { offset: E_SHNUM_OFFSET, bytes: shnum },
    { offset: E_SHSTRNDX_OFFSET, bytes: strndx },
  ];
  return { cut, writes, end: shoff + table.length, removed: removedNames, kept };
}

/**
 * Reads an ELF's layout and its program headers from an open file.
 *
 * @param handle An open file.
 * @param fileSize The file's size, used to check every offset before reading.
 * @returns The layout with the program headers.
 * @throws {FormatError} When the file is not a 64-bit little-endian ELF, or a table lies outside it.
 */
export async function readStripLayout(handle: ElfFile, fileSize: number): Promise<StripLayout> {
  const layout = await readElfLayout(handle, fileSize);
  const head = await readExactly(handle, 0, ELF64_EHDR_SIZE, "the ELF header");
  const view = new DataView(head.buffer, head.byteOffset, head.byteLength);
  const phoffBig = view.getBigUint64(E_PHOFF_OFFSET, true);
  const phentsize = view.getUint16(E_PHENTSIZE_OFFSET, true);
  let phnum = view.getUint16(E_PHNUM_OFFSET, true);
  if (phnum === PN_XNUM && layout.sectionHeaders[0]) phnum = layout.sectionHeaders[0].info;
  if (phoffBig === 0n || phnum === 0) return { ...layout, phoff: 0, programHeaders: [] };
  if (phentsize !== ELF64_PHDR_SIZE) {
    throw new FormatError(
      "ELF",
      `Cannot read program headers: e_phentsize is ${phentsize}, expected ${ELF64_PHDR_SIZE}`,
      E_PHENTSIZE_OFFSET,
    );
  }
  if (phoffBig + BigInt(phnum * ELF64_PHDR_SIZE) > BigInt(fileSize)) {
    throw new FormatError(
      "ELF",
      `Cannot read program headers: ${phnum} headers at byte ${phoffBig} do not fit in the file (truncated?)`,
      E_PHOFF_OFFSET,
    );
  }
  const phoff = Number(phoffBig);
  const table = await readExactly(handle, phoff, phnum * ELF64_PHDR_SIZE, "the program headers");
  const tableView = new DataView(table.buffer, table.byteOffset, table.byteLength);
  const programHeaders: ProgramHeader[] = [];
  for (let i = 0; i < phnum; i++) {
    const at = i * ELF64_PHDR_SIZE;
    const offset = tableView.getBigUint64(at + P_OFFSET_OFFSET, true);
    const size = tableView.getBigUint64(at + P_FILESZ_OFFSET, true);
    if (size > 0n && offset + size > BigInt(fileSize)) {
      throw new FormatError(
        "ELF",
        `Cannot read program header ${i}: its segment ends at byte ${
          offset + size
        }, past the end of the file (truncated?)`,
        phoff + at,
      );
    }
    programHeaders.push({
      type: tableView.getUint32(at + P_TYPE_OFFSET, true),
      offset: Number(offset),
      fileSize: Number(size),
    });
  }
  return { ...layout, phoff, programHeaders };
}

async function writeAll(handle: FileHandle, bytes: Uint8Array, offset: number): Promise<void> {
  let done = 0;
  while (done < bytes.length) {
    const { bytesWritten } = await handle.write(bytes, done, bytes.length - done, offset + done);
    done += bytesWritten;
  }
}

/**
 * Writes a copy of an ELF executable without the sections that no program
 * segment covers and a running program never reads (see {@linkcode planStrip}).
 * The output keeps the input's permission bits.
 *
 * @example Strip a copy of node
 * ```ts ignore
 * import { stripSections } from "@pbundle/pbundle/format/elf/strip_sections.ts";
 * const { removed, outputSize } = await stripSections("./node", "./node.stripped");
 * console.log(removed.join(" "), outputSize);
 * ```
 *
 * @param input The ELF to read.
 * @param output Where to write the copy (replaced when it exists).
 * @returns The sections removed and kept, and both sizes.
 * @throws {FormatError} When the input is not a 64-bit little-endian ELF, or has bytes after its end.
 */
export async function stripSections(input: string, output: string): Promise<StripResult> {
  const { copyFile, open } = await import("node:fs/promises");
  const source = await open(input, "r");
  let plan: StripPlan;
  let inputSize: number;
  try {
    inputSize = (await source.stat()).size;
    plan = planStrip(await readStripLayout(source, inputSize), inputSize);
  } finally {
    await source.close();
  }
  await copyFile(input, output);
  if (plan.writes.length > 0) {
    const target = await open(output, "r+");
    try {
      await target.truncate(plan.cut);
      for (const { offset, bytes } of plan.writes) await writeAll(target, bytes, offset);
      // A gap before the aligned table reads back as zeros.
      await target.truncate(plan.end);
    } finally {
      await target.close();
    }
  }
  return { removed: plan.removed, kept: plan.kept, inputSize, outputSize: plan.end };
}
