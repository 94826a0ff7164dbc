/**
 * The non-TypeScript files the full-stack packer reads from pbundle's own
 * source tree at run time: the Python support module (pbundle_backend) and the
 * packer's Python helper. From a checkout or any local copy they are read in
 * place; when pbundle runs from a remote module (jsr:, https:) they are
 * fetched next to import.meta.url once and kept under pbundle's cache, so
 * nothing depends on the current directory. A script bundled from pbundle
 * reads them relative to itself ({@linkcode packageRootOf}).
 *
 * @module
 */

import { existsSync, mkdirSync, renameSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { createHash } from "node:crypto";
import { InputError } from "../../errors.ts";
import { userCacheDir } from "../../runtime/user_cache_dir.ts";
import { VERSION } from "../../version.ts";

/** The files, relative to the package root; a test keeps this list complete. */
export const SUPPORT_FILES: readonly string[] = [
  "python/pbundle_backend/__init__.py",
  "python/pbundle_backend/__main__.py",
  "packers/fullstack/_python_tools.py",
];

/**
 * The package root the support files are read from, given the URL of the
 * script that holds this module's code: two levels up, as packers/fullstack/
 * sits in the source tree. A script bundled from pbundle (pbundle's own
 * AppBundle keeps it at pbundle/bin/pbundle.js) must have the support files
 * at the same place relative to itself; scripts/release.ts copies them there.
 *
 * @param moduleUrl The URL of this module, or of a script bundled from it.
 * @returns The package root's URL, ending in "/".
 */
export function packageRootOf(moduleUrl: string | URL): URL {
  return new URL("../../", moduleUrl);
}

const PACKAGE_ROOT = packageRootOf(import.meta.url);

/** The package root on disk: the source tree itself, or the cache copy of a remote one. */
export const SOURCE_ROOT: string = PACKAGE_ROOT.protocol === "file:"
  ? fileURLToPath(PACKAGE_ROOT)
  : join(
    userCacheDir(),
    "sources",
    `${VERSION}-${createHash("sha256").update(PACKAGE_ROOT.href).digest("hex").slice(0, 16)}`,
  );

/**
 * Makes sure every support file exists under {@linkcode SOURCE_ROOT},
 * fetching the missing ones when pbundle runs from a remote module.
 *
 * @throws {InputError} When a file cannot be fetched.
 */
export async function ensureSupportFiles(): Promise<void> {
  if (PACKAGE_ROOT.protocol === "file:") return;
  for (const file of SUPPORT_FILES) {
    const target = join(SOURCE_ROOT, file);
    if (existsSync(target)) continue;
    const url = new URL(file, PACKAGE_ROOT);
    let bytes: Uint8Array;
    try {
      const response = await fetch(url);
      if (!response.ok) {
        await response.body?.cancel();
        throw new Error(`HTTP ${response.status}`);
      }
      bytes = new Uint8Array(await response.arrayBuffer());
    } catch (error) {
      throw new InputError(
        `Cannot fetch pbundle's support file "${url.href}": ${
          error instanceof Error ? error.message : String(error)
        }`,
      );
    }
    mkdirSync(dirname(target), { recursive: true });
    const temporary = `${target}.tmp-${process.pid}`;
    writeFileSync(temporary, bytes);
    renameSync(temporary, target);
  }
}
