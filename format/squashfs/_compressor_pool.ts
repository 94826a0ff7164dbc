/**
 * A pool of Workers compressing blocks in parallel (async zstd in node:zlib
 * runs on one thread only). Falls back to compressing on the calling thread
 * when Workers cannot be started, e.g. in a Node bundle.
 *
 * @module
 */
import { compressInto, type CompressionName } from "./compressors.ts";

/**
 * A compressed block, or the original when compression did not shrink it.
 * `data` is a view of the start of `buffer`, the block's own buffer, which the
 * caller may reuse once it has written `data`.
 */
export interface CompressedBlock {
  data: Uint8Array;
  compressed: boolean;
  buffer: Uint8Array<ArrayBuffer>;
}

interface Pending {
  resolve: (block: CompressedBlock) => void;
  reject: (error: Error) => void;
}

/** Compresses blocks on worker threads. */
export class CompressorPool {
  #name: CompressionName;
  #level: number;
  #workers: Worker[] = [];
  #load: number[] = [];
  #pending = new Map<number, Pending & { worker: number }>();
  #nextId = 0;
  /** Where the calling thread compresses when there are no workers. */
  #scratch = new Uint8Array(0);

  /**
   * @param name The compressor.
   * @param level The compression level.
   * @param workers How many workers; 0 compresses on the calling thread.
   */
  constructor(name: CompressionName, level: number, workers: number) {
    this.#name = name;
    this.#level = level;
    for (let i = 0; i < workers; i++) {
      let worker: Worker;
      try {
        worker = new Worker(new URL("./_compress_worker.ts", import.meta.url), { type: "module" });
      } catch {
        break;
      }
      const index = this.#workers.length;
      worker.onmessage = (event: MessageEvent) => {
        const { id, data, length, compressed } = event.data;
        const job = this.#pending.get(id);
        if (job === undefined) return;
        this.#pending.delete(id);
        this.#load[index]!--;
        job.resolve({ data: data.subarray(0, length), compressed, buffer: data });
      };
      worker.onerror = (event: ErrorEvent) => {
        event.preventDefault();
        const error = new Error(`Cannot compress a block: ${event.message}`);
        for (const [id, job] of this.#pending) {
          if (job.worker === index) {
            this.#pending.delete(id);
            job.reject(error);
          }
        }
      };
      this.#workers.push(worker);
      this.#load.push(0);
    }
  }

  /** How many workers are running. */
  get size(): number {
    return this.#workers.length;
  }

  /**
   * Compresses one block. The block's ArrayBuffer is transferred: use only the
   * result's `buffer` (the same block, now maybe holding compressed bytes) afterwards.
   */
  compress(data: Uint8Array<ArrayBuffer>): Promise<CompressedBlock> {
    if (this.#workers.length === 0) {
      if (this.#scratch.length < data.length) this.#scratch = new Uint8Array(data.length);
      const n = data.length > 1
        ? compressInto(this.#name, this.#level, data, this.#scratch.subarray(0, data.length - 1))
        : -1;
      if (n >= 0) data.set(this.#scratch.subarray(0, n));
      return Promise.resolve({
        data: n >= 0 ? data.subarray(0, n) : data,
        compressed: n >= 0,
        buffer: data,
      });
    }
    let best = 0;
    for (let i = 1; i < this.#load.length; i++) {
      if (this.#load[i]! < this.#load[best]!) best = i;
    }
    const id = this.#nextId++;
    this.#load[best]!++;
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject, worker: best });
      this.#workers[best]!.postMessage(
        { id, name: this.#name, level: this.#level, data },
        [data.buffer],
      );
    });
  }

  /** Stops the workers. */
  close(): void {
    for (const worker of this.#workers) worker.terminate();
    this.#workers = [];
  }
}
