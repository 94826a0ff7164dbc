import assert from "node:assert/strict";
import {
  compressBlock,
  getDecompressor,
  missingDecompressorHint,
  registerDecompressor,
} from "./compressors.ts";
import * as C from "./squashfs_constants.ts";

for (const [name, id] of [["zstd", C.ZSTD_COMPRESSION], ["gzip", C.ZLIB_COMPRESSION]] as const) {
  Deno.test(`compressBlock() ${name} round-trips through its decompressor`, () => {
    const data = new TextEncoder().encode("squashfs ".repeat(5000));
    const packed = compressBlock(name, name === "zstd" ? 15 : 9, data);
    assert.ok(packed.length < data.length / 10);
    assert.deepEqual(new Uint8Array(getDecompressor(id)!(packed, data.length)), data);
  });
  Deno.test(`the ${name} decompressor refuses output past the block size`, () => {
    const packed = compressBlock(name, 3, new Uint8Array(100000));
    assert.throws(() => getDecompressor(id)!(packed, 65536));
  });
}

Deno.test("registerDecompressor() adds a compressor and the hint names missing ones", () => {
  assert.equal(getDecompressor(C.LZO_COMPRESSION), undefined);
  assert.match(missingDecompressorHint(C.XZ_COMPRESSION), /^xz: /);
  registerDecompressor(C.LZO_COMPRESSION, (d) => d);
  assert.ok(getDecompressor(C.LZO_COMPRESSION) !== undefined);
});
