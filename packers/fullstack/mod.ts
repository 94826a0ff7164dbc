/**
 * The full-stack packer: `pbundle pack --config FILE [--build]` turns a project
 * described by a pack file (auroraview's pbundle.pack.toml / auroraview.pack.toml)
 * into an AppBundle whose runtime hosts the app in-process, and `pbundle dev`
 * runs the same project from its source tree with the same host.
 *
 * @module
 */

import { trackTempPath } from "../../_temp_paths.ts";
import { cpSync, existsSync, mkdirSync, mkdtempSync, renameSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, dirname, join, resolve } from "node:path";
import process from "node:process";
import { InputError } from "../../errors.ts";
import { pack, type PackOptions, type PackResult } from "../appdir.ts";
import type { PythonStrategy } from "../../runtime/fullstack/document.ts";
import { type Frontend, runFullstack } from "../../runtime/fullstack/host.ts";
import { logLevelFrom } from "../../runtime/fullstack/log.ts";
import { type PackConfig, readPackConfig } from "./config.ts";
import { devDocument } from "./dev_document.ts";
import { type FullstackPlan, planFullstack } from "./plan_fullstack.ts";
import {
  ALWAYS_SHOWN,
  collectResources,
  pbundleCacheDir,
  pipInstall,
  runCommand,
  SUPPORT_SOURCE_DIR,
  writeFullstackAppDir,
  type WriteFullstackResult,
} from "./write_fullstack_app_dir.ts";
import { ensureSupportFiles } from "./_support_files.ts";

export { ConfigError, PACK_CONFIG_NAMES, parsePackConfig, readPackConfig } from "./config.ts";
export type { CollectRule, PackConfig } from "./config.ts";
export { planFullstack } from "./plan_fullstack.ts";
export { devDocument } from "./dev_document.ts";
export type { FullstackPlan, PlanFullstackOptions } from "./plan_fullstack.ts";
export { writeFullstackAppDir } from "./write_fullstack_app_dir.ts";
export type { WriteFullstackOptions, WriteFullstackResult } from "./write_fullstack_app_dir.ts";

/** Options for {@linkcode packFullstack}. */
export interface PackFullstackOptions {
  /** --config: the pack file, or a directory holding pbundle.pack.toml or auroraview.pack.toml. */
  config: string;
  /**
   * --build: run [build] before (and after) commands.
   * @default false
   */
  build?: boolean;
  /**
   * -o: the bundle (or, for portable, the directory) to write; its directory must exist.
   * @default {"[build] out_dir/NAME-VERSION.AppBundle (out_dir is created)"}
   */
  output?: string;
  /** --runtime: the runtime ELF; default: pack()'s cached runtime. */
  runtime?: string;
  /** --strategy: overrides [python] strategy. */
  strategy?: PythonStrategy;
  /**
   * -c: compression (ALGO[:LEVEL]).
   * @default {"zstd:15 with [build] release = true, zstd:3 otherwise"}
   */
  compression?: string;
  /** Also keep the built AppDir here (for inspection). */
  keepAppDir?: string;
  /**
   * Reuse pip installs cached by requirement list, Python version, platform and pip's configuration.
   * @default true
   */
  pipCache?: boolean;
  /** pbundle's cache directory. @default {"$XDG_CACHE_HOME/pbundle"} */
  cacheDir?: string;
  /** The environment for commands and pip. @default process.env */
  env?: Record<string, string>;
  /**
   * Where pack's lines go. Progress lines reach it only with [debug] verbose or
   * PBUNDLE_LOG=debug (or trace) in `env`; lines starting with "warning" or "note" always do.
   * @default {"lines to stderr, prefixed \"pbundle: \""}
   */
  log?: (line: string) => void;
  /** Warnings from pack(). */
  onWarning?: (message: string) => void;
  /** Further pack() options (static tools, run behavior...). */
  packOptions?: Partial<PackOptions>;
}

/** What {@linkcode packFullstack} wrote. */
export interface PackFullstackResult {
  /** The bundle or directory written. */
  output: string;
  /** "bundle" or "directory" (portable). */
  outputKind: "bundle" | "directory";
  /** The AppBundleID. */
  appBundleId: string;
  /** The strategy. */
  strategy: PythonStrategy;
  /** pack()'s result, for bundles. */
  pack: PackResult | null;
  /** What the AppDir writer did. */
  appDir: WriteFullstackResult;
}

/**
 * Packs a full-stack project into an AppBundle (or, with the portable
 * strategy, a directory). Full-stack bundles extract into a persistent cache
 * under the user's cache directory (run behavior 1 with a fixed work
 * directory), reused on the next launch.
 *
 * @param options The pack file and overrides.
 * @returns What was written.
 * @throws {ConfigError} For a bad pack file.
 * @throws {InputError} When a command, pip, the runtime or the output fails.
 * @example Pack a tiny project: a page and a Python backend run by the host's python3.11
 * ```ts
 * import { packFullstack } from "@pbundle/pbundle";
 * import assert from "node:assert/strict";
 *
 * const dir = await Deno.makeTempDir();
 * try {
 *   await Deno.mkdir(`${dir}/frontend`);
 *   await Deno.writeTextFile(`${dir}/frontend/index.html`, "<h1>Hello</h1>\n");
 *   await Deno.writeTextFile(
 *     `${dir}/main.py`,
 *     [
 *       "from pbundle_backend import bind_call, serve",
 *       '@bind_call("api.hello")',
 *       "def hello(name):",
 *       '    return f"Hello, {name}!"',
 *       "def run():",
 *       "    serve()",
 *     ].join("\n"),
 *   );
 *   await Deno.writeTextFile(
 *     `${dir}/pbundle.pack.toml`,
 *     [
 *       "[package]",
 *       'name = "hello-web"',
 *       'version = "1.0.0"',
 *       "[app]",
 *       'frontend_path = "frontend"',
 *       "[python]",
 *       'entry_point = "main:run"',
 *       'include_paths = ["."]',
 *       'strategy = "system"',
 *     ].join("\n"),
 *   );
 *
 *   const result = await packFullstack({ config: dir, output: `${dir}/hello-web.AppBundle` });
 *   assert.equal(result.outputKind, "bundle");
 *   assert.equal(result.strategy, "system");
 *
 *   // PBUNDLE_FRONTEND=stdio: JSON-RPC calls on stdin, replies on stdout.
 *   const app = new Deno.Command(result.output, {
 *     env: { PBUNDLE_FRONTEND: "stdio" },
 *     stdin: "piped",
 *     stdout: "piped",
 *   }).spawn();
 *   const stdin = app.stdin.getWriter();
 *   await stdin.write(new TextEncoder().encode('{"id":1,"method":"api.hello","params":["you"]}\n'));
 *   await stdin.close();
 *   const replies = new TextDecoder().decode((await app.output()).stdout).trim().split("\n");
 *   assert.deepEqual(JSON.parse(replies.at(-1)!), { id: 1, ok: true, result: "Hello, you!" });
 * } finally {
 *   await Deno.remove(dir, { recursive: true });
 * }
 * ```
 */
export async function packFullstack(options: PackFullstackOptions): Promise<PackFullstackResult> {
  const config = readPackConfig(options.config);
  const plan = planFullstack(config, {
    ...(options.strategy ? { strategy: options.strategy } : {}),
    ...(options.build !== undefined ? { build: options.build } : {}),
    ...(options.output ? { output: resolve(options.output) } : {}),
  });
  const env = options.env ?? (process.env as Record<string, string>);
  const log = progressLog(config, env, options.log);
  const output = resolve(plan.output);
  // [build] out_dir is the project's own output directory: create it. A directory
  // given with -o must exist (a typo there should not create a tree).
  if (!options.output) mkdirSync(dirname(output), { recursive: true });
  if (!existsSync(dirname(output))) {
    throw new InputError(
      `Cannot write "${output}": the directory "${dirname(output)}" does not exist`,
    );
  }
  const work = mkdtempSync(join(dirname(output), `.${basename(output)}.work-`));
  const untrack = trackTempPath(work);
  try {
    const appDir = join(work, "AppDir");
    const written = await writeFullstackAppDir(plan, appDir, {
      env,
      log,
      ...(options.cacheDir ? { cacheDir: options.cacheDir } : {}),
      ...(options.pipCache !== undefined ? { pipCache: options.pipCache } : {}),
    });
    if (options.keepAppDir) {
      rmSync(options.keepAppDir, { recursive: true, force: true });
      copyDir(appDir, options.keepAppDir);
    }
    let packed: PackResult | null = null;
    if (plan.outputKind === "directory") {
      rmSync(output, { recursive: true, force: true });
      renameSync(appDir, output);
    } else {
      packed = await pack({
        appDir,
        appBundleId: plan.appBundleId,
        output,
        runBehavior: 1,
        disableRandomWorkDir: true,
        compression: options.compression ?? (config.build.release ? "zstd:15" : "zstd:3"),
        appimageCompat: config.bundle.platform.linux.appimage,
        ...(options.runtime ? { runtime: options.runtime } : {}),
        ...(options.onWarning ? { onWarning: options.onWarning } : {}),
        ...(options.packOptions ?? {}),
      });
    }
    for (const command of plan.afterCommands) {
      runCommand(command, config.dir, { ...env, PBUNDLE_OUTPUT: output }, log);
    }
    return {
      output,
      outputKind: plan.outputKind,
      appBundleId: plan.appBundleId,
      strategy: plan.strategy,
      pack: packed,
      appDir: written,
    };
  } finally {
    rmSync(work, { recursive: true, force: true });
    untrack();
  }
}

/**
 * Builds only the AppDir of a project (no bundle): for tests, inspection and
 * the portable strategy.
 *
 * @param configPath The pack file.
 * @param appDir The AppDir to write.
 * @param options Strategy override and writer options.
 * @returns The plan and what was written.
 */
export async function buildFullstackAppDir(
  configPath: string,
  appDir: string,
  options: {
    strategy?: PythonStrategy;
    build?: boolean;
    env?: Record<string, string>;
    log?: (line: string) => void;
    cacheDir?: string;
  } = {},
): Promise<{ plan: FullstackPlan; written: WriteFullstackResult }> {
  const config = readPackConfig(configPath);
  const plan = planFullstack(config, {
    ...(options.strategy ? { strategy: options.strategy } : {}),
    ...(options.build !== undefined ? { build: options.build } : {}),
  });
  const written = await writeFullstackAppDir(plan, appDir, {
    ...(options.env ? { env: options.env } : {}),
    log: progressLog(config, options.env ?? process.env, options.log),
    ...(options.cacheDir ? { cacheDir: options.cacheDir } : {}),
  });
  return { plan, written };
}

/** Options for {@linkcode runDev}. */
export interface RunDevOptions {
  /** The pack file or its directory. */
  config: string;
  /** Arguments passed to the backend. */
  args?: string[];
  /** The environment. @default process.env */
  env?: Record<string, string>;
  /** The frontend; default as for bundles (PBUNDLE_FRONTEND, else stdio). */
  frontend?: Frontend;
  /** pbundle's cache directory (pip installs). */
  cacheDir?: string;
  /** Where progress lines go; filtered as for {@linkcode PackFullstackOptions.log}. */
  log?: (line: string) => void;
}

/**
 * `pbundle dev`: runs a project from its source tree with the same host as a
 * bundle. The code is imported from the include paths in place, packages come
 * from a pip install cached under pbundle's cache directory, resources are
 * collected into a temporary directory, and AURORAVIEW_PACKED is not set.
 *
 * @param options The pack file, arguments, frontend.
 * @returns The exit status.
 */
export async function runDev(options: RunDevOptions): Promise<number> {
  const config = readPackConfig(options.config);
  const env = options.env ?? (process.env as Record<string, string>);
  const log = progressLog(config, env, options.log);
  await ensureSupportFiles();
  const root = mkdtempSync(join(tmpdir(), `pbundle-dev-${config.package.name}-`));
  try {
    for (const command of config.hooks.beforeCollect) runCommand(command, config.dir, env, log);
    collectResources(config, root, log);
    const doc = devDocument(config);
    doc.resources = join(root, "resources");
    if (doc.python && config.python.packages.length > 0) {
      const site = join(root, "site-packages");
      pipInstall(config.python.packages, config.python.version, site, {
        env,
        cacheDir: options.cacheDir ?? pbundleCacheDir(env),
        log,
        useCache: true,
      });
      doc.python.sitePackages = site;
    }
    return await runFullstack(
      { appDir: config.dir, env, args: options.args ?? [], runtimeInfo: {} },
      {
        document: doc,
        supportDir: SUPPORT_SOURCE_DIR,
        ...(options.frontend ? { frontend: options.frontend } : {}),
      },
    );
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

/**
 * The packer's logger: warnings and notes always, progress lines only when verbose
 * ([debug] verbose, or PBUNDLE_LOG=debug or trace).
 */
function progressLog(
  config: PackConfig,
  env: Record<string, string | undefined>,
  sink: ((line: string) => void) | undefined,
): (line: string) => void {
  const verbose = logLevelFrom(env, config.debug.verbose) === "debug";
  const write = sink ?? ((line: string) => void process.stderr.write(`pbundle: ${line}\n`));
  return (line) => {
    if (verbose || ALWAYS_SHOWN.test(line)) write(line);
  };
}

function copyDir(from: string, to: string): void {
  cpSync(from, to, { recursive: true, verbatimSymlinks: true });
}
