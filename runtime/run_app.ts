/**
 * Runs the app: AppRun (or a program named by --pbundle_link or by a multicall
 * symlink) as a child with every argument passed byte for byte and SIGINT,
 * SIGTERM and SIGHUP forwarded; or, when the image holds the full-stack marker
 * `.pbundle/fullstack.json`, the full-stack host in-process.
 *
 * @module
 */

import { existsSync } from "node:fs";
import { join } from "node:path";
import { exitStatusOf, type ForwardedSignal, runChild, seaModule } from "./_engine.ts";
import { BIN_DIRS } from "./app_environment.ts";
import type { RuntimeContext } from "./runtime_context.ts";
import { describeError, RuntimeError } from "./runtime_error.ts";
import { findOnPath, isExecutableFile } from "./_find_program.ts";

/** The marker file at the image root that makes a bundle a full-stack app. */
export const FULLSTACK_MARKER = ".pbundle/fullstack.json";

/** What the full-stack host receives: the seam between the runtime and runtime/fullstack/host.ts. */
export interface FullstackSeamContext {
  /** The mounted or extracted AppDir. */
  appDir: string;
  /** The app's environment, as for AppRun (APPDIR, SELF, portable HOME…). */
  env: Record<string, string>;
  /** The bundle's arguments (decoded as UTF-8). */
  args: string[];
  /** The bundle's runtime info. */
  runtimeInfo: Record<string, unknown>;
}

/** What runtime/fullstack/host.ts exports to the seam. */
interface FullstackHost {
  runFullstack(ctx: FullstackSeamContext): Promise<number>;
}

/**
 * The seam to the full-stack host: loads runtime/fullstack/host.ts and runs
 * its `runFullstack(ctx)`, which resolves with the exit status. A node-engine
 * runtime keeps the host apart from its own script (the "fullstack" chunk of
 * _chunks.ts) and loads it only now; under deno compile and `deno run` it is a
 * plain dynamic import.
 * Signals are the host's to handle while it runs; the runtime cleans up after
 * it returns.
 *
 * @param ctx The AppDir, environment, arguments and runtime info.
 * @returns The exit status.
 * @throws {RuntimeError} When this runtime was built without the host.
 */
export async function runFullstackSeam(ctx: FullstackSeamContext): Promise<number> {
  let host: FullstackHost;
  try {
    host = seaModule<FullstackHost>("fullstack") ?? await import("./fullstack/host.ts");
  } catch (error) {
    throw new RuntimeError(
      `Cannot host the full-stack app: this runtime was built without runtime/fullstack/host.ts (${
        error instanceof Error ? error.message : String(error)
      }); rebuild it with pbundle runtime build`,
    );
  }
  return await host.runFullstack(ctx);
}

/** Which program to run. */
export type AppEntry =
  | { kind: "apprun" }
  | { kind: "link"; program: string };

/** The hook main.ts uses to forward signals to the running child. */
export interface SignalRelay {
  /** Set while a child runs; main's signal trap calls it. */
  forward: ((signal: ForwardedSignal) => void) | undefined;
  /** True while the full-stack host runs in-process (it handles signals itself). */
  hosted: boolean;
}

/**
 * Finds a program the way multicall does: an executable of that name in one of
 * the AppDir's bin directories.
 *
 * @param appDir The AppDir.
 * @param name A program name without slashes.
 * @returns Its path, or undefined.
 */
export function findInBinDirs(appDir: string, name: string): string | undefined {
  if (!name || name.includes("/") || name === "." || name === "..") return undefined;
  for (const dir of BIN_DIRS) {
    const path = join(appDir, dir, name);
    if (isExecutableFile(path)) return path;
  }
  return undefined;
}

/**
 * Runs the app and waits for it.
 *
 * @param ctx The run's context.
 * @param appDir The AppDir.
 * @param env The app's environment.
 * @param entry AppRun, or a program to link to.
 * @param args The app's arguments, raw bytes.
 * @param relay Where to publish the signal forwarder.
 * @returns The exit status: the app's, or 128+N when signal N ended it.
 * @throws {RuntimeError} When the program is missing or cannot be started.
 */
export async function runApp(
  ctx: RuntimeContext,
  appDir: string,
  env: Record<string, string>,
  entry: AppEntry,
  args: Uint8Array[],
  relay: SignalRelay,
): Promise<number> {
  let program: string;
  if (entry.kind === "apprun") {
    if (existsSync(join(appDir, FULLSTACK_MARKER))) {
      relay.hosted = true;
      const decoder = new TextDecoder();
      return await runFullstackSeam({
        appDir,
        env,
        args: args.map((a) => decoder.decode(a)),
        runtimeInfo: { ...ctx.info },
      });
    }
    program = join(appDir, "AppRun");
    if (!existsSync(program)) {
      throw new RuntimeError(`Cannot run "${ctx.bundlePath}": its AppDir has no AppRun`);
    }
  } else if (entry.program.includes("/")) {
    program = entry.program;
  } else {
    const found = findOnPath(entry.program, env.PATH);
    if (!found) {
      throw new RuntimeError(
        `Cannot run "${entry.program}": it is neither in the bundle's bin directories nor on PATH`,
      );
    }
    program = found;
  }
  try {
    const exit = await runChild(program, args, {
      env,
      onStart: (kill) => {
        relay.forward = kill;
      },
    });
    return exitStatusOf(exit);
  } catch (error) {
    throw new RuntimeError(`Cannot start "${program}": ${describeError(error)}`);
  } finally {
    relay.forward = undefined;
  }
}
