/**
 * Builds the runtime ELF that heads every bundle, with one of two engines, and
 * caches it under `<cache>/pbundle/runtimes/<pbundle version>/<engine>-<target>`.
 *
 * - node: `deno bundle --platform node --format cjs` makes one script of
 *   runtime/main.ts, and a second one of runtime/fullstack/host.ts that the
 *   first loads from the SEA asset "fullstack.cjs" only for full-stack apps
 *   (so other runs neither parse nor compile it); the pinned Node 24 (see
 *   _node_toolchain.ts) turns them into a single-executable-application blob;
 *   postject injects the blob into a copy of the target's pinned Node binary.
 *   The blob carries a V8 code cache only when built for the host's own CPU
 *   and never a snapshot, so a blob made by the x86_64 Node serves an aarch64
 *   Node of the same version: cross builds work without running the target's
 *   binary.
 * - deno: `deno compile` with DENORT_BIN naming a denort binary (our machines
 *   cannot download one from dl.deno.land).
 *
 * The cache entry records the SHA-256 of the bundled scripts, so a changed
 * runtime source is rebuilt even when the pbundle version is unchanged.
 *
 * @module
 */

import { createHash } from "node:crypto";
import { existsSync, readdirSync, statSync } from "node:fs";
import { mkdir, mkdtemp, readFile, rename, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { InputError, UsageError } from "../../errors.ts";
import denoConfig from "../../deno.json" with { type: "json" };
import { CHUNK_WRAPPER_PARAMS, CORE_CHUNK, RUNTIME_CHUNKS } from "../_chunks.ts";
import { userCacheDir } from "../user_cache_dir.ts";
import { NODE_VERSION, type RuntimeTarget } from "./_node_toolchain.ts";
import { hostTarget, makeNodeSea } from "./make_node_sea.ts";

export { hostTarget } from "./make_node_sea.ts";

export type { RuntimeTarget } from "./_node_toolchain.ts";

/** The engines a runtime can be built with; "auto" picks deno when a denort is available. */
export type RuntimeEngine = "deno" | "node";

/** Options for {@linkcode buildRuntime} and {@linkcode cachedRuntime}. */
export interface BuildRuntimeOptions {
  /**
   * The engine: "deno" needs DENORT_BIN; "auto" uses deno when DENORT_BIN names
   * a file and node otherwise.
   * @default {"auto"}
   */
  engine?: RuntimeEngine | "auto";
  /**
   * The CPU the runtime runs on.
   * @default {the host's CPU}
   */
  target?: RuntimeTarget;
  /**
   * A directory of static tools (squashfuse, unsquashfs, fusermount, lib/…) to
   * build into the runtime itself, uncompressed (the "embed" edition). Bundles
   * packed with such a runtime need no .pbundle_static_tools section.
   * Node engine only.
   */
  embedToolsDir?: string;
  /**
   * pbundle's cache root.
   * @default {"$XDG_CACHE_HOME/pbundle or ~/.cache/pbundle"}
   */
  cacheDir?: string;
  /**
   * Called with one line per step ("bundling", "injecting", the engine chosen).
   * @default {no output}
   */
  log?: (line: string) => void;
}

/** A built runtime. */
export interface BuiltRuntime {
  /** The absolute path of the runtime ELF in the cache. */
  path: string;
  /** The engine it was built with. */
  engine: RuntimeEngine;
  /** The CPU it runs on. */
  target: RuntimeTarget;
  /** Why this engine was chosen, e.g. "node: DENORT_BIN is not set". */
  engineReason: string;
  /** Whether the cache already held it. */
  fromCache: boolean;
}

const DENO_TRIPLES: Record<RuntimeTarget, string> = {
  x86_64: "x86_64-unknown-linux-gnu",
  aarch64: "aarch64-unknown-linux-gnu",
};

/**
 * The permissions a deno-engine runtime is compiled with. The runtime reads the
 * bundle and caches, writes work dirs, runs AppRun and the FUSE tools and reads
 * the environment — but it also reads /proc/self/cmdline (arguments as raw
 * bytes), /proc/self/mountinfo (its mounts) and checks /dev/fuse, and Deno 2.9
 * grants /proc and /dev only with all access ("Requires all access to
 * /proc/self/mountinfo, run again with the --allow-all flag", also with
 * --allow-read=/proc). So the narrowest set that works is all of them; the
 * runtime is the bundle's own launcher, which runs the app's code anyway.
 */
const DENO_PERMISSIONS = ["--allow-all", "--no-prompt"];

/**
 * Picks the engine for "auto" and explains the choice.
 *
 * @param engine The requested engine.
 * @returns The engine and the reason.
 * @throws {UsageError} When "deno" is requested and DENORT_BIN names no file.
 */
export function resolveEngine(
  engine: RuntimeEngine | "auto" = "auto",
): { engine: RuntimeEngine; reason: string } {
  const denort = process.env.DENORT_BIN;
  const available = denort !== undefined && denort !== "" && existsSync(denort);
  if (engine === "node") return { engine, reason: "node: requested" };
  if (engine === "deno") {
    if (!available) {
      throw new UsageError(
        "Cannot build a deno-engine runtime: DENORT_BIN does not name a denort binary",
        "deno compile downloads denort from dl.deno.land; set DENORT_BIN=/path/to/denort, or use --engine node",
      );
    }
    return { engine, reason: `deno: requested, denort at "${denort}"` };
  }
  return available
    ? { engine: "deno", reason: `deno: DENORT_BIN names "${denort}"` }
    : { engine: "node", reason: "node: no denort available (DENORT_BIN is not set)" };
}

function runtimeEntry(): string {
  const url = new URL("../main.ts", import.meta.url);
  return url.protocol === "file:" ? fileURLToPath(url) : url.href;
}

/**
 * The --config for deno bundle and deno compile: pbundle's own deno.json when
 * it is a local file; when pbundle runs from a remote module (jsr:, https:),
 * a copy of its import map written into the work directory, so that neither
 * the current directory's deno.json nor its absence changes the build.
 */
async function configArgs(workDir: string): Promise<string[]> {
  const url = new URL("../../deno.json", import.meta.url);
  if (url.protocol === "file:") return ["--config", fileURLToPath(url)];
  const path = join(workDir, "deno.json");
  await writeFile(path, JSON.stringify({ imports: denoConfig.imports }));
  return ["--config", path];
}

async function run(command: string, args: string[], what: string, env?: Record<string, string>) {
  const output = await new Deno.Command(command, {
    args,
    stdout: "piped",
    stderr: "piped",
    ...(env ? { env } : {}),
  }).output();
  if (!output.success) {
    const text = new TextDecoder().decode(output.stderr).trim().split("\n").slice(-8).join("\n");
    throw new InputError(`Cannot ${what}: ${command} exited with status ${output.code}\n${text}`);
  }
  return output;
}

/** Bundles one module and what it imports into a CommonJS script for Node. */
async function bundleModule(
  entry: URL,
  out: string,
  workDir: string,
  external: string[] = [],
): Promise<void> {
  const args = ["bundle", "--quiet", "--platform", "node", "--format", "cjs", "-o", out];
  args.push(...await configArgs(workDir));
  for (const specifier of external) args.push(`--external=${specifier}`);
  // Remote sources (pbundle run from jsr: or https:) may sit on a host outside
  // deno's default import allow-list, e.g. a mirror.
  if (entry.protocol !== "file:") args.push(`--allow-import=${entry.host}`);
  args.push(entry.protocol === "file:" ? fileURLToPath(entry) : entry.href);
  await run(Deno.execPath(), args, `bundle ${out.slice(out.lastIndexOf("/") + 1)}`);
}

/** The runtime's scripts for Node. */
interface RuntimeScripts {
  /** The SEA's main script: it loads the runtime's own script from its asset. */
  main: string;
  /** Asset key to file: `<chunk>.js` for the runtime's script and each part kept apart. */
  assets: Record<string, string>;
  /** The keys of the assets that are scripts (a V8 code cache is made for each on native builds). */
  scripts: string[];
}

/**
 * The SEA's main script. It runs the runtime's own script from the asset
 * runtime.js with the code cache runtime.cache made at build time (every
 * function compiled, not only the top level that Node's own "useCodeCache"
 * covers); see _chunks.ts and _engine.ts's seaModule for the other parts.
 */
const SEA_MAIN = `"use strict";
const sea = require("node:sea");
let cachedData;
try {
  cachedData = new Uint8Array(sea.getRawAsset("${CORE_CHUNK}.cache"));
} catch {}
const script = new (require("node:vm").Script)(sea.getAsset("${CORE_CHUNK}.js", "utf8"), {
  filename: "${CORE_CHUNK}.js",
  cachedData,
});
const runtimeModule = { exports: {} };
script.runInThisContext().call(runtimeModule.exports, runtimeModule.exports, require, runtimeModule,
  "${CORE_CHUNK}.js", ".");
`;

/**
 * Bundles runtime/main.ts into the runtime's own script, and apart from it
 * each part of _chunks.ts (the full-stack host, the squashfs reader, the full
 * bundle reader, picomatch): most runs need none of them, and a script the run
 * does not load costs nothing. Each is wrapped in CommonJS's module function,
 * the form seaModule runs.
 */
async function bundleScripts(workDir: string): Promise<RuntimeScripts> {
  const runtimeDir = new URL("../", import.meta.url);
  const parts: [string, URL, string[]][] = [
    [CORE_CHUNK, new URL("main.ts", runtimeDir), Object.values(RUNTIME_CHUNKS)],
  ];
  for (const [key, specifier] of Object.entries(RUNTIME_CHUNKS)) {
    const entry = new URL(specifier, runtimeDir);
    // A runtime built without the full-stack host reports so when asked to host.
    if (entry.protocol === "file:" && !existsSync(fileURLToPath(entry))) continue;
    parts.push([key, entry, []]);
  }
  const assets: Record<string, string> = {};
  for (const [key, entry, external] of parts) {
    const bundled = join(workDir, `${key}.cjs`);
    await bundleModule(entry, bundled, workDir, external);
    const wrapped = join(workDir, `${key}.js`);
    await writeFile(
      wrapped,
      `(function (${CHUNK_WRAPPER_PARAMS}) {${await readFile(bundled, "utf8")}\n})`,
    );
    assets[`${key}.js`] = wrapped;
  }
  const main = join(workDir, "sea_main.cjs");
  await writeFile(main, SEA_MAIN);
  return { main, assets, scripts: Object.keys(assets) };
}

function walkFiles(root: string, dir = root, out: string[] = []): string[] {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) walkFiles(root, path, out);
    else if (entry.isFile()) out.push(relative(root, path));
  }
  return out.sort();
}

/** Describes embedded tools: a manifest asset plus one asset per file. */
async function embedAssets(
  toolsDir: string,
  workDir: string,
): Promise<{ assets: Record<string, string>; id: string }> {
  if (!existsSync(toolsDir) || !statSync(toolsDir).isDirectory()) {
    throw new UsageError(`Cannot embed tools from "${toolsDir}": it is not a directory`);
  }
  const files = walkFiles(toolsDir);
  if (files.length === 0) {
    throw new UsageError(`Cannot embed tools from "${toolsDir}": it is empty`);
  }
  const hash = createHash("sha256");
  const assets: Record<string, string> = {};
  const manifestFiles: { path: string; mode: number }[] = [];
  for (const file of files) {
    const path = join(toolsDir, file);
    hash.update(file).update("\0").update(await readFile(path)).update("\0");
    assets[`tools/${file}`] = path;
    manifestFiles.push({ path: file, mode: statSync(path).mode & 0o777 });
  }
  const id = hash.digest("hex").slice(0, 16);
  const manifest = join(workDir, "tools.json");
  await writeFile(manifest, JSON.stringify({ id, files: manifestFiles }));
  assets["tools.json"] = manifest;
  return { assets, id };
}

async function buildDeno(
  target: RuntimeTarget,
  output: string,
  workDir: string,
  embedToolsDir?: string,
) {
  if (embedToolsDir) {
    throw new UsageError(
      "Cannot embed tools in a deno-engine runtime yet",
      "use --engine node with --embed-tools, or pack with a .pbundle_static_tools section",
    );
  }
  const args = [
    "compile",
    "--quiet",
    "--no-check",
    "--target",
    DENO_TRIPLES[target],
    ...DENO_PERMISSIONS,
  ];
  args.push(...await configArgs(workDir));
  args.push("-o", output, runtimeEntry());
  await run(Deno.execPath(), args, "compile the deno runtime");
}

function runtimePath(
  cacheRoot: string,
  engine: RuntimeEngine,
  target: RuntimeTarget,
  embedId?: string,
): string {
  return join(
    cacheRoot,
    "runtimes",
    denoConfig.version,
    `${engine}-${target}${embedId ? `-embed-${embedId}` : ""}`,
  );
}

async function buildInto(options: BuildRuntimeOptions, reuse: boolean): Promise<BuiltRuntime> {
  const log = options.log ?? (() => {});
  const entry = runtimeEntry();
  if (!entry.includes("://") && !existsSync(entry)) {
    // pbundle's release AppBundle ships bundled code and prebuilt runtimes, not the runtime's sources.
    const prebuilt = process.env[PREBUILT_RUNTIME_DIR_ENV];
    throw new UsageError(
      `Cannot build a runtime: this pbundle has no runtime sources ("${entry}" is missing)`,
      prebuilt
        ? `this pbundle packs with its prebuilt runtimes in "${prebuilt}"; to build others, run pbundle from source or JSR`
        : "run pbundle from its source tree or from JSR",
    );
  }
  const { engine, reason } = resolveEngine(options.engine);
  const target = options.target ?? hostTarget();
  const cacheRoot = options.cacheDir ?? userCacheDir();
  log(`engine ${reason}`);
  const workDir = await mkdtemp(join(tmpdir(), "pbundle-runtime-build-"));
  try {
    const scripts = await bundleScripts(workDir);
    const hash = createHash("sha256").update(await readFile(scripts.main));
    for (const [key, file] of Object.entries(scripts.assets)) {
      hash.update(`\0${key}\0`).update(await readFile(file));
    }
    const scriptHash = hash.digest("hex");
    let assets: Record<string, string> = {};
    let embedId: string | undefined;
    if (options.embedToolsDir) {
      ({ assets, id: embedId } = await embedAssets(options.embedToolsDir, workDir));
    }
    assets = { ...assets, ...scripts.assets };
    const path = runtimePath(cacheRoot, engine, target, embedId);
    const stampPath = `${path}.json`;
    // "sections" names how the Node binary is cut down, so that a change rebuilds.
    const stamp = JSON.stringify({
      engine,
      target,
      scriptHash,
      node: NODE_VERSION,
      ...(engine === "node" ? { sections: "stripped" } : {}),
    });
    if (reuse && existsSync(path)) {
      try {
        if ((await readFile(stampPath, "utf8")) === stamp) {
          return { path, engine, target, engineReason: reason, fromCache: true };
        }
      } catch { /* no stamp: rebuild */ }
    }
    await mkdir(join(path, ".."), { recursive: true });
    const temporary = `${path}.tmp-${process.pid}-${Date.now()}`;
    try {
      if (engine === "node") {
        await makeNodeSea({
          script: scripts.main,
          output: temporary,
          target,
          cacheRoot,
          assets,
          codeCaches: scripts.scripts,
          log,
        });
      } else {
        await buildDeno(target, temporary, workDir, options.embedToolsDir);
      }
      await rename(temporary, path);
      await writeFile(stampPath, stamp);
    } finally {
      await rm(temporary, { force: true });
    }
    log(`runtime at "${path}"`);
    return { path, engine, target, engineReason: reason, fromCache: false };
  } finally {
    await rm(workDir, { recursive: true, force: true });
  }
}

/**
 * The environment variable naming a directory of prebuilt runtimes, one file
 * per `<engine>-<target>` (e.g. `node-x86_64`). {@linkcode cachedRuntime} uses
 * a matching file from it before building one; pbundle's own AppBundle sets it
 * to the runtime it ships, so packing there needs neither network nor toolchain.
 */
export const PREBUILT_RUNTIME_DIR_ENV = "PBUNDLE_PREBUILT_RUNTIME_DIR";

function prebuiltRuntime(options: BuildRuntimeOptions): BuiltRuntime | undefined {
  const dir = process.env[PREBUILT_RUNTIME_DIR_ENV];
  if (!dir || options.embedToolsDir) return undefined;
  const target = options.target ?? hostTarget();
  const engines: RuntimeEngine[] = options.engine === "deno" || options.engine === "node"
    ? [options.engine]
    : ["deno", "node"];
  for (const engine of engines) {
    const path = join(dir, `${engine}-${target}`);
    if (existsSync(path) && statSync(path).isFile()) {
      return {
        path,
        engine,
        target,
        engineReason: `${engine}: prebuilt, from ${PREBUILT_RUNTIME_DIR_ENV} ("${dir}")`,
        fromCache: true,
      };
    }
  }
  return undefined;
}

/**
 * Builds a runtime and stores it in the cache, replacing any cached one.
 *
 * @param options Engine, target, embedded tools and cache location.
 * @returns Where the runtime is, and which engine built it.
 * @throws {UsageError} When the engine is unavailable or the target unsupported.
 * @throws {InputError} When the toolchain cannot be fetched or a build step fails.
 * @example Build the node-engine runtime for this machine
 * ```ts
 * import { buildRuntime } from "@pbundle/pbundle";
 * import assert from "node:assert/strict";
 *
 * const built = await buildRuntime({ engine: "node", log: (line) => console.error(line) });
 * assert.equal(built.engine, "node");
 * assert.equal(built.fromCache, false);
 * // An ELF executable: pbundle puts it at the head of every bundle.
 * const head = (await Deno.readFile(built.path)).subarray(0, 4);
 * assert.deepEqual([...head], [0x7f, 0x45, 0x4c, 0x46]);
 * ```
 */
export function buildRuntime(options: BuildRuntimeOptions = {}): Promise<BuiltRuntime> {
  return buildInto(options, false);
}

/**
 * Returns the cached runtime for the options, building it when it is missing
 * or was built from different runtime sources. A prebuilt runtime in the
 * directory named by `PBUNDLE_PREBUILT_RUNTIME_DIR` is used first.
 *
 * @param options Engine, target, embedded tools and cache location.
 * @returns Where the runtime is, and which engine built it.
 * @throws {UsageError} When the engine is unavailable or the target unsupported.
 * @throws {InputError} When the toolchain cannot be fetched or a build step fails.
 * @example Get a runtime for `pbundle pack`
 * ```ts
 * import { cachedRuntime } from "@pbundle/pbundle";
 * import assert from "node:assert/strict";
 *
 * const first = await cachedRuntime(); // builds it when missing or out of date
 * const again = await cachedRuntime();
 * assert.equal(again.path, first.path);
 * assert.equal(again.fromCache, true);
 * console.error(`using ${again.path} (${again.engineReason})`);
 * ```
 */
export function cachedRuntime(options: BuildRuntimeOptions = {}): Promise<BuiltRuntime> {
  const prebuilt = prebuiltRuntime(options);
  if (prebuilt) {
    options.log?.(`engine ${prebuilt.engineReason}`);
    return Promise.resolve(prebuilt);
  }
  return buildInto(options, true);
}
