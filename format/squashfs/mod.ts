/**
 * Native squashfs 4.0: a streaming, parallel writer and a safe reader.
 *
 * - {@linkcode writeSquashfs} packs a directory (an AppDir) into an image
 *   readable by unsquashfs, squashfuse and the Linux kernel: zstd (default,
 *   level 15) or gzip (level 9), 4 KiB-1 MiB blocks (128 KiB default),
 *   fragments for small files and tails, duplicate files stored once, zero
 *   blocks as holes, hard links, symlinks, xattrs; owners 0:0 and one fixed
 *   mtime by default, so the same tree gives the same bytes. Compression runs
 *   on Workers (all cores); memory is bounded by block size times blocks in
 *   flight. Writer-only options beyond the issue: `preserveMtimes`, `xattrs`,
 *   `compressMetadata`, `onWarning`.
 * - {@linkcode SquashfsImage} opens an image at an offset inside a file (the
 *   bundle) and lists it, stats or reads one file, or extracts all or part of
 *   it (picomatch globs). It uses node: built-ins only and runs under Deno and
 *   Node. It reads zstd and gzip images out of the box (zstd needs a node:zlib
 *   with zstd: Deno 2, Node >= 22.15), and lz4 and xz images through npm
 *   packages loaded when such an image is opened (lz4js; xz-decompress, whose
 *   WebAssembly decoder has no BCJ filters, so a block made with mksquashfs
 *   -Xbcj fails naming the filter; xz images extract on the calling thread,
 *   at about 20 MB/s). Others (lzo, lzma) can be added with
 *   {@linkcode registerDecompressor}; otherwise opening says which compressor
 *   is missing. `stat` does not follow a final symlink; `readFile` follows
 *   symlinks inside the image. Extraction restores modes and mtimes, not
 *   owners.
 *
 * Names that are not valid UTF-8 are kept byte for byte. Deno's file API
 * cannot name such files, so under Deno they (and xattrs) go through libc with
 * FFI, which needs --allow-ffi; without it the writer stops with an error
 * naming the file and skips xattrs.
 *
 * @example Pack a directory, then read a file back from the image
 * ```ts ignore
 * import { SquashfsImage, writeSquashfs } from "@pbundle/pbundle/format/squashfs";
 * const { size, sha256 } = await writeSquashfs("MyApp.AppDir", "app.squashfs", {
 *   compression: "zstd",
 * });
 * const image = await SquashfsImage.open("app.squashfs");
 * const appRun = await image.readFile("AppRun");
 * await image.extract("out", { patterns: ["usr/lib/**"] });
 * await image.close();
 * ```
 *
 * @module
 */
export {
  writeSquashfs,
  type WriteSquashfsOptions,
  type WriteSquashfsResult,
} from "./write_squashfs.ts";
export {
  type ExtractOptions,
  type SquashfsEntry,
  type SquashfsEntryType,
  SquashfsImage,
} from "./squashfs_image.ts";
export { readSuperblock, type Superblock } from "./read_superblock.ts";
export {
  type CompressionName,
  type Decompressor,
  getDecompressor,
  registerDecompressor,
} from "./compressors.ts";
