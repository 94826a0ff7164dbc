/**
 * Tells whether a runtime carries the static tools itself: an "embed edition"
 * runtime (`pbundle runtime build --embed-tools DIR`) is a Node single
 * executable application whose blob holds a "tools.json" asset (see
 * runtime/build/build_runtime.ts). The packer adds no .pbundle_static_tools
 * section to a bundle headed by one, because the runtime would prefer the
 * section and leave its own tools unused.
 *
 * The blob is found as postject injects it on Linux: a note named
 * NODE_SEA_BLOB in a PT_NOTE segment. Its layout is Node's SeaSerializer
 * (src/node_sea.cc, Node 20-24): u32 magic 0x0143da20, u32 flags, (Node 24:
 * one byte, the exec-argv extension), then length-prefixed (u64) strings: the
 * code path, the main script, the code cache (when flag kUseCodeCache); when
 * flag kIncludeAssets, a u64 count of asset key/value string pairs; when flag
 * kIncludeExecArgv, a u64 count of strings. Only lengths and asset keys are
 * read, never the asset data.
 *
 * @module
 */

import { open } from "node:fs/promises";
import type { FileHandle } from "node:fs/promises";
import {
  E_PHENTSIZE_OFFSET,
  E_PHNUM_OFFSET,
  E_PHOFF_OFFSET,
  ELF64_EHDR_SIZE,
  ELF64_PHDR_SIZE,
  P_FILESZ_OFFSET,
  P_OFFSET_OFFSET,
  P_TYPE_OFFSET,
} from "../format/elf/elf_constants.ts";
import { parseElfHeader } from "../format/elf/read_elf.ts";

/** p_type of a segment of notes (ELF gABI, "Program Header"). */
const PT_NOTE = 4;
/** Offset of p_align in an ELF-64 program header. */
const P_ALIGN_OFFSET = 0x30;
/** Size of a note's header: namesz, descsz, type (ELF gABI, "Note Section"). */
const NOTE_HEADER_SIZE = 12;
/** The note name postject gives a Node single executable application's blob. */
const SEA_NOTE_NAME = "NODE_SEA_BLOB";
/** The first four bytes of a SEA blob (Node's kMagic). */
const SEA_MAGIC = 0x0143da20;
/** SeaFlags::kUseSnapshot: the main "script" is a snapshot and no code path is stored. */
const SEA_USE_SNAPSHOT = 1 << 1;
/** SeaFlags::kUseCodeCache: a code cache follows the main script. */
const SEA_USE_CODE_CACHE = 1 << 2;
/** SeaFlags::kIncludeAssets: the asset table follows. */
const SEA_INCLUDE_ASSETS = 1 << 3;
/** The asset an embed-edition runtime lists its tools in. */
export const EMBEDDED_TOOLS_ASSET = "tools.json";
/** SeaFlags::kIncludeExecArgv: a list of strings follows the assets. */
const SEA_INCLUDE_EXEC_ARGV = 1 << 4;
/** More assets (or arguments) than this means the blob is not what we think it is. */
const MAX_ENTRIES = 1 << 16;

/** What {@linkcode readRuntimeTools} found. */
export interface RuntimeTools {
  /** The runtime is a Node single executable application. */
  sea: boolean;
  /** The runtime carries the static tools itself (a "tools.json" asset). */
  embedded: boolean;
}

/**
 * Reads whether a runtime ELF is a Node single executable application and
 * whether it carries the static tools (the embed edition).
 *
 * @param path The runtime ELF.
 * @returns What it is; `{ sea: false, embedded: false }` for any other file.
 * @throws {Error} The system's error when the file cannot be opened or read.
 */
export async function readRuntimeTools(path: string): Promise<RuntimeTools> {
  const handle = await open(path, "r");
  try {
    const { size } = await handle.stat();
    const blob = await findSeaBlob(handle, size);
    if (blob === undefined) return { sea: false, embedded: false };
    const keys = await readSeaAssetKeys(handle, blob.offset, blob.size);
    return { sea: true, embedded: keys?.includes(EMBEDDED_TOOLS_ASSET) ?? false };
  } finally {
    await handle.close();
  }
}

async function readAt(handle: FileHandle, position: number, length: number): Promise<Uint8Array> {
  const buffer = new Uint8Array(length);
  let done = 0;
  while (done < length) {
    const { bytesRead } = await handle.read(buffer, done, length - done, position + done);
    if (bytesRead === 0) break;
    done += bytesRead;
  }
  return buffer.subarray(0, done);
}

/** Finds the NODE_SEA_BLOB note's description: its file offset and size. */
async function findSeaBlob(
  handle: FileHandle,
  fileSize: number,
): Promise<{ offset: number; size: number } | undefined> {
  const head = await readAt(handle, 0, ELF64_EHDR_SIZE);
  try {
    parseElfHeader(head);
  } catch {
    // Not a 64-bit little-endian ELF: the bundle writer reports that, naming the file.
    return undefined;
  }
  const view = new DataView(head.buffer, head.byteOffset, head.byteLength);
  const phoff = Number(view.getBigUint64(E_PHOFF_OFFSET, true));
  const phentsize = view.getUint16(E_PHENTSIZE_OFFSET, true);
  const phnum = view.getUint16(E_PHNUM_OFFSET, true);
  if (phoff === 0 || phentsize !== ELF64_PHDR_SIZE || phoff + phnum * phentsize > fileSize) {
    return undefined;
  }
  const table = await readAt(handle, phoff, phnum * phentsize);
  const tv = new DataView(table.buffer, table.byteOffset, table.byteLength);
  const name = new TextEncoder().encode(SEA_NOTE_NAME);
  for (let i = 0; i < phnum; i++) {
    const at = i * phentsize;
    if (tv.getUint32(at + P_TYPE_OFFSET, true) !== PT_NOTE) continue;
    const start = Number(tv.getBigUint64(at + P_OFFSET_OFFSET, true));
    const end = start + Number(tv.getBigUint64(at + P_FILESZ_OFFSET, true));
    const align = Number(tv.getBigUint64(at + P_ALIGN_OFFSET, true)) === 8 ? 8 : 4;
    const pad = (n: number) => Math.ceil(n / align) * align;
    if (end > fileSize) continue;
    for (let pos = start; pos + NOTE_HEADER_SIZE <= end;) {
      const h = await readAt(handle, pos, NOTE_HEADER_SIZE);
      const hv = new DataView(h.buffer, h.byteOffset, h.byteLength);
      const namesz = hv.getUint32(0, true);
      const descsz = hv.getUint32(4, true);
      const descAt = pos + NOTE_HEADER_SIZE + pad(namesz);
      if (descAt + descsz > end) break;
      // namesz counts the name's terminating NUL.
      if (namesz === name.length + 1) {
        const found = await readAt(handle, pos + NOTE_HEADER_SIZE, name.length);
        if (found.every((b, k) => b === name[k])) return { offset: descAt, size: descsz };
      }
      pos = descAt + pad(descsz);
    }
  }
  return undefined;
}

/**
 * Reads the asset keys of a SEA blob, or undefined when the blob's layout is
 * not one this reader knows (the caller then treats the runtime as carrying
 * no tools, which is always safe: the bundle gets its own). Node 24 writes one
 * byte (the exec-argv extension) after the flags that Node 20 and 22 do not,
 * so both layouts are tried; the right one ends exactly at the blob's end.
 */
async function readSeaAssetKeys(
  handle: FileHandle,
  offset: number,
  size: number,
): Promise<string[] | undefined> {
  for (const extensionByte of [true, false]) {
    const keys = await parseSeaBlob(handle, offset, size, extensionByte);
    if (keys !== undefined) return keys;
  }
  return undefined;
}

async function parseSeaBlob(
  handle: FileHandle,
  offset: number,
  size: number,
  extensionByte: boolean,
): Promise<string[] | undefined> {
  const end = offset + size;
  let pos = offset;
  const u32 = async () => {
    const b = await readAt(handle, pos, 4);
    if (b.length < 4 || pos + 4 > end) return undefined;
    pos += 4;
    return new DataView(b.buffer, b.byteOffset, 4).getUint32(0, true);
  };
  const u64 = async () => {
    const b = await readAt(handle, pos, 8);
    if (b.length < 8 || pos + 8 > end) return undefined;
    pos += 8;
    const n = new DataView(b.buffer, b.byteOffset, 8).getBigUint64(0, true);
    return n > BigInt(end - pos) ? undefined : Number(n);
  };
  const skipString = async () => {
    const n = await u64();
    if (n === undefined) return false;
    pos += n;
    return true;
  };
  const skipStrings = async (count: number) => {
    for (let i = 0; i < count; i++) if (!(await skipString())) return false;
    return true;
  };
  if ((await u32()) !== SEA_MAGIC) return undefined;
  const flags = await u32();
  if (flags === undefined) return undefined;
  if (extensionByte) pos += 1;
  if ((flags & SEA_USE_SNAPSHOT) === 0 && !(await skipString())) return undefined;
  if (!(await skipString())) return undefined;
  if ((flags & SEA_USE_CODE_CACHE) !== 0 && !(await skipString())) return undefined;
  const keys: string[] = [];
  if ((flags & SEA_INCLUDE_ASSETS) !== 0) {
    const count = await u64();
    if (count === undefined || count > MAX_ENTRIES) return undefined;
    const decoder = new TextDecoder();
    for (let i = 0; i < count; i++) {
      const n = await u64();
      if (n === undefined) return undefined;
      keys.push(decoder.decode(await readAt(handle, pos, n)));
      pos += n;
      if (!(await skipString())) return undefined;
    }
  }
  if ((flags & SEA_INCLUDE_EXEC_ARGV) !== 0) {
    const count = await u64();
    if (count === undefined || count > MAX_ENTRIES || !(await skipStrings(count))) {
      return undefined;
    }
  }
  return pos === end ? keys : undefined;
}
