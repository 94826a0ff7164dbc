/**
 * The worker threads {@linkcode SquashfsImage.extract} decompresses and writes
 * files with (see `_extract_worker.ts` for the protocol).
 *
 * Under Node (and inside a Node single executable application) the workers
 * are node:worker_threads started from an inline source with `eval: true`.
 * Under Deno they are web-standard module Workers from a blob: URL, because
 * Deno's node:worker_threads blocks the calling thread about 33 ms per worker
 * while it starts (a web Worker: about 10 ms), which is a third of the whole
 * extraction of a 50 MB tree. Either way no file on disk is needed and the
 * worker imports node: built-ins only.
 *
 * @module
 */
import { Worker as NodeWorker } from "node:worker_threads";
import { extractWorkerSource, FragmentMirror } from "./_extract_worker.ts";

/** A failure a worker reported for a batch. */
export interface BatchError {
  message: string;
  offset: number | undefined;
  /** The image is damaged (else an I/O error, with `code`). */
  format: boolean;
  code: string | undefined;
}

interface Reply {
  id: number;
  error?: BatchError;
}

/** What the pool needs of a worker, whichever kind it is. */
interface AnyWorker {
  post(message: unknown, transfer: ArrayBuffer[]): void;
  terminate(): Promise<void>;
}

interface Slot {
  worker: AnyWorker;
  inFlight: number;
  mirror: FragmentMirror;
  pending: Map<number, (error: BatchError | undefined) => void>;
}

interface WebWorkerLike {
  onmessage: ((event: { data: Reply }) => void) | null;
  onerror: ((event: { message?: string; preventDefault(): void }) => void) | null;
  postMessage(message: unknown, transfer: ArrayBuffer[]): void;
  terminate(): void;
}

type WebWorkerConstructor = new (url: string, options: { type: "module" }) => WebWorkerLike;

function webWorkers(): WebWorkerConstructor | undefined {
  const g = globalThis as { Deno?: unknown; Worker?: WebWorkerConstructor };
  return g.Deno !== undefined && typeof g.Worker === "function" ? g.Worker : undefined;
}

/** A few workers, each with its own queue of batches. */
export class ExtractPool {
  #slots: Slot[] = [];
  #nextId = 0;
  #url: string | undefined;
  #codec: "zstd" | "gzip";

  private constructor(codec: "zstd" | "gzip") {
    this.#codec = codec;
  }

  /** The codec the workers decompress. */
  get codec(): "zstd" | "gzip" {
    return this.#codec;
  }

  /**
   * Starts `count` workers. Returns undefined when this engine cannot start
   * one, so the caller extracts on its own thread.
   */
  static start(count: number, codec: "zstd" | "gzip", blockSize: number): ExtractPool | undefined {
    const pool = new ExtractPool(codec);
    const Web = webWorkers();
    try {
      if (Web !== undefined) {
        const source = extractWorkerSource(codec, blockSize, true);
        pool.#url = URL.createObjectURL(new Blob([source], { type: "text/javascript" }));
      }
      const source = Web === undefined ? extractWorkerSource(codec, blockSize, false) : "";
      for (let i = 0; i < count; i++) {
        const slot: Slot = {
          worker: undefined as unknown as AnyWorker,
          inFlight: 0,
          mirror: new FragmentMirror(),
          pending: new Map(),
        };
        const onReply = (reply: Reply) => {
          const done = slot.pending.get(reply.id);
          if (done === undefined) return;
          slot.pending.delete(reply.id);
          slot.inFlight--;
          done(reply.error);
        };
        const failAll = (message: string) => {
          for (const done of slot.pending.values()) {
            done({ message, offset: undefined, format: false, code: undefined });
          }
          slot.pending.clear();
          slot.inFlight = 0;
        };
        if (Web !== undefined) {
          const w = new Web(pool.#url!, { type: "module" });
          w.onmessage = (event) => onReply(event.data);
          w.onerror = (event) => {
            event.preventDefault();
            failAll(`Cannot extract: a worker failed: ${event.message ?? "unknown error"}`);
          };
          slot.worker = {
            post: (message, transfer) => w.postMessage(message, transfer),
            terminate: () => Promise.resolve(w.terminate()),
          };
        } else {
          const w = new NodeWorker(source, { eval: true });
          w.on("message", onReply);
          w.on("error", (error: Error) => {
            failAll(`Cannot extract: a worker failed: ${error.message}`);
          });
          w.on("exit", () => failAll("Cannot extract: a worker stopped"));
          slot.worker = {
            post: (message, transfer) => w.postMessage(message, transfer),
            terminate: async () => {
              w.removeAllListeners("exit");
              await w.terminate();
            },
          };
        }
        pool.#slots.push(slot);
      }
    } catch {
      // Fewer workers than asked (or none): the caller copes.
    }
    if (pool.#slots.length === 0) {
      void pool.close();
      return undefined;
    }
    return pool;
  }

  /** The least busy worker and its fragment mirror. */
  pick(): { index: number; inFlight: number; mirror: FragmentMirror } {
    let best = 0;
    for (let i = 1; i < this.#slots.length; i++) {
      if (this.#slots[i]!.inFlight < this.#slots[best]!.inFlight) best = i;
    }
    const slot = this.#slots[best]!;
    return { index: best, inFlight: slot.inFlight, mirror: slot.mirror };
  }

  /** Sends a batch to worker `index`; resolves with its error, if any, once written. */
  post(
    index: number,
    batch: Record<string, unknown>,
    transfer: ArrayBuffer[],
  ): Promise<BatchError | undefined> {
    const slot = this.#slots[index]!;
    const id = this.#nextId++;
    slot.inFlight++;
    return new Promise((resolve) => {
      slot.pending.set(id, resolve);
      slot.worker.post({ ...batch, id }, transfer);
    });
  }

  /** Stops the workers. */
  async close(): Promise<void> {
    const slots = this.#slots;
    this.#slots = [];
    await Promise.all(slots.map((slot) => slot.worker.terminate()));
    if (this.#url !== undefined) URL.revokeObjectURL(this.#url);
    this.#url = undefined;
  }
}
