/**
 * The runtime's start-up reader of its own bundle: format/bundle_layout.ts's
 * readBundleLayout (the same code as readBundle) over synchronous reads (no
 * node:fs/promises, no libuv thread pool: both cost milliseconds at start-up),
 * with a small CBOR decoder instead of a CBOR library and the MessagePack
 * reader. Anything unusual (pelf's MessagePack, a field of the wrong type, a
 * damaged or truncated file) goes to format/bundle.ts's readBundle, loaded only
 * then, which gives the precise error or the full answer.
 *
 * @module
 */

import { closeSync, fstatSync, openSync, readSync } from "node:fs";
import type { BundleInfo } from "../format/bundle.ts";
import { readBundleLayout } from "../format/bundle_layout.ts";
import type { ElfFile } from "../format/elf/read_elf.ts";
import type { RuntimeInfo } from "../format/runtime_info.ts";
import { seaModule } from "./_engine.ts";
import { decodeMiniCbor } from "./_mini_cbor.ts";

const CBOR_MAP_FIRST = 0xa0;
const CBOR_MAP_LAST = 0xbf;

/** Thrown by the small decoder for anything it leaves to the full reader. */
class Unusual extends Error {}

function isRuntimeInfo(value: unknown): value is RuntimeInfo {
  if (value === null || typeof value !== "object" || Array.isArray(value)) return false;
  const map = value as Record<string, unknown>;
  return typeof map.AppBundleID === "string" && map.AppBundleID !== "" &&
    typeof map.PelfVersion === "string" && typeof map.HostInfo === "string" &&
    typeof map.Hash === "string" &&
    (map.FilesystemType === "squashfs" || map.FilesystemType === "dwarfs") &&
    typeof map.DisableRandomWorkDir === "boolean" &&
    [0, 1, 2, 3].includes(map.MountOrExtract as number);
}

/** The small CBOR decoder: a well-formed pbundle map, or {@linkcode Unusual}. */
function decodeUsual(bytes: Uint8Array): { info: RuntimeInfo; encoding: "cbor" } {
  const first = bytes[0] ?? 0;
  if (first < CBOR_MAP_FIRST || first > CBOR_MAP_LAST) throw new Unusual();
  let info: unknown;
  try {
    info = decodeMiniCbor(bytes);
  } catch {
    throw new Unusual();
  }
  if (!isRuntimeInfo(info)) throw new Unusual();
  return { info, encoding: "cbor" };
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
  try {
    const stats = fstatSync(fd);
    if (!stats.isFile()) return undefined;
    return await readBundleLayout(syncFile(fd), stats.size, path, decodeUsual);
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
