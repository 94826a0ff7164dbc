/**
 * Decodes and checks a squashfs 4.0 superblock (spec section "Superblock").
 *
 * @module
 */
import { FormatError } from "../../errors.ts";
import * as C from "./squashfs_constants.ts";

/** The superblock as stored, with table positions relative to the image start. */
export interface Superblock {
  inodeCount: number;
  modificationTime: number;
  blockSize: number;
  fragmentCount: number;
  compression: number;
  blockLog: number;
  flags: number;
  idCount: number;
  rootInodeRef: bigint;
  bytesUsed: number;
  idTableStart: number;
  /** Undefined when the image has no xattr table. */
  xattrIdTableStart: number | undefined;
  inodeTableStart: number;
  directoryTableStart: number;
  fragmentTableStart: number;
  /** Undefined when the image has no export table. */
  exportTableStart: number | undefined;
}

/** Reads a u64 as a number, refusing values past 2^53. */
export function readU64(view: DataView, at: number, what: string, base = 0): number {
  const value = view.getBigUint64(at, true);
  if (value > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new FormatError(
      "squashfs",
      `Cannot read squashfs ${what}: ${value} is too large`,
      base + at,
    );
  }
  return Number(value);
}

/**
 * Decodes the superblock at `offset` in `bytes` and checks it against the
 * room the image has.
 *
 * @param bytes At least 96 bytes holding the superblock.
 * @param offset Where the superblock starts in `bytes`.
 * @param imageLength Bytes available from the superblock to the end of the file.
 * @param base The superblock's position in the file, for error messages.
 * @returns The superblock.
 * @throws {FormatError} When the magic, version, sizes or table order are wrong.
 */
export function readSuperblock(
  bytes: Uint8Array,
  offset: number,
  imageLength: number,
  base = offset,
): Superblock {
  if (
    bytes.length - offset < C.SQUASHFS_SUPERBLOCK_SIZE || imageLength < C.SQUASHFS_SUPERBLOCK_SIZE
  ) {
    throw new FormatError(
      "squashfs",
      `Cannot read squashfs superblock: only ${
        Math.max(0, Math.min(bytes.length - offset, imageLength))
      } bytes, expected 96`,
      base,
    );
  }
  const v = new DataView(bytes.buffer, bytes.byteOffset + offset, C.SQUASHFS_SUPERBLOCK_SIZE);
  const magic = v.getUint32(C.SB_MAGIC_OFFSET, true);
  if (magic !== C.SQUASHFS_MAGIC) {
    throw new FormatError(
      "squashfs",
      `Cannot read squashfs superblock: magic is 0x${
        magic.toString(16).padStart(8, "0")
      }, expected 0x73717368`,
      base,
    );
  }
  const major = v.getUint16(C.SB_S_MAJOR_OFFSET, true);
  const minor = v.getUint16(C.SB_S_MINOR_OFFSET, true);
  if (major !== C.SQUASHFS_MAJOR || minor !== C.SQUASHFS_MINOR) {
    throw new FormatError(
      "squashfs",
      `Cannot read squashfs superblock: version ${major}.${minor}, only 4.0 is supported`,
      base + C.SB_S_MAJOR_OFFSET,
    );
  }
  const blockSize = v.getUint32(C.SB_BLOCK_SIZE_OFFSET, true);
  const blockLog = v.getUint16(C.SB_BLOCK_LOG_OFFSET, true);
  if (
    blockSize < C.SQUASHFS_MIN_BLOCK_SIZE || blockSize > C.SQUASHFS_MAX_BLOCK_SIZE ||
    (blockSize & (blockSize - 1)) !== 0 || 1 << blockLog !== blockSize
  ) {
    throw new FormatError(
      "squashfs",
      `Cannot read squashfs superblock: block size ${blockSize} (log ${blockLog}) is not a power of two from 4 KiB to 1 MiB`,
      base + C.SB_BLOCK_SIZE_OFFSET,
    );
  }
  const u64 = (at: number, what: string) => readU64(v, at, what, base);
  const optional = (at: number, what: string) =>
    v.getBigUint64(at, true) === C.SQUASHFS_INVALID_BLK ? undefined : u64(at, what);
  const sb: Superblock = {
    inodeCount: v.getUint32(C.SB_INODE_COUNT_OFFSET, true),
    modificationTime: v.getUint32(C.SB_MKFS_TIME_OFFSET, true),
    blockSize,
    fragmentCount: v.getUint32(C.SB_FRAGMENTS_OFFSET, true),
    compression: v.getUint16(C.SB_COMPRESSION_OFFSET, true),
    blockLog,
    flags: v.getUint16(C.SB_FLAGS_OFFSET, true),
    idCount: v.getUint16(C.SB_NO_IDS_OFFSET, true),
    rootInodeRef: v.getBigUint64(C.SB_ROOT_INODE_OFFSET, true),
    bytesUsed: u64(C.SB_BYTES_USED_OFFSET, "bytes_used"),
    idTableStart: u64(C.SB_ID_TABLE_START_OFFSET, "id_table_start"),
    xattrIdTableStart: optional(C.SB_XATTR_ID_TABLE_START_OFFSET, "xattr_id_table_start"),
    inodeTableStart: u64(C.SB_INODE_TABLE_START_OFFSET, "inode_table_start"),
    directoryTableStart: u64(C.SB_DIRECTORY_TABLE_START_OFFSET, "directory_table_start"),
    fragmentTableStart: u64(C.SB_FRAGMENT_TABLE_START_OFFSET, "fragment_table_start"),
    exportTableStart: optional(C.SB_LOOKUP_TABLE_START_OFFSET, "export_table_start"),
  };
  if (!(sb.compression in C.COMPRESSOR_NAMES)) {
    throw new FormatError(
      "squashfs",
      `Cannot read squashfs superblock: unknown compression id ${sb.compression}`,
      base + C.SB_COMPRESSION_OFFSET,
    );
  }
  if (sb.bytesUsed > imageLength) {
    throw new FormatError(
      "squashfs",
      `Cannot read squashfs image: bytes_used is ${sb.bytesUsed} but only ${imageLength} bytes follow the superblock; the image is truncated`,
      base + C.SB_BYTES_USED_OFFSET,
    );
  }
  const order: [string, number][] = [
    ["inode_table_start", sb.inodeTableStart],
    ["directory_table_start", sb.directoryTableStart],
  ];
  if (sb.fragmentCount > 0) order.push(["fragment_table_start", sb.fragmentTableStart]);
  order.push(["id_table_start", sb.idTableStart]);
  let previous = C.SQUASHFS_SUPERBLOCK_SIZE;
  for (const [name, at] of order) {
    if (at < previous || at >= sb.bytesUsed) {
      throw new FormatError(
        "squashfs",
        `Cannot read squashfs superblock: ${name} ${at} is outside ${previous}..${sb.bytesUsed}`,
        base,
      );
    }
    previous = at;
  }
  if (sb.inodeTableStart === sb.directoryTableStart) {
    throw new FormatError(
      "squashfs",
      "Cannot read squashfs superblock: the inode table is empty",
      base,
    );
  }
  if (sb.idCount === 0) {
    throw new FormatError(
      "squashfs",
      "Cannot read squashfs superblock: the id table is empty",
      base,
    );
  }
  if (sb.xattrIdTableStart !== undefined && sb.xattrIdTableStart >= sb.bytesUsed) {
    throw new FormatError(
      "squashfs",
      `Cannot read squashfs superblock: xattr_id_table_start ${sb.xattrIdTableStart} is past bytes_used`,
      base,
    );
  }
  return sb;
}
