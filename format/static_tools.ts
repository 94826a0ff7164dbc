/**
 * The `.pbundle_static_tools` section: a zstd-compressed tar of the programs
 * the runtime may need to mount or extract an image (squashfuse, unsquashfs,
 * dwarfs, dwarfsextract), with the shared libraries they need under `lib/`
 * (docs/FORMAT.md, "Static tools").
 *
 * @module
 */

import { Buffer } from "node:buffer";
import { mkdir, readdir } from "node:fs/promises";
import { join } from "node:path";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { constants as zlibConstants, zstdCompressSync, zstdDecompressSync } from "node:zlib";
import * as tar from "tar";
import { FormatError } from "../errors.ts";

export { STATIC_TOOLS_SECTION } from "./bundle_layout.ts";
import { STATIC_TOOLS_SECTION } from "./bundle_layout.ts";
/** The folder inside the archive that holds shared libraries. */
export const STATIC_TOOLS_LIB_DIR = "lib";
/** The fixed timestamp of every archive entry, so archives are reproducible. */
const FIXED_MTIME = new Date(0);
/** zstd level of the archive: tools are small, so spend the time. */
const TOOLS_ZSTD_LEVEL = 19;

/**
 * Archives a directory of tools (files at the top, libraries under lib/) as a
 * reproducible tar compressed with zstd: sorted names, owner 0:0, mtime 0.
 *
 * @param dir The directory to archive.
 * @returns The tar.zst bytes.
 */
export async function createStaticToolsArchive(dir: string): Promise<Uint8Array> {
  const entries = await listTree(dir);
  const stream = tar.create(
    { cwd: dir, portable: true, mtime: FIXED_MTIME, noDirRecurse: true, follow: false },
    entries,
  );
  const chunks: Uint8Array[] = [];
  for await (const chunk of stream as AsyncIterable<Uint8Array>) chunks.push(chunk);
  const tarBytes = Buffer.concat(chunks);
  // pledgedSrcSize (Node's zstd option, missing from Deno's node types) lets zstd
  // size its tables to the input and record the content size in the frame.
  const options = {
    params: {
      [zlibConstants.ZSTD_c_compressionLevel]: TOOLS_ZSTD_LEVEL,
      [zlibConstants.ZSTD_c_checksumFlag]: 1,
    },
    pledgedSrcSize: tarBytes.length,
  } as Parameters<typeof zstdCompressSync>[1];
  return new Uint8Array(zstdCompressSync(tarBytes, options));
}

async function listTree(dir: string, prefix = ""): Promise<string[]> {
  const out: string[] = [];
  const entries = (await readdir(join(dir, prefix), { withFileTypes: true }))
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const entry of entries) {
    const rel = prefix === "" ? entry.name : `${prefix}/${entry.name}`;
    out.push(rel);
    if (entry.isDirectory()) out.push(...await listTree(dir, rel));
  }
  return out;
}

/**
 * Unpacks a static tools archive into a directory. Entries that would land
 * outside it (absolute names, ../) are refused by the tar reader.
 *
 * @param archive The tar.zst bytes (the section's contents).
 * @param destDir The directory to fill; it is created when missing.
 * @returns The names of the entries at the archive's top level (the tools).
 * @throws {FormatError} When the bytes are not a zstd-compressed tar.
 */
export async function extractStaticToolsArchive(
  archive: Uint8Array,
  destDir: string,
): Promise<string[]> {
  let tarBytes: Uint8Array;
  try {
    tarBytes = new Uint8Array(zstdDecompressSync(archive));
  } catch (error) {
    throw new FormatError(
      "static tools",
      `Cannot decompress ${STATIC_TOOLS_SECTION}: ${
        error instanceof Error ? error.message : error
      }`,
    );
  }
  await mkdir(destDir, { recursive: true });
  const names = new Set<string>();
  let bad: string | undefined;
  await pipeline(
    Readable.from([tarBytes]),
    tar.extract({
      cwd: destDir,
      strict: true,
      preservePaths: false,
      onReadEntry: (entry) => {
        const top = entry.path.replace(/^\.\//, "").split("/")[0];
        if (top && top !== STATIC_TOOLS_LIB_DIR) names.add(top);
      },
      onwarn: (_code, message) => {
        bad ??= message;
      },
    }),
  );
  if (bad !== undefined) {
    throw new FormatError("static tools", `Cannot extract ${STATIC_TOOLS_SECTION}: ${bad}`);
  }
  return [...names].sort();
}
