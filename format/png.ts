/**
 * A minimal PNG encoder (ISO/IEC 15948, "Portable Network Graphics"): one
 * 8-bit RGBA image, filter type 0 on every row, one zlib-compressed IDAT
 * chunk. Enough for generated icons; deterministic for the same pixels.
 *
 * @module
 */

import { Buffer } from "node:buffer";
import { deflateSync } from "node:zlib";

/** The eight bytes every PNG starts with (section 5.2). */
export const PNG_SIGNATURE = new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
/** IHDR bit depth: 8 bits per sample. */
const BIT_DEPTH_8 = 8;
/** IHDR colour type 6: truecolour with alpha (RGBA). */
const COLOUR_TYPE_RGBA = 6;

const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

function crc32(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (const b of bytes) c = CRC_TABLE[(c ^ b) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** Frames a chunk: length, type, data, CRC of type and data (section 5.3). */
function chunk(type: string, data: Uint8Array): Uint8Array {
  const out = new Uint8Array(12 + data.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, data.length, false);
  out.set(new TextEncoder().encode(type), 4);
  out.set(data, 8);
  view.setUint32(8 + data.length, crc32(out.subarray(4, 8 + data.length)), false);
  return out;
}

/**
 * Encodes RGBA pixels as a PNG.
 *
 * @example A 1x1 red pixel
 * ```ts
 * import { encodePng } from "./png.ts";
 * const png = encodePng(1, 1, new Uint8Array([255, 0, 0, 255]));
 * console.assert(png[1] === 0x50); // "P"
 * ```
 *
 * @param width Width in pixels.
 * @param height Height in pixels.
 * @param rgba `width * height * 4` bytes, row by row.
 * @returns The PNG bytes.
 * @throws {RangeError} When `rgba` has the wrong length.
 */
export function encodePng(width: number, height: number, rgba: Uint8Array): Uint8Array {
  if (rgba.length !== width * height * 4) {
    throw new RangeError(`encodePng: expected ${width * height * 4} bytes, got ${rgba.length}`);
  }
  const header = new Uint8Array(13);
  const view = new DataView(header.buffer);
  view.setUint32(0, width, false);
  view.setUint32(4, height, false);
  header.set([BIT_DEPTH_8, COLOUR_TYPE_RGBA, 0, 0, 0], 8);
  const stride = width * 4;
  const raw = new Uint8Array(height * (stride + 1));
  for (let y = 0; y < height; y++) {
    raw.set(rgba.subarray(y * stride, (y + 1) * stride), y * (stride + 1) + 1);
  }
  const parts = [
    PNG_SIGNATURE,
    chunk("IHDR", header),
    chunk("IDAT", new Uint8Array(deflateSync(raw, { level: 9 }))),
    chunk("IEND", new Uint8Array(0)),
  ];
  return new Uint8Array(Buffer.concat(parts));
}
