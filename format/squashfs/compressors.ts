/**
 * Block compressors and decompressors for squashfs, over node:zlib only so the
 * module runs under Deno and under Node (the reader ships in the runtime).
 *
 * lz4 is loaded from lz4js when an image needs it ({@linkcode loadDecompressor}).
 * Decompressors for other compressors node:zlib lacks (xz, lzo, lzma, or zstd
 * on a Node without it) can be added with {@linkcode registerDecompressor}.
 *
 * @module
 */
import * as zlib from "node:zlib";
import {
  COMPRESSOR_NAMES,
  LZ4_COMPRESSION,
  XZ_COMPRESSION,
  ZLIB_COMPRESSION,
  ZSTD_COMPRESSION,
} from "./squashfs_constants.ts";

/** Compressors the writer can use. */
export type CompressionName = "zstd" | "gzip";

/**
 * Decompresses one squashfs block.
 *
 * @param data The compressed bytes.
 * @param maxSize The most bytes the block may decompress to.
 * @returns The decompressed bytes (at most `maxSize` of them).
 */
export type Decompressor = (data: Uint8Array, maxSize: number) => Uint8Array;

/** The compression id stored in the superblock for a compressor name. */
export function compressionId(name: CompressionName): number {
  return name === "zstd" ? ZSTD_COMPRESSION : ZLIB_COMPRESSION;
}

/** Whether this engine's node:zlib has zstd (Deno 2.x and Node >= 22.15 do). */
export function hasZstd(): boolean {
  return typeof (zlib as { zstdCompressSync?: unknown }).zstdCompressSync === "function";
}

/**
 * Compresses one block. Returns the compressed bytes, which may be larger than
 * the input; the caller then stores the block uncompressed.
 *
 * zstd is called with pledgedSrcSize, which lets zstd size its window and
 * tables to the block (level 15 is several times faster with it).
 */
export function compressBlock(name: CompressionName, level: number, data: Uint8Array): Uint8Array {
  if (name === "zstd") {
    const options = {
      params: { [zlib.constants.ZSTD_c_compressionLevel]: level },
      pledgedSrcSize: data.byteLength,
    } as zlib.ZstdOptions;
    return zlib.zstdCompressSync(data, options);
  }
  return zlib.deflateSync(data, { level, windowBits: 15, memLevel: 8 });
}

function zstdDecompress(data: Uint8Array, maxSize: number): Uint8Array {
  return zlib.zstdDecompressSync(data, {
    chunkSize: Math.max(maxSize, 64),
    maxOutputLength: Math.max(maxSize, 1),
  });
}

function zlibDecompress(data: Uint8Array, maxSize: number): Uint8Array {
  return zlib.inflateSync(data, {
    chunkSize: Math.max(maxSize, 64),
    maxOutputLength: Math.max(maxSize, 1),
  });
}

const registry = new Map<number, Decompressor>();
registry.set(ZLIB_COMPRESSION, zlibDecompress);
if (hasZstd()) registry.set(ZSTD_COMPRESSION, zstdDecompress);

/**
 * Adds or replaces the decompressor for a squashfs compression id, e.g. an xz
 * or lz4 decoder from an npm package, or a pure-JS zstd on an older Node.
 *
 * @param id The compression id (see `squashfs_constants.ts`: 4 is xz, 5 is lz4).
 * @param decompress The function that decompresses one block.
 */
export function registerDecompressor(id: number, decompress: Decompressor): void {
  registry.set(id, decompress);
}

/**
 * Which node:zlib codec decompresses a compression id, when the registered
 * decompressor is still the built-in one (extraction workers can then run it).
 */
export function builtinCodec(id: number): "zstd" | "gzip" | undefined {
  const current = registry.get(id);
  if (current === undefined) return undefined;
  if (current === zstdDecompress) return "zstd";
  if (current === zlibDecompress) return "gzip";
  return undefined;
}

/**
 * The decompressor for a compression id, or undefined when none is available
 * on this engine.
 */
export function getDecompressor(id: number): Decompressor | undefined {
  return registry.get(id);
}

/**
 * Loads the decompressor for a compression id from its npm package, on first
 * need only, so images of other compressors pay nothing for it: lz4 from
 * lz4js (pure JavaScript, no dependencies).
 *
 * @param id The compression id from the superblock.
 * @returns Whether a decompressor is now registered for `id`.
 */
export async function loadDecompressor(id: number): Promise<boolean> {
  if (registry.has(id)) return true;
  if (id === LZ4_COMPRESSION) {
    const lz4 = await import("lz4js");
    registry.set(id, (data, maxSize) => lz4BlockDecompress(lz4.decompressBlock, data, maxSize));
  }
  return registry.has(id);
}

type Lz4DecompressBlock = (
  src: Uint8Array,
  dst: Uint8Array,
  sIndex: number,
  sLength: number,
  dIndex: number,
) => number;

/**
 * Decodes one raw LZ4 block (squashfs stores blocks without the LZ4 frame).
 * lz4js does not check bounds: writes past `dst` are dropped by the typed
 * array, so an end past `maxSize` (or a match before the start) means damage.
 */
function lz4BlockDecompress(
  decompressBlock: Lz4DecompressBlock,
  data: Uint8Array,
  maxSize: number,
): Uint8Array {
  const out = new Uint8Array(maxSize);
  const end = decompressBlock(data, out, 0, data.length, 0);
  if (!(end >= 0 && end <= maxSize)) {
    throw new Error(`lz4 block decodes past ${maxSize} bytes`);
  }
  return out.subarray(0, end);
}

/** A hint naming what would add a missing decompressor. */
export function missingDecompressorHint(id: number): string {
  const name = COMPRESSOR_NAMES[id] ?? `unknown (${id})`;
  if (id === ZSTD_COMPRESSION) {
    return `${name}: this engine's node:zlib has no zstd; use Deno 2 or Node >= 22.15, or register one with registerDecompressor()`;
  }
  if (id === XZ_COMPRESSION) {
    return `${name}: pbundle has no synchronous xz decoder; register one with registerDecompressor(), or repack the image with -comp zstd or -comp gzip`;
  }
  return `${name}: no decompressor is available; repack the image with -comp zstd or -comp gzip`;
}
