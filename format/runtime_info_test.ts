import assert from "node:assert/strict";
import { encode as encodeMsgpack } from "@msgpack/msgpack";
import { FormatError } from "../errors.ts";
import { decodeStrictCbor, FIXED_KEYS } from "../tests/_cbor.ts";
import {
  decodeRuntimeInfo,
  detectRuntimeInfoEncoding,
  encodeRuntimeInfo,
  FORMAT_VERSION,
} from "./runtime_info.ts";
import type { RuntimeInfo } from "./runtime_info.ts";

const INFO: RuntimeInfo = {
  AppBundleID: "hello-20260101-pbundle",
  PelfVersion: FORMAT_VERSION,
  HostInfo: "Linux 6.1.0 #1 SMP x86_64",
  FilesystemType: "squashfs",
  Hash: "ab".repeat(32),
  DisableRandomWorkDir: false,
  MountOrExtract: 3,
};

Deno.test("encodeRuntimeInfo() writes a plain CBOR map with the seven keys in spec order", () => {
  const bytes = encodeRuntimeInfo({ ...INFO, MountOrExtract: 1, DisableRandomWorkDir: true });
  // An independent decoder that knows only RFC 8949 maps, text, unsigned ints and booleans:
  // it would reject tags, records or floats that cbor-x might otherwise produce.
  const decoded = decodeStrictCbor(bytes);
  assert.deepEqual([...decoded.keys()], FIXED_KEYS);
  assert.equal(decoded.get("MountOrExtract"), 1);
  assert.equal(decoded.get("DisableRandomWorkDir"), true);
  assert.equal(decoded.get("AppBundleID"), INFO.AppBundleID);
});

Deno.test("encodeRuntimeInfo() puts extra string keys after the seven fixed ones", () => {
  const bytes = encodeRuntimeInfo({ ...INFO, Homepage: "https://example.org", Zeta: "z" });
  const decoded = decodeStrictCbor(bytes);
  assert.deepEqual([...decoded.keys()], [...FIXED_KEYS, "Homepage", "Zeta"]);
  assert.equal(decoded.get("Homepage"), "https://example.org");
});

Deno.test("decodeRuntimeInfo() reads back what encodeRuntimeInfo() wrote", () => {
  const info = { ...INFO, FilesystemType: "dwarfs" as const, MountOrExtract: 0 as const, X: "y" };
  const { info: read, encoding } = decodeRuntimeInfo(encodeRuntimeInfo(info));
  assert.equal(encoding, "cbor");
  assert.deepEqual(read, info);
});

Deno.test("decodeRuntimeInfo() reads pelf's MessagePack runtime info", () => {
  const { info, encoding } = decodeRuntimeInfo(encodeMsgpack(INFO));
  assert.equal(encoding, "msgpack");
  assert.deepEqual(info, INFO);
});

Deno.test("decodeRuntimeInfo() defaults a pelf bundle's missing MountOrExtract to 3", () => {
  const { MountOrExtract: _, ...older } = INFO;
  assert.equal(decodeRuntimeInfo(encodeMsgpack(older)).info.MountOrExtract, 3);
});

Deno.test("detectRuntimeInfoEncoding() tells CBOR maps from MessagePack maps", () => {
  assert.equal(detectRuntimeInfoEncoding(new Uint8Array([0xa7])), "cbor");
  assert.equal(detectRuntimeInfoEncoding(new Uint8Array([0xb9, 0, 20])), "cbor");
  assert.equal(detectRuntimeInfoEncoding(new Uint8Array([0x87])), "msgpack");
  assert.equal(detectRuntimeInfoEncoding(new Uint8Array([0xde, 0, 20])), "msgpack");
});

function expectFormatError(bytes: Uint8Array, pattern: RegExp) {
  assert.throws(() => decodeRuntimeInfo(bytes), (error: unknown) => {
    assert.ok(error instanceof FormatError, `expected a FormatError, got ${error}`);
    assert.equal(error.format, "runtime info");
    assert.match(error.message, pattern);
    assert.ok(!error.message.includes("\n"), "one line");
    return true;
  });
}

const valid = encodeRuntimeInfo(INFO);

for (
  const [name, bytes, pattern] of [
    ["an empty section", new Uint8Array(), /empty/],
    ["bytes that are no map", new TextEncoder().encode("hello"), /not a CBOR or MessagePack map/],
    ["CBOR cut short", valid.slice(0, valid.length - 10), /corrupt CBOR/],
    ["CBOR cut after the map head", valid.slice(0, 1), /corrupt CBOR/],
    [
      "MessagePack cut short",
      encodeMsgpack(INFO).slice(0, 30),
      /corrupt MessagePack/,
    ],
  ] as const
) {
  Deno.test(`decodeRuntimeInfo() rejects ${name} with a FormatError`, () => {
    expectFormatError(bytes, pattern);
  });
}

for (
  const [name, change, pattern] of [
    ["an unknown FilesystemType", { FilesystemType: "ext4" }, /FilesystemType is "ext4"/],
    ["MountOrExtract 4", { MountOrExtract: 4 }, /MountOrExtract is 4, expected/],
    ["a negative MountOrExtract", { MountOrExtract: -1 }, /MountOrExtract is -1/],
    ["a fractional MountOrExtract", { MountOrExtract: 1.5 }, /MountOrExtract is 1.5/],
    ["MountOrExtract as a string", { MountOrExtract: "3" }, /MountOrExtract is "3"/],
    ["a missing MountOrExtract", { MountOrExtract: undefined }, /MountOrExtract is missing/],
    ["a missing AppBundleID", { AppBundleID: undefined }, /AppBundleID is missing/],
    ["a numeric Hash", { Hash: 7 }, /Hash is 7, expected a string/],
    ["HostInfo as null", { HostInfo: null }, /HostInfo is a value of type null/],
    ["DisableRandomWorkDir as 0", { DisableRandomWorkDir: 0 }, /DisableRandomWorkDir is 0/],
  ] as const
) {
  Deno.test(`decodeRuntimeInfo() rejects CBOR with ${name}`, () => {
    const map: Record<string, unknown> = { ...INFO, ...change };
    for (const key of Object.keys(map)) if (map[key] === undefined) delete map[key];
    expectFormatError(encodeCborMap(map), pattern);
  });
}

Deno.test("decodeRuntimeInfo() rejects a CBOR map that lacks the fixed keys", () => {
  expectFormatError(new Uint8Array([0xa1, 0x61, 0x41, 0x01]), /AppBundleID is missing/);
});

Deno.test("decodeRuntimeInfo() rejects a CBOR map with integer keys", () => {
  expectFormatError(new Uint8Array([0xa2, 0x01, 0x02, 0x03, 0x04]), /Cannot read/);
});

Deno.test("encodeRuntimeInfo() refuses to write invalid runtime info", () => {
  assert.throws(
    () => encodeRuntimeInfo({ ...INFO, MountOrExtract: 7 as 3 }),
    FormatError,
  );
});

/** A minimal CBOR encoder for maps of text, unsigned ints, negative ints, floats, bools and null. */
function encodeCborMap(map: Record<string, unknown>): Uint8Array {
  const out: number[] = [];
  const head = (major: number, n: number) => {
    if (n < 24) out.push((major << 5) | n);
    else if (n < 256) out.push((major << 5) | 24, n);
    else out.push((major << 5) | 25, n >> 8, n & 0xff);
  };
  const text = (s: string) => {
    const bytes = new TextEncoder().encode(s);
    head(3, bytes.length);
    out.push(...bytes);
  };
  const entries = Object.entries(map);
  head(5, entries.length);
  for (const [key, value] of entries) {
    text(key);
    if (typeof value === "string") text(value);
    else if (typeof value === "boolean") out.push(value ? 0xf5 : 0xf4);
    else if (value === null) out.push(0xf6);
    else if (typeof value === "number" && Number.isInteger(value) && value >= 0) head(0, value);
    else if (typeof value === "number" && Number.isInteger(value)) head(1, -1 - value);
    else if (typeof value === "number") {
      const b = new Uint8Array(9);
      b[0] = 0xfb;
      new DataView(b.buffer).setFloat64(1, value, false);
      out.push(...b);
    } else throw new Error(`cannot encode ${typeof value}`);
  }
  return new Uint8Array(out);
}
