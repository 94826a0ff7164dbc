/**
 * The `.pbundle_runtime_info` section: a CBOR map that tells the runtime what
 * the bundle is and how to run it (docs/FORMAT.md, "Runtime info"). pbundle
 * writes CBOR; the reader also accepts pelf 3.x bundles, whose map is MessagePack.
 *
 * @module
 */

import { decode as decodeCbor, encode as encodeCbor } from "cborg";
import { decode as decodeMsgpack } from "@msgpack/msgpack";
import { FormatError } from "../errors.ts";

export { RUNTIME_INFO_SECTION } from "./bundle_layout.ts";
import { RUNTIME_INFO_SECTION } from "./bundle_layout.ts";
/** The format version pbundle writes into PelfVersion. */
export const FORMAT_VERSION = "pbundle-1";

/** The filesystem types an image may have. */
export const FILESYSTEM_TYPES = ["squashfs", "dwarfs"] as const;
/** A filesystem type an image may have. */
export type FilesystemType = typeof FILESYSTEM_TYPES[number];
/** How the runtime gets at the image: 0 mount only, 1 extract, 2 mount else extract, 3 as 2 under 350 MB. */
export type MountOrExtract = 0 | 1 | 2 | 3;

/** The runtime info of a bundle: seven fixed keys plus any string keys the packer was given. */
export interface RuntimeInfo {
  /** The bundle's identifier, e.g. "hello-20260101-pbundle". */
  AppBundleID: string;
  /** The format version of the tool that wrote the bundle. */
  PelfVersion: string;
  /** "sysname release version machine" of the build host. */
  HostInfo: string;
  /** The image's filesystem. */
  FilesystemType: FilesystemType;
  /** Lowercase hex SHA-256 of the image bytes (pelf bundles: BLAKE3). */
  Hash: string;
  /** Use one fixed work directory per AppBundleID and hash instead of a random one. */
  DisableRandomWorkDir: boolean;
  /** The run behaviour, 0 to 3. */
  MountOrExtract: MountOrExtract;
  /** Keys added with --add-runtime-info-section. */
  [key: string]: unknown;
}

/** Which encoding a runtime info section was read from. */
export type RuntimeInfoEncoding = "cbor" | "msgpack";

/** The seven keys every runtime info map has, in the order pbundle writes them. */
export const FIXED_KEYS = [
  "AppBundleID",
  "PelfVersion",
  "HostInfo",
  "FilesystemType",
  "Hash",
  "DisableRandomWorkDir",
  "MountOrExtract",
] as const;

/**
 * Encodes runtime info as a CBOR map: the seven fixed keys first, in spec
 * order, then the extra keys in the order given.
 *
 * @param info The runtime info; it is validated first.
 * @returns The CBOR bytes.
 * @throws {FormatError} When a field has the wrong type or value.
 */
export function encodeRuntimeInfo(info: RuntimeInfo): Uint8Array {
  const checked = validateRuntimeInfo(info, "cbor");
  const ordered: Record<string, unknown> = {};
  for (const key of FIXED_KEYS) ordered[key] = checked[key];
  for (const [key, value] of Object.entries(checked)) {
    if (!(FIXED_KEYS as readonly string[]).includes(key)) ordered[key] = value;
  }
  // Keys stay in the order above (cborg would otherwise sort them); items use
  // the shortest encodings (RFC 8949 preferred serialization).
  return encodeCbor(ordered, { mapSorter: () => 0 });
}

/**
 * Tells CBOR from MessagePack by the first byte: a CBOR map is major type 5
 * (0xa0-0xbf), a MessagePack map is a fixmap (0x80-0x8f), map16 (0xde) or map32 (0xdf).
 *
 * @param bytes The section's bytes.
 * @returns The encoding.
 * @throws {FormatError} When the bytes start with neither kind of map.
 */
export function detectRuntimeInfoEncoding(bytes: Uint8Array): RuntimeInfoEncoding {
  const first = bytes[0];
  if (first === undefined) {
    throw new FormatError(
      "runtime info",
      `Cannot read ${RUNTIME_INFO_SECTION}: the section is empty`,
    );
  }
  if (first >= 0xa0 && first <= 0xbf) return "cbor";
  if ((first >= 0x80 && first <= 0x8f) || first === 0xde || first === 0xdf) return "msgpack";
  throw new FormatError(
    "runtime info",
    `Cannot read ${RUNTIME_INFO_SECTION}: it is not a CBOR or MessagePack map (first byte 0x${
      first.toString(16).padStart(2, "0")
    })`,
    0,
  );
}

/**
 * Decodes and validates a runtime info section, CBOR or pelf's MessagePack.
 *
 * @param bytes The section's bytes.
 * @returns The runtime info and the encoding it was read from.
 * @throws {FormatError} When the bytes are corrupt or a field is missing or wrong.
 */
export function decodeRuntimeInfo(
  bytes: Uint8Array,
): { info: RuntimeInfo; encoding: RuntimeInfoEncoding } {
  const encoding = detectRuntimeInfoEncoding(bytes);
  let value: unknown;
  try {
    value = encoding === "cbor"
      ? stringKeyed(decodeCbor(bytes, { useMaps: true }))
      : decodeMsgpack(bytes);
  } catch (error) {
    throw new FormatError(
      "runtime info",
      `Cannot decode ${RUNTIME_INFO_SECTION}: corrupt ${
        encoding === "cbor" ? "CBOR" : "MessagePack"
      } (${error instanceof Error ? error.message : String(error)})`,
    );
  }
  return { info: validateRuntimeInfo(value, encoding), encoding };
}

/** A decoded map whose keys are all strings, as a plain object; anything else unchanged. */
function stringKeyed(value: unknown): unknown {
  if (!(value instanceof Map) || ![...value.keys()].every((k) => typeof k === "string")) {
    return value;
  }
  return Object.fromEntries(value);
}

function fail(message: string): never {
  throw new FormatError("runtime info", `Cannot read ${RUNTIME_INFO_SECTION}: ${message}`);
}

/**
 * Checks that a decoded value is a runtime info map with the right keys and types.
 *
 * @param value The decoded value.
 * @param encoding Where it came from: pelf's MessagePack may lack MountOrExtract (then 3).
 * @returns The value, typed.
 * @throws {FormatError} Naming the first key that is missing or wrong.
 */
export function validateRuntimeInfo(value: unknown, encoding: RuntimeInfoEncoding): RuntimeInfo {
  if (value === null || typeof value !== "object" || Array.isArray(value) || value instanceof Map) {
    fail("it is not a map with string keys");
  }
  const map = value as Record<string, unknown>;
  for (const key of ["AppBundleID", "PelfVersion", "HostInfo", "Hash"] as const) {
    if (typeof map[key] !== "string") fail(`${key} is ${describe(map[key])}, expected a string`);
  }
  if (!(FILESYSTEM_TYPES as readonly unknown[]).includes(map.FilesystemType)) {
    fail(
      `FilesystemType is ${describe(map.FilesystemType)}, expected "squashfs" or "dwarfs"`,
    );
  }
  if (typeof map.DisableRandomWorkDir !== "boolean") {
    fail(`DisableRandomWorkDir is ${describe(map.DisableRandomWorkDir)}, expected a boolean`);
  }
  if (map.MountOrExtract === undefined && encoding === "msgpack") {
    map.MountOrExtract = 3;
  }
  const mode = map.MountOrExtract;
  if (typeof mode !== "number" || !Number.isInteger(mode) || mode < 0 || mode > 3) {
    fail(`MountOrExtract is ${describe(mode)}, expected an unsigned integer from 0 to 3`);
  }
  return map as RuntimeInfo;
}

function describe(value: unknown): string {
  if (value === undefined) return "missing";
  if (typeof value === "string") return JSON.stringify(value);
  if (typeof value === "number" || typeof value === "boolean") return String(value);
  return `a value of type ${value === null ? "null" : typeof value}`;
}
