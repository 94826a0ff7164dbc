import assert from "node:assert/strict";
import {
  compressBlock,
  getDecompressor,
  loadDecompressor,
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
  assert.match(missingDecompressorHint(C.LZO_COMPRESSION), /^lzo: /);
  registerDecompressor(C.LZO_COMPRESSION, (d) => d);
  assert.ok(getDecompressor(C.LZO_COMPRESSION) !== undefined);
});

/** The text the xz streams below hold (56 bytes). */
const XZ_TEXT = "squashfs xz block, squashfs xz block, squashfs xz block\n";
/** `printf "$XZ_TEXT" | xz --check=crc32 -9 | od -An -tx1` */
const XZ_STREAM = "fd377a585a0000016922de36020021011c00000010cf58cce00037001c5d00399c4b0208682d1c" +
  "39227084bc006b80e365e8b55f51aacfffc00000003ed38ea20001343842feaeb39042990d01000000" +
  "0001595a";
/** `printf "$XZ_TEXT" | xz --check=crc32 --x86 --lzma2 | od -An -tx1` */
const XZ_X86_STREAM =
  "fd377a585a0000016922de3602010400210116000d86351fe00037001c5d00399c4b0208682d" +
  "1c39227084bc006b80e365e8b55f51aacfffc00000003ed38ea20001343842feaeb39042990d0100" +
  "00000001595a";

function hex(text: string): Uint8Array {
  return new Uint8Array(text.match(/../g)!.map((b) => parseInt(b, 16)));
}

Deno.test("loadDecompressor() loads an xz decoder that decodes a block synchronously", async () => {
  assert.equal(await loadDecompressor(C.XZ_COMPRESSION), true);
  const decompress = getDecompressor(C.XZ_COMPRESSION)!;
  assert.equal(new TextDecoder().decode(decompress(hex(XZ_STREAM), 8192)), XZ_TEXT);
  // Again, with the output exactly the limit, to see no state is left from the first block.
  assert.equal(new TextDecoder().decode(decompress(hex(XZ_STREAM), XZ_TEXT.length)), XZ_TEXT);
});

Deno.test("the xz decompressor refuses damaged, cut and oversized blocks and BCJ filters", async () => {
  assert.equal(await loadDecompressor(C.XZ_COMPRESSION), true);
  const decompress = getDecompressor(C.XZ_COMPRESSION)!;
  const stream = hex(XZ_STREAM);
  assert.throws(() => decompress(stream, XZ_TEXT.length - 1), /decodes past 55 bytes/);
  for (let cut = 0; cut < stream.length; cut++) {
    assert.throws(() => decompress(stream.subarray(0, cut), 8192), /xz block/, `cut at ${cut}`);
  }
  // A flipped byte fails the block, or (a byte the decoder ignores, like the
  // range coder's first) still gives the original text: never other bytes.
  for (let at = 0; at < stream.length; at++) {
    const bad = stream.slice();
    bad[at]! ^= 0x55;
    let text: string;
    try {
      text = new TextDecoder().decode(decompress(bad, 8192));
    } catch (error) {
      assert.match((error as Error).message, /xz block/, `flipped at ${at}`);
      continue;
    }
    assert.equal(text, XZ_TEXT, `flipped at ${at}`);
  }
  assert.throws(
    () => decompress(hex(XZ_X86_STREAM), 8192),
    /xz block uses the x86 BCJ filter, which xz-decompress cannot decode/,
  );
});
