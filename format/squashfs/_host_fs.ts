/**
 * The writer's view of the source tree. Paths are strings when every name on
 * the way is valid UTF-8 and raw bytes otherwise: node:fs in Deno cannot name
 * such files (it replaces bad bytes with U+FFFD), so raw paths go through
 * `_raw_fs.ts` (libc through Deno FFI) or, under Node, through Buffer paths.
 *
 * @module
 */
import * as fs from "node:fs";
import { Buffer } from "node:buffer";
import { InputError } from "../../errors.ts";
import { rawFs } from "./_raw_fs.ts";

/** A path as a string (valid UTF-8 all the way) or as raw bytes. */
export type HostPath = string | Uint8Array;

/** What the writer needs from lstat. */
export interface HostStat {
  kind: "file" | "dir" | "symlink" | "blockdev" | "chardev" | "fifo" | "socket";
  /** Permission bits, including setuid, setgid and sticky. */
  mode: number;
  uid: number;
  gid: number;
  size: number;
  mtime: number;
  /** `${dev}:${ino}`, to find hard links. */
  key: string;
  nlink: number;
  /** Device number in the kernel's new_encode_dev form (major, minor). */
  rdevMajor: number;
  rdevMinor: number;
}

const encoder = new TextEncoder();
const fatalDecoder = new TextDecoder("utf-8", { fatal: true });
const isDeno = typeof (globalThis as { Deno?: unknown }).Deno !== "undefined";

/** Joins a directory path and a raw child name. */
export function joinHostPath(dir: HostPath, name: Uint8Array): HostPath {
  if (typeof dir === "string") {
    try {
      return `${dir}/${fatalDecoder.decode(name)}`;
    } catch {
      const d = encoder.encode(dir);
      const out = new Uint8Array(d.length + 1 + name.length);
      out.set(d);
      out[d.length] = 0x2f;
      out.set(name, d.length + 1);
      return out;
    }
  }
  const out = new Uint8Array(dir.length + 1 + name.length);
  out.set(dir);
  out[dir.length] = 0x2f;
  out.set(name, dir.length + 1);
  return out;
}

/** A printable form of a path for messages. */
export function showPath(path: HostPath): string {
  return typeof path === "string" ? path : new TextDecoder().decode(path);
}

function kindOf(mode: number): HostStat["kind"] {
  switch (mode & 0o170000) {
    case 0o100000:
      return "file";
    case 0o040000:
      return "dir";
    case 0o120000:
      return "symlink";
    case 0o060000:
      return "blockdev";
    case 0o020000:
      return "chardev";
    case 0o010000:
      return "fifo";
    default:
      return "socket";
  }
}

function nodePath(path: HostPath): string | Buffer {
  if (typeof path === "string") return path;
  if (!isDeno) return Buffer.from(path);
  throw new InputError(
    `Cannot read "${showPath(path)}": the name is not valid UTF-8 and Deno's file API ` +
      `cannot name it; allow FFI (--allow-ffi) so pbundle can use libc for such names`,
  );
}

function useRaw(path: HostPath): boolean {
  return typeof path !== "string" && isDeno && rawFs() !== undefined;
}

/** Lists a directory's entry names as raw bytes, unsorted. */
export function listDir(path: HostPath): Uint8Array[] {
  if (useRaw(path)) return rawFs()!.listDir(path as Uint8Array);
  const names = fs.readdirSync(nodePath(path), { encoding: "buffer" }) as Buffer[];
  if (!isDeno) return names.map((n) => new Uint8Array(n));
  // Deno decodes names lossily: look again with libc when a name might have been mangled.
  const lossy = names.some((n) => n.includes(Buffer.from([0xef, 0xbf, 0xbd])));
  if (lossy) {
    const raw = rawFs();
    if (raw !== undefined) return raw.listDir(encoder.encode(path as string));
  }
  return names.map((n) => new Uint8Array(n));
}

/** lstat, never following a final symlink. */
export function lstat(path: HostPath): HostStat {
  if (useRaw(path)) return rawFs()!.lstat(path as Uint8Array);
  const st = fs.lstatSync(nodePath(path), { bigint: true });
  const rdev = st.rdev;
  // glibc's dev_t: major in bits 8-19 and 32-43, minor in bits 0-7 and 20-31.
  const rdevMajor = Number(((rdev >> 8n) & 0xfffn) | ((rdev >> 32n) & ~0xfffn));
  const rdevMinor = Number((rdev & 0xffn) | ((rdev >> 12n) & ~0xffn));
  return {
    kind: kindOf(Number(st.mode)),
    mode: Number(st.mode) & 0o7777,
    uid: Number(st.uid),
    gid: Number(st.gid),
    size: Number(st.size),
    mtime: Number(st.mtimeMs / 1000n),
    key: `${st.dev}:${st.ino}`,
    nlink: Number(st.nlink),
    rdevMajor,
    rdevMinor,
  };
}

/** The raw bytes of a symlink's target. */
export function readLink(path: HostPath): Uint8Array {
  if (useRaw(path)) return rawFs()!.readLink(path as Uint8Array);
  const target = fs.readlinkSync(nodePath(path), { encoding: "buffer" }) as Buffer;
  if (isDeno && target.includes(Buffer.from([0xef, 0xbf, 0xbd]))) {
    const raw = rawFs();
    if (raw !== undefined) {
      return raw.readLink(typeof path === "string" ? encoder.encode(path) : path);
    }
  }
  return new Uint8Array(target);
}

/** An open source file. */
export interface HostFile {
  /** Reads up to `buf.length` bytes at `position`; returns how many were read. */
  read(buf: Uint8Array, position: number): number;
  close(): void;
}

/** Opens a regular file for reading. */
export function openFile(path: HostPath): HostFile {
  if (useRaw(path)) return rawFs()!.openFile(path as Uint8Array);
  const fd = fs.openSync(nodePath(path), "r");
  return {
    read(buf, position) {
      let done = 0;
      while (done < buf.length) {
        const n = fs.readSync(fd, buf, done, buf.length - done, position + done);
        if (n === 0) break;
        done += n;
      }
      return done;
    },
    close() {
      fs.closeSync(fd);
    },
  };
}

/**
 * Extended attributes of a path as [full name, value] pairs, sorted by name;
 * empty when the host does not expose them to this engine.
 */
export function readXattrs(path: HostPath): [string, Uint8Array][] {
  const raw = rawFs();
  if (raw === undefined) return [];
  return raw.readXattrs(typeof path === "string" ? encoder.encode(path) : path);
}
