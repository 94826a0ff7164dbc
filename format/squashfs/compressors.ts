/**
 * Block compressors and decompressors for squashfs, over node:zlib only so the
 * module runs under Deno and under Node (the reader ships in the runtime).
 *
 * lz4 is loaded from lz4js and xz from xz-decompress when an image needs it
 * ({@linkcode loadDecompressor}). Decompressors for other compressors
 * node:zlib lacks (lzo, lzma, or zstd on a Node without it) can be added with
 * {@linkcode registerDecompressor}.
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
 * @param name The compressor.
 * @param level Its level.
 * @param data The block.
 * @returns A new array holding the compressed bytes.
 */
export function compressBlock(name: CompressionName, level: number, data: Uint8Array): Uint8Array {
  const room = new Uint8Array(data.length + (data.length >> 7) + 1024);
  const n = compressInto(name, level, data, room);
  if (n >= 0) return room.slice(0, n);
  return name === "zstd"
    ? zlib().zstdCompressSync(data, zstdOptions(level, data.length))
    : zlib().deflateSync(data, deflateOptions(level));
}

/**
 * Compresses one block into `out`, allocating nothing that outlives the call:
 * the writer's threads call it for every block, and the garbage of node:zlib's
 * *Sync functions (a new output buffer per call) would let each thread hold
 * up to V8's external-memory slack (about 64 MiB) before a collection.
 *
 * zstd gets pledgedSrcSize, which lets it size its window and tables to the
 * block (level 15 is several times faster with it); the bytes are those of
 * node:zlib's zstdCompressSync / deflateSync with the same options.
 *
 * @param name The compressor.
 * @param level Its level.
 * @param data The block.
 * @param out Where the compressed bytes go (must not overlap `data`).
 * @returns How many bytes were written, or -1 when they do not fit in `out`.
 */
export function compressInto(
  name: CompressionName,
  level: number,
  data: Uint8Array,
  out: Uint8Array,
): number {
  const z = zlib();
  // chunkSize: the stream's own output buffer, unused here, is kept small.
  const engine =
    (name === "zstd"
      ? z.createZstdCompress({ ...zstdOptions(level, data.length), chunkSize: 64 })
      : z.createDeflate({ ...deflateOptions(level), chunkSize: 64 })) as unknown as StreamInternals;
  try {
    const handle = engine._handle;
    const state = engine._writeState;
    if (
      handle == null || typeof handle.writeSync !== "function" ||
      !(state instanceof Uint32Array) || typeof engine._finishFlushFlag !== "number"
    ) {
      const packed = name === "zstd"
        ? z.zstdCompressSync(data, zstdOptions(level, data.length))
        : z.deflateSync(data, deflateOptions(level));
      if (packed.length > out.length) return -1;
      out.set(packed);
      return packed.length;
    }
    let failure: string | undefined;
    handle.onerror = (message: string) => {
      failure ??= message;
    };
    let inAt = 0, inLeft = data.length, outAt = 0, outLeft = out.length;
    for (;;) {
      handle.writeSync(engine._finishFlushFlag, data, inAt, inLeft, out, outAt, outLeft);
      if (failure !== undefined) throw new Error(`Cannot compress a block: ${failure}`);
      const made = outLeft - state[0]!, used = inLeft - state[1]!;
      outAt += made;
      outLeft -= made;
      inAt += used;
      inLeft -= used;
      // The frame is complete once all input is in and the output did not fill up.
      if (inLeft === 0 && outLeft > 0) return outAt;
      if (outLeft === 0) return -1;
      if (made === 0 && used === 0) throw new Error("Cannot compress a block: no progress");
    }
  } finally {
    engine.close();
  }
}

/** What compressInto() uses of a node:zlib stream (the same handle node:zlib's *Sync functions drive). */
interface StreamInternals {
  _handle: Pick<ZlibHandle, "writeSync" | "onerror"> | null;
  _writeState: Uint32Array;
  _finishFlushFlag: number;
  close(): void;
}

function zstdOptions(level: number, size: number): Zlib.ZstdOptions {
  return {
    params: { [zlib().constants.ZSTD_c_compressionLevel]: level },
    pledgedSrcSize: size,
  } as Zlib.ZstdOptions;
}

function deflateOptions(level: number): Zlib.ZlibOptions {
  return { level, windowBits: 15, memLevel: 8 };
}

/**
 * The zlib binding's handle under a node:zlib stream (`_handle`, Deno's too),
 * as Node 24's lib/zlib.js drives it: `init(params, pledgedSrcSize,
 * writeState, processCallback, dictionary)`, then `writeSync`, whose
 * writeState holds the output and input bytes left. The runtime creates
 * zstd decoders of this shape straight from Node's binding.
 */
interface ZlibHandle {
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

let zstdBindingCache: (new () => ZlibHandle) | null | undefined;

/**
 * The zlib binding's ZstdDecompress class on the Node it was written for
 * (never under Deno, another Node major, or a Node that warns about
 * process.binding); undefined elsewhere, where node:zlib serves.
 */
function zstdBinding(): (new () => ZlibHandle) | undefined {
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
  Handle: new () => ZlibHandle,
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
 * lz4js (pure JavaScript, no dependencies), xz from xz-decompress
 * (xz-embedded in WebAssembly, no dependencies; no BCJ filters).
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
  } else if (id === XZ_COMPRESSION && !loadFailures.has(id)) {
    try {
      const exports = await xzWasm();
      registry.set(id, (data, maxSize) => xzDecompress(exports, data, maxSize));
    } catch (error) {
      loadFailures.set(id, (error as Error).message);
    }
  }
  return registry.has(id);
}

/**
 * The exports of xz-decompress's WebAssembly module: xz-embedded (LZMA2, CRC32
 * and CRC64 checks, no BCJ filters) built with these four entry points.
 */
interface XzWasm {
  memory: WebAssembly.Memory;
  /** Allocates a decoder context; returns its address. */
  create_context(): number;
  destroy_context(context: number): void;
  /** Says `inSize` bytes wait in the context's input buffer. */
  supply_input(context: number, inSize: number): void;
  /** Runs xz_dec_catrun (finishing when the input given is empty); returns an xz_ret. */
  get_next_output(context: number): number;
}

/**
 * Words of xz-decompress's DecompressionContext (its xz-decompress.h): the
 * buffer size, then xz-embedded's struct xz_buf.
 */
const XZ_CTX_BUFSIZE = 0;
const XZ_CTX_IN = 1;
const XZ_CTX_IN_POS = 2;
const XZ_CTX_IN_SIZE = 3;
const XZ_CTX_OUT = 4;
const XZ_CTX_OUT_POS = 5;
const XZ_CTX_WORDS = 7;
/** xz-embedded's enum xz_ret. */
const XZ_RET = [
  "XZ_OK",
  "XZ_STREAM_END",
  "XZ_UNSUPPORTED_CHECK",
  "XZ_MEM_ERROR",
  "XZ_MEMLIMIT_ERROR",
  "XZ_FORMAT_ERROR",
  "XZ_OPTIONS_ERROR",
  "XZ_DATA_ERROR",
  "XZ_BUF_ERROR",
] as const;
const XZ_OK = 0;
const XZ_STREAM_END = 1;
const XZ_OPTIONS_ERROR = 6;

/**
 * Instantiates xz-decompress's WebAssembly module, once. The package's only
 * API is an async stream (XzReadableStream), but the module behind it decodes
 * synchronously: the instance is created the way the stream does it (its
 * static `_getModuleInstance`, xz-decompress@0.2.3, pinned exactly in
 * deno.json) and then driven block by block as the stream's XzContext drives
 * it, so metadata lookups stay synchronous. A version that changes those
 * internals fails here with a message saying so, never later.
 */
async function xzWasm(): Promise<XzWasm> {
  const pkg = await import("xz-decompress");
  // A CommonJS module: its exports are on the default export (and, bundled, on the namespace).
  // deno-lint-ignore no-explicit-any
  const stream = ((pkg as any).default ?? pkg).XzReadableStream as any;
  try {
    if (stream._moduleInstance === undefined) {
      await (stream._moduleInstancePromise ??= stream._getModuleInstance());
    }
    const exports = stream._moduleInstance.exports as XzWasm;
    for (const name of ["create_context", "destroy_context", "supply_input", "get_next_output"]) {
      if (typeof (exports as unknown as Record<string, unknown>)[name] !== "function") {
        throw new Error(`its WebAssembly module has no ${name}()`);
      }
    }
    if (!(exports.memory instanceof WebAssembly.Memory)) {
      throw new Error("its WebAssembly module exports no memory");
    }
    return exports;
  } catch (error) {
    throw new Error(
      `xz-decompress did not give its WebAssembly module: ${
        (error as Error).message
      }; pbundle drives the module of xz-decompress@0.2.3 and needs that version`,
    );
  }
}

/**
 * Decodes one xz block (a whole .xz stream, as squashfs stores them) with a
 * fresh xz-embedded context. Every call either takes input, makes output or
 * ends: xz-embedded returns XZ_BUF_ERROR after two calls without progress, and
 * a stream cut short fails with the empty "finish" input.
 */
function xzDecompress(wasm: XzWasm, data: Uint8Array, maxSize: number): Uint8Array {
  const context = wasm.create_context();
  try {
    let words = new Uint32Array(wasm.memory.buffer, context, XZ_CTX_WORDS);
    const bufSize = words[XZ_CTX_BUFSIZE]!;
    const out = new Uint8Array(maxSize);
    let outLength = 0;
    let inOffset = 0;
    for (;;) {
      if (words[XZ_CTX_IN_POS] === words[XZ_CTX_IN_SIZE]) {
        // The input buffer is used up: copy the next part (none left finishes).
        const n = Math.min(bufSize, data.length - inOffset);
        new Uint8Array(wasm.memory.buffer, words[XZ_CTX_IN]!, n).set(
          data.subarray(inOffset, inOffset + n),
        );
        inOffset += n;
        wasm.supply_input(context, n);
      }
      const ret = wasm.get_next_output(context);
      // The memory may have grown (the dictionary is allocated on first need).
      words = new Uint32Array(wasm.memory.buffer, context, XZ_CTX_WORDS);
      const made = words[XZ_CTX_OUT_POS]!;
      if (outLength + made > maxSize) throw new Error(`xz block decodes past ${maxSize} bytes`);
      out.set(new Uint8Array(wasm.memory.buffer, words[XZ_CTX_OUT]!, made), outLength);
      outLength += made;
      words[XZ_CTX_OUT_POS] = 0;
      if (ret === XZ_STREAM_END) return out.subarray(0, outLength);
      if (ret === XZ_OPTIONS_ERROR) {
        const filters = xzFilterNames(data).filter((name) => name !== "lzma2");
        if (filters.length > 0) {
          throw new Error(
            `xz block uses the ${
              filters.join(", ")
            } filter, which xz-decompress cannot decode (repack the image without -Xbcj)`,
          );
        }
      }
      if (ret !== XZ_OK) {
        throw new Error(`xz block is corrupt or unsupported (${XZ_RET[ret] ?? `xz_ret ${ret}`})`);
      }
    }
  } finally {
    wasm.destroy_context(context);
  }
}

/** .xz filter ids (xz-file-format.txt 5.3) to the names mksquashfs's -Xbcj uses. */
const XZ_FILTER_NAMES: Record<number, string> = {
  0x03: "delta",
  0x04: "x86 BCJ",
  0x05: "powerpc BCJ",
  0x06: "ia64 BCJ",
  0x07: "arm BCJ",
  0x08: "armthumb BCJ",
  0x09: "sparc BCJ",
  0x0a: "arm64 BCJ",
  0x0b: "riscv BCJ",
  0x21: "lzma2",
};
/** Bytes of an .xz stream header (xz-file-format.txt 2.1.1). */
const XZ_STREAM_HEADER_SIZE = 12;
/** Block flags: number of filters minus one, and the optional size fields (3.1.2). */
const XZ_BLOCK_FILTERS_MASK = 0x03;
const XZ_BLOCK_HAS_COMPRESSED_SIZE = 0x40;
const XZ_BLOCK_HAS_UNCOMPRESSED_SIZE = 0x80;

/**
 * The filters of the first block of an .xz stream, read from its block header
 * (xz-file-format.txt 3.1), for a clear error; empty when it cannot be read.
 */
function xzFilterNames(data: Uint8Array): string[] {
  let pos = XZ_STREAM_HEADER_SIZE + 1;
  const flags = data[pos++];
  if (flags === undefined) return [];
  // Multibyte integers: 7 bits a byte, low bits first (1.2).
  const varint = (): number | undefined => {
    let value = 0;
    for (let shift = 0; shift < 63; shift += 7) {
      const byte = data[pos++];
      if (byte === undefined) return undefined;
      value += (byte & 0x7f) * 2 ** shift;
      if ((byte & 0x80) === 0) return value;
    }
    return undefined;
  };
  if ((flags & XZ_BLOCK_HAS_COMPRESSED_SIZE) !== 0) varint();
  if ((flags & XZ_BLOCK_HAS_UNCOMPRESSED_SIZE) !== 0) varint();
  const names: string[] = [];
  for (let i = 0; i <= (flags & XZ_BLOCK_FILTERS_MASK); i++) {
    const id = varint();
    const propsSize = varint();
    if (id === undefined || propsSize === undefined) break;
    names.push(XZ_FILTER_NAMES[id] ?? `unknown (0x${id.toString(16)})`);
    pos += propsSize;
  }
  return names;
}

/** Why a package decompressor could not be loaded, for {@linkcode missingDecompressorHint}. */
const loadFailures = new Map<number, string>();

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
  const failure = loadFailures.get(id);
  if (failure !== undefined) {
    return `${name}, and its decoder is not available here (${failure}); extract it with \`pbundle extract\` under Deno, or repack the image with -comp zstd or -comp gzip`;
  }
  return `${name}: no decompressor is available; repack the image with -comp zstd or -comp gzip`;
}
