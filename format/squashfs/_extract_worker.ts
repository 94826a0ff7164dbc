/**
 * The source of the worker that {@linkcode SquashfsImage.extract} starts to
 * decompress blocks and write files in parallel. It is a plain string, run
 * with node:worker_threads' `eval: true` (inside a Node single executable
 * application there is no file to start a worker from) or, under Deno, as a
 * web-standard module Worker from a blob: URL; it imports node: built-ins
 * only, so it runs under Deno and Node alike.
 *
 * Protocol. In: a batch
 * `{ id, frags, files }`:
 * - `frags`: `{ index, data, offset, length, stored, at, label }[]`, the
 *   fragment blocks the batch's files use; `data` is null when this worker
 *   already holds the fragment. The worker keeps the last {@linkcode EXTRACT_FRAGMENT_CACHE}
 *   fragments, evicting the oldest ones the batch does not list; the sender
 *   mirrors that policy to know what to send (see {@linkcode FragmentMirror}).
 * - `files`: `{ path, label, mode, chmod, mtime, size, create, finish, parts,
 *   frag }[]`; `parts` are `{ data, offset, length, stored, position, expected,
 *   index, at }`
 *   (`stored`: kept uncompressed in the image)
 *   (holes are left out: the size is set at the end), `frag` is
 *   `{ index, offset, length }` or null. `create` makes the file ("wx", an
 *   old non-directory in the way is removed); otherwise it is opened "r+".
 *   `finish` sets size, mode (when `chmod`) and mtime.
 *
 * Bytes travel as ArrayBuffers (transferred) with an offset and a length, not
 * as typed arrays: Deno's node:worker_threads walks a message's typed arrays
 * element by element (about 8 ms per 100 KB).
 *
 * Out: `{ id }`, or `{ id, error: { message, offset, format, code } }` for the
 * first failure of the batch (the rest of the batch is skipped).
 *
 * @module
 */

/** Fragment blocks a worker keeps decompressed. */
export const EXTRACT_FRAGMENT_CACHE = 8;

/**
 * Source of `(fs, zlib, codec, blockSize) => run`, where `run(batch)` writes
 * one batch and throws on the first failure (with `offset` and `format`).
 * Workers run it, and so does the calling thread when the workers are busy
 * (see {@linkcode createBatchRunner}).
 */
const RUNNER_SOURCE = `(fs, zlib, codec, blockSize) => {
  const CACHE = ${EXTRACT_FRAGMENT_CACHE};
  // An output chunk of exactly the expected size: one allocation, no copy.
  const inflate = codec === "zstd"
    ? (d, n) => zlib.zstdDecompressSync(d, { chunkSize: Math.max(n, 64), maxOutputLength: n })
    : (d, n) => zlib.inflateSync(d, { chunkSize: Math.max(n, 64), maxOutputLength: n });
  const cache = new Map();
  class Fail extends Error {
    constructor(message, offset, format) {
      super(message);
      this.offset = offset;
      this.format = format;
    }
  }
  const decompress = (data, max, what, at) => {
    try {
      return inflate(data, max);
    } catch (error) {
      throw new Fail("Cannot decompress " + what + ": " + error.message, at, true);
    }
  };
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
  const writeAll = (fd, data, position) => {
    let done = 0;
    while (done < data.length) done += fs.writeSync(fd, data, done, data.length - done, position + done);
  };
  const run = (batch) => {
    const needed = new Set();
    for (const f of batch.frags) {
      needed.add(f.index);
      let data = cache.get(f.index);
      if (f.data !== null) {
        const raw = new Uint8Array(f.data, f.offset, f.length);
        data = f.stored
          ? raw
          : decompress(raw, blockSize, "\\"" + f.label + "\\": fragment " + f.index + " is corrupt", f.at);
      }
      cache.delete(f.index);
      cache.set(f.index, data);
    }
    for (const key of [...cache.keys()]) {
      if (cache.size <= CACHE) break;
      if (!needed.has(key)) cache.delete(key);
    }
    for (const file of batch.files) {
      const fd = open(file);
      let end = 0;
      try {
        for (const part of file.parts) {
          const raw = new Uint8Array(part.data, part.offset, part.length);
          const data = part.stored
            ? raw
            : decompress(raw, Math.max(part.expected, 1), "\\"" + file.label + "\\": block " + part.index + " is corrupt", part.at);
          if (data.length !== part.expected) {
            throw new Fail(
              "Cannot read \\"" + file.label + "\\" from squashfs image: block " + part.index + " holds " +
                data.length + " bytes, expected " + part.expected,
              part.at,
              true,
            );
          }
          writeAll(fd, data, part.position);
          end = part.position + data.length;
        }
        if (file.frag !== null) {
          const { index, offset, length } = file.frag;
          const data = cache.get(index);
          if (offset + length > data.length) {
            throw new Fail(
              "Cannot read \\"" + file.label + "\\" from squashfs image: its tail (" + length + " bytes at " +
                offset + ") is past fragment " + index + " (" + data.length + " bytes)",
              undefined,
              true,
            );
          }
          writeAll(fd, data.subarray(offset, offset + length), file.size - length);
          end = file.size;
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
  return run;
}`;

/** Runs batches on the calling thread with the same code as the workers. */
export function createBatchRunner(
  fs: unknown,
  zlib: unknown,
  codec: "zstd" | "gzip",
  blockSize: number,
): (batch: unknown) => void {
  // The runner is a string so that a worker can run it without a file; this
  // makes the same function here.
  return new Function(`return ${RUNNER_SOURCE}`)()(fs, zlib, codec, blockSize);
}

/**
 * The worker's JavaScript source: for a web-standard module Worker when `web`
 * (Deno), else for node:worker_threads with `eval: true`.
 */
export function extractWorkerSource(
  codec: "zstd" | "gzip",
  blockSize: number,
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
  const run = (${RUNNER_SOURCE})(fs, zlib, ${JSON.stringify(codec)}, ${blockSize});
  listen((batch) => {
    try {
      run(batch);
      reply({ id: batch.id });
    } catch (error) {
      reply({
        id: batch.id,
        error: {
          message: error.message,
          offset: error.offset,
          format: error.format === true,
          code: error.code,
        },
      });
    }
  });
})();
`;
}

/**
 * The sender's copy of one worker's fragment cache: the same insertions and
 * evictions as the worker makes, so the sender knows which fragments it must
 * send. Apply {@linkcode FragmentMirror.update} with a batch's fragment list
 * in the order the batch carries it.
 */
export class FragmentMirror {
  #keys = new Map<number, true>();

  /** Whether the worker holds fragment `index` now. */
  has(index: number): boolean {
    return this.#keys.has(index);
  }

  /** Records a batch that uses `indices` (in order), as the worker will. */
  update(indices: number[]): void {
    const needed = new Set(indices);
    for (const index of indices) {
      this.#keys.delete(index);
      this.#keys.set(index, true);
    }
    for (const key of [...this.#keys.keys()]) {
      if (this.#keys.size <= EXTRACT_FRAGMENT_CACHE) break;
      if (!needed.has(key)) this.#keys.delete(key);
    }
  }
}
