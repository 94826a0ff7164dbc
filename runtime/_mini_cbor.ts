/**
 * A small CBOR (RFC 8949) decoder for the runtime's start-up path: the runtime
 * info is a map of text keys to text, booleans and small integers, and pulling
 * a full CBOR library into every bundle's start-up costs milliseconds. It
 * decodes definite-length items of every major type (tags are skipped; half,
 * single and double floats are read) and refuses anything else, in which case
 * the caller falls back to format/runtime_info.ts's full decoder.
 *
 * @module
 */

const MAJOR_UNSIGNED = 0;
const MAJOR_NEGATIVE = 1;
const MAJOR_BYTES = 2;
const MAJOR_TEXT = 3;
const MAJOR_ARRAY = 4;
const MAJOR_MAP = 5;
const MAJOR_TAG = 6;
const MAJOR_SIMPLE = 7;
const INFO_UINT8 = 24;
const INFO_UINT16 = 25;
const INFO_UINT32 = 26;
const INFO_UINT64 = 27;
const SIMPLE_FALSE = 20;
const SIMPLE_TRUE = 21;
const SIMPLE_NULL = 22;
const SIMPLE_UNDEFINED = 23;
const MAX_DEPTH = 16;

/** Thrown for anything this decoder does not handle; the caller falls back. */
export class MiniCborUnsupported extends Error {}

const text = new TextDecoder("utf-8", { fatal: true });

/**
 * Decodes one CBOR item that fills the whole byte array.
 *
 * @param bytes The encoded item.
 * @returns The value: maps become plain objects (text keys only).
 * @throws {MiniCborUnsupported} On indefinite lengths, non-text map keys,
 * trailing bytes or truncation.
 */
export function decodeMiniCbor(bytes: Uint8Array): unknown {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let at = 0;
  const need = (n: number) => {
    if (at + n > bytes.length) throw new MiniCborUnsupported("truncated");
  };
  const argument = (info: number): number => {
    if (info < INFO_UINT8) return info;
    if (info === INFO_UINT8) {
      need(1);
      return view.getUint8(at++);
    }
    if (info === INFO_UINT16) {
      need(2);
      at += 2;
      return view.getUint16(at - 2, false);
    }
    if (info === INFO_UINT32) {
      need(4);
      at += 4;
      return view.getUint32(at - 4, false);
    }
    if (info === INFO_UINT64) {
      need(8);
      at += 8;
      const value = view.getBigUint64(at - 8, false);
      if (value > BigInt(Number.MAX_SAFE_INTEGER)) throw new MiniCborUnsupported("large integer");
      return Number(value);
    }
    throw new MiniCborUnsupported("indefinite length");
  };
  const item = (depth: number): unknown => {
    if (depth > MAX_DEPTH) throw new MiniCborUnsupported("too deep");
    need(1);
    const initial = view.getUint8(at++);
    const major = initial >> 5;
    const info = initial & 0x1f;
    if (major === MAJOR_SIMPLE) {
      if (info === SIMPLE_FALSE) return false;
      if (info === SIMPLE_TRUE) return true;
      if (info === SIMPLE_NULL) return null;
      if (info === SIMPLE_UNDEFINED) return undefined;
      if (info === INFO_UINT16) {
        need(2);
        at += 2;
        return view.getFloat16?.(at - 2, false) ?? halfToNumber(view.getUint16(at - 2, false));
      }
      if (info === INFO_UINT32) {
        need(4);
        at += 4;
        return view.getFloat32(at - 4, false);
      }
      if (info === INFO_UINT64) {
        need(8);
        at += 8;
        return view.getFloat64(at - 8, false);
      }
      throw new MiniCborUnsupported("simple value");
    }
    const n = argument(info);
    switch (major) {
      case MAJOR_UNSIGNED:
        return n;
      case MAJOR_NEGATIVE:
        return -1 - n;
      case MAJOR_BYTES:
        need(n);
        at += n;
        return bytes.slice(at - n, at);
      case MAJOR_TEXT:
        need(n);
        at += n;
        return text.decode(bytes.subarray(at - n, at));
      case MAJOR_ARRAY: {
        const out: unknown[] = [];
        for (let i = 0; i < n; i++) out.push(item(depth + 1));
        return out;
      }
      case MAJOR_MAP: {
        const out: Record<string, unknown> = {};
        for (let i = 0; i < n; i++) {
          const key = item(depth + 1);
          if (typeof key !== "string") throw new MiniCborUnsupported("non-text key");
          out[key] = item(depth + 1);
        }
        return out;
      }
      case MAJOR_TAG:
        return item(depth + 1);
    }
    throw new MiniCborUnsupported("unknown major type");
  };
  const value = item(0);
  if (at !== bytes.length) throw new MiniCborUnsupported("trailing bytes");
  return value;
}

function halfToNumber(half: number): number {
  const sign = half & 0x8000 ? -1 : 1;
  const exponent = (half >> 10) & 0x1f;
  const fraction = half & 0x3ff;
  if (exponent === 0) return sign * 2 ** -14 * (fraction / 1024);
  if (exponent === 0x1f) return fraction ? NaN : sign * Infinity;
  return sign * 2 ** (exponent - 15) * (1 + fraction / 1024);
}
