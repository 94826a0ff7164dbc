/**
 * The parts of the runtime that a node-engine build keeps apart from its own
 * script: each is bundled into a SEA asset `<key>.js` (a CommonJS module
 * wrapped in its wrapper function, with a V8 code cache `<key>.cache` for
 * builds on the target's own CPU) and loaded by `seaModule(key)` the first
 * time a run needs it. A run that mounts and starts an app loads none of
 * them; an icon query loads the squashfs reader only. Under Deno the same
 * modules are plain dynamic imports.
 *
 * The values are the specifiers as the runtime's modules import them
 * (relative to runtime/), so the build can mark them external.
 *
 * @module
 */

/** The runtime's own script: the SEA's main script loads it from the asset `runtime.js`. */
export const CORE_CHUNK = "runtime";

/** Chunk key to the specifier its importer uses. */
export const RUNTIME_CHUNKS = {
  /** runtime/fullstack/host.ts: only full-stack apps (run_app.ts). */
  fullstack: "./fullstack/host.ts",
  /** The native squashfs reader: extraction and the file queries (image_reader.ts). */
  squashfs: "../format/squashfs/squashfs_image.ts",
  /** The full bundle reader: pelf bundles and precise errors (read_own_bundle.ts). */
  bundle: "../format/bundle.ts",
  /** Glob matching for --pbundle_extract with unsquashfs (image_reader.ts). */
  picomatch: "./_picomatch.ts",
} as const;

/** A chunk's key. */
export type RuntimeChunk = keyof typeof RUNTIME_CHUNKS;

/** The parameters of the function a chunk's asset holds (CommonJS's module wrapper). */
export const CHUNK_WRAPPER_PARAMS = "exports, require, module, __filename, __dirname";
