import assert from "node:assert/strict";
import { encode } from "cbor-x";
import { decodeMiniCbor, MiniCborUnsupported } from "./_mini_cbor.ts";
import { encodeRuntimeInfo } from "../format/runtime_info.ts";

Deno.test("decodeMiniCbor() reads what format/runtime_info.ts writes", () => {
  const info = {
    AppBundleID: "hello-20260101-pbundle",
    PelfVersion: "pbundle-1",
    HostInfo: "Linux 6.1 x86_64",
    FilesystemType: "squashfs" as const,
    Hash: "ab".repeat(32),
    DisableRandomWorkDir: true,
    MountOrExtract: 3 as const,
    PreferToolsInPath: "true",
    "ünïcode key": "välue ✓",
  };
  assert.deepEqual(decodeMiniCbor(encodeRuntimeInfo(info)), info);
});

Deno.test("decodeMiniCbor() reads every definite-length item cbor-x writes", () => {
  const values = [
    0,
    23,
    24,
    255,
    65536,
    2 ** 40,
    -1,
    -1000,
    1.5,
    -0.25,
    1e300,
    "",
    "x".repeat(300),
    true,
    false,
    null,
    [1, [2, ["three"]]],
    { a: { b: [true] } },
    new Uint8Array([1, 2, 3]),
  ];
  for (const value of values) {
    assert.deepEqual(decodeMiniCbor(new Uint8Array(encode(value))), value);
  }
});

Deno.test("decodeMiniCbor() refuses truncation, trailing bytes and indefinite lengths", () => {
  const bytes = new Uint8Array(encode({ a: "text" }));
  assert.throws(() => decodeMiniCbor(bytes.subarray(0, bytes.length - 1)), MiniCborUnsupported);
  assert.throws(() => decodeMiniCbor(new Uint8Array([...bytes, 0])), MiniCborUnsupported);
  assert.throws(() => decodeMiniCbor(new Uint8Array([0xbf, 0xff])), MiniCborUnsupported);
  assert.throws(() => decodeMiniCbor(new Uint8Array([0xa1, 0x01, 0x02])), MiniCborUnsupported);
});
