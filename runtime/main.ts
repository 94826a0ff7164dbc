/**
 * The runtime's entry point: the program at the head of every bundle. It reads
 * the bundle's runtime info, answers a runtime flag or runs the app, forwards
 * SIGINT/SIGTERM/SIGHUP to it, cleans up however the run ends, and exits with
 * the app's status (128+N after signal N; 127 when the app cannot start).
 *
 * Built into an executable by runtime/build/build_runtime.ts (Node single
 * executable application or deno compile); `deno run runtime/main.ts` with
 * TARGET_APPIMAGE=BUNDLE runs it from source.
 *
 * @module
 */

import { runCleanup } from "./_cleanup.ts";
import { exitProcess, signalNumber, trapSignals, writeOut } from "./_engine.ts";
import type { SignalRelay } from "./run_app.ts";
import { runBundle } from "./run_bundle.ts";
import { loadRuntimeContext } from "./runtime_context.ts";
import { EXIT_CANNOT_START, RuntimeError } from "./runtime_error.ts";
import { isRuntimeFlag, runRuntimeFlag } from "./runtime_flags.ts";

/**
 * Runs the runtime once.
 *
 * @param relay Where the running child's signal forwarder is published.
 * @returns The exit status.
 */
export async function runtimeMain(relay: SignalRelay): Promise<number> {
  const ctx = await loadRuntimeContext();
  const first = ctx.args[0] === undefined ? undefined : new TextDecoder().decode(ctx.args[0]);
  if (first !== undefined && isRuntimeFlag(first)) {
    return await runRuntimeFlag(ctx, first, ctx.args.slice(1), relay);
  }
  if (ctx.env.APPIMAGE_EXTRACT_AND_RUN === "1") {
    return await runBundle(ctx, relay, { forceExtract: true, keep: ctx.env.NO_CLEANUP === "1" });
  }
  return await runBundle(ctx, relay);
}

function start(): void {
  const relay: SignalRelay = { forward: undefined, hosted: false };
  trapSignals((signal) => {
    if (relay.forward) return relay.forward(signal);
    if (relay.hosted) return; // the full-stack host handles it and returns
    runCleanup();
    exitProcess(128 + signalNumber(signal));
  });
  runtimeMain(relay).then(
    (code) => {
      runCleanup();
      exitProcess(code);
    },
    (error) => {
      runCleanup();
      if (error instanceof RuntimeError) {
        writeOut(2, `pbundle runtime: ${error.message}\n`);
        exitProcess(error.exitCode);
      }
      writeOut(2, `pbundle runtime: internal error: ${error?.stack ?? error}\n`);
      exitProcess(EXIT_CANNOT_START);
    },
  );
}

start();
