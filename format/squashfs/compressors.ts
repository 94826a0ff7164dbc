/**
 * Block compressors and decompressors for squashfs, over node:zlib only so the
 * module runs under Deno and under Node (the reader ships in the runtime).
 *
 * lz4 is loaded from lz4js when an image needs it ({@linkcode loadDecompressor}).
 * Decompressors for other compressors node:zlib lacks (xz, lzo, lzma, or zstd
 * on a Node without it) can be added with {@linkcode registerDecompressor}.
 *
 * node:zlib is loaded on first use only: it loads node:stream with it (about
 * 2.5 ms of a Node start-up), and a runtime's file query decodes a few zstd
 * blocks through Node's zlib binding instead ({@linkcode getDecompressor}).
 *
 * @module
 */
import type * as Zlib from "node:zlib";
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

/** node:zlib, loaded on first use. */
function zlib(): typeof Zlib {
  return process.getBuiltinModule("node:zlib") as typeof Zlib;
}

/** Whether this engine's node:zlib has zstd (Deno 2.x and Node >= 22.15 do). */
export function hasZstd(): boolean {
  return typeof (zlib() as { zstdCompressSync?: unknown }).zstdCompressSync === "function";
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
      params: { [zlib().constants.ZSTD_c_compressionLevel]: level },
      pledgedSrcSize: data.byteLength,
    } as Zlib.ZstdOptions;
    return zlib().zstdCompressSync(data, options);
  }
  return zlib().deflateSync(data, { level, windowBits: 15, memLevel: 8 });
}

/**
 * Node's zlib binding's zstd decoder: the handle node:zlib's
 * ZstdDecompress wraps (Node 24's lib/zlib.js: `init(params, pledgedSrcSize,
 * writeState, processCallback, dictionary)`, then `writeSync`, whose
 * writeState holds the output and input bytes left).
 */
interface ZstdBindingHandle {
  onerror: (message: string, errno: number, code: string) => void;
  init(
    params: Uint32Array,
    pledgedSrcSize: undefined,
    writeState: Uint32Array,
    processCallback: () => void,
    dictionary: undefined,
  ): void;
  writeSync(
    flush: number,
    input: Uint8Array,
    inOffset: number,
    inLength: number,
    output: Uint8Array,
    outOffset: number,
    outLength: number,
  ): void;
  close(): void;
}

/** The Node major whose zlib binding has the shape above. */
const ZLIB_BINDING_NODE_MAJOR = "24";
/** ZSTD_e_end: decode all the input. */
const ZSTD_E_END = 2;
/** One more than the largest ZSTD_d_* parameter (ZSTD_d_windowLogMax, 100); -1 leaves one at zstd's default. */
const ZSTD_D_PARAMS = 101;

let zstdBindingCache: (new () => ZstdBindingHandle) | null | undefined;

/**
 * The zlib binding's ZstdDecompress class on the Node it was written for
 * (never under Deno, another Node major, or a Node that warns about
 * process.binding); undefined elsewhere, where node:zlib serves.
 */
function zstdBinding(): (new () => ZstdBindingHandle) | undefined {
  if (zstdBindingCache !== undefined) return zstdBindingCache ?? undefined;
  zstdBindingCache = null;
  // deno-lint-ignore no-explicit-any
  const proc = (globalThis as any).process;
  if (
    typeof (globalThis as { Deno?: unknown }).Deno !== "undefined" || proc === undefined ||
    typeof proc.binding !== "function" ||
    proc.versions?.node?.split(".")[0] !== ZLIB_BINDING_NODE_MAJOR ||
    proc.env.NODE_PENDING_DEPRECATION !== undefined ||
    proc.execArgv.some((a: string) => a.includes("deprecation"))
  ) {
    return undefined;
  }
  try {
    const ctor = proc.binding("zlib").ZstdDecompress;
    if (typeof ctor === "function") zstdBindingCache = ctor;
  } catch { /* node:zlib serves */ }
  return zstdBindingCache ?? undefined;
}

/** Decodes one zstd block with the binding; the same libzstd, so the same bytes as node:zlib. */
function zstdBindingDecompress(
  Handle: new () => ZstdBindingHandle,
  data: Uint8Array,
  maxSize: number,
): Uint8Array {
  const handle = new Handle();
  const state = new Uint32Array(2);
  let failure: string | undefined;
  handle.onerror = (message, _errno, code) => {
    failure ??= `${message} (${code})`;
  };
  handle.init(new Uint32Array(ZSTD_D_PARAMS).fill(-1), undefined, state, () => {}, undefined);
  // One byte of room more than allowed tells a block that decodes too large.
  const out = new Uint8Array(maxSize + 1);
  let inOffset = 0;
  let outOffset = 0;
  try {
    // zstd may return before it has taken all the input (e.g. at the end of a
    // block it has flushed): call again while a call makes progress.
    for (;;) {
      const inLength = data.length - inOffset;
      const outLength = out.length - outOffset;
      handle.writeSync(ZSTD_E_END, data, inOffset, inLength, out, outOffset, outLength);
      if (failure !== undefined) throw new Error(failure);
      const taken = inLength - state[1]!;
      const made = outLength - state[0]!;
      inOffset += taken;
      outOffset += made;
      if (outOffset > maxSize) throw new Error(`zstd block decodes past ${maxSize} bytes`);
      if (inOffset === data.length) break;
      if (taken === 0 && made === 0) throw new Error("zstd block has bytes after its end");
    }
  } finally {
    handle.close();
  }
  return out.subarray(0, outOffset);
}

function zstdDecompress(data: Uint8Array, maxSize: number): Uint8Array {
  const binding = zstdBinding();
  if (binding !== undefined) return zstdBindingDecompress(binding, data, maxSize);
  return zlib().zstdDecompressSync(data, {
    chunkSize: Math.max(maxSize, 64),
    maxOutputLength: Math.max(maxSize, 1),
  });
}

function zlibDecompress(data: Uint8Array, maxSize: number): Uint8Array {
  return zlib().inflateSync(data, {
    chunkSize: Math.max(maxSize, 64),
    maxOutputLength: Math.max(maxSize, 1),
  });
}

const registry = new Map<number, Decompressor>();
registry.set(ZLIB_COMPRESSION, zlibDecompress);
/** Whether zstd's built-in decompressor has been looked for (on first need: it may load node:zlib). */
let zstdChecked = false;

function checkZstd(id: number): void {
  if (id !== ZSTD_COMPRESSION || zstdChecked) return;
  zstdChecked = true;
  if (!registry.has(id) && (zstdBinding() !== undefined || hasZstd())) {
    registry.set(id, zstdDecompress);
  }
}

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
  checkZstd(id);
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
  checkZstd(id);
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
  checkZstd(id);
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
