/**
 * Checks that the image's bytes match the SHA-256 in the runtime info. A
 * successful check is remembered in `<cache>/verified/<hash>`, keyed by the
 * bundle file's identity (device, inode, size, mtime and ctime), so later
 * launches of the unchanged file skip it; any change to the file changes its
 * ctime and brings the check back.
 *
 * @module
 */

import { builtin } from "./_engine.ts";
import type * as Crypto from "node:crypto";
import {
  closeSync,
  fstatSync,
  mkdirSync,
  openSync,
  readFileSync,
  readSync,
  renameSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { selfIdentity } from "./instance_lock.ts";
import type { RuntimeContext } from "./runtime_context.ts";
import { RuntimeError } from "./runtime_error.ts";

const CHUNK = 1 << 20;
const HEX_SHA256 = /^[0-9a-f]{64}$/;

/**
 * Hashes a byte range of a file with SHA-256, synchronously.
 *
 * @param path The file.
 * @param offset Where the range starts.
 * @param size Its length.
 * @returns The lowercase hex digest, and the file's identity when hashed.
 */
export function hashRange(
  path: string,
  offset: number,
  size: number,
): { hash: string; identity: string } {
  const fd = openSync(path, "r");
  try {
    const stat = fstatSync(fd, { bigint: true });
    const identity = `${stat.dev}:${stat.ino}:${stat.size}:${stat.mtimeNs}:${stat.ctimeNs}`;
    const hash = builtin<typeof Crypto>("node:crypto").createHash("sha256");
    const buffer = new Uint8Array(CHUNK);
    let done = 0;
    while (done < size) {
      const n = readSync(fd, buffer, 0, Math.min(CHUNK, size - done), offset + done);
      if (n === 0) break;
      hash.update(buffer.subarray(0, n));
      done += n;
    }
    return { hash: hash.digest("hex"), identity };
  } finally {
    closeSync(fd);
  }
}

function fileIdentity(path: string): string {
  const fd = openSync(path, "r");
  try {
    const stat = fstatSync(fd, { bigint: true });
    return `${stat.dev}:${stat.ino}:${stat.size}:${stat.mtimeNs}:${stat.ctimeNs}`;
  } finally {
    closeSync(fd);
  }
}

/**
 * Verifies the image against the runtime info's Hash.
 *
 * @param ctx The run's context.
 * @param options `force` ignores a remembered success (for --pbundle_verify).
 * @returns "verified" after hashing, "remembered" when a stamp matched, or
 * "unverifiable" when the Hash is not a SHA-256 (pelf's BLAKE3 bundles).
 * @throws {RuntimeError} When the image does not match.
 */
export function verifyImage(
  ctx: RuntimeContext,
  options: { force?: boolean } = {},
): "verified" | "remembered" | "unverifiable" {
  const expected = ctx.info.Hash.toLowerCase();
  if (!HEX_SHA256.test(expected)) return "unverifiable";
  const stampPath = join(ctx.cacheRoot, "verified", expected);
  if (!options.force) {
    try {
      if (readFileSync(stampPath, "utf8") === fileIdentity(ctx.bundlePath)) return "remembered";
    } catch { /* no stamp */ }
  }
  const { hash, identity } = hashRange(
    ctx.bundlePath,
    ctx.bundle.imageOffset,
    ctx.bundle.imageSize,
  );
  if (hash !== expected) {
    throw new RuntimeError(
      `Cannot run "${ctx.bundlePath}": its image does not match the hash in its runtime info ` +
        `(sha256 ${hash}, expected ${expected}); the bundle is damaged, truncated or modified; download it again`,
    );
  }
  try {
    mkdirSync(join(ctx.cacheRoot, "verified"), { recursive: true, mode: 0o700 });
    const temporary = `${stampPath}.${selfIdentity()}`;
    writeFileSync(temporary, identity);
    renameSync(temporary, stampPath);
  } catch { /* an unwritable cache only costs a re-check next time */ }
  return "verified";
}
