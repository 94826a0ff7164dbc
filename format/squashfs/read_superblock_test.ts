import assert from "node:assert/strict";
import { FormatError } from "../../errors.ts";
import { readSuperblock } from "./read_superblock.ts";
import * as C from "./squashfs_constants.ts";

function superblock(patch: (v: DataView) => void = () => {}): Uint8Array {
  const b = new Uint8Array(C.SQUASHFS_SUPERBLOCK_SIZE);
  const v = new DataView(b.buffer);
  v.setUint32(C.SB_MAGIC_OFFSET, C.SQUASHFS_MAGIC, true);
  v.setUint32(C.SB_INODE_COUNT_OFFSET, 1, true);
  v.setUint32(C.SB_BLOCK_SIZE_OFFSET, 131072, true);
  v.setUint16(C.SB_COMPRESSION_OFFSET, C.ZSTD_COMPRESSION, true);
  v.setUint16(C.SB_BLOCK_LOG_OFFSET, 17, true);
  v.setUint16(C.SB_NO_IDS_OFFSET, 1, true);
  v.setUint16(C.SB_S_MAJOR_OFFSET, 4, true);
  v.setBigUint64(C.SB_BYTES_USED_OFFSET, 1000n, true);
  v.setBigUint64(C.SB_INODE_TABLE_START_OFFSET, 100n, true);
  v.setBigUint64(C.SB_DIRECTORY_TABLE_START_OFFSET, 200n, true);
  v.setBigUint64(C.SB_FRAGMENT_TABLE_START_OFFSET, 300n, true);
  v.setBigUint64(C.SB_ID_TABLE_START_OFFSET, 400n, true);
  v.setBigUint64(C.SB_XATTR_ID_TABLE_START_OFFSET, C.SQUASHFS_INVALID_BLK, true);
  v.setBigUint64(C.SB_LOOKUP_TABLE_START_OFFSET, C.SQUASHFS_INVALID_BLK, true);
  patch(v);
  return b;
}

Deno.test("readSuperblock() decodes a valid superblock", () => {
  const sb = readSuperblock(superblock(), 0, 4096);
  assert.equal(sb.blockSize, 131072);
  assert.equal(sb.compression, C.ZSTD_COMPRESSION);
  assert.equal(sb.inodeTableStart, 100);
  assert.equal(sb.xattrIdTableStart, undefined);
  assert.equal(sb.exportTableStart, undefined);
});

Deno.test("readSuperblock() reads at an offset inside a larger buffer", () => {
  const big = new Uint8Array(500);
  big.set(superblock(), 123);
  assert.equal(readSuperblock(big, 123, 4096).bytesUsed, 1000);
});

const bad: [string, (v: DataView) => void, RegExp, number][] = [
  [
    "a wrong magic",
    (v) => v.setUint32(0, 0, true),
    /magic is 0x00000000, expected 0x73717368 \(at byte 0x0\)/,
    0,
  ],
  [
    "version 3.1",
    (v) => v.setUint16(C.SB_S_MAJOR_OFFSET, 3, true),
    /version 3\.0, only 4\.0/,
    C.SB_S_MAJOR_OFFSET,
  ],
  [
    "a block log that disagrees",
    (v) => v.setUint16(C.SB_BLOCK_LOG_OFFSET, 16, true),
    /block size 131072 \(log 16\)/,
    C.SB_BLOCK_SIZE_OFFSET,
  ],
  [
    "a 2 MiB block",
    (v) => {
      v.setUint32(C.SB_BLOCK_SIZE_OFFSET, 2 << 20, true);
      v.setUint16(C.SB_BLOCK_LOG_OFFSET, 21, true);
    },
    /not a power of two from 4 KiB to 1 MiB/,
    C.SB_BLOCK_SIZE_OFFSET,
  ],
  [
    "an unknown compressor",
    (v) => v.setUint16(C.SB_COMPRESSION_OFFSET, 9, true),
    /unknown compression id 9/,
    C.SB_COMPRESSION_OFFSET,
  ],
  [
    "bytes_used past the file",
    (v) => v.setBigUint64(C.SB_BYTES_USED_OFFSET, 99999n, true),
    /truncated/,
    C.SB_BYTES_USED_OFFSET,
  ],
  [
    "tables out of order",
    (v) => v.setBigUint64(C.SB_DIRECTORY_TABLE_START_OFFSET, 50n, true),
    /directory_table_start 50 is outside/,
    0,
  ],
  [
    "a 2^60 table start",
    (v) => v.setBigUint64(C.SB_ID_TABLE_START_OFFSET, 1n << 60n, true),
    /too large/,
    C.SB_ID_TABLE_START_OFFSET,
  ],
  ["no ids", (v) => v.setUint16(C.SB_NO_IDS_OFFSET, 0, true), /id table is empty/, 0],
];
for (const [what, patch, message, offset] of bad) {
  Deno.test(`readSuperblock() rejects ${what}`, () => {
    assert.throws(() => readSuperblock(superblock(patch), 0, 4096), (e: unknown) => {
      assert.ok(e instanceof FormatError);
      assert.equal(e.format, "squashfs");
      assert.equal(e.offset, offset);
      assert.match(e.message, message);
      return true;
    });
  });
}

Deno.test("readSuperblock() rejects fewer than 96 bytes", () => {
  assert.throws(
    () => readSuperblock(superblock().subarray(0, 40), 0, 40),
    /only 40 bytes, expected 96/,
  );
});
