/**
 * The default launch: get at the AppDir (mount or extract), build the app's
 * environment, pick the program (AppRun, --pbundle_link's program, or the
 * multicall name) and run it.
 *
 * @module
 */

import { basename } from "node:path";
import { writeOut } from "./_engine.ts";
import { buildAppEnvironment } from "./app_environment.ts";
import { openAppDir } from "./open_app_dir.ts";
import { type AppEntry, findInBinDirs, runApp, type SignalRelay } from "./run_app.ts";
import type { RuntimeContext } from "./runtime_context.ts";
import { ToolBox } from "./tool_box.ts";

/** Options for {@linkcode runBundle}. */
export interface RunBundleOptions {
  /** Extract even when MountOrExtract says mount (extract-and-run). */
  forceExtract?: boolean;
  /** Keep the extraction (NO_CLEANUP=1 with extract-and-run). */
  keep?: boolean;
  /** The program to run instead of AppRun (--pbundle_link). */
  link?: string;
  /** The app's arguments. @default {ctx.args} */
  args?: Uint8Array[];
}

/**
 * Tells the multicall name of this run: argv[0]'s base name when it differs
 * from the bundle's own name and is not "AppRun".
 *
 * @param ctx The run's context.
 * @returns The name, or undefined for a plain launch.
 */
export function multicallName(ctx: RuntimeContext): string | undefined {
  const name = basename(ctx.argv0);
  if (!name || name === "AppRun") return undefined;
  if (name === basename(ctx.executable) || name === basename(ctx.bundlePath)) return undefined;
  return name;
}

/**
 * Runs the bundle's app and returns its exit status.
 *
 * @param ctx The run's context.
 * @param relay Where the running child's signal forwarder is published.
 * @param options Extraction, link and arguments.
 * @returns The exit status.
 * @throws {RuntimeError} When the app cannot be started.
 */
export async function runBundle(
  ctx: RuntimeContext,
  relay: SignalRelay,
  options: RunBundleOptions = {},
): Promise<number> {
  const tools = new ToolBox(ctx);
  const opened = await openAppDir(ctx, tools, {
    ...(options.forceExtract ? { forceExtract: true } : {}),
    ...(options.keep ? { keep: true } : {}),
  });
  const toolsDir = tools.prepare();
  if (tools.warning) writeOut(2, `pbundle runtime: ${tools.warning}\n`);
  const env = buildAppEnvironment(ctx, opened.appDir, toolsDir);
  let entry: AppEntry = { kind: "apprun" };
  if (options.link !== undefined) {
    entry = { kind: "link", program: options.link };
  } else {
    const name = multicallName(ctx);
    const program = name ? findInBinDirs(opened.appDir, name) : undefined;
    if (program) entry = { kind: "link", program };
  }
  return await runApp(ctx, opened.appDir, env, entry, options.args ?? ctx.args, relay);
}
