/**
 * The source of the worker that {@linkcode SquashfsImage.extract} starts to
 * decompress blocks and write files in parallel with the calling thread. It
 * is a plain string, run with node:worker_threads' `eval: true` (inside a
 * Node single executable application there is no file to start a worker
 * from) or, under Deno, as a web-standard module Worker from a blob: URL; it
 * imports node: built-ins only, so it runs under Deno and Node alike.
 *
 * Work sharing. The calling thread walks the image and cuts the files into
 * batches of about 256 KiB; every thread (the workers and the calling thread
 * itself) takes the next batch by bumping a counter in a SharedArrayBuffer,
 * so no thread waits for another to hand it work and none needs an event
 * loop turn to get more. Each thread reads the compressed bytes it needs from
 * the image itself (a worker opens the image's file by path and checks it is
 * the same file; when it cannot, it takes no batches).
 *
 * Protocol, calling thread to worker:
 * - `{ type: "begin", image: { path, base, size, dev, ino }, ctrl }`: `ctrl`
 *   is an Int32Array over a SharedArrayBuffer: `[next batch, stop flag]`.
 * - `{ type: "batches", list }`: batches appended to the shared list (every
 *   worker gets every batch; the counter decides who writes it).
 * - `{ type: "end" }`: no more batches; the worker replies `{ type: "done" }`
 *   once it has written the batches it took.
 *
 * Worker to calling thread: `{ type: "error", error: { message, offset,
 * format, code } }` for the first failure (the worker also sets the stop
 * flag), and `{ type: "done" }`.
 *
 * A batch is `{ paths, cut, nums }`, packed so that sending it costs one
 * copy of a Float64Array and a list of strings (a structured clone of an
 * object per file costs several milliseconds per thousand files). `paths`
 * are the files' output paths; `path.slice(cut)` is the path inside the
 * image, for messages. `nums` holds per file, in order: mode, flags (1
 * chmod, 2 create, 4 finish), mtime, size, block count n, fragment index
 * (-1: no tail) and its pos, onDisk, stored, offset and length, then per
 * data block `index, pos, onDisk, stored, expected` (image positions relative
 * to the image start, checked by the sender; `onDisk` 0 is a hole, left
 * unwritten: the size is set at the end). `create` makes the file ("wx", an
 * old non-directory in the way is removed); otherwise it is opened "r+".
 * `finish` sets size, mode (when `chmod`) and mtime.
 *
 * @module
 */

/** Fragment blocks each thread keeps decompressed. */
export const EXTRACT_FRAGMENT_CACHE = 8;

/** Index of the next unclaimed batch in the shared control array. */
export const CTRL_NEXT = 0;
/** Index of the stop flag (set on the first failure) in the shared control array. */
export const CTRL_STOP = 1;

/** The image a thread reads compressed data from: an open fd (this thread) or a path to open. */
export interface RunnerImage {
  fd?: number;
  path?: string;
  base: number;
  size?: number;
  dev?: number;
  ino?: number;
}

/** What {@linkcode createBatchRunner} returns. */
export interface BatchRunner {
  /** Starts reading `image`; false when it cannot be opened or is not the same file. */
  attach(image: RunnerImage): boolean;
  /** Writes one batch; throws on the first failure (with `offset` and `format`). */
  run(batch: unknown): void;
  /** Takes batches from `list` through `ctrl` until none is left or the stop flag is set. */
  claim(list: unknown[], ctrl: Int32Array): void;
  /** Closes what attach opened and frees the decompressor. */
  detach(): void;
}

/**
 * Source of `(fs, zlib, Buffer, codec, blockSize, chunkBlocks) => runner`.
 * Workers run it, and so does the calling thread (see
 * {@linkcode createBatchRunner}).
 *
 * Blocks are decompressed straight into one reused output buffer through the
 * node:zlib handle of one decompression stream that is reset between blocks
 * (node:zlib's own *Sync functions make a new zstd context per call, which
 * costs about as much as decoding a 128 KiB block); a file's consecutive
 * blocks and its tail then go out in one write. Where the handle is not
 * available, node:zlib's *Sync functions are used.
 */
const RUNNER_SOURCE = `(fs, zlib, Buffer, codec, blockSize, chunkBlocks) => {
  const CACHE = ${EXTRACT_FRAGMENT_CACHE};
  class Fail extends Error {
    constructor(message, offset, format) {
      super(message);
      this.offset = offset;
      this.format = format;
    }
  }
  // ---- Decompression into a caller's buffer ----
  let engine, handle, state, flush, zerror, fast = false;
  const fresh = () => {
    try {
      engine?.close();
    } catch {}
    engine = undefined;
    fast = false;
    try {
      engine = codec === "zstd" ? zlib.createZstdDecompress() : zlib.createInflate();
      handle = engine._handle;
      state = engine._writeState;
      flush = engine._finishFlushFlag;
      fast = handle != null && typeof handle.writeSync === "function" &&
        typeof handle.reset === "function" && state instanceof Uint32Array &&
        state.length >= 2 && typeof flush === "number";
      if (fast) handle.onerror = (message) => { zerror = String(message); };
    } catch {
      fast = false;
    }
  };
  const slow = codec === "zstd"
    ? (d, n) => zlib.zstdDecompressSync(d, { chunkSize: Math.max(n, 64), maxOutputLength: n })
    : (d, n) => zlib.inflateSync(d, { chunkSize: Math.max(n, 64), maxOutputLength: n });
  // Decodes "input" into out[at, at + room); returns the number of bytes made.
  const inflateInto = (input, out, at, room) => {
    if (engine === undefined) fresh();
    if (fast) {
      // One call may stop short of the end of the input (Deno's zstd does
      // before a frame's last bytes), so go on while it makes progress.
      let inAt = 0, inLeft = input.length, outAt = at, outLeft = room;
      handle.reset();
      for (;;) {
        zerror = undefined;
        try {
          handle.writeSync(flush, input, inAt, inLeft, out, outAt, outLeft);
        } catch (error) {
          fresh();
          throw error;
        }
        if (zerror !== undefined) {
          const message = zerror;
          fresh();
          throw new Error(message);
        }
        const made = outLeft - state[0], used = inLeft - state[1];
        outAt += made;
        outLeft -= made;
        inAt += used;
        inLeft -= used;
        if (inLeft === 0) return outAt - at;
        if (outLeft === 0 || (made === 0 && used === 0)) {
          fresh();
          throw new Error(outLeft === 0 ? "it decodes to more than " + (room - 1) + " bytes" : inLeft + " bytes after its end");
        }
      }
    }
    let data;
    try {
      data = slow(input, room);
    } catch (error) {
      if (error.code === "ERR_BUFFER_TOO_LARGE") throw new Error("it decodes to more than " + (room - 1) + " bytes");
      throw error;
    }
    out.set(data, at);
    return data.length;
  };
  const decompress = (raw, out, at, room, what, pos) => {
    try {
      return inflateInto(raw, out, at, room);
    } catch (error) {
      throw new Fail("Cannot decompress " + what + ": " + error.message, pos, true);
    }
  };

  // ---- Reading the image ----
  let fd = -1, base = 0, own = false;
  let input = Buffer.allocUnsafeSlow(Math.max(blockSize, 65536));
  const room = (n) => {
    if (input.length < n) input = Buffer.allocUnsafeSlow(Math.max(n, input.length * 2));
    return input;
  };
  const readAt = (buf, at, pos, length) => {
    let done = 0;
    while (done < length) {
      const n = fs.readSync(fd, buf, at + done, length - done, base + pos + done);
      if (n === 0) throw new Fail("Cannot read squashfs image: the file ends early", base + pos + done, true);
      done += n;
    }
  };
  const attach = (image) => {
    base = image.base;
    if (image.fd !== undefined) {
      fd = image.fd;
      own = false;
      return true;
    }
    try {
      fd = fs.openSync(image.path, "r");
    } catch {
      return false;
    }
    own = true;
    try {
      const st = fs.fstatSync(fd);
      if (st.size === image.size && st.ino === image.ino && st.dev === image.dev) return true;
    } catch {}
    detach();
    return false;
  };
  const detach = () => {
    if (own && fd >= 0) fs.closeSync(fd);
    fd = -1;
    own = false;
    try {
      engine?.close();
    } catch {}
    engine = undefined;
  };

  // ---- Fragments: the last CACHE used, each in a buffer of its own ----
  const cache = new Map();
  const fragmentInput = Buffer.allocUnsafeSlow(blockSize);
  const fragment = (f, label) => {
    const hit = cache.get(f.index);
    if (hit !== undefined) {
      cache.delete(f.index);
      cache.set(f.index, hit);
      return hit;
    }
    let buf;
    if (cache.size >= CACHE) {
      const oldest = cache.keys().next().value;
      buf = cache.get(oldest).buffer;
      cache.delete(oldest);
    }
    if (buf === undefined || buf.byteLength < blockSize + 1) buf = new ArrayBuffer(blockSize + 1);
    const out = new Uint8Array(buf);
    let data;
    if (f.stored) {
      readAt(out, 0, f.pos, f.onDisk);
      data = out.subarray(0, f.onDisk);
    } else {
      // Not in "input": that may hold the rest of the batch's blocks.
      const raw = fragmentInput;
      readAt(raw, 0, f.pos, f.onDisk);
      const what = "\\"" + label + "\\": fragment " + f.index + " is corrupt";
      const n = decompress(raw.subarray(0, f.onDisk), out, 0, blockSize + 1, what, base + f.pos);
      if (n > blockSize) throw new Fail("Cannot decompress " + what + ": it decodes to more than " + blockSize + " bytes", base + f.pos, true);
      data = out.subarray(0, n);
    }
    cache.set(f.index, data);
    return data;
  };

  // ---- Files ----
  const open = (file) => {
    if (!file.create) return fs.openSync(file.path, "r+");
    try {
      return fs.openSync(file.path, "wx", file.chmod ? 0o600 : file.mode);
    } catch (error) {
      if (error.code !== "EEXIST") throw error;
      if (fs.lstatSync(file.path).isDirectory()) {
        throw new Fail("Cannot extract \\"" + file.path + "\\": a directory is in the way", undefined, false);
      }
      fs.unlinkSync(file.path);
      return fs.openSync(file.path, "wx", file.chmod ? 0o600 : file.mode);
    }
  };
  const writeAll = (fd, data, offset, length, position) => {
    let done = 0;
    while (done < length) done += fs.writeSync(fd, data, offset + done, length - done, position + done);
  };
  const output = Buffer.allocUnsafeSlow((chunkBlocks + 1) * blockSize + 1);
  // A batch travels packed (see the module doc); this unpacks its files.
  const unpack = (batch) => {
    const { paths, cut, nums } = batch;
    const files = [];
    let k = 0;
    for (const path of paths) {
      const flags = nums[k + 1], count = nums[k + 4], fragIndex = nums[k + 5];
      files.push({
        path,
        label: path.slice(cut),
        mode: nums[k],
        chmod: (flags & 1) !== 0,
        create: (flags & 2) !== 0,
        finish: (flags & 4) !== 0,
        mtime: nums[k + 2],
        size: nums[k + 3],
        frag: fragIndex < 0 ? null : {
          index: fragIndex,
          pos: nums[k + 6],
          onDisk: nums[k + 7],
          stored: nums[k + 8] !== 0,
          offset: nums[k + 9],
          length: nums[k + 10],
        },
        blocks: nums.subarray(k + 11, k + 11 + 5 * count),
      });
      k += 11 + 5 * count;
    }
    return files;
  };
  const run = (batch) => {
    const files = unpack(batch);
    // The batch's blocks usually lie one after another: read them at once.
    let lo = Infinity, hi = 0, sum = 0;
    for (const file of files) {
      const b = file.blocks;
      for (let k = 0; k < b.length; k += 5) {
        const n = b[k + 2];
        if (n === 0) continue;
        if (b[k + 1] < lo) lo = b[k + 1];
        if (b[k + 1] + n > hi) hi = b[k + 1] + n;
        sum += n;
      }
    }
    const together = sum > 0 && hi - lo <= sum + 65536;
    if (together) readAt(room(hi - lo), 0, lo, hi - lo);
    for (const file of files) {
      const fd = open(file);
      try {
        let runAt = 0, fill = 0, end = 0;
        const put = () => {
          if (fill > 0) writeAll(fd, output, 0, fill, runAt);
          end = runAt + fill;
          fill = 0;
        };
        const b = file.blocks;
        for (let k = 0; k < b.length; k += 5) {
          const index = b[k], pos = b[k + 1], onDisk = b[k + 2], stored = b[k + 3], expected = b[k + 4];
          if (onDisk === 0) {
            put();
            continue;
          }
          const position = index * blockSize;
          if (fill === 0) runAt = position;
          if (runAt + fill !== position || fill + expected + 1 > output.length) {
            put();
            runAt = position;
          }
          let raw;
          if (together) {
            raw = input.subarray(pos - lo, pos - lo + onDisk);
          } else {
            readAt(room(onDisk), 0, pos, onDisk);
            raw = input.subarray(0, onDisk);
          }
          let n;
          if (stored) {
            output.set(raw, fill);
            n = onDisk;
          } else {
            n = decompress(raw, output, fill, expected + 1, "\\"" + file.label + "\\": block " + index + " is corrupt", base + pos);
          }
          if (n !== expected) {
            throw new Fail(
              "Cannot read \\"" + file.label + "\\" from squashfs image: block " + index + " holds " +
                n + " bytes, expected " + expected,
              base + pos,
              true,
            );
          }
          fill += n;
        }
        if (file.frag !== null) {
          const f = file.frag;
          const data = fragment(f, file.label);
          if (f.offset + f.length > data.length) {
            throw new Fail(
              "Cannot read \\"" + file.label + "\\" from squashfs image: its tail (" + f.length + " bytes at " +
                f.offset + ") is past fragment " + f.index + " (" + data.length + " bytes)",
              undefined,
              true,
            );
          }
          const position = file.size - f.length;
          if (fill > 0 && runAt + fill === position && fill + f.length <= output.length) {
            output.set(data.subarray(f.offset, f.offset + f.length), fill);
            fill += f.length;
            put();
          } else {
            put();
            writeAll(fd, data, f.offset, f.length, position);
            end = file.size;
          }
        } else {
          put();
        }
        if (file.finish) {
          if (end !== file.size) fs.ftruncateSync(fd, file.size);
          if (file.chmod) fs.fchmodSync(fd, file.mode);
          fs.futimesSync(fd, file.mtime, file.mtime);
        }
      } finally {
        fs.closeSync(fd);
      }
    }
  };
  const claim = (list, ctrl) => {
    while (Atomics.load(ctrl, ${CTRL_STOP}) === 0) {
      const i = Atomics.load(ctrl, ${CTRL_NEXT});
      if (i >= list.length) return;
      if (Atomics.compareExchange(ctrl, ${CTRL_NEXT}, i, i + 1) !== i) continue;
      try {
        run(list[i]);
      } catch (error) {
        Atomics.store(ctrl, ${CTRL_STOP}, 1);
        throw error;
      }
    }
  };
  return { attach, run, claim, detach };
}`;

/** Runs batches on the calling thread with the same code as the workers. */
export function createBatchRunner(
  fs: unknown,
  zlib: unknown,
  buffer: unknown,
  codec: "zstd" | "gzip",
  blockSize: number,
  chunkBlocks: number,
): BatchRunner {
  // The runner is a string so that a worker can run it without a file; this
  // makes the same function here.
  return new Function(`return ${RUNNER_SOURCE}`)()(
    fs,
    zlib,
    buffer,
    codec,
    blockSize,
    chunkBlocks,
  );
}

/**
 * The worker's JavaScript source: for a web-standard module Worker when `web`
 * (Deno), else for node:worker_threads with `eval: true`.
 */
export function extractWorkerSource(
  codec: "zstd" | "gzip",
  blockSize: number,
  chunkBlocks: number,
  web: boolean,
): string {
  const port = web
    ? `const listen = (f) => { self.onmessage = (e) => f(e.data); };
  const reply = (m) => self.postMessage(m);`
    : `const { parentPort } = await import("node:worker_threads");
  const listen = (f) => parentPort.on("message", f);
  const reply = (m) => parentPort.postMessage(m);`;
  return `(async () => {
  ${port}
  const fs = await import("node:fs");
  const zlib = await import("node:zlib");
  const { Buffer } = await import("node:buffer");
  const runner = (${RUNNER_SOURCE})(fs, zlib, Buffer, ${
    JSON.stringify(codec)
  }, ${blockSize}, ${chunkBlocks});
  let ctrl;
  let ok = false;
  let failed = false;
  const list = [];
  const work = () => {
    if (!ok || failed) return;
    try {
      runner.claim(list, ctrl);
    } catch (error) {
      failed = true;
      reply({
        type: "error",
        error: {
          message: error.message,
          offset: error.offset,
          format: error.format === true,
          code: error.code,
        },
      });
    }
  };
  listen((message) => {
    if (message.type === "begin") {
      ctrl = message.ctrl;
      ok = runner.attach(message.image);
    } else if (message.type === "batches") {
      for (const batch of message.list) list.push(batch);
      work();
    } else if (message.type === "end") {
      work();
      runner.detach();
      ok = false;
      list.length = 0;
      reply({ type: "done" });
    }
  });
})();
`;
}
