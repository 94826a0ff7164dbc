/**
 * Constants of the squashfs 4.0 on-disk format, spelled as the format spells
 * them. They follow the Linux kernel's `Documentation/filesystems/squashfs.rst`
 * and `fs/squashfs/squashfs_fs.h`, squashfs-tools' `squashfs_fs.h`, and the
 * squashfs-tools-ng `doc/format.adoc` description (sections "Superblock",
 * "Compression options", "Data and fragment blocks", "Inode table",
 * "Directory table", "Fragment table", "ID table", "Extended attribute table").
 *
 * Every multi-byte field is little-endian.
 *
 * @module
 */

/** "hsqs" read as a little-endian u32 (superblock `magic`). */
export const SQUASHFS_MAGIC = 0x73717368;
/** Supported `version_major`. */
export const SQUASHFS_MAJOR = 4;
/** Supported `version_minor`. */
export const SQUASHFS_MINOR = 0;

// ---- Superblock (96 bytes), section "Superblock" ----
/** Size of the superblock in bytes. */
export const SQUASHFS_SUPERBLOCK_SIZE = 96;
/** u32 magic. */
export const SB_MAGIC_OFFSET = 0;
/** u32 inode_count. */
export const SB_INODE_COUNT_OFFSET = 4;
/** u32 modification_time. */
export const SB_MKFS_TIME_OFFSET = 8;
/** u32 block_size. */
export const SB_BLOCK_SIZE_OFFSET = 12;
/** u32 fragment_entry_count. */
export const SB_FRAGMENTS_OFFSET = 16;
/** u16 compression_id. */
export const SB_COMPRESSION_OFFSET = 20;
/** u16 block_log. */
export const SB_BLOCK_LOG_OFFSET = 22;
/** u16 flags. */
export const SB_FLAGS_OFFSET = 24;
/** u16 id_count. */
export const SB_NO_IDS_OFFSET = 26;
/** u16 version_major. */
export const SB_S_MAJOR_OFFSET = 28;
/** u16 version_minor. */
export const SB_S_MINOR_OFFSET = 30;
/** u64 root_inode_ref. */
export const SB_ROOT_INODE_OFFSET = 32;
/** u64 bytes_used. */
export const SB_BYTES_USED_OFFSET = 40;
/** u64 id_table_start. */
export const SB_ID_TABLE_START_OFFSET = 48;
/** u64 xattr_id_table_start. */
export const SB_XATTR_ID_TABLE_START_OFFSET = 56;
/** u64 inode_table_start. */
export const SB_INODE_TABLE_START_OFFSET = 64;
/** u64 directory_table_start. */
export const SB_DIRECTORY_TABLE_START_OFFSET = 72;
/** u64 fragment_table_start. */
export const SB_FRAGMENT_TABLE_START_OFFSET = 80;
/** u64 export_table_start (the "lookup table"). */
export const SB_LOOKUP_TABLE_START_OFFSET = 88;

/** A table start of all ones means "no such table". */
export const SQUASHFS_INVALID_BLK = 0xffffffffffffffffn;
/** `fragment_block_index` of a file without a fragment. */
export const SQUASHFS_INVALID_FRAG = 0xffffffff;
/** `xattr_idx` of an inode without extended attributes. */
export const SQUASHFS_INVALID_XATTR = 0xffffffff;

// ---- Superblock flags ----
/** Inodes are stored uncompressed. */
export const SQUASHFS_NOI = 0x0001;
/** Data blocks are stored uncompressed. */
export const SQUASHFS_NOD = 0x0002;
/** Unused in 4.0 ("check"). */
export const SQUASHFS_CHECK = 0x0004;
/** Fragments are stored uncompressed. */
export const SQUASHFS_NOF = 0x0008;
/** No fragments are used. */
export const SQUASHFS_NO_FRAG = 0x0010;
/** File tails are always packed into fragments. */
export const SQUASHFS_ALWAYS_FRAG = 0x0020;
/** Duplicate files are stored once. */
export const SQUASHFS_DUPLICATE = 0x0040;
/** The export (NFS lookup) table is present. */
export const SQUASHFS_EXPORT = 0x0080;
/** Extended attributes are stored uncompressed. */
export const SQUASHFS_NOX = 0x0100;
/** There are no extended attributes. */
export const SQUASHFS_NO_XATTR = 0x0200;
/** A compressor options block follows the superblock. */
export const SQUASHFS_COMP_OPT = 0x0400;
/** The ID table is stored uncompressed. */
export const SQUASHFS_NOID = 0x0800;

// ---- Compression ids, section "Compression options" ----
/** zlib (the "gzip" compressor stores zlib streams). */
export const ZLIB_COMPRESSION = 1;
/** Legacy LZMA ("lzma alone"). */
export const LZMA_COMPRESSION = 2;
/** LZO. */
export const LZO_COMPRESSION = 3;
/** XZ (xz container). */
export const XZ_COMPRESSION = 4;
/** LZ4 (raw LZ4 blocks). */
export const LZ4_COMPRESSION = 5;
/** Zstandard (zstd frames). */
export const ZSTD_COMPRESSION = 6;

/** Names of the compressors by id, as mksquashfs spells them. */
export const COMPRESSOR_NAMES: Readonly<Record<number, string>> = {
  [ZLIB_COMPRESSION]: "gzip",
  [LZMA_COMPRESSION]: "lzma",
  [LZO_COMPRESSION]: "lzo",
  [XZ_COMPRESSION]: "xz",
  [LZ4_COMPRESSION]: "lz4",
  [ZSTD_COMPRESSION]: "zstd",
};

/** Default gzip level in mksquashfs. */
export const GZIP_DEFAULT_LEVEL = 9;
/** Default gzip window in mksquashfs (log2 bytes). */
export const GZIP_DEFAULT_WINDOW = 15;
/** Default zstd level in mksquashfs. */
export const ZSTD_DEFAULT_LEVEL = 15;
/** gzip options: u32 compression_level, u16 window_size, u16 strategies. */
export const GZIP_OPTIONS_SIZE = 8;
/** zstd options: u32 compression_level. */
export const ZSTD_OPTIONS_SIZE = 4;

// ---- Blocks, section "Data and fragment blocks" ----
/** Smallest block size (4 KiB). */
export const SQUASHFS_MIN_BLOCK_SIZE = 4096;
/** Largest block size (1 MiB). */
export const SQUASHFS_MAX_BLOCK_SIZE = 1024 * 1024;
/** Default block size of mksquashfs (128 KiB). */
export const SQUASHFS_DEFAULT_BLOCK_SIZE = 128 * 1024;
/** Bit set in a data block size when the block is stored uncompressed. */
export const SQUASHFS_COMPRESSED_BIT_BLOCK = 1 << 24;
/** Mask of the on-disk size in a data block size word. */
export const SQUASHFS_BLOCK_SIZE_MASK = SQUASHFS_COMPRESSED_BIT_BLOCK - 1;

// ---- Metadata blocks ----
/** Uncompressed size of a full metadata block. */
export const SQUASHFS_METADATA_SIZE = 8192;
/** Bit set in a metadata block header when the block is stored uncompressed. */
export const SQUASHFS_COMPRESSED_BIT = 1 << 15;
/** Bytes of the u16 header before each metadata block. */
export const SQUASHFS_METADATA_HEADER_SIZE = 2;

// ---- Inodes, section "Inode table" ----
/** Basic directory. */
export const SQUASHFS_DIR_TYPE = 1;
/** Basic regular file. */
export const SQUASHFS_REG_TYPE = 2;
/** Basic symlink. */
export const SQUASHFS_SYMLINK_TYPE = 3;
/** Basic block device. */
export const SQUASHFS_BLKDEV_TYPE = 4;
/** Basic character device. */
export const SQUASHFS_CHRDEV_TYPE = 5;
/** Basic named pipe. */
export const SQUASHFS_FIFO_TYPE = 6;
/** Basic socket. */
export const SQUASHFS_SOCKET_TYPE = 7;
/** Extended directory. */
export const SQUASHFS_LDIR_TYPE = 8;
/** Extended regular file. */
export const SQUASHFS_LREG_TYPE = 9;
/** Extended symlink. */
export const SQUASHFS_LSYMLINK_TYPE = 10;
/** Extended block device. */
export const SQUASHFS_LBLKDEV_TYPE = 11;
/** Extended character device. */
export const SQUASHFS_LCHRDEV_TYPE = 12;
/** Extended named pipe. */
export const SQUASHFS_LFIFO_TYPE = 13;
/** Extended socket. */
export const SQUASHFS_LSOCKET_TYPE = 14;
/** Extended types are basic types plus this. */
export const SQUASHFS_EXTENDED_TYPE_DELTA = 7;

/** Common inode header: u16 type, u16 mode, u16 uid, u16 gid, u32 mtime, u32 inode_number. */
export const SQUASHFS_BASE_INODE_SIZE = 16;
/** Basic dir: + u32 start_block, u32 nlink, u16 file_size, u16 offset, u32 parent_inode. */
export const SQUASHFS_DIR_INODE_SIZE = 32;
/** Extended dir: + u32 nlink, u32 file_size, u32 start_block, u32 parent_inode, u16 i_count, u16 offset, u32 xattr. */
export const SQUASHFS_LDIR_INODE_SIZE = 40;
/** Basic file: + u32 start_block, u32 fragment, u32 offset, u32 file_size (then u32 block sizes). */
export const SQUASHFS_REG_INODE_SIZE = 32;
/** Extended file: + u64 start_block, u64 file_size, u64 sparse, u32 nlink, u32 fragment, u32 offset, u32 xattr. */
export const SQUASHFS_LREG_INODE_SIZE = 56;
/** Symlink: + u32 nlink, u32 symlink_size (then the target, then u32 xattr if extended). */
export const SQUASHFS_SYMLINK_INODE_SIZE = 24;
/** Device: + u32 nlink, u32 rdev (then u32 xattr if extended). */
export const SQUASHFS_DEV_INODE_SIZE = 24;
/** IPC: + u32 nlink (then u32 xattr if extended). */
export const SQUASHFS_IPC_INODE_SIZE = 20;
/** Directory index entry: u32 index, u32 start_block, u32 size (then size + 1 name bytes). */
export const SQUASHFS_DIR_INDEX_SIZE = 12;

// ---- Directory table, section "Directory table" ----
/** Directory header: u32 count (entries - 1), u32 start_block, u32 inode_number. */
export const SQUASHFS_DIR_HEADER_SIZE = 12;
/** Directory entry: u16 offset, s16 inode_number delta, u16 type, u16 size (name length - 1). */
export const SQUASHFS_DIR_ENTRY_SIZE = 8;
/** At most this many entries follow one directory header. */
export const SQUASHFS_DIR_COUNT = 256;
/** Longest name. */
export const SQUASHFS_NAME_LEN = 256;
/** A directory's file_size counts 3 bytes for the implicit "." and "..". */
export const SQUASHFS_DIR_SIZE_BIAS = 3;

// ---- Fragment, ID, export and xattr tables ----
/** Fragment entry: u64 start_block, u32 size, u32 unused. */
export const SQUASHFS_FRAGMENT_ENTRY_SIZE = 16;
/** ID entry: u32. */
export const SQUASHFS_ID_ENTRY_SIZE = 4;
/** Most ids an image can hold (u16 count). */
export const SQUASHFS_MAX_IDS = 65535;
/** Xattr id entry: u64 xattr ref, u32 count, u32 size. */
export const SQUASHFS_XATTR_ID_ENTRY_SIZE = 16;
/** Xattr id table header: u64 xattr_table_start, u32 xattr_ids, u32 unused. */
export const SQUASHFS_XATTR_TABLE_HEADER_SIZE = 16;
/** Xattr key: u16 type, u16 name_size. */
export const SQUASHFS_XATTR_KEY_SIZE = 4;
/** Xattr value: u32 value_size. */
export const SQUASHFS_XATTR_VALUE_SIZE = 4;
/** Xattr prefix "user.". */
export const SQUASHFS_XATTR_USER = 0;
/** Xattr prefix "trusted.". */
export const SQUASHFS_XATTR_TRUSTED = 1;
/** Xattr prefix "security.". */
export const SQUASHFS_XATTR_SECURITY = 2;
/** Key type bit: the value is stored out of line (a u64 reference). */
export const SQUASHFS_XATTR_VALUE_OOL = 0x100;
/** Mask of the prefix in a key type. */
export const SQUASHFS_XATTR_PREFIX_MASK = 0xff;
/** Prefix strings by key type. */
export const XATTR_PREFIXES: readonly string[] = ["user.", "trusted.", "security."];

/** The image is padded to a multiple of this (mksquashfs default), for loop devices. */
export const SQUASHFS_PAD_SIZE = 4096;
