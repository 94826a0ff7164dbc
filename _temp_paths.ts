/**
 * The temporary files and directories a running pack has made beside its
 * output, so that an interrupted pack (SIGINT, SIGTERM, SIGHUP) can remove them
 * before it exits: the CLI calls {@linkcode removeTempPaths} from its signal
 * handlers. Each writer removes its own on success or error as usual.
 *
 * @module
 */

import { rmSync } from "node:fs";

const live = new Set<string>();

/**
 * Records a temporary path until the returned function is called.
 *
 * @param path A temporary file or directory.
 * @returns A function that forgets the path again (call it once it is renamed or removed).
 */
export function trackTempPath(path: string): () => void {
  live.add(path);
  return () => live.delete(path);
}

/** Removes every temporary path still recorded, synchronously (safe in a signal handler). */
export function removeTempPaths(): void {
  for (const path of live) {
    try {
      rmSync(path, { recursive: true, force: true });
    } catch {
      // Nothing more can be done while exiting.
    }
  }
  live.clear();
}
