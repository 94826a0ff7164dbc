/**
 * The layout of an AppBundle, read without any decoder library: its ELF
 * sections, where the image starts, the image's first bytes, the magic. The
 * runtime info's bytes go to a decoder the caller passes, so the packer's
 * readBundle (CBOR and pelf's MessagePack) and the runtime's start-up reader (a
 * small CBOR decoder, no libraries loaded) share this one implementation
 * (docs/FORMAT.md).
 *
 * @module
 */

import { FormatError } from "../errors.ts";
import { EI_ABIVERSION } from "./elf/elf_constants.ts";
import { readElfLayout, readExactly } from "./elf/read_elf.ts";
import type { ElfFile, ElfSection } from "./elf/read_elf.ts";
import type { RuntimeInfo, RuntimeInfoEncoding } from "./runtime_info.ts";

/** The section that holds the runtime info. */
export const RUNTIME_INFO_SECTION = ".pbundle_runtime_info";
/** The section that holds the static tools. */
export const STATIC_TOOLS_SECTION = ".pbundle_static_tools";
/** The section that holds AppImage-style update information. */
export const UPDATE_INFO_SECTION = ".upd_info";
/** Magic at file offset 8 of an AppBundle: "AB" and format 2, as pelf writes it. */
export const APPBUNDLE_MAGIC = new Uint8Array([0x41, 0x42, 0x02]);
/** Magic at file offset 8 of an AppImage type 2: "AI" and 2 (--appimage-compat). */
export const APPIMAGE_MAGIC = new Uint8Array([0x41, 0x49, 0x02]);

/** squashfs superblock magic "hsqs" read as a little-endian u32. */
const SQUASHFS_MAGIC = 0x73717368;
/** Offset of bytes_used (u64) in the squashfs superblock. */
const SQUASHFS_BYTES_USED_OFFSET = 40;
/** Size of the squashfs superblock. */
const SQUASHFS_SUPERBLOCK_SIZE = 96;
/** The magic that starts a DwarFS image. */
const DWARFS_MAGIC = "DWARFS";

/** A section's place in the file. */
export interface SectionLocation {
  /** File offset. */
  offset: number;
  /** Size in bytes. */
  size: number;
}

/** What {@linkcode readBundle} learns about a bundle. */
export interface BundleInfo {
  /** The path that was read. */
  path: string;
  /** The file's size. */
  fileSize: number;
  /** Where the image starts: the end of the ELF. */
  imageOffset: number;
  /** The image's size: from the image offset to the end of the file. */
  imageSize: number;
  /** The decoded runtime info. */
  runtimeInfo: RuntimeInfo;
  /** Whether the runtime info was CBOR (pbundle) or MessagePack (pelf 3.x). */
  runtimeInfoEncoding: RuntimeInfoEncoding;
  /** Every section of the ELF. */
  sections: ElfSection[];
  /** Where the static tools archive is, when the bundle carries one. */
  staticTools?: SectionLocation;
  /** The update information string, when the bundle carries one. */
  updInfo?: string;
  /** The magic at offset 8: "AB" (AppBundle), "AI" (AppImage compatible) or undefined. */
  magic?: "AB" | "AI";
}

/** Decodes and validates a runtime info section's bytes. */
export type RuntimeInfoDecoder = (
  bytes: Uint8Array,
) => { info: RuntimeInfo; encoding: RuntimeInfoEncoding };

/**
 * Reads a bundle's layout from an open file: the ELF's sections, the runtime
 * info (through `decode`), the static tools and update info sections, the
 * image's offset and size (checked against its superblock), and the magic.
 *
 * @param file The open bundle (anything with FileHandle's read).
 * @param fileSize Its size.
 * @param path Its path, for messages.
 * @param decode The runtime info decoder.
 * @returns The bundle's layout and runtime info.
 * @throws {FormatError} When the file is not ELF, has no runtime info, or is truncated.
 */
export async function readBundleLayout(
  file: ElfFile,
  fileSize: number,
  path: string,
  decode: RuntimeInfoDecoder,
): Promise<BundleInfo> {
  const layout = await naming(path, readElfLayout(file, fileSize));
  const find = (name: string) => layout.sections.find((s) => s.name === name && s.size > 0);
  const infoSection = find(RUNTIME_INFO_SECTION);
  if (!infoSection) {
    throw new FormatError(
      "AppBundle",
      `Cannot read "${path}" as an AppBundle: it has no ${RUNTIME_INFO_SECTION} section`,
    );
  }
  const { info, encoding } = await naming(
    path,
    readExactly(file, infoSection.offset, infoSection.size, RUNTIME_INFO_SECTION).then(decode),
  );
  const imageOffset = layout.end;
  const imageSize = fileSize - imageOffset;
  await checkImageHead(file, path, info, imageOffset, imageSize);
  const bundle: BundleInfo = {
    path,
    fileSize,
    imageOffset,
    imageSize,
    runtimeInfo: info,
    runtimeInfoEncoding: encoding,
    sections: layout.sections,
  };
  const tools = find(STATIC_TOOLS_SECTION);
  if (tools) bundle.staticTools = { offset: tools.offset, size: tools.size };
  const upd = find(UPDATE_INFO_SECTION);
  if (upd) {
    bundle.updInfo = new TextDecoder().decode(
      await readExactly(file, upd.offset, upd.size, UPDATE_INFO_SECTION),
    ).replace(/\0+$/, "");
  }
  const magic = await readExactly(file, EI_ABIVERSION, 3, "the magic bytes");
  if (magic[2] === 0x02 && magic[0] === 0x41 && (magic[1] === 0x42 || magic[1] === 0x49)) {
    bundle.magic = magic[1] === 0x42 ? "AB" : "AI";
  }
  return bundle;
}

/**
 * Awaits `work`, adding the file's path to a FormatError from a reader that
 * does not know it: "Cannot read ELF header: …" becomes
 * "Cannot read ELF header in "bundle": …".
 *
 * @param path The file's path.
 * @param work The read.
 * @returns What the read returns.
 * @throws {FormatError} The read's error, with the path added.
 */
export async function naming<T>(path: string, work: Promise<T>): Promise<T> {
  try {
    return await work;
  } catch (error) {
    if (!(error instanceof FormatError) || error.message.includes(`"${path}"`)) throw error;
    const bare = error.offset === undefined
      ? error.message
      : error.message.slice(0, error.message.lastIndexOf(" (at byte 0x"));
    const colon = bare.indexOf(": ");
    const message = colon < 0
      ? `${bare} in "${path}"`
      : `${bare.slice(0, colon)} in "${path}"${bare.slice(colon)}`;
    throw new FormatError(error.format, message, error.offset);
  }
}

/** Checks the image's magic against FilesystemType and, for squashfs, that no byte is missing. */
async function checkImageHead(
  handle: ElfFile,
  path: string,
  info: RuntimeInfo,
  offset: number,
  size: number,
): Promise<void> {
  if (size <= 0) {
    throw new FormatError(
      "AppBundle",
      `Cannot read the image of "${path}": the file ends where the image should start (truncated?)`,
      offset,
    );
  }
  if (info.FilesystemType === "squashfs") {
    if (size < SQUASHFS_SUPERBLOCK_SIZE) {
      throw new FormatError(
        "squashfs",
        `Cannot read the squashfs superblock of "${path}": only ${size} bytes follow the ELF (truncated?)`,
        offset,
      );
    }
    const head = await readExactly(handle, offset, SQUASHFS_SUPERBLOCK_SIZE, "the image");
    const view = new DataView(head.buffer);
    const magic = view.getUint32(0, true);
    if (magic !== SQUASHFS_MAGIC) {
      throw new FormatError(
        "squashfs",
        `Cannot read the squashfs superblock of "${path}": magic is 0x${
          magic.toString(16).padStart(8, "0")
        }, expected 0x${SQUASHFS_MAGIC.toString(16)}`,
        offset,
      );
    }
    const used = Number(view.getBigUint64(SQUASHFS_BYTES_USED_OFFSET, true));
    if (used > size) {
      throw new FormatError(
        "squashfs",
        `Cannot read the image of "${path}": it needs ${used} bytes but only ${size} follow the ELF (truncated?)`,
        offset,
      );
    }
  } else {
    const head = await readExactly(
      handle,
      offset,
      Math.min(size, DWARFS_MAGIC.length),
      "the image",
    );
    if (new TextDecoder().decode(head) !== DWARFS_MAGIC) {
      throw new FormatError(
        "dwarfs",
        `Cannot read the DwarFS image of "${path}": it does not start with "${DWARFS_MAGIC}"`,
        offset,
      );
    }
  }
}
