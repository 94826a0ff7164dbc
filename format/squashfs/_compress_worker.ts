/**
 * Worker that compresses squashfs blocks. Messages in: {id, name, level, data};
 * out: {id, data, length, compressed}. The block's own buffer always comes
 * back (so the writer reuses it for a later block): holding the compressed
 * bytes at its start when they are shorter than the block, else the block
 * unchanged, to be stored uncompressed. Nothing else is allocated per block.
 *
 * @module
 */
import { compressInto, type CompressionName } from "./compressors.ts";

interface Job {
  id: number;
  name: CompressionName;
  level: number;
  data: Uint8Array<ArrayBuffer>;
}

let scratch = new Uint8Array(0);

// deno-lint-ignore no-explicit-any
const scope = globalThis as any;
scope.onmessage = (event: MessageEvent<Job>) => {
  const { id, name, level, data } = event.data;
  if (scratch.length < data.length) scratch = new Uint8Array(data.length);
  const n = data.length > 1
    ? compressInto(name, level, data, scratch.subarray(0, data.length - 1))
    : -1;
  if (n >= 0) data.set(scratch.subarray(0, n));
  scope.postMessage(
    { id, data, length: n >= 0 ? n : data.length, compressed: n >= 0 },
    [data.buffer],
  );
};
