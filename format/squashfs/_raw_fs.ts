/**
 * File operations on raw byte paths through libc, for the names Deno's file
 * API cannot express (not valid UTF-8) and for extended attributes, which no
 * Deno or node:fs API reads. Used only under Deno with FFI permission; every
 * caller has a fallback (an error naming the file, or no xattrs).
 *
 * Structures used are the same on every 64-bit Linux: `struct statx` and
 * `struct dirent64` (d_name at byte 19).
 *
 * @module
 */
import { InputError } from "../../errors.ts";
import type { HostFile, HostStat } from "./_host_fs.ts";

/** libc operations on raw paths. */
export interface RawFs {
  listDir(path: Uint8Array): Uint8Array[];
  lstat(path: Uint8Array): HostStat;
  readLink(path: Uint8Array): Uint8Array;
  openFile(path: Uint8Array): HostFile;
  readXattrs(path: Uint8Array): [string, Uint8Array][];
  /** Creates a directory (mode masked by umask); returns errno or 0. */
  mkdir(path: Uint8Array, mode: number): number;
  /** Creates a file exclusively and writes nothing; returns an fd or -errno. */
  createFile(path: Uint8Array, mode: number): number;
  write(fd: number, data: Uint8Array): void;
  fchmod(fd: number, mode: number): void;
  closeFd(fd: number): void;
  symlink(target: Uint8Array, path: Uint8Array): number;
  link(existing: Uint8Array, path: Uint8Array): number;
  chmod(path: Uint8Array, mode: number): number;
  setXattr(path: Uint8Array, name: string, value: Uint8Array): number;
}

const AT_FDCWD = -100;
const AT_SYMLINK_NOFOLLOW = 0x100;
const STATX_BASIC_STATS = 0x7ff;
const STATX_SIZE = 256;
const DIRENT_NAME_OFFSET = 19;
const EEXIST = 17;
const O_WRONLY = 1;
const O_CREAT = 0o100;
const O_EXCL = 0o200;
const O_CLOEXEC = 0o2000000;
const ERANGE = 34;
const ENODATA = 61;
const ENOTSUP = 95;

const SYMBOLS = {
  opendir: { parameters: ["buffer"], result: "pointer" },
  readdir: { parameters: ["pointer"], result: "pointer" },
  closedir: { parameters: ["pointer"], result: "i32" },
  statx: { parameters: ["i32", "buffer", "i32", "u32", "buffer"], result: "i32" },
  readlink: { parameters: ["buffer", "buffer", "usize"], result: "isize" },
  open: { parameters: ["buffer", "i32", "u32"], result: "i32" },
  pread: { parameters: ["i32", "buffer", "usize", "i64"], result: "isize" },
  write: { parameters: ["i32", "buffer", "usize"], result: "isize" },
  close: { parameters: ["i32"], result: "i32" },
  fchmod: { parameters: ["i32", "u32"], result: "i32" },
  chmod: { parameters: ["buffer", "u32"], result: "i32" },
  mkdir: { parameters: ["buffer", "u32"], result: "i32" },
  symlink: { parameters: ["buffer", "buffer"], result: "i32" },
  link: { parameters: ["buffer", "buffer"], result: "i32" },
  llistxattr: { parameters: ["buffer", "buffer", "usize"], result: "isize" },
  lgetxattr: { parameters: ["buffer", "buffer", "buffer", "usize"], result: "isize" },
  lsetxattr: { parameters: ["buffer", "buffer", "buffer", "usize", "i32"], result: "i32" },
  __errno_location: { parameters: [], result: "pointer" },
} as const;

let cached: RawFs | null | undefined = null;

/** The libc helper, or undefined when not under Deno or FFI is not allowed. */
export function rawFs(): RawFs | undefined {
  if (cached !== null) return cached;
  cached = undefined;
  // deno-lint-ignore no-explicit-any
  const D = (globalThis as any).Deno;
  if (D === undefined || typeof D.dlopen !== "function") return cached;
  try {
    if (D.permissions.querySync({ name: "ffi" }).state !== "granted") return cached;
    const lib = D.dlopen("libc.so.6", SYMBOLS);
    cached = makeRawFs(lib.symbols, D);
  } catch {
    cached = undefined;
  }
  return cached;
}

const encoder = new TextEncoder();

function cstr(path: Uint8Array): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(path.length + 1);
  out.set(path);
  return out;
}

function show(path: Uint8Array): string {
  return new TextDecoder().decode(path);
}

// deno-lint-ignore no-explicit-any
function makeRawFs(s: any, D: any): RawFs {
  function errno(): number {
    const p = s.__errno_location();
    return new D.UnsafePointerView(p).getInt32(0);
  }
  function fail(action: string, path: Uint8Array): never {
    throw new InputError(`Cannot ${action} "${show(path)}": errno ${errno()}`);
  }
  function list(path: Uint8Array): Uint8Array[] {
    const dir = s.opendir(cstr(path));
    if (dir === null) fail("list directory", path);
    const names: Uint8Array[] = [];
    try {
      for (;;) {
        const ent = s.readdir(dir);
        if (ent === null) break;
        const view = new D.UnsafePointerView(ent);
        const bytes = new Uint8Array(view.getArrayBuffer(256, DIRENT_NAME_OFFSET));
        const end = bytes.indexOf(0);
        const name = bytes.slice(0, end < 0 ? 256 : end);
        if (
          (name.length === 1 && name[0] === 0x2e) ||
          (name.length === 2 && name[0] === 0x2e && name[1] === 0x2e)
        ) continue;
        names.push(name);
      }
    } finally {
      s.closedir(dir);
    }
    return names;
  }
  function lstat(path: Uint8Array): HostStat {
    const buf = new Uint8Array(STATX_SIZE);
    if (s.statx(AT_FDCWD, cstr(path), AT_SYMLINK_NOFOLLOW, STATX_BASIC_STATS, buf) !== 0) {
      fail("stat", path);
    }
    const v = new DataView(buf.buffer);
    const mode = v.getUint16(28, true);
    const kinds: Record<number, HostStat["kind"]> = {
      0o100000: "file",
      0o040000: "dir",
      0o120000: "symlink",
      0o060000: "blockdev",
      0o020000: "chardev",
      0o010000: "fifo",
      0o140000: "socket",
    };
    return {
      kind: kinds[mode & 0o170000] ?? "socket",
      mode: mode & 0o7777,
      uid: v.getUint32(20, true),
      gid: v.getUint32(24, true),
      size: Number(v.getBigUint64(40, true)),
      mtime: Number(v.getBigInt64(112, true)),
      key: `${v.getUint32(136, true)}:${v.getUint32(140, true)}:${v.getBigUint64(32, true)}`,
      nlink: v.getUint32(16, true),
      rdevMajor: v.getUint32(128, true),
      rdevMinor: v.getUint32(132, true),
    };
  }
  function readLink(path: Uint8Array): Uint8Array {
    const buf = new Uint8Array(4097);
    const n = Number(s.readlink(cstr(path), buf, BigInt(buf.length)));
    if (n < 0) fail("read link", path);
    return buf.slice(0, n);
  }
  function openFile(path: Uint8Array): HostFile {
    const fd = s.open(cstr(path), O_CLOEXEC, 0);
    if (fd < 0) fail("open", path);
    return {
      read(buf, position) {
        let done = 0;
        while (done < buf.length) {
          const part = buf.subarray(done);
          const n = Number(s.pread(fd, part, BigInt(part.length), BigInt(position + done)));
          if (n < 0) fail("read", path);
          if (n === 0) break;
          done += n;
        }
        return done;
      },
      close() {
        s.close(fd);
      },
    };
  }
  function readXattrs(path: Uint8Array): [string, Uint8Array][] {
    const p = cstr(path);
    let size = Number(s.llistxattr(p, null, 0n));
    if (size <= 0) return [];
    const names = new Uint8Array(size);
    size = Number(s.llistxattr(p, names, BigInt(size)));
    if (size <= 0) return [];
    const out: [string, Uint8Array][] = [];
    let start = 0;
    for (let i = 0; i < size; i++) {
      if (names[i] !== 0) continue;
      const nameBytes = names.slice(start, i + 1);
      start = i + 1;
      const name = new TextDecoder().decode(nameBytes.subarray(0, -1));
      let len = Number(s.lgetxattr(p, nameBytes, null, 0n));
      if (len < 0) {
        const e = errno();
        if (e === ENODATA || e === ENOTSUP || e === ERANGE) continue;
        fail(`read extended attribute ${name} of`, path);
      }
      const value = new Uint8Array(len);
      len = Number(s.lgetxattr(p, nameBytes, value, BigInt(len)));
      if (len < 0) continue;
      out.push([name, value.slice(0, len)]);
    }
    return out.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  }
  return {
    listDir: list,
    lstat,
    readLink,
    openFile,
    readXattrs,
    mkdir: (path, mode) => (s.mkdir(cstr(path), mode) === 0 ? 0 : errno()),
    createFile(path, mode) {
      const fd = s.open(cstr(path), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
      return fd < 0 ? -errno() : fd;
    },
    write(fd, data) {
      let done = 0;
      while (done < data.length) {
        const part = data.subarray(done);
        const n = Number(s.write(fd, part, BigInt(part.length)));
        if (n <= 0) throw new InputError(`Cannot write a file: errno ${errno()}`);
        done += n;
      }
    },
    fchmod: (fd, mode) => void s.fchmod(fd, mode),
    closeFd: (fd) => void s.close(fd),
    symlink: (target, path) => (s.symlink(cstr(target), cstr(path)) === 0 ? 0 : errno()),
    link: (existing, path) => (s.link(cstr(existing), cstr(path)) === 0 ? 0 : errno()),
    chmod: (path, mode) => (s.chmod(cstr(path), mode) === 0 ? 0 : errno()),
    setXattr(path, name, value) {
      const r = s.lsetxattr(cstr(path), cstr(encoder.encode(name)), value, BigInt(value.length), 0);
      return r === 0 ? 0 : errno();
    },
  };
}

/** errno values callers compare against. */
export const ERRNO = { EEXIST } as const;
