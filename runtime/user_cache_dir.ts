/**
 * Where pbundle keeps its per-user caches: built runtimes, the pinned Node
 * toolchain, extracted static tools, verified extractions and verification
 * stamps. Engine-neutral (node: built-ins only), shared by the runtime and the
 * build side.
 *
 * @module
 */

import type * as Os from "node:os";
import { join } from "node:path";

/** node:os, loaded only when the environment does not answer: the runtime's start-up saves its load. */
function os(): typeof Os {
  return process.getBuiltinModule("node:os") as typeof Os;
}

/**
 * Returns pbundle's cache root: `$XDG_CACHE_HOME/pbundle`, else
 * `~/.cache/pbundle`; when neither HOME nor a home directory is known,
 * `$TMPDIR/pbundle-cache-<uid>`.
 *
 * @param env The environment to read, `process.env` by default.
 * @returns An absolute path; it may not exist yet.
 * @example Find the runtime cache
 * ```ts ignore
 * import { userCacheDir } from "@pbundle/pbundle/runtime/user_cache_dir.ts";
 * console.log(userCacheDir());
 * ```
 */
export function userCacheDir(env: Record<string, string | undefined> = process.env): string {
  const xdg = env.XDG_CACHE_HOME;
  if (xdg && xdg.startsWith("/")) return join(xdg, "pbundle");
  let home = env.HOME;
  if (!home) {
    try {
      home = os().homedir();
    } catch {
      home = "";
    }
  }
  if (home && home.startsWith("/")) return join(home, ".cache", "pbundle");
  let uid = "x";
  try {
    uid = String(os().userInfo().uid);
  } catch { /* keep "x" */ }
  return join(env.TMPDIR || os().tmpdir(), `pbundle-cache-${uid}`);
}
