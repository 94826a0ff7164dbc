/**
 * Makes a Node single executable application from one CommonJS script: the
 * pinned Node 24 writes the preparation blob (no snapshot; a code cache only
 * when building for the host's own CPU, so a cross build's blob holds nothing
 * CPU-specific), and postject injects it into a copy of the target's pinned
 * Node binary. The copy is made without the binary's debug information and
 * symbol tables ({@linkcode stripSections}: about 18 MB of the npm binary's
 * 126.6 MB that a running Node never reads), with no host tools.
 *
 * @module
 */

import { chmod, rename, rm, writeFile } from "node:fs/promises";
import { InputError, UsageError } from "../../errors.ts";
import { stripSections } from "../../format/elf/strip_sections.ts";
import {
  NODE_PACKAGES,
  NODE_SEA_FUSE,
  NODE_VERSION,
  pinnedFile,
  POSTJECT_PACKAGE,
  type RuntimeTarget,
} from "./_node_toolchain.ts";

/**
 * Returns the host's CPU as a runtime target.
 *
 * @returns "x86_64" or "aarch64".
 * @throws {UsageError} On any other CPU.
 */
export function hostTarget(): RuntimeTarget {
  const arch = process.arch;
  if (arch === "x64") return "x86_64";
  if (arch === "arm64") return "aarch64";
  throw new UsageError(
    `Cannot build a runtime on a ${arch} host: only x86_64 and aarch64 are supported`,
  );
}

/** Options for {@linkcode makeNodeSea}. */
export interface MakeNodeSeaOptions {
  /** The CommonJS script to embed. */
  script: string;
  /** Where to write the executable. */
  output: string;
  /**
   * The CPU it runs on.
   * @default {the host's CPU}
   */
  target?: RuntimeTarget;
  /** pbundle's cache root (the toolchain is kept under toolchain/). */
  cacheRoot: string;
  /**
   * SEA assets: key to file path.
   * @default {{}}
   */
  assets?: Record<string, string>;
  /**
   * Keys of assets that are JavaScript function expressions (a CommonJS
   * module in its wrapper, as _chunks.ts describes) to make V8 code caches
   * for, stored as the assets `<name>.cache` beside `<name>.js`: every
   * function compiled at build time, so the run compiles nothing. Made by the
   * host's Node, so only when building for the host's own CPU.
   * @default {[]}
   */
  codeCaches?: string[];
  /**
   * Called with one line per step.
   * @default {no output}
   */
  log?: (line: string) => void;
}

/**
 * Makes V8 code caches: for each pair of arguments (a script that is one
 * function expression, the cache file), compiles it with every inner function
 * compiled eagerly (--no-lazy), then turns lazy compilation back on before
 * serializing, so that the cache carries the flags a normal run has and V8
 * accepts it.
 */
const MAKE_CODE_CACHES = `"use strict";
const v8 = require("node:v8");
const vm = require("node:vm");
const fs = require("node:fs");
const args = process.argv.slice(1);
for (let i = 0; i + 1 < args.length; i += 2) {
  const source = fs.readFileSync(args[i], "utf8");
  v8.setFlagsFromString("--no-lazy");
  const script = new vm.Script(source, { filename: args[i] });
  v8.setFlagsFromString("--lazy");
  fs.writeFileSync(args[i + 1], script.createCachedData());
}`;

async function run(command: string, args: string[], what: string): Promise<void> {
  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (value !== undefined && key !== "NODE_OPTIONS") env[key] = value;
  }
  const output = await new Deno.Command(command, {
    args,
    env,
    clearEnv: true,
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!output.success) {
    const text = new TextDecoder().decode(output.stderr).trim().split("\n").slice(-8).join("\n");
    throw new InputError(`Cannot ${what}: ${command} exited with status ${output.code}\n${text}`);
  }
}

/**
 * Builds a Node single executable application.
 *
 * @param options Script, output, target, cache and assets.
 * @returns The output path.
 * @throws {InputError} When the toolchain cannot be fetched or a step fails.
 * @example Make a hello-world executable
 * ```ts ignore
 * import { makeNodeSea } from "@pbundle/pbundle/runtime/build/make_node_sea.ts";
 * await makeNodeSea({ script: "hello.cjs", output: "hello", cacheRoot: "/tmp/cache" });
 * ```
 */
export async function makeNodeSea(options: MakeNodeSeaOptions): Promise<string> {
  const log = options.log ?? (() => {});
  const host = hostTarget();
  const target = options.target ?? host;
  log(`fetching Node ${NODE_VERSION} (${host}${host === target ? "" : ` and ${target}`})`);
  const hostNode = await pinnedFile(NODE_PACKAGES[host], options.cacheRoot);
  const targetNode = host === target
    ? hostNode
    : await pinnedFile(NODE_PACKAGES[target], options.cacheRoot);
  const postject = await pinnedFile(POSTJECT_PACKAGE, options.cacheRoot);
  const stem = `${options.output}.sea-${process.pid}`;
  const blob = `${stem}.blob`;
  const seaConfig = `${stem}.json`;
  const binary = `${stem}.exe`;
  const assets = { ...options.assets };
  const caches: string[] = [];
  try {
    if (target === host && options.codeCaches && options.codeCaches.length > 0) {
      log("compiling the code caches");
      const args = ["-e", MAKE_CODE_CACHES];
      for (const key of options.codeCaches) {
        const source = assets[key];
        if (source === undefined) {
          throw new InputError(`Cannot make a code cache: no asset "${key}"`);
        }
        const cache = `${stem}.${caches.length}.cache`;
        caches.push(cache);
        args.push(source, cache);
        assets[`${key.replace(/\.js$/, "")}.cache`] = cache;
      }
      await run(hostNode, args, "make the code caches");
    }
    await writeFile(
      seaConfig,
      JSON.stringify({
        main: options.script,
        output: blob,
        disableExperimentalSEAWarning: true,
        useSnapshot: false,
        // A V8 code cache saves compiling the script at each start. It is
        // made by the host's Node: for another CPU it is left out (V8 would
        // reject it there and compile anyway).
        useCodeCache: target === host,
        execArgvExtension: "none",
        assets,
      }),
    );
    log("making the single-executable blob");
    await run(hostNode, ["--experimental-sea-config", seaConfig], "make the SEA blob");
    const stripped = await stripSections(targetNode, binary);
    log(
      `stripped ${stripped.removed.length} sections (${
        ((stripped.inputSize - stripped.outputSize) / 1e6).toFixed(1)
      } MB)${stripped.kept.length > 0 ? `; kept ${stripped.kept.join(" ")} (not at the end)` : ""}`,
    );
    await chmod(binary, 0o755);
    log("injecting the blob with postject");
    const inject = `require(process.argv[1]).inject(process.argv[2], "NODE_SEA_BLOB",
      require("fs").readFileSync(process.argv[3]), { sentinelFuse: process.argv[4] })
      .catch((e) => { console.error(e.message); process.exit(1); });`;
    await run(
      hostNode,
      ["-e", inject, postject, binary, blob, NODE_SEA_FUSE],
      "inject the SEA blob",
    );
    await rename(binary, options.output);
  } finally {
    await Promise.all([blob, seaConfig, binary, ...caches].map((f) => rm(f, { force: true })));
  }
  return options.output;
}
