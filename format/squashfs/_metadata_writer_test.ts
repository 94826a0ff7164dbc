import assert from "node:assert/strict";
import { compressBlock, getDecompressor } from "./compressors.ts";
import { encodeRef, MetadataWriter } from "./_metadata_writer.ts";
import * as C from "./squashfs_constants.ts";

Deno.test("MetadataWriter splits into 8 KiB blocks and gives references into them", () => {
  const w = new MetadataWriter((b) => compressBlock("zstd", 3, b));
  const data = new Uint8Array(20000).map((_, i) => i % 7);
  assert.deepEqual(w.ref, { block: 0, offset: 0 });
  w.write(data.subarray(0, 8000));
  const ref = w.ref;
  assert.deepEqual(ref, { block: 0, offset: 8000 });
  w.write(data.subarray(8000));
  const { blocks, blockStarts, size } = w.finish();
  assert.equal(blocks.length, 3);
  assert.equal(blockStarts[0], 0);
  assert.equal(size, blocks.reduce((n, b) => n + b.length, 0));
  const zstd = getDecompressor(C.ZSTD_COMPRESSION)!;
  const plain = blocks.map((b) => {
    const header = new DataView(b.buffer).getUint16(0, true);
    const body = b.subarray(2);
    assert.equal(header & 0x7fff, body.length);
    return header & C.SQUASHFS_COMPRESSED_BIT ? body : zstd(body, C.SQUASHFS_METADATA_SIZE);
  });
  assert.deepEqual(plain.map((p) => p.length), [8192, 8192, 20000 - 16384]);
  assert.equal(encodeRef({ block: 5, offset: 7 }), (5n << 16n) | 7n);
});

Deno.test("MetadataWriter stores a block uncompressed when compression does not help", () => {
  const w = new MetadataWriter((b) => new Uint8Array(b.length + 10));
  w.write(new Uint8Array([1, 2, 3]));
  const { blocks } = w.finish();
  assert.equal(new DataView(blocks[0]!.buffer).getUint16(0, true), 3 | C.SQUASHFS_COMPRESSED_BIT);
});
