/**
 * Writes a directory tree as a squashfs 4.0 image (see squashfs_constants.ts
 * for the spec sections). Data is streamed: files are read block by block,
 * compressed on Worker threads, and written in a fixed order, so memory stays
 * near block size times the number of blocks in flight and the same input
 * always gives the same bytes.
 *
 * Layout written, in this order (as mksquashfs does): superblock, compressor
 * options (only for a non-default level), data and fragment blocks, inode
 * table, directory table, fragment table, id table, xattr tables; then zero
 * padding to a multiple of 4 KiB.
 *
 * @module
 */
import * as fs from "node:fs";
import { createHash } from "node:crypto";
import { InputError, systemErrorMessage } from "../../errors.ts";
import { compressBlock, compressionId, type CompressionName } from "./compressors.ts";
import { type CompressedBlock, CompressorPool } from "./_compressor_pool.ts";
import {
  type HostPath,
  type HostStat,
  joinHostPath,
  listDir,
  lstat,
  openFile,
  readLink,
  readXattrs,
  showPath,
} from "./_host_fs.ts";
import { encodeRef, type MetadataRef, MetadataWriter } from "./_metadata_writer.ts";
import * as C from "./squashfs_constants.ts";

/** Options of {@linkcode writeSquashfs}. */
export interface WriteSquashfsOptions {
  /**
   * The compressor.
   * @default {"zstd"}
   */
  compression?: CompressionName;
  /**
   * The compression level: 1-22 for zstd, 1-9 for gzip.
   * @default {15 for zstd, 9 for gzip (as mksquashfs)}
   */
  level?: number;
  /**
   * The data block size: a power of two from 4 KiB to 1 MiB.
   * @default {131072}
   */
  blockSize?: number;
  /**
   * The modification time (Unix seconds) given to every inode and the superblock.
   * @default {0}
   */
  mtime?: number;
  /**
   * Keep each file's own modification time instead of `mtime`.
   * @default {false}
   */
  preserveMtimes?: boolean;
  /**
   * Keep owners and groups; otherwise every inode belongs to 0:0.
   * @default {false}
   */
  preserveOwners?: boolean;
  /**
   * Store extended attributes (user., trusted., security.) where the host
   * exposes them (under Deno with FFI permission).
   * @default {true}
   */
  xattrs?: boolean;
  /**
   * Compression workers; 0 compresses on the calling thread. Each worker costs
   * about 20 MiB (a V8 isolate; blocks are compressed in place into buffers
   * that go round, so nothing is allocated per block), so the default keeps
   * the writer's peak under 300 MB however large the input or the machine.
   * @default {min(navigator.hardwareConcurrency, MAX_DEFAULT_WORKERS)}
   */
  workers?: number;
  /**
   * Compress the inode, directory, fragment, id and xattr tables. false stores
   * them uncompressed (as mksquashfs -noI -noX), which makes images easy to
   * inspect and to damage on purpose in tests.
   * @default {true}
   */
  compressMetadata?: boolean;
  /** Called as file data is read: bytes done and total regular-file bytes. */
  onProgress?: (doneBytes: number, totalBytes: number) => void;
  /** Called with a message for anything skipped (e.g. an xattr namespace squashfs cannot store). */
  onWarning?: (message: string) => void;
}

/** What {@linkcode writeSquashfs} wrote. */
export interface WriteSquashfsResult {
  /** Bytes written, padding included. */
  size: number;
  /** SHA-256 of those bytes, lowercase hex. */
  sha256: string;
}

interface FileData {
  size: number;
  start: number;
  blocks: number[];
  fragment: number;
  fragmentOffset: number;
  sparse: number;
}

interface Entry {
  name: Uint8Array;
  path: HostPath;
  stat: HostStat;
  children: Entry[] | undefined;
  target: Uint8Array | undefined;
  xattrs: [string, Uint8Array][];
  /** The entry whose inode this hard link shares. */
  primary: Entry | undefined;
  /** Occurrences of this inode in the image (primaries only). */
  links: number;
  data: FileData | undefined;
  inodeNumber: number;
  inodeRef: MetadataRef | undefined;
}

/**
 * Turns a failure to read the source into an InputError naming the path, e.g.
 * `Cannot open "/AppDir/lib/x.so": permission denied`.
 */
function readError(error: unknown, what: string): InputError {
  if (error instanceof InputError) return error;
  return new InputError(
    systemErrorMessage(error) ?? `Cannot read ${what}: ${(error as Error).message}`,
  );
}

/** Opens a source file for reading, or fails with an InputError naming it. */
function openSource(path: HostPath): ReturnType<typeof openFile> {
  try {
    const handle = openFile(path);
    return {
      read(buf, position) {
        try {
          return handle.read(buf, position);
        } catch (error) {
          throw readError(error, `"${showPath(path)}"`);
        }
      },
      close: () => handle.close(),
    };
  } catch (error) {
    throw readError(error, `"${showPath(path)}"`);
  }
}

function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    if (a[i] !== b[i]) return a[i]! - b[i]!;
  }
  return a.length - b.length;
}

function basicType(kind: HostStat["kind"]): number {
  switch (kind) {
    case "dir":
      return C.SQUASHFS_DIR_TYPE;
    case "file":
      return C.SQUASHFS_REG_TYPE;
    case "symlink":
      return C.SQUASHFS_SYMLINK_TYPE;
    case "blockdev":
      return C.SQUASHFS_BLKDEV_TYPE;
    case "chardev":
      return C.SQUASHFS_CHRDEV_TYPE;
    case "fifo":
      return C.SQUASHFS_FIFO_TYPE;
    case "socket":
      return C.SQUASHFS_SOCKET_TYPE;
  }
}

function isZero(block: Uint8Array): boolean {
  if (block.byteOffset % 4 === 0 && block.length % 4 === 0) {
    const words = new Uint32Array(block.buffer, block.byteOffset, block.length / 4);
    for (let i = 0; i < words.length; i++) if (words[i] !== 0) return false;
    return true;
  }
  for (let i = 0; i < block.length; i++) if (block[i] !== 0) return false;
  return true;
}

/**
 * The default number of compression workers at most: two use both cores of our
 * machines and keep a 2 GiB pack under 300 MB (bench/pack_memory.ts measured
 * 290 MB); every further worker adds about 60 MiB.
 */
const MAX_DEFAULT_WORKERS = 4;

function checkOptions(options: WriteSquashfsOptions) {
  const compression = options.compression ?? "zstd";
  if (compression !== "zstd" && compression !== "gzip") {
    throw new InputError(
      `Cannot write squashfs: compression "${compression}" is not supported; use "zstd" or "gzip"`,
    );
  }
  const defaultLevel = compression === "zstd" ? C.ZSTD_DEFAULT_LEVEL : C.GZIP_DEFAULT_LEVEL;
  const level = options.level ?? defaultLevel;
  const maxLevel = compression === "zstd" ? 22 : 9;
  if (!Number.isInteger(level) || level < 1 || level > maxLevel) {
    throw new InputError(
      `Cannot write squashfs: ${compression} level ${level} is out of range 1-${maxLevel}`,
    );
  }
  const blockSize = options.blockSize ?? C.SQUASHFS_DEFAULT_BLOCK_SIZE;
  if (
    !Number.isInteger(blockSize) || blockSize < C.SQUASHFS_MIN_BLOCK_SIZE ||
    blockSize > C.SQUASHFS_MAX_BLOCK_SIZE || (blockSize & (blockSize - 1)) !== 0
  ) {
    throw new InputError(
      `Cannot write squashfs: block size ${blockSize} is not a power of two from 4096 to 1048576`,
    );
  }
  const mtime = options.mtime ?? 0;
  if (!Number.isInteger(mtime) || mtime < 0 || mtime > 0xffffffff) {
    throw new InputError(
      `Cannot write squashfs: mtime ${mtime} does not fit an unsigned 32-bit time`,
    );
  }
  const hw = (globalThis as { navigator?: { hardwareConcurrency?: number } }).navigator
    ?.hardwareConcurrency ?? 2;
  const workers = options.workers ?? Math.min(hw, MAX_DEFAULT_WORKERS);
  return { compression, level, defaultLevel, blockSize, mtime, workers };
}

/**
 * Writes the tree under `sourceDir` as a squashfs 4.0 image to `output`,
 * starting at byte 0 of a new (or truncated) file.
 *
 * Owners become 0:0 and times `mtime` unless asked otherwise, so the same tree
 * gives the same bytes. Files whose content is the same are stored once; tails
 * and small files share fragment blocks; all-zero blocks become holes.
 *
 * @param sourceDir The directory whose contents become the image's root.
 * @param output The image file to create.
 * @param options Compression, block size, times, owners, workers.
 * @returns The image's size (padding included) and SHA-256.
 * @throws {InputError} When the source is not a directory, cannot be read, or an option is invalid.
 *
 * @example Pack a directory
 * ```ts ignore
 * import { writeSquashfs } from "@pbundle/pbundle/format/squashfs";
 * const { size, sha256 } = await writeSquashfs("MyApp.AppDir", "app.squashfs");
 * console.log(size, sha256);
 * ```
 */
export async function writeSquashfs(
  sourceDir: string,
  output: string,
  options: WriteSquashfsOptions = {},
): Promise<WriteSquashfsResult> {
  const opt = checkOptions(options);
  const { compression, level, blockSize } = opt;
  const warn = options.onWarning ?? (() => {});
  const wantXattrs = options.xattrs ?? true;

  let rootStat: HostStat;
  try {
    rootStat = lstat(sourceDir);
  } catch (error) {
    throw readError(error, `"${sourceDir}"`);
  }
  if (rootStat.kind !== "dir") {
    throw new InputError(`Cannot pack "${sourceDir}": it is not a directory`);
  }

  // ---- 1. Scan the tree. ----
  const byKey = new Map<string, Entry>();
  function scan(path: HostPath, name: Uint8Array, stat: HostStat): Entry {
    const entry: Entry = {
      name,
      path,
      stat,
      children: undefined,
      target: undefined,
      xattrs: wantXattrs ? readXattrs(path) : [],
      primary: undefined,
      links: 1,
      data: undefined,
      inodeNumber: 0,
      inodeRef: undefined,
    };
    if (stat.kind === "dir") {
      const names = listDir(path).sort(compareBytes);
      entry.children = names.map((child) => {
        if (child.length > C.SQUASHFS_NAME_LEN) {
          throw new InputError(
            `Cannot pack "${showPath(joinHostPath(path, child))}": name longer than 256 bytes`,
          );
        }
        const childPath = joinHostPath(path, child);
        return scan(childPath, child, lstat(childPath));
      });
    } else {
      if (stat.kind === "symlink") entry.target = readLink(path);
      if (stat.nlink > 1) {
        const first = byKey.get(stat.key);
        if (first === undefined) byKey.set(stat.key, entry);
        else {
          entry.primary = first;
          first.links++;
        }
      }
    }
    return entry;
  }
  let root: Entry;
  try {
    root = scan(sourceDir, new Uint8Array(0), rootStat);
  } catch (error) {
    throw readError(error, `the tree "${sourceDir}"`);
  }

  // Regular files in pre-order: the data order.
  const files: Entry[] = [];
  (function collect(dir: Entry) {
    for (const child of dir.children!) {
      if (child.children !== undefined) collect(child);
      else if (child.stat.kind === "file" && child.primary === undefined) files.push(child);
    }
  })(root);

  // ---- 2. Find duplicate contents: hash only files whose size another file shares. ----
  const bySize = new Map<number, Entry[]>();
  for (const file of files) {
    if (file.stat.size === 0) continue;
    const group = bySize.get(file.stat.size);
    if (group === undefined) bySize.set(file.stat.size, [file]);
    else group.push(file);
  }
  const duplicateOf = new Map<Entry, Entry>();
  const hashBuffer = new Uint8Array(1 << 20);
  for (const group of bySize.values()) {
    if (group.length < 2) continue;
    const seen = new Map<string, Entry>();
    for (const file of group) {
      const hash = createHash("sha256");
      const handle = openSource(file.path);
      try {
        for (let pos = 0; pos < file.stat.size;) {
          const n = handle.read(hashBuffer, pos);
          if (n === 0) break;
          hash.update(hashBuffer.subarray(0, n));
          pos += n;
        }
      } finally {
        handle.close();
      }
      const digest = hash.digest("hex");
      const first = seen.get(digest);
      if (first === undefined) seen.set(digest, file);
      else duplicateOf.set(file, first);
    }
  }

  // ---- 3. Stream the data. ----
  let out: number;
  try {
    out = fs.openSync(output, "w+");
  } catch (error) {
    throw new InputError(
      systemErrorMessage(error) ?? `Cannot create "${output}": ${(error as Error).message}`,
    );
  }
  const pool = new CompressorPool(compression, level, opt.workers);
  try {
    const withOptions = level !== opt.defaultLevel;
    const optionsSize = compression === "zstd" ? C.ZSTD_OPTIONS_SIZE : C.GZIP_OPTIONS_SIZE;
    let pos = C.SQUASHFS_SUPERBLOCK_SIZE +
      (withOptions ? C.SQUASHFS_METADATA_HEADER_SIZE + optionsSize : 0);
    const writeOut = (bytes: Uint8Array) => {
      let done = 0;
      while (done < bytes.length) {
        done += fs.writeSync(out, bytes, done, bytes.length - done, pos + done);
      }
      pos += bytes.length;
    };

    const maxInFlight = Math.max(2, pool.size * 3);
    const queue: {
      promise: Promise<CompressedBlock> | undefined;
      sink: (b?: CompressedBlock) => void;
    }[] = [];
    const drainOne = async () => {
      const item = queue.shift()!;
      item.sink(item.promise === undefined ? undefined : await item.promise);
    };
    const enqueue = async (
      promise: Promise<CompressedBlock> | undefined,
      sink: (b?: CompressedBlock) => void,
    ) => {
      queue.push({ promise, sink });
      while (queue.length > maxInFlight) await drainOne();
    };
    const sizeWord = (b: CompressedBlock) =>
      b.data.length | (b.compressed ? 0 : C.SQUASHFS_COMPRESSED_BIT_BLOCK);
    // Block buffers go round: read into, compressed in place by a worker,
    // written out, read into again. Allocating one per block would leave each
    // thread up to V8's external-memory slack (about 64 MiB) of garbage.
    const spare: ArrayBuffer[] = [];
    const takeBlock = () => new Uint8Array(spare.pop() ?? new ArrayBuffer(blockSize));
    const giveBack = (b: CompressedBlock) => {
      if (b.buffer.buffer.byteLength === blockSize) spare.push(b.buffer.buffer);
    };

    const fragments: { start: number; size: number }[] = [];
    let fragBuffer = takeBlock();
    let fragUsed = 0;
    const flushFragment = async () => {
      if (fragUsed === 0) return;
      const index = fragments.length;
      fragments.push({ start: 0, size: 0 });
      const block = fragBuffer.subarray(0, fragUsed);
      fragBuffer = takeBlock();
      fragUsed = 0;
      await enqueue(pool.compress(block), (b) => {
        fragments[index] = { start: pos, size: sizeWord(b!) };
        writeOut(b!.data);
        giveBack(b!);
      });
    };

    const total = files.reduce((sum, f) => sum + (duplicateOf.has(f) ? 0 : f.stat.size), 0);
    let done = 0;
    for (const file of files) {
      const original = duplicateOf.get(file);
      if (original !== undefined) {
        file.data = original.data;
        continue;
      }
      const size = file.stat.size;
      const data: FileData = {
        size,
        start: -1,
        blocks: [],
        fragment: C.SQUASHFS_INVALID_FRAG,
        fragmentOffset: 0,
        sparse: 0,
      };
      file.data = data;
      if (size === 0) {
        data.start = 0;
        continue;
      }
      const fullBlocks = Math.floor(size / blockSize);
      const tail = size % blockSize;
      const handle = openSource(file.path);
      try {
        const readExactly = (buf: Uint8Array, at: number) => {
          if (handle.read(buf, at) !== buf.length) {
            throw new InputError(
              `Cannot read "${showPath(file.path)}": the file shrank while it was being packed`,
            );
          }
          done += buf.length;
          options.onProgress?.(done, total);
        };
        for (let i = 0; i < fullBlocks; i++) {
          const block = takeBlock();
          readExactly(block, i * blockSize);
          data.blocks.push(0);
          if (isZero(block)) {
            spare.push(block.buffer);
            await enqueue(undefined, () => {
              data.sparse += blockSize;
            });
          } else {
            await enqueue(pool.compress(block), (b) => {
              if (data.start < 0) data.start = pos;
              data.blocks[i] = sizeWord(b!);
              writeOut(b!.data);
              giveBack(b!);
            });
          }
        }
        if (tail > 0) {
          if (fragUsed + tail > blockSize) await flushFragment();
          readExactly(fragBuffer.subarray(fragUsed, fragUsed + tail), fullBlocks * blockSize);
          data.fragment = fragments.length;
          data.fragmentOffset = fragUsed;
          fragUsed += tail;
        }
      } finally {
        handle.close();
      }
      await enqueue(undefined, () => {
        if (data.start < 0) data.start = pos;
      });
    }
    await flushFragment();
    while (queue.length > 0) await drainOne();
    pool.close();

    // ---- 4. Inodes and directories. ----
    const compressMetadata = options.compressMetadata ?? true;
    const metaCompress = compressMetadata
      ? (bytes: Uint8Array) => compressBlock(compression, level, bytes)
      : (bytes: Uint8Array) => bytes;
    const inodes = new MetadataWriter(metaCompress);
    const dirs = new MetadataWriter(metaCompress);
    const ids: number[] = [];
    const idIndex = new Map<number, number>();
    const idOf = (id: number) => {
      const key = options.preserveOwners ? id : 0;
      let index = idIndex.get(key);
      if (index === undefined) {
        if (ids.length >= C.SQUASHFS_MAX_IDS) {
          throw new InputError(`Cannot pack "${sourceDir}": more than 65535 distinct owners`);
        }
        index = ids.length;
        ids.push(key);
        idIndex.set(key, index);
      }
      return index;
    };

    const xattrKv = new MetadataWriter(metaCompress);
    const xattrIds: { ref: bigint; count: number; size: number }[] = [];
    const xattrSetIndex = new Map<string, number>();
    const xattrOf = (entry: Entry): number => {
      const pairs: { type: number; name: Uint8Array; value: Uint8Array }[] = [];
      for (const [fullName, value] of entry.xattrs) {
        const type = C.XATTR_PREFIXES.findIndex((p) => fullName.startsWith(p));
        if (type < 0) {
          warn(
            `Skipping extended attribute "${fullName}" of "${
              showPath(entry.path)
            }": squashfs stores only user., trusted. and security.`,
          );
          continue;
        }
        pairs.push({
          type,
          name: new TextEncoder().encode(fullName.slice(C.XATTR_PREFIXES[type]!.length)),
          value,
        });
      }
      if (pairs.length === 0) return C.SQUASHFS_INVALID_XATTR;
      const key = JSON.stringify(pairs.map((p) => [p.type, [...p.name], [...p.value]]));
      const known = xattrSetIndex.get(key);
      if (known !== undefined) return known;
      const ref = encodeRef(xattrKv.ref);
      const before = xattrKv.uncompressedLength;
      for (const p of pairs) {
        const k = new Uint8Array(C.SQUASHFS_XATTR_KEY_SIZE + p.name.length);
        const kv = new DataView(k.buffer);
        kv.setUint16(0, p.type, true);
        kv.setUint16(2, p.name.length, true);
        k.set(p.name, C.SQUASHFS_XATTR_KEY_SIZE);
        xattrKv.write(k);
        const v = new Uint8Array(C.SQUASHFS_XATTR_VALUE_SIZE + p.value.length);
        new DataView(v.buffer).setUint32(0, p.value.length, true);
        v.set(p.value, C.SQUASHFS_XATTR_VALUE_SIZE);
        xattrKv.write(v);
      }
      const index = xattrIds.length;
      xattrIds.push({ ref, count: pairs.length, size: xattrKv.uncompressedLength - before });
      xattrSetIndex.set(key, index);
      return index;
    };

    // Inode numbers in post-order (children before their directory, root last).
    let inodeCount = 0;
    (function number(dir: Entry) {
      for (const child of dir.children!) {
        if (child.children !== undefined) number(child);
        else {
          const p = child.primary ?? child;
          if (p.inodeNumber === 0) p.inodeNumber = ++inodeCount;
        }
      }
      dir.inodeNumber = ++inodeCount;
    })(root);

    const mtimeOf = (e: Entry) => (options.preserveMtimes ? e.stat.mtime >>> 0 : opt.mtime);
    const header = (e: Entry, type: number, size: number) => {
      const bytes = new Uint8Array(size);
      const v = new DataView(bytes.buffer);
      v.setUint16(0, type, true);
      v.setUint16(2, e.stat.mode & 0o7777, true);
      v.setUint16(4, idOf(e.stat.uid), true);
      v.setUint16(6, idOf(e.stat.gid), true);
      v.setUint32(8, mtimeOf(e), true);
      v.setUint32(12, e.inodeNumber, true);
      return { bytes, v };
    };

    const writeLeafInode = (e: Entry) => {
      e.inodeRef = inodes.ref;
      const xattr = xattrOf(e);
      const hasX = xattr !== C.SQUASHFS_INVALID_XATTR;
      const kind = e.stat.kind;
      if (kind === "file") {
        const d = e.data!;
        const extended = hasX || e.links > 1 || d.sparse > 0 || d.size > 0xffffffff ||
          d.start > 0xffffffff;
        const fixed = extended ? C.SQUASHFS_LREG_INODE_SIZE : C.SQUASHFS_REG_INODE_SIZE;
        const { bytes, v } = header(
          e,
          extended ? C.SQUASHFS_LREG_TYPE : C.SQUASHFS_REG_TYPE,
          fixed + 4 * d.blocks.length,
        );
        if (extended) {
          v.setBigUint64(16, BigInt(d.start), true);
          v.setBigUint64(24, BigInt(d.size), true);
          v.setBigUint64(32, BigInt(d.sparse), true);
          v.setUint32(40, e.links, true);
          v.setUint32(44, d.fragment, true);
          v.setUint32(48, d.fragmentOffset, true);
          v.setUint32(52, xattr, true);
        } else {
          v.setUint32(16, d.start, true);
          v.setUint32(20, d.fragment, true);
          v.setUint32(24, d.fragmentOffset, true);
          v.setUint32(28, d.size, true);
        }
        d.blocks.forEach((word, i) => v.setUint32(fixed + 4 * i, word, true));
        inodes.write(bytes);
      } else if (kind === "symlink") {
        const t = e.target!;
        const { bytes, v } = header(
          e,
          hasX ? C.SQUASHFS_LSYMLINK_TYPE : C.SQUASHFS_SYMLINK_TYPE,
          C.SQUASHFS_SYMLINK_INODE_SIZE + t.length + (hasX ? 4 : 0),
        );
        v.setUint32(16, e.links, true);
        v.setUint32(20, t.length, true);
        bytes.set(t, C.SQUASHFS_SYMLINK_INODE_SIZE);
        if (hasX) v.setUint32(C.SQUASHFS_SYMLINK_INODE_SIZE + t.length, xattr, true);
        inodes.write(bytes);
      } else if (kind === "blockdev" || kind === "chardev") {
        const type = basicType(kind) + (hasX ? C.SQUASHFS_EXTENDED_TYPE_DELTA : 0);
        const { bytes, v } = header(e, type, C.SQUASHFS_DEV_INODE_SIZE + (hasX ? 4 : 0));
        const { rdevMajor: major, rdevMinor: minor } = e.stat;
        v.setUint32(16, e.links, true);
        v.setUint32(20, ((major << 8) | (minor & 0xff) | ((minor & ~0xff) << 12)) >>> 0, true);
        if (hasX) v.setUint32(24, xattr, true);
        inodes.write(bytes);
      } else {
        const type = basicType(kind) + (hasX ? C.SQUASHFS_EXTENDED_TYPE_DELTA : 0);
        const { bytes, v } = header(e, type, C.SQUASHFS_IPC_INODE_SIZE + (hasX ? 4 : 0));
        v.setUint32(16, e.links, true);
        if (hasX) v.setUint32(20, xattr, true);
        inodes.write(bytes);
      }
    };

    const writeDirectory = (dir: Entry, parentNumber: number) => {
      const children = dir.children!;
      let subdirs = 0;
      for (const child of children) {
        if (child.children !== undefined) {
          subdirs++;
          writeDirectory(child, dir.inodeNumber);
        } else {
          const p = child.primary ?? child;
          if (p.inodeRef === undefined) writeLeafInode(p);
        }
      }
      // The listing: headers sharing an inode block, up to 256 entries each.
      const start = dirs.ref;
      const startLength = dirs.uncompressedLength;
      const index: { index: number; start: number; name: Uint8Array }[] = [];
      let lastBlock = start.block;
      for (let i = 0; i < children.length;) {
        const first = children[i]!.primary ?? children[i]!;
        const block = first.inodeRef!.block;
        let j = i + 1;
        while (j < children.length && j - i < C.SQUASHFS_DIR_COUNT) {
          const p = children[j]!.primary ?? children[j]!;
          if (p.inodeRef!.block !== block || Math.abs(p.inodeNumber - first.inodeNumber) > 32767) {
            break;
          }
          j++;
        }
        const here = dirs.ref;
        if (i > 0 && here.block !== lastBlock) {
          index.push({
            index: dirs.uncompressedLength - startLength,
            start: here.block,
            name: children[i]!.name,
          });
        }
        lastBlock = here.block;
        let size = C.SQUASHFS_DIR_HEADER_SIZE;
        for (let k = i; k < j; k++) size += C.SQUASHFS_DIR_ENTRY_SIZE + children[k]!.name.length;
        const bytes = new Uint8Array(size);
        const v = new DataView(bytes.buffer);
        v.setUint32(0, j - i - 1, true);
        v.setUint32(4, block, true);
        v.setUint32(8, first.inodeNumber, true);
        let at = C.SQUASHFS_DIR_HEADER_SIZE;
        for (let k = i; k < j; k++) {
          const child = children[k]!;
          const p = child.primary ?? child;
          v.setUint16(at, p.inodeRef!.offset, true);
          v.setInt16(at + 2, p.inodeNumber - first.inodeNumber, true);
          v.setUint16(at + 4, basicType(p.stat.kind), true);
          v.setUint16(at + 6, child.name.length - 1, true);
          bytes.set(child.name, at + C.SQUASHFS_DIR_ENTRY_SIZE);
          at += C.SQUASHFS_DIR_ENTRY_SIZE + child.name.length;
        }
        dirs.write(bytes);
        i = j;
      }
      const listingSize = dirs.uncompressedLength - startLength + C.SQUASHFS_DIR_SIZE_BIAS;
      dir.inodeRef = inodes.ref;
      const xattr = xattrOf(dir);
      const extended = xattr !== C.SQUASHFS_INVALID_XATTR || index.length > 0 ||
        listingSize > 0xffff;
      if (extended) {
        let size = C.SQUASHFS_LDIR_INODE_SIZE;
        for (const x of index) size += C.SQUASHFS_DIR_INDEX_SIZE + x.name.length;
        const { bytes, v } = header(dir, C.SQUASHFS_LDIR_TYPE, size);
        v.setUint32(16, 2 + subdirs, true);
        v.setUint32(20, listingSize, true);
        v.setUint32(24, start.block, true);
        v.setUint32(28, parentNumber, true);
        v.setUint16(32, index.length, true);
        v.setUint16(34, start.offset, true);
        v.setUint32(36, xattr, true);
        let at = C.SQUASHFS_LDIR_INODE_SIZE;
        for (const x of index) {
          v.setUint32(at, x.index, true);
          v.setUint32(at + 4, x.start, true);
          v.setUint32(at + 8, x.name.length - 1, true);
          bytes.set(x.name, at + C.SQUASHFS_DIR_INDEX_SIZE);
          at += C.SQUASHFS_DIR_INDEX_SIZE + x.name.length;
        }
        inodes.write(bytes);
      } else {
        const { bytes, v } = header(dir, C.SQUASHFS_DIR_TYPE, C.SQUASHFS_DIR_INODE_SIZE);
        v.setUint32(16, start.block, true);
        v.setUint32(20, 2 + subdirs, true);
        v.setUint16(24, listingSize, true);
        v.setUint16(26, start.offset, true);
        v.setUint32(28, parentNumber, true);
        inodes.write(bytes);
      }
    };
    writeDirectory(root, inodeCount + 1);

    // ---- 5. Tables. ----
    const writeTable = (writer: MetadataWriter) => {
      const start = pos;
      const { blocks, blockStarts } = writer.finish();
      for (const block of blocks) writeOut(block);
      return { start, blockStarts: blockStarts.map((s) => start + s) };
    };
    const writeIndex = (positions: number[]) => {
      const start = pos;
      const bytes = new Uint8Array(8 * positions.length);
      const v = new DataView(bytes.buffer);
      positions.forEach((p, i) => v.setBigUint64(8 * i, BigInt(p), true));
      writeOut(bytes);
      return start;
    };
    const listTable = (
      entrySize: number,
      fill: (v: DataView, i: number) => void,
      count: number,
    ) => {
      const writer = new MetadataWriter(metaCompress);
      const bytes = new Uint8Array(entrySize * count);
      const v = new DataView(bytes.buffer);
      for (let i = 0; i < count; i++) fill(v, i);
      writer.write(bytes);
      return writeIndex(writeTable(writer).blockStarts);
    };

    const inodeTableStart = writeTable(inodes).start;
    const directoryTableStart = writeTable(dirs).start;
    const fragmentTableStart = listTable(C.SQUASHFS_FRAGMENT_ENTRY_SIZE, (v, i) => {
      const f = fragments[i]!;
      v.setBigUint64(16 * i, BigInt(f.start), true);
      v.setUint32(16 * i + 8, f.size, true);
    }, fragments.length);
    const idTableStart = listTable(C.SQUASHFS_ID_ENTRY_SIZE, (v, i) => {
      v.setUint32(4 * i, ids[i]!, true);
    }, ids.length);
    let xattrTableStart = C.SQUASHFS_INVALID_BLK;
    if (xattrIds.length > 0) {
      const kvStart = writeTable(xattrKv).start;
      const idWriter = new MetadataWriter(metaCompress);
      const bytes = new Uint8Array(C.SQUASHFS_XATTR_ID_ENTRY_SIZE * xattrIds.length);
      const v = new DataView(bytes.buffer);
      xattrIds.forEach((x, i) => {
        v.setBigUint64(16 * i, x.ref, true);
        v.setUint32(16 * i + 8, x.count, true);
        v.setUint32(16 * i + 12, x.size, true);
      });
      idWriter.write(bytes);
      const positions = writeTable(idWriter).blockStarts;
      xattrTableStart = BigInt(pos);
      const head = new Uint8Array(C.SQUASHFS_XATTR_TABLE_HEADER_SIZE);
      const hv = new DataView(head.buffer);
      hv.setBigUint64(0, BigInt(kvStart), true);
      hv.setUint32(8, xattrIds.length, true);
      writeOut(head);
      writeIndex(positions);
    }
    const bytesUsed = pos;

    // ---- 6. Superblock, compressor options, padding. ----
    const sb = new Uint8Array(C.SQUASHFS_SUPERBLOCK_SIZE);
    const v = new DataView(sb.buffer);
    let flags = C.SQUASHFS_DUPLICATE | C.SQUASHFS_ALWAYS_FRAG;
    if (xattrIds.length === 0) flags |= C.SQUASHFS_NO_XATTR;
    if (withOptions) flags |= C.SQUASHFS_COMP_OPT;
    if (!compressMetadata) flags |= C.SQUASHFS_NOI | C.SQUASHFS_NOX | C.SQUASHFS_NOID;
    v.setUint32(C.SB_MAGIC_OFFSET, C.SQUASHFS_MAGIC, true);
    v.setUint32(C.SB_INODE_COUNT_OFFSET, inodeCount, true);
    v.setUint32(C.SB_MKFS_TIME_OFFSET, opt.mtime, true);
    v.setUint32(C.SB_BLOCK_SIZE_OFFSET, blockSize, true);
    v.setUint32(C.SB_FRAGMENTS_OFFSET, fragments.length, true);
    v.setUint16(C.SB_COMPRESSION_OFFSET, compressionId(compression), true);
    v.setUint16(C.SB_BLOCK_LOG_OFFSET, Math.log2(blockSize), true);
    v.setUint16(C.SB_FLAGS_OFFSET, flags, true);
    v.setUint16(C.SB_NO_IDS_OFFSET, ids.length, true);
    v.setUint16(C.SB_S_MAJOR_OFFSET, C.SQUASHFS_MAJOR, true);
    v.setUint16(C.SB_S_MINOR_OFFSET, C.SQUASHFS_MINOR, true);
    v.setBigUint64(C.SB_ROOT_INODE_OFFSET, encodeRef(root.inodeRef!), true);
    v.setBigUint64(C.SB_BYTES_USED_OFFSET, BigInt(bytesUsed), true);
    v.setBigUint64(C.SB_ID_TABLE_START_OFFSET, BigInt(idTableStart), true);
    v.setBigUint64(C.SB_XATTR_ID_TABLE_START_OFFSET, xattrTableStart, true);
    v.setBigUint64(C.SB_INODE_TABLE_START_OFFSET, BigInt(inodeTableStart), true);
    v.setBigUint64(C.SB_DIRECTORY_TABLE_START_OFFSET, BigInt(directoryTableStart), true);
    v.setBigUint64(C.SB_FRAGMENT_TABLE_START_OFFSET, BigInt(fragmentTableStart), true);
    v.setBigUint64(C.SB_LOOKUP_TABLE_START_OFFSET, C.SQUASHFS_INVALID_BLK, true);
    const padded = Math.ceil(bytesUsed / C.SQUASHFS_PAD_SIZE) * C.SQUASHFS_PAD_SIZE;
    if (padded > bytesUsed) writeOut(new Uint8Array(padded - bytesUsed));
    fs.writeSync(out, sb, 0, sb.length, 0);
    if (withOptions) {
      const o = new Uint8Array(C.SQUASHFS_METADATA_HEADER_SIZE + optionsSize);
      const ov = new DataView(o.buffer);
      ov.setUint16(0, optionsSize | C.SQUASHFS_COMPRESSED_BIT, true);
      ov.setUint32(2, level, true);
      if (compression === "gzip") {
        ov.setUint16(6, C.GZIP_DEFAULT_WINDOW, true);
        ov.setUint16(8, 0, true);
      }
      fs.writeSync(out, o, 0, o.length, C.SQUASHFS_SUPERBLOCK_SIZE);
    }

    // ---- 7. Hash what was written. ----
    const hash = createHash("sha256");
    const chunk = new Uint8Array(1 << 20);
    for (let at = 0; at < padded;) {
      const n = fs.readSync(out, chunk, 0, Math.min(chunk.length, padded - at), at);
      if (n === 0) break;
      hash.update(chunk.subarray(0, n));
      at += n;
    }
    return { size: padded, sha256: hash.digest("hex") };
  } finally {
    pool.close();
    fs.closeSync(out);
  }
}
