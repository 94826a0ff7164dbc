/**
 * The ELF section writer: adds sections to an ELF-64 file by appending their
 * bytes, a new section name table and a new section header table, then
 * patching e_shoff, e_shnum and e_shstrndx. Program headers and loadable
 * segments are never touched, so an executable whose payload lives in a note
 * segment (deno compile 2.9+, Node single executable applications) keeps running.
 *
 * {@linkcode planSectionAppend} is pure: it turns a layout and the new sections
 * into a list of writes. {@linkcode appendSections} applies them to a file.
 *
 * @module
 */

import { Buffer } from "node:buffer";
import type { FileHandle } from "node:fs/promises";
import { FormatError } from "../../errors.ts";
import {
  E_SHNUM_OFFSET,
  E_SHOFF_OFFSET,
  E_SHSTRNDX_OFFSET,
  ELF64_SHDR_SIZE,
  SHN_LORESERVE,
  SHT_NULL,
  SHT_PROGBITS,
  SHT_STRTAB,
} from "./elf_constants.ts";
import { emptySectionHeader, readElfLayout, writeSectionHeader } from "./read_elf.ts";
import type { ElfLayout, SectionHeader } from "./read_elf.ts";

/** A section to add. */
export interface NewSection {
  /** The section's name, e.g. ".pbundle_runtime_info". */
  name: string;
  /** The section's bytes. */
  data: Uint8Array;
  /**
   * sh_type of the section.
   * @default {SHT_PROGBITS}
   */
  type?: number;
}

/** One write of a plan: `bytes` go to file offset `offset`. */
export interface PlannedWrite {
  /** File offset. */
  offset: number;
  /** The bytes to write there. */
  bytes: Uint8Array;
}

/** The result of planning: writes in file order, and where the ELF then ends. */
export interface SectionAppendPlan {
  /** The writes to apply, header patch included. */
  writes: PlannedWrite[];
  /** The new end of the ELF, where an image may be appended. */
  end: number;
}

/** Alignment of appended section data and of the new section header table. */
const APPEND_ALIGNMENT = 8;
const encoder = new TextEncoder();

function alignUp(value: number, alignment: number): number {
  return Math.ceil(value / alignment) * alignment;
}

/**
 * Plans how to add sections to an ELF whose layout is known: the new data goes
 * at the end of the file, then a new section name table that starts with the old
 * one (so existing sh_name offsets stay valid), then the old section headers
 * followed by the new ones.
 *
 * @param layout The ELF's current layout.
 * @param fileSize The file's current size; appended data starts after it.
 * @param sections The sections to add, in order.
 * @returns The writes and the new ELF end.
 * @throws {FormatError} When a name is empty or repeats an existing section, or the table would overflow.
 */
export function planSectionAppend(
  layout: ElfLayout,
  fileSize: number,
  sections: readonly NewSection[],
): SectionAppendPlan {
  const existing = new Set(layout.sections.map((s) => s.name));
  for (const section of sections) {
    if (section.name === "" || section.name.includes("\0")) {
      throw new FormatError("ELF", `Cannot add section "${section.name}": invalid name`);
    }
    if (existing.has(section.name)) {
      throw new FormatError(
        "ELF",
        `Cannot add section "${section.name}": the ELF already has a section of that name`,
      );
    }
    existing.add(section.name);
  }

  const headers: SectionHeader[] = layout.sectionHeaders.map((h) => ({ ...h }));
  let shstrndx = layout.shstrndx;
  let oldNames = layout.shstrtab;
  if (headers.length === 0) {
    headers.push(emptySectionHeader(SHT_NULL, 0));
  }
  if (shstrndx === 0) {
    // No name table yet: add one as a new section named .shstrtab.
    oldNames = new Uint8Array([0]);
    shstrndx = headers.length;
    headers.push(emptySectionHeader(SHT_STRTAB, 0));
    // Its own name follows the leading NUL byte of the new table.
    headers[shstrndx]!.nameOffset = oldNames.length;
  }

  const names: Uint8Array[] = [oldNames];
  let namesLength = oldNames.length;
  if (shstrndx !== layout.shstrndx) {
    const entry = encoder.encode(".shstrtab\0");
    names.push(entry);
    namesLength += entry.length;
  }

  const writes: PlannedWrite[] = [];
  let cursor = alignUp(fileSize, APPEND_ALIGNMENT);
  for (const section of sections) {
    const nameBytes = encoder.encode(`${section.name}\0`);
    headers.push({
      ...emptySectionHeader(section.type ?? SHT_PROGBITS, namesLength),
      offset: cursor,
      size: section.data.length,
      addralign: 1n,
    });
    names.push(nameBytes);
    namesLength += nameBytes.length;
    writes.push({ offset: cursor, bytes: section.data });
    cursor = alignUp(cursor + section.data.length, APPEND_ALIGNMENT);
  }

  const shstrtab = new Uint8Array(Buffer.concat(names, namesLength));
  headers[shstrndx] = {
    ...headers[shstrndx]!,
    type: SHT_STRTAB,
    offset: cursor,
    size: shstrtab.length,
  };
  writes.push({ offset: cursor, bytes: shstrtab });
  cursor = alignUp(cursor + shstrtab.length, APPEND_ALIGNMENT);

  if (headers.length >= SHN_LORESERVE) {
    throw new FormatError("ELF", `Cannot add sections: ${headers.length} sections are too many`);
  }
  const table = new Uint8Array(headers.length * ELF64_SHDR_SIZE);
  headers.forEach((h, i) => writeSectionHeader(table, i * ELF64_SHDR_SIZE, h));
  const shoff = cursor;
  writes.push({ offset: shoff, bytes: table });

  const patch = new Uint8Array(8);
  new DataView(patch.buffer).setBigUint64(0, BigInt(shoff), true);
  writes.push({ offset: E_SHOFF_OFFSET, bytes: patch });
  const counts = new Uint8Array(2);
  new DataView(counts.buffer).setUint16(0, headers.length, true);
  writes.push({ offset: E_SHNUM_OFFSET, bytes: counts });
  const strndx = new Uint8Array(2);
  new DataView(strndx.buffer).setUint16(0, shstrndx, true);
  writes.push({ offset: E_SHSTRNDX_OFFSET, bytes: strndx });

  return { writes, end: shoff + table.length };
}

/**
 * Adds sections to the ELF in an open, writable file (a copy of the runtime).
 * Gaps left for alignment are filled with zeros.
 *
 * @param handle The file, opened for reading and writing.
 * @param sections The sections to add.
 * @returns The new end of the ELF (the offset where an image may be appended).
 * @throws {FormatError} When the file is not a 64-bit little-endian ELF.
 */
export async function appendSections(
  handle: FileHandle,
  sections: readonly NewSection[],
): Promise<number> {
  const { size } = await handle.stat();
  const layout = await readElfLayout(handle, size);
  const plan = planSectionAppend(layout, size, sections);
  for (const { offset, bytes } of plan.writes) {
    let done = 0;
    while (done < bytes.length) {
      const { bytesWritten } = await handle.write(bytes, done, bytes.length - done, offset + done);
      done += bytesWritten;
    }
  }
  // Alignment gaps past the old end of file read back as zeros.
  return plan.end;
}
