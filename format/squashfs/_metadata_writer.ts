/**
 * Packs a byte stream into squashfs metadata blocks (section "Metadata
 * blocks": each block holds up to 8 KiB, compressed when that is smaller,
 * behind a u16 header whose bit 15 marks an uncompressed block).
 *
 * @module
 */
import {
  SQUASHFS_COMPRESSED_BIT,
  SQUASHFS_METADATA_HEADER_SIZE,
  SQUASHFS_METADATA_SIZE,
} from "./squashfs_constants.ts";

/** Where a record starts: block start relative to its table, and offset in the block. */
export interface MetadataRef {
  /** Offset of the block's header from the table start. */
  block: number;
  /** Offset inside the uncompressed block. */
  offset: number;
}

/** Encodes a metadata reference as the 48-bit value inodes and the superblock use. */
export function encodeRef(ref: MetadataRef): bigint {
  return (BigInt(ref.block) << 16n) | BigInt(ref.offset);
}

/** Accumulates records into metadata blocks, compressing each block as it fills. */
export class MetadataWriter {
  #compress: (data: Uint8Array) => Uint8Array;
  #current = new Uint8Array(SQUASHFS_METADATA_SIZE);
  #used = 0;
  #blocks: Uint8Array[] = [];
  #blockStarts: number[] = [];
  #written = 0;
  #uncompressedLength = 0;

  /** @param compress Compresses one block; the result is kept only when smaller. */
  constructor(compress: (data: Uint8Array) => Uint8Array) {
    this.#compress = compress;
  }

  /** The reference the next byte written will have. */
  get ref(): MetadataRef {
    return { block: this.#written, offset: this.#used };
  }

  /** Bytes written so far, as if uncompressed. */
  get uncompressedLength(): number {
    return this.#uncompressedLength;
  }

  /** Appends bytes, spilling into new blocks as needed. */
  write(bytes: Uint8Array): void {
    let from = 0;
    while (from < bytes.length) {
      const n = Math.min(SQUASHFS_METADATA_SIZE - this.#used, bytes.length - from);
      this.#current.set(bytes.subarray(from, from + n), this.#used);
      this.#used += n;
      from += n;
      if (this.#used === SQUASHFS_METADATA_SIZE) this.#flush();
    }
    this.#uncompressedLength += bytes.length;
  }

  #flush(): void {
    if (this.#used === 0) return;
    const raw = this.#current.subarray(0, this.#used);
    const packed = this.#compress(raw);
    const compressed = packed.length < raw.length;
    const body = compressed ? packed : raw;
    const block = new Uint8Array(SQUASHFS_METADATA_HEADER_SIZE + body.length);
    new DataView(block.buffer).setUint16(
      0,
      body.length | (compressed ? 0 : SQUASHFS_COMPRESSED_BIT),
      true,
    );
    block.set(body, SQUASHFS_METADATA_HEADER_SIZE);
    this.#blockStarts.push(this.#written);
    this.#blocks.push(block);
    this.#written += block.length;
    this.#current = new Uint8Array(SQUASHFS_METADATA_SIZE);
    this.#used = 0;
  }

  /**
   * Flushes the last partial block.
   *
   * @returns The encoded blocks and the offset of each block from the table start.
   */
  finish(): { blocks: Uint8Array[]; blockStarts: number[]; size: number } {
    this.#flush();
    return { blocks: this.#blocks, blockStarts: this.#blockStarts, size: this.#written };
  }
}
