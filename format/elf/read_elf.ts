/**
 * A reader for the parts of an ELF-64 little-endian file that pbundle needs:
 * the header, the section header table and the section names. Pure functions
 * decode bytes; {@linkcode readElf} seeks in a file and never loads it whole.
 *
 * @module
 */

import type { FileHandle } from "node:fs/promises";
import { FormatError } from "../../errors.ts";
import {
  E_MACHINE_OFFSET,
  E_SHENTSIZE_OFFSET,
  E_SHNUM_OFFSET,
  E_SHOFF_OFFSET,
  E_SHSTRNDX_OFFSET,
  EI_CLASS,
  EI_DATA,
  ELF64_EHDR_SIZE,
  ELF64_SHDR_SIZE,
  ELFCLASS32,
  ELFCLASS64,
  ELFDATA2LSB,
  ELFDATA2MSB,
  ELFMAG,
  SH_ADDR_OFFSET,
  SH_ADDRALIGN_OFFSET,
  SH_ENTSIZE_OFFSET,
  SH_FLAGS_OFFSET,
  SH_INFO_OFFSET,
  SH_LINK_OFFSET,
  SH_NAME_OFFSET,
  SH_OFFSET_OFFSET,
  SH_SIZE_OFFSET,
  SH_TYPE_OFFSET,
  SHN_XINDEX,
  SHT_NOBITS,
  SHT_NULL,
} from "./elf_constants.ts";

/** The fields of the ELF-64 header that pbundle reads. */
export interface ElfHeader {
  /** e_machine: the architecture (62 x86-64, 183 AArch64). */
  machine: number;
  /** e_shoff: file offset of the section header table (0 when there is none). */
  shoff: number;
  /** e_shentsize: size of one section header. */
  shentsize: number;
  /** e_shnum as stored: 0 when the real count lives in section 0's sh_size. */
  shnum: number;
  /** e_shstrndx as stored: SHN_XINDEX when the real index lives in section 0's sh_link. */
  shstrndx: number;
}

/** One section header as it is stored (ELF-64 Shdr), offsets and sizes as numbers. */
export interface SectionHeader {
  /** sh_name: offset of the name in the section name string table. */
  nameOffset: number;
  /** sh_type. */
  type: number;
  /** sh_flags. */
  flags: bigint;
  /** sh_addr. */
  addr: bigint;
  /** sh_offset: where the section's bytes start in the file. */
  offset: number;
  /** sh_size: how many bytes the section has. */
  size: number;
  /** sh_link. */
  link: number;
  /** sh_info. */
  info: number;
  /** sh_addralign. */
  addralign: bigint;
  /** sh_entsize. */
  entsize: bigint;
}

/** A section with its name resolved, as handed to callers. */
export interface ElfSection {
  /** Index in the section header table. */
  index: number;
  /** The section's name, e.g. ".pbundle_runtime_info". */
  name: string;
  /** sh_type. */
  type: number;
  /** File offset of the section's bytes. */
  offset: number;
  /** Size of the section's bytes in the file (0 for SHT_NOBITS). */
  size: number;
}

/** An ELF file's layout: header, section headers, names, and where the ELF ends. */
export interface ElfLayout {
  /** The decoded header. */
  header: ElfHeader;
  /** The raw section headers, in table order. */
  sectionHeaders: SectionHeader[];
  /** The sections with their names. */
  sections: ElfSection[];
  /** Index of the section name string table (resolved through SHN_XINDEX). */
  shstrndx: number;
  /** The section name string table's bytes. */
  shstrtab: Uint8Array;
  /**
   * The end of the ELF: the larger of the section header table's end and the
   * furthest end of a section that occupies file space. An appended image starts here.
   */
  end: number;
}

/**
 * What the readers need of an open file: `FileHandle.read`. The runtime passes
 * an object that reads synchronously, so that its start-up loads neither
 * node:fs/promises nor libuv's thread pool.
 */
export type ElfFile = Pick<FileHandle, "read">;

const decoder = new TextDecoder();

/** Converts a 64-bit field to a number, refusing values beyond Number.MAX_SAFE_INTEGER. */
function toSafeNumber(value: bigint, field: string, at: number): number {
  if (value > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new FormatError("ELF", `Cannot read ELF: ${field} is too large (${value})`, at);
  }
  return Number(value);
}

/**
 * Decodes the ELF-64 little-endian header at the start of `bytes`.
 *
 * @param bytes At least the first 64 bytes of the file.
 * @returns The header fields pbundle uses.
 * @throws {FormatError} When the bytes are not ELF, or are 32-bit or big-endian ELF.
 */
export function parseElfHeader(bytes: Uint8Array): ElfHeader {
  if (bytes.length < ELFMAG.length || !ELFMAG.every((b, i) => bytes[i] === b)) {
    throw new FormatError("ELF", "Cannot read ELF header: the file is not an ELF executable", 0);
  }
  if (bytes.length < ELF64_EHDR_SIZE) {
    throw new FormatError("ELF", "Cannot read ELF header: the file is truncated", bytes.length);
  }
  const elfClass = bytes[EI_CLASS];
  if (elfClass === ELFCLASS32) {
    throw new FormatError(
      "ELF",
      "Cannot use a 32-bit ELF: pbundle needs a 64-bit little-endian ELF",
      EI_CLASS,
    );
  }
  if (elfClass !== ELFCLASS64) {
    throw new FormatError("ELF", `Cannot read ELF header: unknown class ${elfClass}`, EI_CLASS);
  }
  const data = bytes[EI_DATA];
  if (data === ELFDATA2MSB) {
    throw new FormatError(
      "ELF",
      "Cannot use a big-endian ELF: pbundle needs a 64-bit little-endian ELF",
      EI_DATA,
    );
  }
  if (data !== ELFDATA2LSB) {
    throw new FormatError("ELF", `Cannot read ELF header: unknown data encoding ${data}`, EI_DATA);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return {
    machine: view.getUint16(E_MACHINE_OFFSET, true),
    shoff: toSafeNumber(view.getBigUint64(E_SHOFF_OFFSET, true), "e_shoff", E_SHOFF_OFFSET),
    shentsize: view.getUint16(E_SHENTSIZE_OFFSET, true),
    shnum: view.getUint16(E_SHNUM_OFFSET, true),
    shstrndx: view.getUint16(E_SHSTRNDX_OFFSET, true),
  };
}

/**
 * Decodes one ELF-64 section header.
 *
 * @param bytes A buffer holding the header.
 * @param at Where the header starts in `bytes`.
 * @param fileOffset The header's offset in the file, for error messages.
 * @returns The stored fields.
 * @throws {FormatError} When a 64-bit field does not fit a safe number.
 */
export function parseSectionHeader(
  bytes: Uint8Array,
  at: number,
  fileOffset = at,
): SectionHeader {
  const view = new DataView(bytes.buffer, bytes.byteOffset + at, ELF64_SHDR_SIZE);
  return {
    nameOffset: view.getUint32(SH_NAME_OFFSET, true),
    type: view.getUint32(SH_TYPE_OFFSET, true),
    flags: view.getBigUint64(SH_FLAGS_OFFSET, true),
    addr: view.getBigUint64(SH_ADDR_OFFSET, true),
    offset: toSafeNumber(view.getBigUint64(SH_OFFSET_OFFSET, true), "sh_offset", fileOffset),
    size: toSafeNumber(view.getBigUint64(SH_SIZE_OFFSET, true), "sh_size", fileOffset),
    link: view.getUint32(SH_LINK_OFFSET, true),
    info: view.getUint32(SH_INFO_OFFSET, true),
    addralign: view.getBigUint64(SH_ADDRALIGN_OFFSET, true),
    entsize: view.getBigUint64(SH_ENTSIZE_OFFSET, true),
  };
}

/**
 * A section header with every field zero but its type and name (alignment 1,
 * or 0 for SHT_NULL): the start of a new section, or the blank left where a
 * section was removed.
 *
 * @param type sh_type.
 * @param nameOffset sh_name, the offset of the name in .shstrtab.
 * @returns The header.
 */
export function emptySectionHeader(type: number, nameOffset: number): SectionHeader {
  return {
    nameOffset,
    type,
    flags: 0n,
    addr: 0n,
    offset: 0,
    size: 0,
    link: 0,
    info: 0,
    addralign: type === SHT_NULL ? 0n : 1n,
    entsize: 0n,
  };
}

/**
 * Encodes a section header into `target` at `at` (the inverse of {@linkcode parseSectionHeader}).
 *
 * @param target The buffer to write into.
 * @param at Where the header starts in `target`.
 * @param header The fields to store.
 * @returns The offset just past the header.
 */
export function writeSectionHeader(target: Uint8Array, at: number, header: SectionHeader): number {
  const view = new DataView(target.buffer, target.byteOffset + at, ELF64_SHDR_SIZE);
  view.setUint32(SH_NAME_OFFSET, header.nameOffset, true);
  view.setUint32(SH_TYPE_OFFSET, header.type, true);
  view.setBigUint64(SH_FLAGS_OFFSET, header.flags, true);
  view.setBigUint64(SH_ADDR_OFFSET, header.addr, true);
  view.setBigUint64(SH_OFFSET_OFFSET, BigInt(header.offset), true);
  view.setBigUint64(SH_SIZE_OFFSET, BigInt(header.size), true);
  view.setUint32(SH_LINK_OFFSET, header.link, true);
  view.setUint32(SH_INFO_OFFSET, header.info, true);
  view.setBigUint64(SH_ADDRALIGN_OFFSET, header.addralign, true);
  view.setBigUint64(SH_ENTSIZE_OFFSET, header.entsize, true);
  return at + ELF64_SHDR_SIZE;
}

/**
 * Reads a NUL-terminated name from a string table.
 *
 * @param table The string table's bytes.
 * @param at The name's offset in the table.
 * @returns The name, or "" when the offset lies outside the table.
 */
export function readStringAt(table: Uint8Array, at: number): string {
  if (at >= table.length) return "";
  let end = at;
  while (end < table.length && table[end] !== 0) end++;
  return decoder.decode(table.subarray(at, end));
}

/**
 * Reads exactly `length` bytes at `position`, or fails naming what was cut short.
 *
 * @param handle An open file.
 * @param position Where to read.
 * @param length How many bytes.
 * @param what What is being read, for the error message.
 * @returns The bytes.
 * @throws {FormatError} When the file ends before `position + length`.
 */
export async function readExactly(
  handle: ElfFile,
  position: number,
  length: number,
  what: string,
): Promise<Uint8Array> {
  const buffer = new Uint8Array(length);
  let done = 0;
  while (done < length) {
    const { bytesRead } = await handle.read(buffer, done, length - done, position + done);
    if (bytesRead === 0) {
      throw new FormatError(
        "ELF",
        `Cannot read ${what}: the file is truncated (${length} bytes wanted at byte ${position})`,
        position + done,
      );
    }
    done += bytesRead;
  }
  return buffer;
}

/**
 * Reads an ELF file's header, section headers and section names from an open file.
 *
 * @param handle An open file.
 * @param fileSize The file's size, used to check every offset before reading.
 * @returns The file's layout.
 * @throws {FormatError} When the file is not a 64-bit little-endian ELF, or a table lies outside it.
 */
export async function readElfLayout(handle: ElfFile, fileSize: number): Promise<ElfLayout> {
  const head = await readExactly(
    handle,
    0,
    Math.min(ELF64_EHDR_SIZE, fileSize),
    "the ELF header",
  );
  const header = parseElfHeader(head);
  if (header.shoff === 0) {
    return {
      header,
      sectionHeaders: [],
      sections: [],
      shstrndx: 0,
      shstrtab: new Uint8Array(),
      end: fileSize,
    };
  }
  if (header.shentsize !== ELF64_SHDR_SIZE) {
    throw new FormatError(
      "ELF",
      `Cannot read section headers: e_shentsize is ${header.shentsize}, expected ${ELF64_SHDR_SIZE}`,
      E_SHENTSIZE_OFFSET,
    );
  }
  if (header.shoff + ELF64_SHDR_SIZE > fileSize) {
    throw new FormatError(
      "ELF",
      "Cannot read section headers: the table lies past the end of the file (truncated?)",
      header.shoff,
    );
  }
  const first = parseSectionHeader(
    await readExactly(handle, header.shoff, ELF64_SHDR_SIZE, "section header 0"),
    0,
    header.shoff,
  );
  const count = header.shnum === 0 ? first.size : header.shnum;
  const tableSize = count * ELF64_SHDR_SIZE;
  if (count > 0x100000 || header.shoff + tableSize > fileSize) {
    throw new FormatError(
      "ELF",
      `Cannot read section headers: ${count} headers at byte ${header.shoff} do not fit in the file (truncated?)`,
      header.shoff,
    );
  }
  const table = await readExactly(handle, header.shoff, tableSize, "the section header table");
  const sectionHeaders: SectionHeader[] = [];
  for (let i = 0; i < count; i++) {
    const at = i * ELF64_SHDR_SIZE;
    sectionHeaders.push(parseSectionHeader(table, at, header.shoff + at));
  }
  const shstrndx = header.shstrndx === SHN_XINDEX ? first.link : header.shstrndx;
  let end = header.shoff + tableSize;
  for (const [i, sh] of sectionHeaders.entries()) {
    if (sh.type === SHT_NOBITS || sh.size === 0) continue;
    if (sh.offset + sh.size > fileSize) {
      throw new FormatError(
        "ELF",
        `Cannot read section ${i}: it ends at byte ${
          sh.offset + sh.size
        }, past the end of the file (truncated?)`,
        header.shoff + i * ELF64_SHDR_SIZE,
      );
    }
    end = Math.max(end, sh.offset + sh.size);
  }
  let shstrtab: Uint8Array = new Uint8Array();
  const strHeader = sectionHeaders[shstrndx];
  if (shstrndx !== 0 && strHeader && strHeader.type !== SHT_NOBITS) {
    shstrtab = await readExactly(handle, strHeader.offset, strHeader.size, "the section names");
  }
  const sections = sectionHeaders.map((sh, index) => ({
    index,
    name: readStringAt(shstrtab, sh.nameOffset),
    type: sh.type,
    offset: sh.offset,
    size: sh.type === SHT_NOBITS ? 0 : sh.size,
  }));
  return { header, sectionHeaders, sections, shstrndx, shstrtab, end };
}

/**
 * Opens a file and reads its ELF layout.
 *
 * @example Find where an AppBundle's image starts
 * ```ts ignore
 * import { readElf } from "@pbundle/pbundle/format/elf/read_elf.ts";
 * const layout = await readElf("./hello.AppBundle");
 * console.log(layout.end);
 * ```
 *
 * @param path The file to read.
 * @returns The file's layout and size.
 * @throws {FormatError} When the file is not a readable 64-bit little-endian ELF.
 */
export async function readElf(path: string): Promise<ElfLayout & { fileSize: number }> {
  // Loaded here, not at module load: the runtime imports this module at start-up.
  const { open } = await import("node:fs/promises");
  const handle = await open(path, "r");
  try {
    const { size } = await handle.stat();
    return { ...(await readElfLayout(handle, size)), fileSize: size };
  } finally {
    await handle.close();
  }
}
