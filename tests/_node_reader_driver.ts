/**
 * Runs the squashfs reader as the node-engine runtime does (bundled for Node,
 * run by the pinned Node 24), for tests/squashfs_node_test.ts. It records
 * whether the reader asked for Node's zlib binding, and prints JSON:
 *
 * - `files <image>`: each file's SHA-256, or the error's class name;
 * - `blocks`: zstd blocks, whole and damaged, decoded by the reader's
 *   decompressor and by node:zlib, with the cases where the two differ.
 *
 * @module
 */
import { createHash } from "node:crypto";
import * as zlib from "node:zlib";
import { getDecompressor } from "../format/squashfs/compressors.ts";
import { ZSTD_COMPRESSION } from "../format/squashfs/squashfs_constants.ts";
import { imageFileHashes } from "./_image_file_hashes.ts";

const bindings: string[] = [];
// deno-lint-ignore no-explicit-any
const proc = process as any;
const binding = proc.binding.bind(process);
proc.binding = (name: string) => {
  bindings.push(name);
  return binding(name);
};

function outcome(decode: () => Uint8Array): string {
  try {
    return createHash("sha256").update(decode()).digest("hex");
  } catch {
    return "error";
  }
}

function blocks(): { cases: number; differ: string[] } {
  const decompress = getDecompressor(ZSTD_COMPRESSION)!;
  const differ: string[] = [];
  let cases = 0;
  let seed = 1;
  const random = () => (seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32;
  for (const size of [1, 100, 8192, 131072]) {
    const data = new Uint8Array(size);
    for (let i = 0; i < size; i++) data[i] = random() < 0.7 ? 97 + (i % 7) : (random() * 256) | 0;
    for (const pledged of [true, false]) {
      const packed = zlib.zstdCompressSync(data, {
        params: { [zlib.constants.ZSTD_c_compressionLevel]: 15 },
        ...(pledged ? { pledgedSrcSize: size } : {}),
      });
      const variants: [string, Uint8Array][] = [["whole", packed]];
      for (let cut = 1; cut < packed.length; cut += Math.max(1, packed.length >> 4)) {
        variants.push([`cut ${cut}`, packed.subarray(0, cut)]);
      }
      for (let n = 0; n < 40; n++) {
        const bad = packed.slice();
        const at = (random() * bad.length) | 0;
        bad[at] = bad[at]! ^ (1 + ((random() * 255) | 0));
        variants.push([`flip ${n}`, bad]);
      }
      const tail = new Uint8Array(packed.length + 3);
      tail.set(packed);
      variants.push(["trailing bytes", tail]);
      for (const [name, bytes] of variants) {
        for (const max of [size, Math.max(1, size - 1)]) {
          cases++;
          const ours = outcome(() => decompress(bytes, max));
          const theirs = outcome(() =>
            zlib.zstdDecompressSync(bytes, {
              chunkSize: Math.max(max, 64),
              maxOutputLength: Math.max(max, 1),
            })
          );
          if (ours !== theirs) {
            differ.push(`${size} ${pledged} ${name} max ${max}: ${ours} vs ${theirs}`);
          }
        }
      }
    }
  }
  return { cases, differ };
}

const [mode, arg] = process.argv.slice(2);
(mode === "files" ? imageFileHashes(arg!) : Promise.resolve(blocks())).then((result) => {
  console.log(JSON.stringify({ bindings, result }));
});
