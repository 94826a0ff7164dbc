/**
 * Reads squashfs 4.0 images, also at an offset inside a larger file (an
 * AppBundle). Engine-neutral: node:fs, node:zlib, node:path and
 * node:child_process only, so it runs under Deno and inside a Node bundle.
 *
 * Every length and position read from the image is checked against the table
 * it belongs to before anything is read or allocated; a damaged image gives a
 * {@linkcode FormatError}, never a hang or a write outside the target.
 *
 * @module
 */
import * as fs from "node:fs";
import type * as Os from "node:os";
import type * as Zlib from "node:zlib";
import { Buffer } from "node:buffer";
import type * as ChildProcess from "node:child_process";
import { FormatError, InputError, systemErrorMessage } from "../../errors.ts";
import {
  builtinCodec,
  getDecompressor,
  loadDecompressor,
  missingDecompressorHint,
} from "./compressors.ts";
import { type BatchError, ExtractPool } from "./_extract_pool.ts";
import { createBatchRunner, type RunnerImage } from "./_extract_worker.ts";
import { rawFs } from "./_raw_fs.ts";
import { readSuperblock, readU64, type Superblock } from "./read_superblock.ts";
import * as C from "./squashfs_constants.ts";

/**
 * A built-in module, loaded on first use: node:child_process (only devices and
 * fifos need it), node:zlib (extraction; it loads node:stream) and node:os
 * (the worker count) each cost a file query time at module load.
 */
function builtin<T>(name: string): T {
  return process.getBuiltinModule(name) as T;
}

function childProcess(): typeof ChildProcess {
  return builtin<typeof ChildProcess>("node:child_process");
}

/** Kinds of entries. */
export type SquashfsEntryType =
  | "file"
  | "dir"
  | "symlink"
  | "blockdev"
  | "chardev"
  | "fifo"
  | "socket";

/** One entry of an image, as {@linkcode SquashfsImage.list} and {@linkcode SquashfsImage.stat} give it. */
export interface SquashfsEntry {
  /** Path from the image root, "/"-separated, no leading "/"; "" for the root. Bytes that are not UTF-8 show as U+FFFD. */
  path: string;
  type: SquashfsEntryType;
  /** Permission bits (0o7777 mask). */
  mode: number;
  /** File size; symlink target length; directory listing size. */
  size: number;
  /** Symlink target. */
  target?: string;
  uid: number;
  gid: number;
  /** Modification time, Unix seconds. */
  mtime: number;
  /** Hard link count. */
  nlink: number;
  /** Inode number inside the image. */
  inode: number;
  /** Device numbers of block and character devices. */
  rdev?: { major: number; minor: number };
  /** Extended attributes by full name ("user.x"). */
  xattrs?: Record<string, Uint8Array>;
}

/** Options of {@linkcode SquashfsImage.extract}. */
export interface ExtractOptions {
  /**
   * Glob patterns (picomatch, dot files included) matched against entry
   * paths; a matching directory brings its whole subtree. All when absent.
   * @default {undefined}
   */
  patterns?: string[];
  /**
   * Create device nodes and fifos; honoured only when running as root.
   * @default {false}
   */
  allowDevices?: boolean;
  /**
   * Called for each entry skipped or partly restored (devices, sockets, xattrs).
   * @default {ignores warnings}
   */
  onWarning?: (message: string) => void;
  /**
   * Worker threads that decompress and write files beside the calling
   * thread, for zstd and gzip images. By default they start only when there
   * are at least 4 MiB of files to write; 0 does everything on the calling
   * thread.
   * @default {the number of CPUs less one, at most 8}
   */
  workers?: number;
}

const TYPES: SquashfsEntryType[] = [
  "dir",
  "file",
  "symlink",
  "blockdev",
  "chardev",
  "fifo",
  "socket",
];

interface Inode {
  ref: bigint;
  type: number;
  mode: number;
  uid: number;
  gid: number;
  mtime: number;
  number: number;
  nlink: number;
  /** Files: size. Dirs: listing bytes (file_size - 3). Symlinks: target length. */
  size: number;
  /** Files: blocks_start. Dirs: block of the listing relative to the directory table. */
  start: number;
  /** Dirs: offset of the listing in its block. */
  offset: number;
  fragment: number;
  fragmentOffset: number;
  /** Files: where the block list starts (absolute metadata position, offset). */
  listPos: number;
  listOffset: number;
  target: Uint8Array | undefined;
  rdev: number;
  xattr: number;
}

/** One data block of a file; `onDisk` 0 is a hole. */
interface DataBlock {
  index: number;
  pos: number;
  onDisk: number;
  /** Kept uncompressed in the image. */
  stored: boolean;
  expected: number;
}

interface FileLayout {
  blocks: DataBlock[];
  tail: { fragment: number; offset: number; length: number } | undefined;
}

interface DirEntry {
  name: Uint8Array;
  ref: bigint;
  type: number;
}

const decoder = new TextDecoder();
const fatal = new TextDecoder("utf-8", { fatal: true });
const isDeno = typeof (globalThis as { Deno?: unknown }).Deno !== "undefined";
const META_CACHE_BLOCKS = 512;

function err(message: string, offset?: number): FormatError {
  return new FormatError("squashfs", message, offset);
}

function checkName(name: Uint8Array, parent: string): void {
  const bad = name.length === 0 || name.includes(0x2f) || name.includes(0) ||
    (name.length === 1 && name[0] === 0x2e) ||
    (name.length === 2 && name[0] === 0x2e && name[1] === 0x2e);
  if (bad) {
    throw err(
      `Cannot read directory "${parent || "/"}" in squashfs image: entry name "${
        decoder.decode(name)
      }" is not a single path component`,
    );
  }
}

function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return a[i]! - b[i]!;
  return a.length - b.length;
}

function joinPath(parent: string, name: string): string {
  return parent === "" ? name : `${parent}/${name}`;
}

/** A path on the host for extraction: a string, or raw bytes when a name is not UTF-8. */
type OutPath = string | Uint8Array;

function joinOut(dir: OutPath, name: Uint8Array): OutPath {
  if (typeof dir === "string") {
    try {
      return `${dir}/${fatal.decode(name)}`;
    } catch {
      dir = new TextEncoder().encode(dir);
    }
  }
  const out = new Uint8Array(dir.length + 1 + name.length);
  out.set(dir);
  out[dir.length] = 0x2f;
  out.set(name, dir.length + 1);
  return out;
}

function showOut(p: OutPath): string {
  return typeof p === "string" ? p : decoder.decode(p);
}

/**
 * An open squashfs image.
 *
 * Paths are relative to the image root ("usr/bin/app"; a leading "/" is
 * ignored). Data is read with positioned reads on one file descriptor; large
 * files are never loaded whole except by {@linkcode SquashfsImage.readFile},
 * which the caller asks for.
 *
 * @example List an image appended to a bundle
 * ```ts ignore
 * import { SquashfsImage } from "@pbundle/pbundle/format/squashfs";
 * const image = await SquashfsImage.open("app.AppBundle", 123456);
 * for await (const entry of image.list()) console.log(entry.path, entry.type);
 * await image.close();
 * ```
 */
export class SquashfsImage {
  #fd: number;
  /** The file's path (absolute) and identity, for workers that read it themselves. */
  #file: RunnerImage | undefined;
  #base: number;
  #sb: Superblock;
  #decompress: (data: Uint8Array, max: number) => Uint8Array;
  #ids: number[] = [];
  #meta = new Map<number, { data: Uint8Array; next: number }>();
  #fragmentIndex: number[] | undefined;
  #fragmentCache: { index: number; data: Uint8Array } | undefined;
  #dirEnd: number;
  #inodeBlocks: number[] | undefined;
  #xattr: { kvStart: number; count: number; index: number[] } | undefined | null = null;

  private constructor(fd: number, base: number, sb: Superblock) {
    this.#fd = fd;
    this.#base = base;
    this.#sb = sb;
    const decompress = getDecompressor(sb.compression);
    if (decompress === undefined) {
      throw err(
        `Cannot read squashfs image: it is compressed with ${
          missingDecompressorHint(sb.compression)
        }`,
        base + C.SB_COMPRESSION_OFFSET,
      );
    }
    this.#decompress = decompress;
    this.#dirEnd = sb.bytesUsed;
  }

  /**
   * Opens the image that starts at `offset` in the file at `path`.
   *
   * @param path The image, or a bundle holding one.
   * @param offset Where the superblock starts in the file.
   * @returns The open image; close it with {@linkcode SquashfsImage.close}.
   * @throws {FormatError} When there is no valid squashfs 4.0 image there, or its compressor is unavailable.
   * @throws {InputError} When the file cannot be opened.
   */
  static async open(path: string, offset = 0): Promise<SquashfsImage> {
    const image = SquashfsImage.#open(path, offset);
    if (image instanceof SquashfsImage) return image;
    // A compressor node:zlib lacks: load its package, then try again.
    if (await loadDecompressor(image.compression)) {
      const again = SquashfsImage.#open(path, offset);
      if (again instanceof SquashfsImage) return again;
    }
    throw image.error;
  }

  static #open(
    path: string,
    offset: number,
  ): SquashfsImage | { compression: number; error: unknown } {
    let fd: number;
    try {
      fd = fs.openSync(path, "r");
    } catch (error) {
      throw new InputError(
        systemErrorMessage(error) ?? `Cannot open "${path}": ${(error as Error).message}`,
      );
    }
    try {
      const st = fs.fstatSync(fd);
      const fileSize = st.size;
      if (!Number.isSafeInteger(offset) || offset < 0 || offset > fileSize) {
        throw new InputError(
          `Cannot open squashfs image in "${path}": offset ${offset} is outside the file (${fileSize} bytes)`,
        );
      }
      const head = Buffer.alloc(C.SQUASHFS_SUPERBLOCK_SIZE);
      const n = fs.readSync(fd, head, 0, head.length, offset);
      const sb = readSuperblock(head.subarray(0, n), 0, fileSize - offset, offset);
      if (getDecompressor(sb.compression) === undefined) {
        fs.closeSync(fd);
        return {
          compression: sb.compression,
          error: err(
            `Cannot read squashfs image: it is compressed with ${
              missingDecompressorHint(sb.compression)
            }`,
            offset + C.SB_COMPRESSION_OFFSET,
          ),
        };
      }
      const image = new SquashfsImage(fd, offset, sb);
      image.#file = {
        path: path.startsWith("/") || typeof process === "undefined"
          ? path
          : `${process.cwd()}/${path}`,
        base: offset,
        size: fileSize,
        dev: st.dev,
        ino: st.ino,
      };
      image.#readIds();
      return image;
    } catch (error) {
      fs.closeSync(fd);
      throw error;
    }
  }

  /** The decoded superblock. */
  get superblock(): Readonly<Superblock> {
    return this.#sb;
  }

  /** Closes the file. */
  close(): Promise<void> {
    if (this.#fd >= 0) fs.closeSync(this.#fd);
    this.#fd = -1;
    return Promise.resolve();
  }

  // ---- Low-level reads ----

  /** Reads image bytes; `own` gives a buffer of its own (never a pooled one), safe to transfer. */
  #readAt(pos: number, length: number, what: string, own = false): Buffer {
    if (pos < 0 || length < 0 || pos + length > this.#sb.bytesUsed) {
      throw err(
        `Cannot read squashfs ${what}: ${length} bytes at ${pos} run past the image end (${this.#sb.bytesUsed})`,
        this.#base + pos,
      );
    }
    const buf = own ? Buffer.allocUnsafeSlow(length) : Buffer.allocUnsafe(length);
    let done = 0;
    while (done < length) {
      const n = fs.readSync(this.#fd, buf, done, length - done, this.#base + pos + done);
      if (n === 0) {
        throw err(`Cannot read squashfs ${what}: the file ends early`, this.#base + pos + done);
      }
      done += n;
    }
    return buf;
  }

  #inflate(raw: Uint8Array, max: number, what: string, at: number): Uint8Array {
    try {
      return this.#decompress(raw, max);
    } catch (error) {
      throw err(`Cannot decompress ${what}: ${(error as Error).message}`, this.#base + at);
    }
  }

  /** One metadata block at image position `pos`, which must lie below `end`. */
  #metaBlock(pos: number, end: number, what: string): { data: Uint8Array; next: number } {
    const cached = this.#meta.get(pos);
    if (cached !== undefined) return cached;
    if (pos + C.SQUASHFS_METADATA_HEADER_SIZE > end) {
      throw err(
        `Cannot read squashfs ${what}: metadata block at ${pos} is outside its table`,
        this.#base + pos,
      );
    }
    const room = Math.min(C.SQUASHFS_METADATA_HEADER_SIZE + C.SQUASHFS_METADATA_SIZE, end - pos);
    const buf = this.#readAt(pos, room, what);
    const header = buf.readUInt16LE(0);
    const size = header & ~C.SQUASHFS_COMPRESSED_BIT;
    if (size === 0 || size + C.SQUASHFS_METADATA_HEADER_SIZE > room) {
      throw err(
        `Cannot read squashfs ${what}: metadata block at ${pos} claims ${size} bytes`,
        this.#base + pos,
      );
    }
    const raw = buf.subarray(
      C.SQUASHFS_METADATA_HEADER_SIZE,
      C.SQUASHFS_METADATA_HEADER_SIZE + size,
    );
    const data = header & C.SQUASHFS_COMPRESSED_BIT
      ? raw
      : this.#inflate(raw, C.SQUASHFS_METADATA_SIZE, `squashfs ${what} metadata block`, pos);
    const block = { data, next: pos + C.SQUASHFS_METADATA_HEADER_SIZE + size };
    if (this.#meta.size >= META_CACHE_BLOCKS) {
      this.#meta.delete(this.#meta.keys().next().value!);
    }
    this.#meta.set(pos, block);
    return block;
  }

  /** Reads `length` bytes of metadata from (pos, offset); returns the bytes and where reading stopped. */
  #metaRead(
    pos: number,
    offset: number,
    length: number,
    end: number,
    what: string,
  ): { bytes: Uint8Array; pos: number; offset: number } {
    let block = this.#metaBlock(pos, end, what);
    if (offset > block.data.length) {
      throw err(
        `Cannot read squashfs ${what}: offset ${offset} is past its metadata block (${block.data.length} bytes)`,
        this.#base + pos,
      );
    }
    if (offset + length <= block.data.length) {
      const bytes = block.data.subarray(offset, offset + length);
      if (offset + length === block.data.length) return { bytes, pos: block.next, offset: 0 };
      return { bytes, pos, offset: offset + length };
    }
    const bytes = new Uint8Array(length);
    let done = 0;
    for (;;) {
      const n = Math.min(block.data.length - offset, length - done);
      bytes.set(block.data.subarray(offset, offset + n), done);
      done += n;
      offset += n;
      if (offset === block.data.length) {
        pos = block.next;
        offset = 0;
        if (done === length) break;
        block = this.#metaBlock(pos, end, what);
      }
      if (done === length) break;
    }
    return { bytes, pos, offset };
  }

  /** Reads a table of fixed-size entries through its u64 index at `indexStart`. */
  #readIndexed(
    indexStart: number,
    count: number,
    entrySize: number,
    lower: number,
    what: string,
  ): Uint8Array {
    const bytes = count * entrySize;
    const blocks = Math.ceil(bytes / C.SQUASHFS_METADATA_SIZE);
    const index = this.#readAt(indexStart, blocks * 8, `${what} index`);
    const out = new Uint8Array(bytes);
    for (let i = 0; i < blocks; i++) {
      const at = readU64(
        new DataView(index.buffer, index.byteOffset, index.length),
        i * 8,
        `${what} index`,
        this.#base + indexStart,
      );
      if (at < lower || at >= indexStart) {
        throw err(
          `Cannot read squashfs ${what}: block ${i} at ${at} is outside ${lower}..${indexStart}`,
          this.#base + indexStart + i * 8,
        );
      }
      const want = Math.min(C.SQUASHFS_METADATA_SIZE, bytes - i * C.SQUASHFS_METADATA_SIZE);
      const block = this.#metaBlock(at, indexStart, what);
      if (block.data.length < want) {
        throw err(
          `Cannot read squashfs ${what}: block ${i} holds ${block.data.length} bytes, expected ${want}`,
          this.#base + at,
        );
      }
      out.set(block.data.subarray(0, want), i * C.SQUASHFS_METADATA_SIZE);
      if (i === 0) this.#dirEnd = Math.min(this.#dirEnd, at);
    }
    return out;
  }

  #readIds(): void {
    const sb = this.#sb;
    const bytes = this.#readIndexed(
      sb.idTableStart,
      sb.idCount,
      C.SQUASHFS_ID_ENTRY_SIZE,
      sb.directoryTableStart,
      "id table",
    );
    const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
    for (let i = 0; i < sb.idCount; i++) this.#ids.push(v.getUint32(i * 4, true));
    if (sb.fragmentCount > 0) {
      // Only to bound the directory table; entries are read when needed.
      const first = this.#readAt(sb.fragmentTableStart, 8, "fragment table index");
      const at = Number(first.readBigUInt64LE(0));
      if (at > sb.directoryTableStart && at < this.#dirEnd) this.#dirEnd = at;
    }
  }

  #fragment(index: number, path: string): { start: number; size: number } {
    const sb = this.#sb;
    if (index >= sb.fragmentCount) {
      throw err(
        `Cannot read "${path}" from squashfs image: fragment ${index} does not exist (${sb.fragmentCount} fragments)`,
      );
    }
    if (this.#fragmentIndex === undefined) {
      const blocks = Math.ceil(
        sb.fragmentCount * C.SQUASHFS_FRAGMENT_ENTRY_SIZE / C.SQUASHFS_METADATA_SIZE,
      );
      const idx = this.#readAt(sb.fragmentTableStart, blocks * 8, "fragment table index");
      const v = new DataView(idx.buffer, idx.byteOffset, idx.length);
      this.#fragmentIndex = [];
      for (let i = 0; i < blocks; i++) {
        const at = readU64(v, i * 8, "fragment table index", this.#base + sb.fragmentTableStart);
        if (at < sb.directoryTableStart || at >= sb.fragmentTableStart) {
          throw err(
            `Cannot read squashfs fragment table: block ${i} at ${at} is outside its table`,
            this.#base + sb.fragmentTableStart,
          );
        }
        this.#fragmentIndex.push(at);
      }
    }
    const byteOffset = index * C.SQUASHFS_FRAGMENT_ENTRY_SIZE;
    const block = Math.floor(byteOffset / C.SQUASHFS_METADATA_SIZE);
    const { bytes } = this.#metaRead(
      this.#fragmentIndex[block]!,
      byteOffset % C.SQUASHFS_METADATA_SIZE,
      C.SQUASHFS_FRAGMENT_ENTRY_SIZE,
      sb.fragmentTableStart,
      "fragment table",
    );
    const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
    return { start: readU64(v, 0, "fragment start"), size: v.getUint32(8, true) };
  }

  /** Where fragment block `index` lies, checked to be inside the data area. */
  #fragmentAt(index: number, path: string): { pos: number; onDisk: number; stored: boolean } {
    const { start, size } = this.#fragment(index, path);
    const onDisk = size & C.SQUASHFS_BLOCK_SIZE_MASK;
    if (onDisk === 0 || onDisk > this.#sb.blockSize || start + onDisk > this.#sb.inodeTableStart) {
      throw err(
        `Cannot read "${path}" from squashfs image: fragment ${index} (${onDisk} bytes at ${start}) is outside the data area`,
        this.#base + start,
      );
    }
    return { pos: start, onDisk, stored: (size & C.SQUASHFS_COMPRESSED_BIT_BLOCK) !== 0 };
  }

  /** The fragment block as stored. */
  #fragmentRaw(index: number, path: string): { raw: Uint8Array; stored: boolean; at: number } {
    const { pos, onDisk, stored } = this.#fragmentAt(index, path);
    const raw = this.#readAt(pos, onDisk, `fragment ${index}`, true);
    return { raw, stored, at: pos };
  }

  #fragmentData(index: number, path: string): Uint8Array {
    if (this.#fragmentCache?.index === index) return this.#fragmentCache.data;
    const { raw, stored, at } = this.#fragmentRaw(index, path);
    const data = stored
      ? raw
      : this.#inflate(raw, this.#sb.blockSize, `"${path}": fragment ${index} is corrupt`, at);
    this.#fragmentCache = { index, data };
    return data;
  }

  // ---- Inodes and directories ----

  #inode(ref: bigint, path: string): Inode {
    const sb = this.#sb;
    const block = Number(ref >> 16n);
    const offset = Number(ref & 0xffffn);
    const pos = sb.inodeTableStart + block;
    if (offset >= C.SQUASHFS_METADATA_SIZE || pos >= sb.directoryTableStart) {
      throw err(
        `Cannot read inode of "${
          path || "/"
        }" in squashfs image: reference ${block}:${offset} is outside the inode table`,
      );
    }
    const end = sb.directoryTableStart;
    const what = `inode of "${path || "/"}"`;
    let r = this.#metaRead(pos, offset, C.SQUASHFS_BASE_INODE_SIZE, end, what);
    let v = new DataView(r.bytes.buffer, r.bytes.byteOffset, r.bytes.length);
    const rawType = v.getUint16(0, true);
    if (rawType < C.SQUASHFS_DIR_TYPE || rawType > C.SQUASHFS_LSOCKET_TYPE) {
      throw err(`Cannot read ${what}: unknown inode type ${rawType}`);
    }
    const uidIndex = v.getUint16(4, true);
    const gidIndex = v.getUint16(6, true);
    if (uidIndex >= this.#ids.length || gidIndex >= this.#ids.length) {
      throw err(
        `Cannot read ${what}: owner index ${
          Math.max(uidIndex, gidIndex)
        } is past the id table (${this.#ids.length} ids)`,
      );
    }
    const extended = rawType > C.SQUASHFS_SOCKET_TYPE;
    const inode: Inode = {
      ref,
      type: extended ? rawType - C.SQUASHFS_EXTENDED_TYPE_DELTA : rawType,
      mode: v.getUint16(2, true) & 0o7777,
      uid: this.#ids[uidIndex]!,
      gid: this.#ids[gidIndex]!,
      mtime: v.getUint32(8, true),
      number: v.getUint32(12, true),
      nlink: 1,
      size: 0,
      start: 0,
      offset: 0,
      fragment: C.SQUASHFS_INVALID_FRAG,
      fragmentOffset: 0,
      listPos: 0,
      listOffset: 0,
      target: undefined,
      rdev: 0,
      xattr: C.SQUASHFS_INVALID_XATTR,
    };
    const more = (n: number) => {
      r = this.#metaRead(r.pos, r.offset, n, end, what);
      v = new DataView(r.bytes.buffer, r.bytes.byteOffset, r.bytes.length);
    };
    switch (rawType) {
      case C.SQUASHFS_DIR_TYPE: {
        more(C.SQUASHFS_DIR_INODE_SIZE - C.SQUASHFS_BASE_INODE_SIZE);
        inode.start = v.getUint32(0, true);
        inode.nlink = v.getUint32(4, true);
        inode.size = v.getUint16(8, true) - C.SQUASHFS_DIR_SIZE_BIAS;
        inode.offset = v.getUint16(10, true);
        break;
      }
      case C.SQUASHFS_LDIR_TYPE: {
        more(C.SQUASHFS_LDIR_INODE_SIZE - C.SQUASHFS_BASE_INODE_SIZE);
        inode.nlink = v.getUint32(0, true);
        inode.size = v.getUint32(4, true) - C.SQUASHFS_DIR_SIZE_BIAS;
        inode.start = v.getUint32(8, true);
        inode.offset = v.getUint16(18, true);
        inode.xattr = v.getUint32(20, true);
        break;
      }
      case C.SQUASHFS_REG_TYPE: {
        more(C.SQUASHFS_REG_INODE_SIZE - C.SQUASHFS_BASE_INODE_SIZE);
        inode.start = v.getUint32(0, true);
        inode.fragment = v.getUint32(4, true);
        inode.fragmentOffset = v.getUint32(8, true);
        inode.size = v.getUint32(12, true);
        break;
      }
      case C.SQUASHFS_LREG_TYPE: {
        more(C.SQUASHFS_LREG_INODE_SIZE - C.SQUASHFS_BASE_INODE_SIZE);
        inode.start = readU64(v, 0, `${what} blocks_start`);
        inode.size = readU64(v, 8, `${what} file_size`);
        inode.nlink = v.getUint32(24, true);
        inode.fragment = v.getUint32(28, true);
        inode.fragmentOffset = v.getUint32(32, true);
        inode.xattr = v.getUint32(36, true);
        break;
      }
      case C.SQUASHFS_SYMLINK_TYPE:
      case C.SQUASHFS_LSYMLINK_TYPE: {
        more(C.SQUASHFS_SYMLINK_INODE_SIZE - C.SQUASHFS_BASE_INODE_SIZE);
        inode.nlink = v.getUint32(0, true);
        const length = v.getUint32(4, true);
        if (length > 4096) {
          throw err(`Cannot read ${what}: symlink target of ${length} bytes (at most 4096)`);
        }
        more(length);
        inode.target = r.bytes.slice();
        inode.size = length;
        if (rawType === C.SQUASHFS_LSYMLINK_TYPE) {
          more(4);
          inode.xattr = v.getUint32(0, true);
        }
        break;
      }
      case C.SQUASHFS_BLKDEV_TYPE:
      case C.SQUASHFS_CHRDEV_TYPE:
      case C.SQUASHFS_LBLKDEV_TYPE:
      case C.SQUASHFS_LCHRDEV_TYPE: {
        more(extended ? 12 : 8);
        inode.nlink = v.getUint32(0, true);
        inode.rdev = v.getUint32(4, true);
        if (extended) inode.xattr = v.getUint32(8, true);
        break;
      }
      default: {
        more(extended ? 8 : 4);
        inode.nlink = v.getUint32(0, true);
        if (extended) inode.xattr = v.getUint32(4, true);
      }
    }
    if (inode.type === C.SQUASHFS_DIR_TYPE && inode.size < 0) {
      throw err(`Cannot read ${what}: directory size is below 3`);
    }
    if (inode.type === C.SQUASHFS_REG_TYPE) {
      inode.listPos = r.pos;
      inode.listOffset = r.offset;
      const count = this.#blockCount(inode);
      if (
        count * 4 > C.SQUASHFS_METADATA_SIZE - r.offset &&
        count * 4 > this.#inodeTableRoom(r.pos, r.offset)
      ) {
        throw err(
          `Cannot read ${what}: a file of ${inode.size} bytes needs ${count} block sizes, more than the inode table can hold`,
        );
      }
    }
    return inode;
  }

  /** Uncompressed bytes the inode table can still hold from (pos, offset): its blocks times 8 KiB. */
  #inodeTableRoom(pos: number, offset: number): number {
    if (this.#inodeBlocks === undefined) {
      const starts: number[] = [];
      const end = this.#sb.directoryTableStart;
      for (let at = this.#sb.inodeTableStart; at < end;) {
        starts.push(at);
        const header = this.#readAt(at, C.SQUASHFS_METADATA_HEADER_SIZE, "inode table")
          .readUInt16LE(0);
        at += C.SQUASHFS_METADATA_HEADER_SIZE + (header & ~C.SQUASHFS_COMPRESSED_BIT);
        if ((header & ~C.SQUASHFS_COMPRESSED_BIT) === 0) break;
      }
      this.#inodeBlocks = starts;
    }
    const blocks = this.#inodeBlocks;
    let lo = 0;
    let hi = blocks.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (blocks[mid]! < pos) lo = mid + 1;
      else hi = mid;
    }
    return (blocks.length - lo) * C.SQUASHFS_METADATA_SIZE - offset;
  }

  #blockCount(inode: Inode): number {
    const bs = this.#sb.blockSize;
    return inode.fragment === C.SQUASHFS_INVALID_FRAG
      ? Math.ceil(inode.size / bs)
      : Math.floor(inode.size / bs);
  }

  #readDir(inode: Inode, path: string): DirEntry[] {
    const sb = this.#sb;
    const entries: DirEntry[] = [];
    let remaining = inode.size;
    if (remaining === 0) return entries;
    const where = `directory "${path || "/"}"`;
    let pos = sb.directoryTableStart + inode.start;
    let offset = inode.offset;
    const end = this.#dirEnd;
    if (pos >= end) {
      throw err(
        `Cannot read ${where} in squashfs image: its listing is outside the directory table`,
      );
    }
    let previous: Uint8Array | undefined;
    while (remaining > 0) {
      if (remaining < C.SQUASHFS_DIR_HEADER_SIZE) {
        throw err(`Cannot read ${where} in squashfs image: listing ends inside a header`);
      }
      let r = this.#metaRead(pos, offset, C.SQUASHFS_DIR_HEADER_SIZE, end, where);
      let v = new DataView(r.bytes.buffer, r.bytes.byteOffset, r.bytes.length);
      const count = v.getUint32(0, true) + 1;
      const start = v.getUint32(4, true);
      const base = v.getUint32(8, true);
      remaining -= C.SQUASHFS_DIR_HEADER_SIZE;
      if (count > C.SQUASHFS_DIR_COUNT) {
        throw err(
          `Cannot read ${where} in squashfs image: a header claims ${count} entries, at most 256`,
        );
      }
      for (let i = 0; i < count; i++) {
        if (remaining < C.SQUASHFS_DIR_ENTRY_SIZE) {
          throw err(`Cannot read ${where} in squashfs image: listing ends inside an entry`);
        }
        r = this.#metaRead(r.pos, r.offset, C.SQUASHFS_DIR_ENTRY_SIZE, end, where);
        v = new DataView(r.bytes.buffer, r.bytes.byteOffset, r.bytes.length);
        const entryOffset = v.getUint16(0, true);
        const type = v.getUint16(4, true);
        const nameSize = v.getUint16(6, true) + 1;
        if (nameSize > C.SQUASHFS_NAME_LEN) {
          throw err(
            `Cannot read ${where} in squashfs image: a name of ${nameSize} bytes (at most 256)`,
          );
        }
        remaining -= C.SQUASHFS_DIR_ENTRY_SIZE + nameSize;
        if (remaining < 0) {
          throw err(`Cannot read ${where} in squashfs image: listing ends inside a name`);
        }
        r = this.#metaRead(r.pos, r.offset, nameSize, end, where);
        const name = r.bytes.slice();
        checkName(name, path);
        if (previous !== undefined && compareBytes(previous, name) >= 0) {
          throw err(
            `Cannot read ${where} in squashfs image: entry "${
              decoder.decode(name)
            }" is out of order or repeated`,
          );
        }
        if (type < C.SQUASHFS_DIR_TYPE || type > C.SQUASHFS_SOCKET_TYPE) {
          throw err(
            `Cannot read ${where} in squashfs image: entry "${
              decoder.decode(name)
            }" has unknown type ${type}`,
          );
        }
        previous = name;
        void base;
        entries.push({ name, ref: (BigInt(start) << 16n) | BigInt(entryOffset), type });
      }
      pos = r.pos;
      offset = r.offset;
    }
    return entries;
  }

  #xattrs(index: number, path: string): Record<string, Uint8Array> | undefined {
    if (index === C.SQUASHFS_INVALID_XATTR) return undefined;
    const sb = this.#sb;
    if (this.#xattr === null) {
      if (sb.xattrIdTableStart === undefined) this.#xattr = undefined;
      else {
        const head = this.#readAt(
          sb.xattrIdTableStart,
          C.SQUASHFS_XATTR_TABLE_HEADER_SIZE,
          "xattr id table",
        );
        const hv = new DataView(head.buffer, head.byteOffset, head.length);
        const kvStart = readU64(hv, 0, "xattr table start");
        const count = hv.getUint32(8, true);
        const blocks = Math.ceil(count * C.SQUASHFS_XATTR_ID_ENTRY_SIZE / C.SQUASHFS_METADATA_SIZE);
        const idx = this.#readAt(
          sb.xattrIdTableStart + C.SQUASHFS_XATTR_TABLE_HEADER_SIZE,
          blocks * 8,
          "xattr id index",
        );
        const iv = new DataView(idx.buffer, idx.byteOffset, idx.length);
        const list: number[] = [];
        for (let i = 0; i < blocks; i++) list.push(readU64(iv, i * 8, "xattr id index"));
        if (kvStart >= sb.xattrIdTableStart) {
          throw err("Cannot read squashfs xattr table: it starts after its id table");
        }
        this.#xattr = { kvStart, count, index: list };
      }
    }
    const x = this.#xattr;
    if (x === undefined || index >= x.count) {
      throw err(`Cannot read extended attributes of "${path}": xattr id ${index} does not exist`);
    }
    const at = index * C.SQUASHFS_XATTR_ID_ENTRY_SIZE;
    const blockPos = x.index[Math.floor(at / C.SQUASHFS_METADATA_SIZE)]!;
    const { bytes } = this.#metaRead(
      blockPos,
      at % C.SQUASHFS_METADATA_SIZE,
      16,
      sb.xattrIdTableStart!,
      "xattr id table",
    );
    const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
    const ref = v.getBigUint64(0, true);
    const count = v.getUint32(8, true);
    let pos = x.kvStart + Number(ref >> 16n);
    let offset = Number(ref & 0xffffn);
    const out: Record<string, Uint8Array> = {};
    const end = sb.xattrIdTableStart!;
    const what = `extended attributes of "${path}"`;
    for (let i = 0; i < count; i++) {
      let r = this.#metaRead(pos, offset, 4, end, what);
      let kv = new DataView(r.bytes.buffer, r.bytes.byteOffset, r.bytes.length);
      const type = kv.getUint16(0, true);
      const nameSize = kv.getUint16(2, true);
      r = this.#metaRead(r.pos, r.offset, nameSize, end, what);
      const prefix = C.XATTR_PREFIXES[type & C.SQUASHFS_XATTR_PREFIX_MASK];
      if (prefix === undefined) throw err(`Cannot read ${what}: unknown prefix ${type}`);
      const name = prefix + decoder.decode(r.bytes);
      r = this.#metaRead(r.pos, r.offset, 4, end, what);
      kv = new DataView(r.bytes.buffer, r.bytes.byteOffset, r.bytes.length);
      const size = kv.getUint32(0, true);
      if (size > 65536) throw err(`Cannot read ${what}: a value of ${size} bytes`);
      r = this.#metaRead(r.pos, r.offset, size, end, what);
      let value = r.bytes.slice();
      pos = r.pos;
      offset = r.offset;
      if (type & C.SQUASHFS_XATTR_VALUE_OOL) {
        const ov = new DataView(value.buffer);
        const vref = ov.getBigUint64(0, true);
        const v1 = this.#metaRead(
          x.kvStart + Number(vref >> 16n),
          Number(vref & 0xffffn),
          4,
          end,
          what,
        );
        const realSize = new DataView(v1.bytes.buffer, v1.bytes.byteOffset, 4).getUint32(0, true);
        if (realSize > 65536) throw err(`Cannot read ${what}: a value of ${realSize} bytes`);
        value = this.#metaRead(v1.pos, v1.offset, realSize, end, what).bytes.slice();
      }
      out[name] = value;
    }
    return out;
  }

  #entry(inode: Inode, path: string): SquashfsEntry {
    const entry: SquashfsEntry = {
      path,
      type: TYPES[inode.type - 1]!,
      mode: inode.mode,
      size: inode.size,
      uid: inode.uid,
      gid: inode.gid,
      mtime: inode.mtime,
      nlink: inode.nlink,
      inode: inode.number,
    };
    if (inode.target !== undefined) entry.target = decoder.decode(inode.target);
    if (inode.type === C.SQUASHFS_BLKDEV_TYPE || inode.type === C.SQUASHFS_CHRDEV_TYPE) {
      entry.rdev = {
        major: (inode.rdev >>> 8) & 0xfff,
        minor: (inode.rdev & 0xff) | ((inode.rdev >>> 12) & 0xfff00),
      };
    }
    const xattrs = this.#xattrs(inode.xattr, path);
    if (xattrs !== undefined) entry.xattrs = xattrs;
    return entry;
  }

  /** Finds an inode by path; follows symlinks in the middle, and at the end when `follow`. */
  #lookup(path: string, follow: boolean): { inode: Inode; path: string } {
    const parts = path.split("/").filter((p) => p !== "" && p !== ".");
    let hops = 0;
    let stack: { inode: Inode; path: string }[] = [{ inode: this.#root(), path: "" }];
    for (let i = 0; i < parts.length; i++) {
      const part = parts[i]!;
      const current = stack[stack.length - 1]!;
      if (part === "..") {
        if (stack.length > 1) stack.pop();
        continue;
      }
      if (current.inode.type !== C.SQUASHFS_DIR_TYPE) {
        throw new InputError(
          `Cannot find "${path}" in squashfs image: "${current.path}" is not a directory`,
        );
      }
      const nameBytes = new TextEncoder().encode(part);
      const found = this.#readDir(current.inode, current.path).find((e) =>
        compareBytes(e.name, nameBytes) === 0
      );
      if (found === undefined) {
        throw new InputError(`Cannot find "${path}" in squashfs image: no such file or directory`);
      }
      const childPath = joinPath(current.path, part);
      const inode = this.#inode(found.ref, childPath);
      if (inode.type === C.SQUASHFS_SYMLINK_TYPE && (follow || i < parts.length - 1)) {
        if (++hops > 40) {
          throw new InputError(
            `Cannot find "${path}" in squashfs image: too many levels of symbolic links`,
          );
        }
        const target = decoder.decode(inode.target);
        const rest = target.split("/").filter((p) => p !== "" && p !== ".");
        if (target.startsWith("/")) stack = [stack[0]!];
        parts.splice(i + 1, 0, ...rest);
        continue;
      }
      stack.push({ inode, path: childPath });
    }
    return stack[stack.length - 1]!;
  }

  #root(): Inode {
    const root = this.#inode(this.#sb.rootInodeRef, "");
    if (root.type !== C.SQUASHFS_DIR_TYPE) {
      throw err("Cannot read squashfs image: the root inode is not a directory");
    }
    return root;
  }

  // ---- File data ----

  /**
   * Where a file's data lies: its blocks (holes have `onDisk` 0) and its tail
   * in a fragment. Every block is checked to lie inside the data area.
   */
  #layout(inode: Inode, path: string): FileLayout {
    const sb = this.#sb;
    const bs = sb.blockSize;
    const count = this.#blockCount(inode);
    const hasFragment = inode.fragment !== C.SQUASHFS_INVALID_FRAG;
    let listPos = inode.listPos;
    let listOffset = inode.listOffset;
    let dataPos = inode.start;
    const what = `block list of "${path}"`;
    const blocks: DataBlock[] = [];
    for (let first = 0; first < count; first += 1024) {
      const n = Math.min(1024, count - first);
      const r = this.#metaRead(listPos, listOffset, n * 4, sb.directoryTableStart, what);
      listPos = r.pos;
      listOffset = r.offset;
      const v = new DataView(r.bytes.buffer, r.bytes.byteOffset, r.bytes.length);
      for (let k = 0; k < n; k++) {
        const index = first + k;
        const word = v.getUint32(k * 4, true);
        const onDisk = word & C.SQUASHFS_BLOCK_SIZE_MASK;
        const expected = index === count - 1 && !hasFragment ? inode.size - index * bs : bs;
        if (onDisk > bs || dataPos + onDisk > sb.inodeTableStart) {
          throw err(
            `Cannot read "${path}" from squashfs image: block ${index} (${onDisk} bytes at ${dataPos}) is outside the data area`,
            this.#base + dataPos,
          );
        }
        const stored = (word & C.SQUASHFS_COMPRESSED_BIT_BLOCK) !== 0;
        blocks.push({ index, pos: dataPos, onDisk, stored, expected });
        dataPos += onDisk;
      }
    }
    if (!hasFragment) return { blocks, tail: undefined };
    const tail = inode.size - count * bs;
    if (tail <= 0 || tail >= bs) {
      throw err(
        `Cannot read "${path}" from squashfs image: a fragment for a tail of ${tail} bytes`,
      );
    }
    return {
      blocks,
      tail: { fragment: inode.fragment, offset: inode.fragmentOffset, length: tail },
    };
  }

  /** Calls `sink` with each piece of a file in order: data, or null for a hole of `length` bytes. */
  #forEachChunk(
    inode: Inode,
    path: string,
    sink: (data: Uint8Array | null, position: number, length: number) => void,
  ): void {
    const bs = this.#sb.blockSize;
    const { blocks, tail } = this.#layout(inode, path);
    for (const b of blocks) {
      const position = b.index * bs;
      if (b.onDisk === 0) {
        sink(null, position, b.expected);
        continue;
      }
      const raw = this.#readAt(b.pos, b.onDisk, `block ${b.index} of "${path}"`);
      const data = b.stored
        ? raw
        : this.#inflate(raw, bs, `"${path}": block ${b.index} is corrupt`, b.pos);
      if (data.length !== b.expected) {
        throw err(
          `Cannot read "${path}" from squashfs image: block ${b.index} holds ${data.length} bytes, expected ${b.expected}`,
          this.#base + b.pos,
        );
      }
      sink(data, position, b.expected);
    }
    if (tail !== undefined) {
      const data = this.#fragmentData(tail.fragment, path);
      if (tail.offset + tail.length > data.length) {
        throw err(
          `Cannot read "${path}" from squashfs image: its tail (${tail.length} bytes at ${tail.offset}) is past fragment ${tail.fragment} (${data.length} bytes)`,
        );
      }
      sink(
        data.subarray(tail.offset, tail.offset + tail.length),
        inode.size - tail.length,
        tail.length,
      );
    }
  }

  /**
   * Shares the writing of regular files (string paths) between the workers
   * and this thread. `add` cuts each file into batches of about
   * EXTRACT_BATCH_BYTES as the tree is walked and hands them to the workers
   * every few batches, so they start while the walk goes on; `finish` then
   * lets this thread take batches too, until none is left (see
   * `_extract_worker.ts`). A file of more than one batch is created here
   * first, written in chunks by any thread, and gets its mode and mtime here
   * at the end. Memory: per thread one batch of compressed input, one output
   * buffer of about a batch and EXTRACT_FRAGMENT_CACHE fragment blocks, plus
   * the batch list (block lists and names of the files).
   */
  #poolFeeder(
    pool: ExtractPool,
    dest: string,
    plainMode: (mode: number) => boolean,
  ): { add(out: string, inode: Inode, path: string): void; finish(): Promise<void> } {
    const bs = this.#sb.blockSize;
    const chunkBlocks = extractChunkBlocks(bs);
    const batchBytes = chunkBlocks * bs;
    const batches: { paths: string[]; cut: number; nums: Float64Array }[] = [];
    let published = 0;
    let paths: string[] = [];
    let nums: number[] = [];
    let size = 0;
    const big: { out: string; inode: Inode }[] = [];
    const image = this.#file;
    pool.begin(image ?? { base: this.#base });
    const cut = () => {
      if (paths.length === 0) return;
      batches.push({ paths, cut: dest.length + 1, nums: Float64Array.from(nums) });
      paths = [];
      nums = [];
      size = 0;
      if (batches.length - published >= EXTRACT_PUBLISH_BATCHES) {
        pool.publish(batches.slice(published));
        published = batches.length;
      }
    };
    // The fragment block the current batch's last file ends in: a batch that is
    // full is cut only where the next file's tail lies in another fragment, so
    // that each fragment block is decompressed by one thread, not by two.
    let lastFragment = -1;
    const add = (out: string, inode: Inode, path: string) => {
      const { blocks, tail } = this.#layout(inode, path);
      if (size >= batchBytes && (tail === undefined || tail.fragment !== lastFragment)) cut();
      if (tail !== undefined) lastFragment = tail.fragment;
      const chunked = blocks.length > chunkBlocks;
      if (chunked) {
        createSized(out, inode.size);
        big.push({ out, inode });
      }
      const frag = tail === undefined ? undefined : this.#fragmentAt(tail.fragment, path);
      const flags = chunked ? 0 : (plainMode(inode.mode) ? 0 : 1) | 2 | 4;
      for (let first = 0; first === 0 || first < blocks.length; first += chunkBlocks) {
        const last = first + chunkBlocks >= blocks.length;
        const n = Math.min(blocks.length, first + chunkBlocks);
        paths.push(out);
        nums.push(inode.mode, flags, inode.mtime, inode.size, n - first);
        if (last && tail !== undefined && frag !== undefined) {
          nums.push(
            tail.fragment,
            frag.pos,
            frag.onDisk,
            frag.stored ? 1 : 0,
            tail.offset,
            tail.length,
          );
        } else {
          nums.push(-1, 0, 0, 0, 0, 0);
        }
        for (let k = first; k < n; k++) {
          const b = blocks[k]!;
          nums.push(b.index, b.pos, b.onDisk, b.stored ? 1 : 0, b.expected);
        }
        size += (n - first) * bs + (last && tail !== undefined ? tail.length : 0) +
          EXTRACT_FILE_COST;
        // A chunk of a large file without a tail here ends a full batch at once.
        if (size >= batchBytes && !(last && tail !== undefined)) cut();
      }
    };
    const finish = async () => {
      cut();
      pool.publish(batches.slice(published));
      published = batches.length;
      const workersDone = pool.end();
      let failure: unknown;
      const here = createBatchRunner(
        fs,
        builtin<typeof Zlib>("node:zlib"),
        Buffer,
        pool.codec,
        bs,
        chunkBlocks,
      );
      here.attach({ fd: this.#fd, base: this.#base });
      try {
        here.claim(batches, pool.ctrl);
      } catch (error) {
        const e = error as Partial<BatchError>;
        failure = e.format === undefined ? error : batchError(e as BatchError);
      } finally {
        here.detach();
      }
      await workersDone;
      if (pool.error !== undefined) failure ??= batchError(pool.error);
      if (failure !== undefined) throw failure;
      for (const { out, inode } of big) {
        fs.chmodSync(out, inode.mode);
        fs.utimesSync(out, inode.mtime, inode.mtime);
      }
    };
    return { add, finish };
  }

  // ---- Public API ----

  /**
   * Lists every entry under the root, parents before children, in name order.
   *
   * @returns The entries (the root itself is not listed).
   * @throws {FormatError} When the image is damaged or a directory loops.
   */
  async *list(): AsyncIterable<SquashfsEntry> {
    const seen = new Set<bigint>();
    const stack: { inode: Inode; path: string }[] = [{ inode: this.#root(), path: "" }];
    seen.add(this.#sb.rootInodeRef);
    while (stack.length > 0) {
      const { inode, path } = stack.pop()!;
      const children: { inode: Inode; path: string }[] = [];
      for (const e of this.#readDir(inode, path)) {
        const childPath = joinPath(path, decoder.decode(e.name));
        const child = this.#inode(e.ref, childPath);
        if (child.type !== e.type) {
          throw err(
            `Cannot read "${childPath}" in squashfs image: the directory says type ${e.type}, the inode ${child.type}`,
          );
        }
        if (child.type === C.SQUASHFS_DIR_TYPE) {
          if (seen.has(e.ref)) {
            throw err(`Cannot read "${childPath}" in squashfs image: directory loop`);
          }
          seen.add(e.ref);
          children.push({ inode: child, path: childPath });
        }
        yield this.#entry(child, childPath);
      }
      for (let i = children.length - 1; i >= 0; i--) stack.push(children[i]!);
    }
  }

  /**
   * Lists the entries directly inside one directory, in name order, without
   * walking the rest of the image (the runtime's desktop and AppStream queries).
   *
   * @param path The directory's path in the image ("" for the root); symlinks are followed.
   * @returns Its entries, with paths from the image's root.
   * @throws {InputError} When there is no such directory.
   * @throws {FormatError} When the image is damaged.
   */
  readDir(path: string): Promise<SquashfsEntry[]> {
    try {
      const found = this.#lookup(path, true);
      if (found.inode.type !== C.SQUASHFS_DIR_TYPE) {
        throw new InputError(`Cannot list "${path}" in squashfs image: it is not a directory`);
      }
      return Promise.resolve(
        this.#readDir(found.inode, found.path).map((e) => {
          const childPath = joinPath(found.path, decoder.decode(e.name));
          return this.#entry(this.#inode(e.ref, childPath), childPath);
        }),
      );
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /**
   * Describes one entry without following a final symlink.
   *
   * @param path The entry's path in the image.
   * @returns The entry.
   * @throws {InputError} When there is no such entry.
   */
  stat(path: string): Promise<SquashfsEntry> {
    try {
      const found = this.#lookup(path, false);
      return Promise.resolve(this.#entry(found.inode, found.path));
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /**
   * Reads a whole regular file, following symlinks inside the image.
   *
   * @param path The file's path in the image.
   * @returns Its bytes.
   * @throws {InputError} When there is no such file, it is not a regular file, or it is over 2 GiB.
   * @throws {FormatError} Naming the file, when one of its blocks is corrupt.
   */
  readFile(path: string): Promise<Uint8Array> {
    try {
      const { inode, path: found } = this.#lookup(path, true);
      if (inode.type !== C.SQUASHFS_REG_TYPE) {
        throw new InputError(
          `Cannot read "${path}" from squashfs image: it is a ${TYPES[inode.type - 1]}, not a file`,
        );
      }
      if (inode.size > 0x7fffffff) {
        throw new InputError(
          `Cannot read "${path}" from squashfs image into memory: ${inode.size} bytes; extract it instead`,
        );
      }
      const out = new Uint8Array(inode.size);
      this.#forEachChunk(inode, found, (data, position) => {
        if (data !== null) out.set(data, position);
      });
      return Promise.resolve(out);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /**
   * Extracts the image, or the entries matching `options.patterns`, under `dest`.
   *
   * Nothing is ever written outside `dest`: names are single components,
   * directories are created by the extractor (an existing symlink in the way
   * is replaced, never followed), and symlinks are created, never followed.
   * Device nodes and fifos are skipped with a warning unless running as root
   * with `allowDevices`; sockets are always skipped. Modes and modification
   * times are restored; owners are not. Extended attributes are restored
   * under Deno with FFI permission, and otherwise reported by a warning.
   *
   * @param dest The target directory, created if missing.
   * @param options Patterns, devices, warnings.
   * @throws {FormatError} Naming the entry, when the image is damaged.
   * @throws {InputError} When `dest` cannot be written.
   */
  async extract(dest: string, options: ExtractOptions = {}): Promise<void> {
    const pool = new LazyPool(this.#sb, options.workers);
    try {
      await this.#extract(dest, options, pool);
    } finally {
      await pool.close();
    }
  }

  async #extract(dest: string, options: ExtractOptions, lazyPool: LazyPool): Promise<void> {
    const warn = options.onWarning ?? (() => {});
    const matcher = options.patterns && options.patterns.length > 0
      ? (await import("picomatch")).default(options.patterns, { dot: true })
      : undefined;
    const isRoot = typeof process !== "undefined" && process.getuid?.() === 0;
    const umask = typeof process !== "undefined" ? process.umask() : 0o022;
    const out = new OutFs(warn);
    fs.mkdirSync(dest, { recursive: true });
    const root = this.#root();
    const links = new Map<bigint, OutPath>();
    interface FileJob {
      out: OutPath;
      inode: Inode;
      path: string;
    }
    const fileJobs: FileJob[] = [];
    const linkJobs: { existing: OutPath; out: OutPath }[] = [];
    const seen = new Set<bigint>([this.#sb.rootInodeRef]);
    let xattrWarned = false;
    interface PendingDir {
      out: OutPath;
      inode: Inode;
      parent: PendingDir | undefined;
      created: boolean;
      path: string;
    }
    const fixups: PendingDir[] = [];
    const ensure = (d: PendingDir | undefined) => {
      if (d === undefined || d.created) return;
      ensure(d.parent);
      out.mkdir(d.out);
      d.created = true;
      fixups.push(d);
    };
    const applyXattrs = (p: OutPath, inode: Inode, path: string) => {
      const xattrs = this.#xattrs(inode.xattr, path);
      if (xattrs === undefined) return;
      const raw = rawFs();
      if (raw === undefined) {
        if (!xattrWarned) {
          warn(
            `Extended attributes were not restored (first: "${path}"): this engine cannot set them`,
          );
        }
        xattrWarned = true;
        return;
      }
      const pathBytes = typeof p === "string" ? new TextEncoder().encode(p) : p;
      for (const [name, value] of Object.entries(xattrs)) {
        const e = raw.setXattr(pathBytes, name, value);
        if (e !== 0) warn(`Cannot set extended attribute ${name} on "${path}": errno ${e}`);
      }
    };

    const walk = (dir: PendingDir, matched: boolean) => {
      for (const e of this.#readDir(dir.inode, dir.path)) {
        const childPath = joinPath(dir.path, decoder.decode(e.name));
        const childOut = joinOut(dir.out, e.name);
        const inode = this.#inode(e.ref, childPath);
        if (inode.type !== e.type) {
          throw err(
            `Cannot extract "${childPath}": the directory says type ${e.type}, the inode ${inode.type}`,
          );
        }
        const hit = matched || matcher === undefined || matcher(childPath);
        if (inode.type === C.SQUASHFS_DIR_TYPE) {
          if (seen.has(e.ref)) {
            throw err(`Cannot extract "${childPath}": directory loop in squashfs image`);
          }
          seen.add(e.ref);
          const sub: PendingDir = {
            out: childOut,
            inode,
            parent: dir,
            created: false,
            path: childPath,
          };
          if (hit) ensure(sub);
          walk(sub, hit);
          continue;
        }
        if (!hit) continue;
        ensure(dir);
        const linked = links.get(e.ref);
        if (linked !== undefined) {
          linkJobs.push({ existing: linked, out: childOut });
          continue;
        }
        switch (inode.type) {
          case C.SQUASHFS_REG_TYPE:
            if (feeder !== undefined && typeof childOut === "string") {
              feeder.add(childOut, inode, childPath);
              fedJobs.push({ out: childOut, inode, path: childPath });
            } else {
              fileJobs.push({ out: childOut, inode, path: childPath });
            }
            if (inode.nlink > 1) links.set(e.ref, childOut);
            continue;
          case C.SQUASHFS_SYMLINK_TYPE:
            out.symlink(inode.target!, childOut);
            out.symlinkTimes(childOut, inode.mtime);
            break;
          case C.SQUASHFS_SOCKET_TYPE:
            warn(`Skipping socket "${childPath}"`);
            continue;
          default: {
            const kind = TYPES[inode.type - 1]!;
            if (!options.allowDevices || !isRoot) {
              warn(
                `Skipping ${kind} "${childPath}": device nodes and fifos are created only as root with allowDevices`,
              );
              continue;
            }
            const major = (inode.rdev >>> 8) & 0xfff;
            const minor = (inode.rdev & 0xff) | ((inode.rdev >>> 12) & 0xfff00);
            out.special(childOut, kind, major, minor, inode.mode);
          }
        }
        if (inode.nlink > 1) links.set(e.ref, childOut);
        applyXattrs(childOut, inode, childPath);
      }
    };
    // A whole large image will surely need the workers: start them now, and
    // hand them files as the tree is walked.
    const plainMode = (mode: number) => mode <= 0o777 && (mode & umask) === 0;
    const early = matcher === undefined &&
        (this.#sb.bytesUsed >= EXTRACT_POOL_MIN_BYTES || options.workers !== undefined)
      ? lazyPool.get()
      : undefined;
    let feeder = early === undefined ? undefined : this.#poolFeeder(early, dest, plainMode);
    const fedJobs: FileJob[] = [];
    const top: PendingDir = { out: dest, inode: root, parent: undefined, created: true, path: "" };
    walk(top, false);

    // Files: creating them is the slow part (open(2) with O_CREAT), so several
    // opens run at once on the engine's I/O threads; data is decompressed and
    // written here, one file at a time, so memory stays near one block per file.
    const writeFile = (fd: number, job: FileJob) => {
      let end = 0;
      this.#forEachChunk(job.inode, job.path, (data, position) => {
        if (data === null) return;
        let done = 0;
        while (done < data.length) {
          done += fs.writeSync(fd, data, done, data.length - done, position + done);
        }
        end = position + data.length;
      });
      if (end !== job.inode.size) fs.ftruncateSync(fd, job.inode.size);
      if (!plainMode(job.inode.mode)) fs.fchmodSync(fd, job.inode.mode);
      fs.futimesSync(fd, job.inode.mtime, job.inode.mtime);
    };
    const runJob = async (job: FileJob) => {
      if (typeof job.out !== "string") {
        const file = out.create(job.out);
        try {
          this.#forEachChunk(job.inode, job.path, (data, position) => {
            if (data !== null) file.write(data, position);
          });
          file.finish(job.inode.size, job.inode.mode, umask, job.inode.mtime);
        } catch (error) {
          file.abort();
          throw error;
        }
      } else {
        const mode = plainMode(job.inode.mode) ? job.inode.mode : 0o600;
        const fd = await openExclusive(job.out, mode).catch((error) => {
          if ((error as { code?: string }).code !== "EEXIST") throw error;
          out.clear(job.out);
          return openExclusive(job.out as string, mode);
        });
        try {
          writeFile(fd, job);
        } finally {
          fs.closeSync(fd);
        }
      }
      applyXattrs(job.out, job.inode, job.path);
    };
    let mainJobs = fileJobs;
    if (feeder === undefined) {
      let bytes = 0;
      for (const job of fileJobs) bytes += job.inode.size;
      const pool = bytes >= EXTRACT_POOL_MIN_BYTES || options.workers !== undefined
        ? lazyPool.get()
        : undefined;
      if (pool !== undefined) {
        feeder = this.#poolFeeder(pool, dest, plainMode);
        mainJobs = [];
        for (const job of fileJobs) {
          if (typeof job.out === "string") {
            feeder.add(job.out, job.inode, job.path);
            fedJobs.push(job);
          } else {
            mainJobs.push(job);
          }
        }
      }
    }
    if (feeder !== undefined) {
      await feeder.finish();
      for (const job of fedJobs) applyXattrs(job.out, job.inode, job.path);
    }
    const window = new Set<Promise<void>>();
    let failure: unknown;
    for (const job of mainJobs) {
      if (failure !== undefined) break;
      const p: Promise<void> = runJob(job).catch((error) => {
        failure ??= error;
      }).finally(() => window.delete(p));
      window.add(p);
      if (window.size >= EXTRACT_OPENS_IN_FLIGHT) await Promise.race(window);
    }
    await Promise.all(window);
    if (failure !== undefined) throw failure;
    for (const job of linkJobs) out.link(job.existing, job.out);
    for (let i = fixups.length - 1; i >= 0; i--) {
      const d = fixups[i]!;
      applyXattrs(d.out, d.inode, d.path);
      out.finishDir(d.out, d.inode.mode, d.inode.mtime);
    }
    if (matcher === undefined) {
      applyXattrs(dest, root, "");
      out.finishDir(dest, root.mode, root.mtime);
    }
  }
}

/** How many files extraction opens at once (without workers). */
const EXTRACT_OPENS_IN_FLIGHT = 8;
/** Extraction starts workers when it has at least this many bytes of files to write. */
const EXTRACT_POOL_MIN_BYTES = 4 << 20;
/** A batch for a worker holds about this many bytes of file data (or one block). */
const EXTRACT_BATCH_BYTES = 256 << 10;
/** What one file counts for in a batch beyond its data (creating it costs about as much as writing 4 KiB). */
const EXTRACT_FILE_COST = 4096;
/** The calling thread hands the workers new batches this many at a time while it walks the tree. */
const EXTRACT_PUBLISH_BATCHES = 8;

/** Blocks per batch (and per chunk of a large file): about EXTRACT_BATCH_BYTES, at least one. */
function extractChunkBlocks(blockSize: number): number {
  return Math.max(1, Math.floor(EXTRACT_BATCH_BYTES / blockSize));
}
/** Most workers extraction starts by default. */
const EXTRACT_MAX_WORKERS = 8;

/** Starts the extraction workers on first use, when the image's compressor can run in them. */
class LazyPool {
  #codec: "zstd" | "gzip" | undefined;
  #blockSize: number;
  #count: number;
  #pool: ExtractPool | undefined;
  #tried = false;

  constructor(sb: Superblock, workers: number | undefined) {
    this.#codec = builtinCodec(sb.compression);
    this.#blockSize = sb.blockSize;
    // The calling thread writes batches too, so one CPU is left for it.
    const os = builtin<typeof Os>("node:os");
    const cpus = typeof os.availableParallelism === "function"
      ? os.availableParallelism()
      : os.cpus().length;
    this.#count = workers ?? Math.min(EXTRACT_MAX_WORKERS, cpus - 1);
  }

  /** The pool, or undefined when workers are off or cannot run here. */
  get(): ExtractPool | undefined {
    if (!this.#tried) {
      this.#tried = true;
      if (this.#codec !== undefined && this.#count > 0) {
        this.#pool = ExtractPool.start(
          this.#count,
          this.#codec,
          this.#blockSize,
          extractChunkBlocks(this.#blockSize),
        );
      }
    }
    return this.#pool;
  }

  async close(): Promise<void> {
    await this.#pool?.close();
    this.#pool = undefined;
  }
}

function batchError(e: BatchError): Error {
  if (e.format) return err(e.message, e.offset);
  if (e.code !== undefined) return Object.assign(new Error(e.message), { code: e.code });
  return new InputError(e.message);
}

/** Creates a file of `size` bytes (a hole) for workers to fill; an old non-directory in the way is removed. */
function createSized(path: string, size: number): void {
  let fd: number;
  try {
    fd = fs.openSync(path, "wx", 0o600);
  } catch (error) {
    if ((error as { code?: string }).code !== "EEXIST") throw error;
    if (fs.lstatSync(path).isDirectory()) {
      throw new InputError(`Cannot extract "${path}": a directory is in the way`);
    }
    fs.unlinkSync(path);
    fd = fs.openSync(path, "wx", 0o600);
  }
  try {
    fs.ftruncateSync(fd, size);
  } finally {
    fs.closeSync(fd);
  }
}

function openExclusive(path: string, mode: number): Promise<number> {
  return new Promise((resolve, reject) => {
    fs.open(path, "wx", mode, (error, fd) => (error ? reject(error) : resolve(fd)));
  });
}

/** File creation for extraction; string paths through node:fs, raw byte paths through Buffer (Node) or libc (Deno). */
class OutFs {
  #warn: (message: string) => void;
  constructor(warn: (message: string) => void) {
    this.#warn = warn;
  }

  #node(p: OutPath): string | Buffer {
    if (typeof p === "string") return p;
    if (!isDeno) return Buffer.from(p);
    throw new InputError(
      `Cannot create "${
        showOut(p)
      }": the name is not valid UTF-8 and Deno's file API cannot name it; allow FFI (--allow-ffi)`,
    );
  }

  #raw(p: OutPath) {
    return typeof p !== "string" && isDeno ? rawFs() : undefined;
  }

  /** Removes a non-directory in the way of a new file. */
  clear(p: OutPath): void {
    this.#clear(p, false);
  }

  #clear(p: OutPath, keepDir: boolean): boolean {
    let st: fs.Stats;
    try {
      st = fs.lstatSync(this.#node(p));
    } catch {
      return false;
    }
    if (st.isDirectory()) {
      if (keepDir) return true;
      throw new InputError(`Cannot extract "${showOut(p)}": a directory is in the way`);
    }
    fs.unlinkSync(this.#node(p));
    return false;
  }

  mkdir(p: OutPath): void {
    const raw = this.#raw(p);
    if (raw !== undefined) {
      const e = raw.mkdir(p as Uint8Array, 0o700);
      if (e !== 0 && e !== 17) {
        throw new InputError(`Cannot create directory "${showOut(p)}": errno ${e}`);
      }
      return;
    }
    try {
      fs.mkdirSync(this.#node(p), 0o700);
    } catch (error) {
      if ((error as { code?: string }).code !== "EEXIST") throw error;
      if (!this.#clear(p, true)) fs.mkdirSync(this.#node(p), 0o700);
    }
  }

  create(p: OutPath) {
    const raw = this.#raw(p);
    if (raw !== undefined) {
      const fd = raw.createFile(p as Uint8Array, 0o600);
      if (fd < 0) throw new InputError(`Cannot create "${showOut(p)}": errno ${-fd}`);
      let written = 0;
      return {
        write(data: Uint8Array, position: number) {
          if (position > written) raw.write(fd, new Uint8Array(position - written));
          raw.write(fd, data);
          written = position + data.length;
        },
        finish(size: number, mode: number) {
          if (size > written) raw.write(fd, new Uint8Array(size - written));
          raw.fchmod(fd, mode);
          raw.closeFd(fd);
        },
        abort() {
          raw.closeFd(fd);
        },
      };
    }
    const path = this.#node(p);
    let fd: number;
    try {
      fd = fs.openSync(path, "wx", 0o600);
    } catch (error) {
      if ((error as { code?: string }).code !== "EEXIST") throw error;
      this.#clear(p, false);
      fd = fs.openSync(path, "wx", 0o600);
    }
    return {
      write(data: Uint8Array, position: number) {
        let done = 0;
        while (done < data.length) {
          done += fs.writeSync(fd, data, done, data.length - done, position + done);
        }
      },
      finish(size: number, mode: number, _umask: number, mtime: number) {
        fs.ftruncateSync(fd, size);
        fs.fchmodSync(fd, mode);
        fs.futimesSync(fd, mtime, mtime);
        fs.closeSync(fd);
      },
      abort() {
        fs.closeSync(fd);
      },
    };
  }

  symlink(target: Uint8Array, p: OutPath): void {
    let text: string | undefined;
    try {
      text = fatal.decode(target);
    } catch {
      text = undefined;
    }
    const raw = typeof p !== "string" || text === undefined
      ? (isDeno ? rawFs() : undefined)
      : undefined;
    if (raw !== undefined) {
      const pathBytes = typeof p === "string" ? new TextEncoder().encode(p) : p;
      let e = raw.symlink(target, pathBytes);
      if (e === 17) {
        this.#clear(p, false);
        e = raw.symlink(target, pathBytes);
      }
      if (e !== 0) throw new InputError(`Cannot create symlink "${showOut(p)}": errno ${e}`);
      return;
    }
    if (text === undefined && isDeno) {
      throw new InputError(
        `Cannot create symlink "${
          showOut(p)
        }": its target is not valid UTF-8; allow FFI (--allow-ffi)`,
      );
    }
    const t = text ?? Buffer.from(target);
    try {
      fs.symlinkSync(t as string, this.#node(p));
    } catch (error) {
      if ((error as { code?: string }).code !== "EEXIST") throw error;
      this.#clear(p, false);
      fs.symlinkSync(t as string, this.#node(p));
    }
  }

  /** Sets a symlink's own mtime (lutimes); skipped for names only libc can spell. */
  symlinkTimes(p: OutPath, mtime: number): void {
    if (typeof p !== "string") return;
    try {
      fs.lutimesSync(this.#node(p), mtime, mtime);
    } catch {
      // A filesystem without symlink times: the link itself is what matters.
    }
  }

  link(existing: OutPath, p: OutPath): void {
    const raw = this.#raw(p) ?? this.#raw(existing);
    if (raw !== undefined) {
      const enc = (x: OutPath) => (typeof x === "string" ? new TextEncoder().encode(x) : x);
      const e = raw.link(enc(existing), enc(p));
      if (e !== 0) throw new InputError(`Cannot create hard link "${showOut(p)}": errno ${e}`);
      return;
    }
    try {
      fs.linkSync(this.#node(existing), this.#node(p));
    } catch (error) {
      if ((error as { code?: string }).code !== "EEXIST") throw error;
      this.#clear(p, false);
      fs.linkSync(this.#node(existing), this.#node(p));
    }
  }

  special(p: OutPath, kind: SquashfsEntryType, major: number, minor: number, mode: number): void {
    const path = showOut(p);
    const args = kind === "fifo" ? ["-m", mode.toString(8), path] : [
      "-m",
      mode.toString(8),
      path,
      kind === "blockdev" ? "b" : "c",
      String(major),
      String(minor),
    ];
    const result = childProcess().spawnSync(kind === "fifo" ? "mkfifo" : "mknod", args, {
      stdio: "ignore",
    });
    if (result.status !== 0) {
      this.#warn(`Cannot create ${kind} "${path}": ${kind === "fifo" ? "mkfifo" : "mknod"} failed`);
    }
  }

  finishDir(p: OutPath, mode: number, mtime: number): void {
    const raw = this.#raw(p);
    if (raw !== undefined) {
      raw.chmod(p as Uint8Array, mode);
      return;
    }
    fs.chmodSync(this.#node(p), mode);
    fs.utimesSync(this.#node(p), mtime, mtime);
  }
}
