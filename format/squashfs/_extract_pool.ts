/**
 * The worker threads {@linkcode SquashfsImage.extract} shares the writing of
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
import type * as WorkerThreads from "node:worker_threads";
import { CTRL_NEXT, CTRL_STOP, extractWorkerSource, type RunnerImage } from "./_extract_worker.ts";

/** A failure a worker reported. */
export interface BatchError {
  message: string;
  offset: number | undefined;
  /** The image is damaged (else an I/O error, with `code`). */
  format: boolean;
  code: string | undefined;
}

interface Reply {
  type: "error" | "done";
  error?: BatchError;
}

/** What the pool needs of a worker, whichever kind it is. */
interface AnyWorker {
  post(message: unknown): void;
  terminate(): Promise<void>;
}

interface Slot {
  worker: AnyWorker;
  done: boolean;
  wake: (() => void) | undefined;
}

interface WebWorkerLike {
  onmessage: ((event: { data: Reply }) => void) | null;
  onerror: ((event: { message?: string; preventDefault(): void }) => void) | null;
  postMessage(message: unknown): void;
  terminate(): void;
}

type WebWorkerConstructor = new (url: string, options: { type: "module" }) => WebWorkerLike;

function webWorkers(): WebWorkerConstructor | undefined {
  const g = globalThis as { Deno?: unknown; Worker?: WebWorkerConstructor };
  return g.Deno !== undefined && typeof g.Worker === "function" ? g.Worker : undefined;
}

/** A few workers that take batches from one shared list. */
export class ExtractPool {
  #slots: Slot[] = [];
  #url: string | undefined;
  #codec: "zstd" | "gzip";
  #error: BatchError | undefined;
  /** `[next batch, stop flag]`, shared with the workers. */
  readonly ctrl: Int32Array = new Int32Array(new SharedArrayBuffer(8));

  private constructor(codec: "zstd" | "gzip") {
    this.#codec = codec;
  }

  /** The codec the workers decompress. */
  get codec(): "zstd" | "gzip" {
    return this.#codec;
  }

  /** The first failure a worker reported, if any. */
  get error(): BatchError | undefined {
    return this.#error;
  }

  /**
   * Starts `count` workers. Returns undefined when this engine cannot start
   * one, so the caller extracts on its own thread.
   */
  static start(
    count: number,
    codec: "zstd" | "gzip",
    blockSize: number,
    chunkBlocks: number,
  ): ExtractPool | undefined {
    const pool = new ExtractPool(codec);
    const Web = webWorkers();
    try {
      const source = extractWorkerSource(codec, blockSize, chunkBlocks, Web !== undefined);
      if (Web !== undefined) {
        pool.#url = URL.createObjectURL(new Blob([source], { type: "text/javascript" }));
      }
      for (let i = 0; i < count; i++) {
        const slot: Slot = {
          worker: undefined as unknown as AnyWorker,
          done: false,
          wake: undefined,
        };
        const finish = () => {
          slot.done = true;
          slot.wake?.();
        };
        const fail = (message: string) => {
          pool.#error ??= { message, offset: undefined, format: false, code: undefined };
          Atomics.store(pool.ctrl, CTRL_STOP, 1);
          finish();
        };
        const onReply = (reply: Reply) => {
          if (reply.type === "error") {
            pool.#error ??= reply.error;
            Atomics.store(pool.ctrl, CTRL_STOP, 1);
          } else finish();
        };
        if (Web !== undefined) {
          const w = new Web(pool.#url!, { type: "module" });
          w.onmessage = (event) => onReply(event.data);
          w.onerror = (event) => {
            event.preventDefault();
            fail(`Cannot extract: a worker failed: ${event.message ?? "unknown error"}`);
          };
          slot.worker = {
            post: (message) => w.postMessage(message),
            terminate: () => Promise.resolve(w.terminate()),
          };
        } else {
          // Loaded here, not at module load: the runtime's one-file reads never start workers.
          const { Worker: NodeWorker } = process.getBuiltinModule(
            "node:worker_threads",
          ) as typeof WorkerThreads;
          const w = new NodeWorker(source, { eval: true });
          w.on("message", onReply);
          w.on("error", (error: Error) => {
            fail(`Cannot extract: a worker failed: ${error.message}`);
          });
          w.on("exit", () => fail("Cannot extract: a worker stopped"));
          slot.worker = {
            post: (message) => w.postMessage(message),
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

  /** Tells the workers which image to read; call once, before {@linkcode ExtractPool.publish}. */
  begin(image: RunnerImage): void {
    Atomics.store(this.ctrl, CTRL_NEXT, 0);
    Atomics.store(this.ctrl, CTRL_STOP, 0);
    for (const slot of this.#slots) slot.worker.post({ type: "begin", image, ctrl: this.ctrl });
  }

  /** Appends batches to the shared list. */
  publish(list: unknown[]): void {
    if (list.length === 0) return;
    for (const slot of this.#slots) slot.worker.post({ type: "batches", list });
  }

  /** No more batches: resolves once every worker has written the batches it took. */
  end(): Promise<void> {
    for (const slot of this.#slots) slot.worker.post({ type: "end" });
    return Promise.all(
      this.#slots.map((slot) =>
        slot.done ? undefined : new Promise<void>((resolve) => {
          slot.wake = resolve;
        })
      ),
    ).then(() => {});
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
