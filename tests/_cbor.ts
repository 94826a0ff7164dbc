/**
 * A strict, minimal CBOR decoder (RFC 8949) for checking what pbundle writes
 * without cbor-x, the library pbundle itself uses. It knows only what runtime
 * info may hold: one definite-length map of text keys to text strings,
 * unsigned integers and booleans. Anything else (tags, floats, byte strings,
 * indefinite lengths, trailing bytes) is an error, so a test fails if the
 * writer ever strays from the plain form.
 *
 * @module
 */

/**
 * The seven keys every runtime info map starts with, in the order docs/FORMAT.md
 * gives them. Written out here rather than taken from format/runtime_info.ts, so
 * that the tests check the writer against the document, not against itself.
 */
export const FIXED_KEYS = [
  "AppBundleID",
  "PelfVersion",
  "HostInfo",
  "FilesystemType",
  "Hash",
  "DisableRandomWorkDir",
  "MountOrExtract",
];

/** A decoded runtime info map, in the order the keys were written. */
export type StrictCborMap = Map<string, string | number | boolean>;

/**
 * Decodes a CBOR map of text keys to text, unsigned integers and booleans.
 *
 * @param bytes The CBOR bytes.
 * @returns The map, keys in written order.
 * @throws {Error} On anything outside that subset.
 */
export function decodeStrictCbor(bytes: Uint8Array): StrictCborMap {
  let at = 0;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const need = (n: number) => {
    if (at + n > bytes.length) throw new Error(`CBOR ends early at byte ${at}`);
  };
  const head = (): { major: number; value: number } => {
    need(1);
    const initial = bytes[at++]!;
    const major = initial >> 5;
    const info = initial & 0x1f;
    if (info < 24) return { major, value: info };
    const size = { 24: 1, 25: 2, 26: 4, 27: 8 }[info];
    if (size === undefined) throw new Error(`unsupported additional info ${info} at ${at - 1}`);
    need(size);
    let value: number;
    if (size === 1) value = view.getUint8(at);
    else if (size === 2) value = view.getUint16(at, false);
    else if (size === 4) value = view.getUint32(at, false);
    else value = Number(view.getBigUint64(at, false));
    at += size;
    return { major, value };
  };
  const text = (value: number) => {
    need(value);
    const s = new TextDecoder("utf-8", { fatal: true }).decode(bytes.subarray(at, at + value));
    at += value;
    return s;
  };
  const map = head();
  if (map.major !== 5) throw new Error(`expected a map, got major type ${map.major}`);
  const out: StrictCborMap = new Map();
  for (let i = 0; i < map.value; i++) {
    const key = head();
    if (key.major !== 3) throw new Error(`key ${i} is major type ${key.major}, expected text`);
    const name = text(key.value);
    if (out.has(name)) throw new Error(`duplicate key ${name}`);
    const start = at;
    const item = head();
    if (item.major === 0) out.set(name, item.value);
    else if (item.major === 3) out.set(name, text(item.value));
    else if (item.major === 7 && (item.value === 20 || item.value === 21)) {
      out.set(name, item.value === 21);
    } else throw new Error(`value of ${name} (byte ${start}) is major type ${item.major}`);
  }
  if (at !== bytes.length) throw new Error(`${bytes.length - at} bytes follow the map`);
  return out;
}
