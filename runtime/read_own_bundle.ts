/**
 * The runtime's start-up reader of its own bundle: the same answer as
 * format/bundle.ts's readBundle, but without loading a CBOR library, the
 * MessagePack reader or the tar code at start-up (they cost more than the rest
 * of the runtime's start). The ELF is read with format/elf/read_elf.ts through
 * synchronous reads (no node:fs/promises, no libuv thread pool: both cost
 * milliseconds at start-up); the runtime info with a small CBOR decoder. Anything unusual (pelf's
 * MessagePack, a field of the wrong type, a damaged or truncated file, a
 * dwarfs image) goes to readBundle itself, loaded only then, which gives the
 * precise error or the full answer.
 *
 * @module
 */

import { closeSync, fstatSync, openSync, readSync } from "node:fs";
import type { BundleInfo } from "../format/bundle.ts";
import { type ElfFile, readElfLayout, readExactly } from "../format/elf/read_elf.ts";
import type { RuntimeInfo } from "../format/runtime_info.ts";
import { seaModule } from "./_engine.ts";
import { decodeMiniCbor } from "./_mini_cbor.ts";

// Section names and image constants as docs/FORMAT.md gives them (format/bundle.ts
// exports the same values; importing them from there would load its dependencies).
const RUNTIME_INFO_SECTION = ".pbundle_runtime_info";
const STATIC_TOOLS_SECTION = ".pbundle_static_tools";
const UPDATE_INFO_SECTION = ".upd_info";
const SQUASHFS_MAGIC = 0x73717368;
const SQUASHFS_BYTES_USED_OFFSET = 40;
const SQUASHFS_SUPERBLOCK_SIZE = 96;
const MAGIC_OFFSET = 8;
const CBOR_MAP_FIRST = 0xa0;
const CBOR_MAP_LAST = 0xbf;

function isRuntimeInfo(value: unknown): value is RuntimeInfo {
  if (value === null || typeof value !== "object" || Array.isArray(value)) return false;
  const map = value as Record<string, unknown>;
  return typeof map.AppBundleID === "string" && map.AppBundleID !== "" &&
    typeof map.PelfVersion === "string" && typeof map.HostInfo === "string" &&
    typeof map.Hash === "string" && map.FilesystemType === "squashfs" &&
    typeof map.DisableRandomWorkDir === "boolean" &&
    [0, 1, 2, 3].includes(map.MountOrExtract as number);
}

/** An {@linkcode ElfFile} over a file descriptor that reads synchronously. */
function syncFile(fd: number): ElfFile {
  return {
    read:
      ((buffer: Uint8Array, offset: number, length: number, position: number) =>
        Promise.resolve({
          bytesRead: readSync(fd, buffer, offset, length, position),
          buffer,
        })) as ElfFile["read"],
  };
}

async function fastRead(path: string): Promise<BundleInfo | undefined> {
  const fd = openSync(path, "r");
  const handle = syncFile(fd);
  try {
    const stats = fstatSync(fd);
    if (!stats.isFile()) return undefined;
    const fileSize = stats.size;
    const layout = await readElfLayout(handle, fileSize);
    const find = (name: string) => layout.sections.find((s) => s.name === name && s.size > 0);
    const infoSection = find(RUNTIME_INFO_SECTION);
    if (!infoSection) return undefined;
    const infoBytes = await readExactly(
      handle,
      infoSection.offset,
      infoSection.size,
      RUNTIME_INFO_SECTION,
    );
    const first = infoBytes[0] ?? 0;
    if (first < CBOR_MAP_FIRST || first > CBOR_MAP_LAST) return undefined;
    const info = decodeMiniCbor(infoBytes);
    if (!isRuntimeInfo(info)) return undefined;
    const imageOffset = layout.end;
    const imageSize = fileSize - imageOffset;
    if (imageSize < SQUASHFS_SUPERBLOCK_SIZE) return undefined;
    const head = await readExactly(handle, imageOffset, SQUASHFS_SUPERBLOCK_SIZE, "the image");
    const view = new DataView(head.buffer, head.byteOffset, head.byteLength);
    if (view.getUint32(0, true) !== SQUASHFS_MAGIC) return undefined;
    if (Number(view.getBigUint64(SQUASHFS_BYTES_USED_OFFSET, true)) > imageSize) return undefined;
    const bundle: BundleInfo = {
      path,
      fileSize,
      imageOffset,
      imageSize,
      runtimeInfo: info,
      runtimeInfoEncoding: "cbor",
      sections: layout.sections,
    };
    const tools = find(STATIC_TOOLS_SECTION);
    if (tools) bundle.staticTools = { offset: tools.offset, size: tools.size };
    const upd = find(UPDATE_INFO_SECTION);
    if (upd) {
      bundle.updInfo = new TextDecoder().decode(
        await readExactly(handle, upd.offset, upd.size, UPDATE_INFO_SECTION),
      ).replace(/\0+$/, "");
    }
    const magic = await readExactly(handle, MAGIC_OFFSET, 3, "the magic bytes");
    if (magic[2] === 0x02 && magic[0] === 0x41 && (magic[1] === 0x42 || magic[1] === 0x49)) {
      bundle.magic = magic[1] === 0x42 ? "AB" : "AI";
    }
    return bundle;
  } finally {
    closeSync(fd);
  }
}

/**
 * Reads a bundle's layout and runtime info, quickly when the bundle is an
 * ordinary pbundle squashfs bundle.
 *
 * @param path The bundle.
 * @returns What format/bundle.ts's readBundle returns.
 * @throws {FormatError} From readBundle, when the bundle is damaged.
 * @throws {InputError} From readBundle, when it cannot be opened.
 */
export async function readOwnBundle(path: string): Promise<BundleInfo> {
  try {
    const fast = await fastRead(path);
    if (fast) return fast;
  } catch { /* the full reader says what is wrong */ }
  const { readBundle } = seaModule<typeof import("../format/bundle.ts")>("bundle") ??
    await import("../format/bundle.ts");
  return await readBundle(path);
}
