/**
 * Collects the static tools a bundle carries in `.pbundle_static_tools`: the
 * mount and extract programs for its filesystem, from a directory the user
 * names or from the host's PATH. A dynamically linked host tool comes with the
 * shared libraries it needs beyond the C library (under lib/), so it also runs
 * on a glibc distribution that lacks them.
 *
 * @module
 */

import { execFile } from "node:child_process";
import { copyFile, mkdir, realpath, stat } from "node:fs/promises";
import { basename, join } from "node:path";
import { findOnPath } from "../runtime/_find_program.ts";
import { promisify } from "node:util";
import { InputError } from "../errors.ts";
import { STATIC_TOOLS_LIB_DIR } from "../format/static_tools.ts";
import type { FilesystemType } from "../format/runtime_info.ts";

const run = promisify(execFile);

/** The tools each filesystem needs: mount first, then extract. */
export const TOOLS_BY_FILESYSTEM: Record<FilesystemType, readonly string[]> = {
  squashfs: ["squashfuse", "unsquashfs"],
  dwarfs: ["dwarfs", "dwarfsextract"],
};

/** Libraries of the C library itself: every glibc system has them, so they are never copied. */
const C_LIBRARY =
  /^(?:ld-linux[^/]*|libc|libm|libpthread|libdl|librt|libresolv|libutil|libanl|libmvec|libnsl|libBrokenLocale|libcrypt)\.so/;

/** The outcome of collecting. */
export interface CollectedTools {
  /** The tools found, by name, with the file each came from. */
  tools: { name: string; source: string }[];
  /** Libraries copied beside them. */
  libraries: string[];
  /** Tools that were looked for and not found. */
  missing: string[];
}

/**
 * Copies the tools for a filesystem, and the libraries they need, into `destDir`.
 *
 * @param filesystem Which filesystem's tools to collect.
 * @param destDir An empty directory to fill.
 * @param fromDir A directory holding the tools (--static-tools-dir); the PATH when absent.
 * @returns What was collected and what is missing.
 * @throws {InputError} When `fromDir` does not exist.
 */
export async function collectStaticTools(
  filesystem: FilesystemType,
  destDir: string,
  fromDir?: string,
): Promise<CollectedTools> {
  if (fromDir !== undefined) {
    try {
      if (!(await stat(fromDir)).isDirectory()) throw new Error("not a directory");
    } catch {
      throw new InputError(
        `Cannot read the static tools directory "${fromDir}": no such directory`,
      );
    }
  }
  const result: CollectedTools = { tools: [], libraries: [], missing: [] };
  const libs = new Map<string, string>();
  for (const name of TOOLS_BY_FILESYSTEM[filesystem]) {
    const source = findOnPath(name, fromDir ?? process.env.PATH);
    if (source === undefined) {
      result.missing.push(name);
      continue;
    }
    await mkdir(destDir, { recursive: true });
    await copyFile(await realpath(source), join(destDir, name));
    result.tools.push({ name, source });
    for (const [libName, libPath] of await sharedLibraries(source)) libs.set(libName, libPath);
  }
  if (libs.size > 0) {
    await mkdir(join(destDir, STATIC_TOOLS_LIB_DIR), { recursive: true });
    for (const [libName, libPath] of [...libs].sort()) {
      await copyFile(await realpath(libPath), join(destDir, STATIC_TOOLS_LIB_DIR, libName));
      result.libraries.push(libName);
    }
  }
  return result;
}

/**
 * Lists the shared libraries a program loads beyond the C library, as ldd resolves them.
 *
 * @param program The program.
 * @returns Pairs of library name and resolved path; empty for a static program or without ldd.
 */
export async function sharedLibraries(program: string): Promise<Map<string, string>> {
  const found = new Map<string, string>();
  let stdout: string;
  try {
    ({ stdout } = await run("ldd", [program], { encoding: "utf8" }));
  } catch {
    return found; // "not a dynamic executable" exits non-zero: nothing to copy
  }
  for (const line of stdout.split("\n")) {
    const m = /^\s*(\S+)\s+=>\s+(\/\S+)/.exec(line);
    if (!m) continue;
    const name = basename(m[1]!);
    if (!C_LIBRARY.test(name)) found.set(name, m[2]!);
  }
  return found;
}
