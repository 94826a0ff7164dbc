/**
 * Finds the programs the runtime runs to mount or extract an image
 * (squashfuse, unsquashfs, dwarfs, dwarfsextract, fusermount3): from the
 * bundle's .pbundle_static_tools section, extracted once into
 * `<cache>/tools/<sha256 of the section>` and run with LD_LIBRARY_PATH set to
 * its lib/; from the tools built into the runtime (embed edition); or from PATH
 * when the bundle carries no tools or was packed with --prefer-tools-in-path.
 *
 * @module
 */

import type * as Crypto from "node:crypto";
import {
  chmodSync,
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  readSync,
  renameSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import type * as Zlib from "node:zlib";
import { dirname, join } from "node:path";
import { builtin, embeddedTools } from "./_engine.ts";
import type { SectionLocation } from "../format/bundle_layout.ts";
import type { RuntimeContext } from "./runtime_context.ts";
import { isIdentityAlive, selfIdentity } from "./instance_lock.ts";
import { removeTree } from "./remove_tree.ts";
import { findOnPath, isExecutableFile } from "./_find_program.ts";

/** A program ready to run. */
export interface Tool {
  /** Its absolute path. */
  path: string;
  /** Extra environment to run it with (LD_LIBRARY_PATH for bundled tools). */
  env: Record<string, string>;
  /** Where it came from. */
  origin: "bundle" | "embedded" | "path";
}

const COMPLETE_MARKER = ".pbundle-complete";
/** Where the hashes of bundles' tool sections are remembered, under the tools root. */
const SECTIONS_DIR = ".sections";
const HEX_SHA256 = /^[0-9a-f]{64}$/;

/** Removes temporary tool directories whose run died (SIGKILL during a first extraction). */
function cleanAbandoned(root: string): void {
  let names: string[];
  try {
    names = readdirSync(root);
  } catch {
    return;
  }
  for (const name of names) {
    const match = /^\.tmp-.+-(\d+-\d+)$/.exec(name);
    if (match && !isIdentityAlive(match[1]!)) {
      try {
        removeTree(join(root, name));
      } catch { /* try again next time */ }
    }
  }
}

function readRange(path: string, offset: number, size: number): Uint8Array {
  const bytes = new Uint8Array(size);
  const fd = openSync(path, "r");
  try {
    let done = 0;
    while (done < size) {
      const n = readSync(fd, bytes, done, size - done, offset + done);
      if (n === 0) throw new Error(`"${path}" ends before byte ${offset + size}`);
      done += n;
    }
  } finally {
    closeSync(fd);
  }
  return bytes;
}

/** The tools of one run, prepared on first use. */
export class ToolBox {
  #ctx: RuntimeContext;
  #dir: string | undefined;
  #prepared = false;
  #warning: string | undefined;

  /** @param ctx The run's context. */
  constructor(ctx: RuntimeContext) {
    this.#ctx = ctx;
  }

  /** Whether tools on PATH are preferred (packed with --prefer-tools-in-path). */
  get prefersPath(): boolean {
    const value = this.#ctx.info.PreferToolsInPath;
    return value === true || value === "true";
  }

  /** A problem met while preparing the bundled tools, if any (then PATH is used). */
  get warning(): string | undefined {
    return this.#warning;
  }

  /**
   * Extracts the bundle's (or the runtime's) tools into the cache when needed.
   *
   * @returns The tools directory, or undefined when there are none to use.
   */
  prepare(): string | undefined {
    if (this.#prepared) return this.#dir;
    this.#prepared = true;
    if (this.prefersPath) return undefined;
    try {
      const embedded = embeddedTools();
      const section = this.#ctx.bundle.staticTools;
      if (section && section.size > 0) {
        this.#dir = this.#bundledToolsDir(section);
      } else if (embedded) {
        this.#dir = this.#materialize(`embed-${embedded.id}`, (dest) => {
          for (const file of embedded.files) {
            const path = join(dest, file.path);
            mkdirSync(dirname(path), { recursive: true });
            writeFileSync(path, embedded.read(file.path));
            chmodSync(path, file.mode);
          }
        });
      }
    } catch (error) {
      this.#warning = `Cannot prepare the bundled tools, using PATH: ${
        error instanceof Error ? error.message : String(error)
      }`;
      this.#dir = undefined;
    }
    return this.#dir;
  }

  /**
   * The tools directory of a .pbundle_static_tools section:
   * `<cache>/tools/<sha256 of the section's bytes>`, so every bundle that
   * carries the same tools (the archive is reproducible) shares one copy. The
   * section's hash is remembered in `<cache>/tools/.sections/<dev>-<ino>`,
   * keyed by the bundle file's identity (device, inode, size, mtime, ctime) as
   * the image's verification is: later launches of the unchanged file skip
   * reading and hashing the section (and loading node:crypto).
   */
  #bundledToolsDir(section: SectionLocation): string {
    const root = join(this.#ctx.cacheRoot, "tools");
    const stat = statSync(this.#ctx.bundlePath, { bigint: true });
    const identity = `${stat.dev}:${stat.ino}:${stat.size}:${stat.mtimeNs}:${stat.ctimeNs}:` +
      `${section.offset}:${section.size}`;
    const stamp = join(root, SECTIONS_DIR, `${stat.dev}-${stat.ino}`);
    try {
      const [stampIdentity, digest] = readFileSync(stamp, "utf8").split(" ");
      if (stampIdentity === identity && digest && HEX_SHA256.test(digest)) {
        const dir = join(root, digest);
        if (existsSync(join(dir, COMPLETE_MARKER))) return dir;
      }
    } catch { /* no stamp yet */ }
    const bytes = readRange(this.#ctx.bundlePath, section.offset, section.size);
    const digest = builtin<typeof Crypto>("node:crypto").createHash("sha256").update(bytes)
      .digest("hex");
    const dir = this.#materialize(digest, (dest) => {
      extractArchiveSync(bytes, dest);
      return digest;
    });
    try {
      mkdirSync(join(root, SECTIONS_DIR), { recursive: true, mode: 0o700 });
      const temporary = `${stamp}.${selfIdentity()}`;
      writeFileSync(temporary, `${identity} ${digest}`);
      renameSync(temporary, stamp);
    } catch { /* an unwritable stamp only costs hashing again next time */ }
    return dir;
  }

  #materialize(key: string, fill: (dest: string) => string | void): string {
    const root = join(this.#ctx.cacheRoot, "tools");
    const dir = join(root, key);
    if (existsSync(join(dir, COMPLETE_MARKER))) return dir;
    mkdirSync(root, { recursive: true, mode: 0o700 });
    cleanAbandoned(root);
    const temporary = join(root, `.tmp-${key}-${selfIdentity()}`);
    removeTree(temporary);
    try {
      mkdirSync(temporary, { mode: 0o700 });
      const digest = fill(temporary);
      writeFileSync(join(temporary, COMPLETE_MARKER), digest ? `sha256 ${digest}\n` : "");
      try {
        renameSync(temporary, dir);
      } catch (error) {
        // Another instance finished first: its copy is as good as ours.
        if (!existsSync(join(dir, COMPLETE_MARKER))) {
          removeTree(dir);
          renameSync(temporary, dir);
        } else if (!["ENOTEMPTY", "EEXIST"].includes((error as { code?: string }).code ?? "")) {
          throw error;
        }
      }
    } finally {
      removeTree(temporary);
    }
    return dir;
  }

  /**
   * Finds a tool: bundled first (unless PATH is preferred), then PATH.
   *
   * @param names Candidate names, best first (e.g. fusermount3, fusermount).
   * @param options `pathFirst` looks in PATH before the bundled tools (for
   * fusermount, which must be the system's setuid copy).
   * @returns The tool, or undefined.
   */
  find(names: string[], options: { pathFirst?: boolean } = {}): Tool | undefined {
    const fromPath = (): Tool | undefined => {
      for (const name of names) {
        const path = findOnPath(name, this.#ctx.env.PATH ?? "/usr/local/bin:/usr/bin:/bin");
        if (path) return { path, env: {}, origin: "path" };
      }
      return undefined;
    };
    if (options.pathFirst || this.prefersPath) {
      const found = fromPath();
      if (found) return found;
    }
    const dir = this.prepare();
    if (dir) {
      for (const name of names) {
        const path = join(dir, name);
        if (isExecutableFile(path)) {
          const lib = join(dir, "lib");
          const previous = this.#ctx.env.LD_LIBRARY_PATH;
          return {
            path,
            env: existsSync(lib) ? { LD_LIBRARY_PATH: previous ? `${lib}:${previous}` : lib } : {},
            origin: this.#ctx.bundle.staticTools ? "bundle" : "embedded",
          };
        }
      }
    }
    return fromPath();
  }
}

/**
 * Extracts a tar.zst archive synchronously: node:zlib's zstd, then a small
 * ustar reader (regular files, directories and symlinks; names that are
 * absolute or contain ".." are refused).
 */
function extractArchiveSync(archive: Uint8Array, dest: string): void {
  // node:zlib loads node:stream with it: milliseconds that only this first
  // extraction needs.
  const tar = new Uint8Array(builtin<typeof Zlib>("node:zlib").zstdDecompressSync(archive));
  let offset = 0;
  let longName: string | undefined;
  const decoder = new TextDecoder();
  const field = (at: number, length: number) => {
    let end = at;
    while (end < at + length && tar[end] !== 0) end++;
    return decoder.decode(tar.subarray(at, end));
  };
  while (offset + 512 <= tar.length && tar[offset] !== 0) {
    const prefix = field(offset + 345, 155);
    const rawName = longName ?? (prefix ? `${prefix}/${field(offset, 100)}` : field(offset, 100));
    longName = undefined;
    const mode = parseInt(field(offset + 100, 8).trim() || "644", 8);
    const size = parseInt(field(offset + 124, 12).trim() || "0", 8);
    const type = String.fromCharCode(tar[offset + 156] ?? 48);
    const linkName = field(offset + 157, 100);
    const data = tar.subarray(offset + 512, offset + 512 + size);
    offset += 512 + Math.ceil(size / 512) * 512;
    if (type === "x" || type === "L") {
      const text = decoder.decode(data);
      if (type === "L") longName = text.replace(/\0+$/, "");
      else {
        const match = /\d+ path=([^\n]*)\n/.exec(text);
        if (match) longName = match[1];
      }
      continue;
    }
    if (type === "g") continue;
    const name = rawName.replace(/^\.\//, "").replace(/\/+$/, "");
    if (!name) continue;
    if (name.startsWith("/") || name.split("/").includes("..")) {
      throw new Error(`the tools archive holds an unsafe name "${name}"`);
    }
    const path = join(dest, name);
    mkdirSync(dirname(path), { recursive: true });
    if (type === "5") mkdirSync(path, { recursive: true });
    else if (type === "2") {
      if (linkName.startsWith("/") || linkName.split("/").includes("..")) {
        throw new Error(`the tools archive holds an unsafe link "${name}" -> "${linkName}"`);
      }
      symlinkSync(linkName, path);
    } else if (type === "0" || type === "\0") {
      writeFileSync(path, data);
      chmodSync(path, mode & 0o777);
    }
  }
}
