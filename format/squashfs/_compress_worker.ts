/**
 * Worker that compresses squashfs blocks. Messages in: {id, name, level, data};
 * out: {id, data, compressed}. The input buffer comes back when compression
 * does not shrink it, so the block is stored uncompressed.
 *
 * @module
 */
import { compressBlock, type CompressionName } from "./compressors.ts";

interface Job {
  id: number;
  name: CompressionName;
  level: number;
  data: Uint8Array<ArrayBuffer>;
}

// deno-lint-ignore no-explicit-any
const scope = globalThis as any;
scope.onmessage = (event: MessageEvent<Job>) => {
  const { id, name, level, data } = event.data;
  const packed = compressBlock(name, level, data);
  if (packed.length < data.length) {
    const out = new Uint8Array(packed.length);
    out.set(packed);
    scope.postMessage({ id, data: out, compressed: true }, [out.buffer]);
  } else {
    scope.postMessage({ id, data, compressed: false }, [data.buffer]);
  }
};
