/**
 * pbundle packs an application directory into one self-contained Linux
 * executable, an AppBundle: a runtime ELF, ELF sections holding CBOR runtime
 * info and optional static tools, and a squashfs or DwarFS image appended at
 * the end of the ELF.
 *
 * @example Pack an AppDir, then verify, inspect and extract the bundle (runs in `deno test --doc`)
 * ```ts
 * import { extractImage, pack, readBundle, verifyBundle } from "@pbundle/pbundle";
 * import assert from "node:assert/strict";
 *
 * const dir = await Deno.makeTempDir();
 * try {
 *   // The smallest AppDir: an executable AppRun.
 *   await Deno.mkdir(`${dir}/AppDir`);
 *   await Deno.writeTextFile(`${dir}/AppDir/AppRun`, "#!/bin/sh\necho hello\n", { mode: 0o755 });
 *
 *   // Without `runtime`, pack uses the cached runtime for this machine (built on first use).
 *   const { output } = await pack({
 *     appDir: `${dir}/AppDir`,
 *     appBundleId: "hello-20260101-me",
 *     output: `${dir}/hello.AppBundle`,
 *   });
 *   assert.equal((await verifyBundle(output)).ok, true);
 *   const bundle = await readBundle(output);
 *   assert.equal(bundle.runtimeInfo.AppBundleID, "hello-20260101-me");
 *   await extractImage(bundle, `${dir}/files`);
 *   assert.equal(await Deno.readTextFile(`${dir}/files/AppRun`), "#!/bin/sh\necho hello\n");
 *
 *   const run = await new Deno.Command(output).output();
 *   assert.equal(new TextDecoder().decode(run.stdout), "hello\n");
 * } finally {
 *   await Deno.remove(dir, { recursive: true });
 * }
 * ```
 *
 * @example Parse an AppBundle ID (runs in `deno test --doc`)
 * ```ts
 * import { outputNameFromId, parseAppBundleId } from "@pbundle/pbundle";
 * import assert from "node:assert/strict";
 *
 * const parts = parseAppBundleId("hello#github.com/me/hello:1.2@20260101");
 * assert.deepEqual(parts, {
 *   form: "III",
 *   name: "hello",
 *   repo: "github.com/me/hello",
 *   version: "1.2",
 *   date: "20260101",
 * });
 * assert.equal(parseAppBundleId("no spaces allowed"), undefined);
 * assert.match(outputNameFromId("hello-20260101-me", "squashfs"), /\.AppBundle$/);
 * ```
 *
 * @example Write and read the runtime info section (runs in `deno test --doc`)
 * ```ts
 * import { decodeRuntimeInfo, encodeRuntimeInfo, FORMAT_VERSION } from "@pbundle/pbundle";
 * import assert from "node:assert/strict";
 *
 * const info = {
 *   AppBundleID: "hello-20260101-me",
 *   PelfVersion: FORMAT_VERSION,
 *   HostInfo: "Linux",
 *   FilesystemType: "squashfs" as const,
 *   Hash: "0".repeat(64),
 *   DisableRandomWorkDir: false,
 *   MountOrExtract: 3 as const,
 * };
 * const bytes = encodeRuntimeInfo(info);
 * assert.equal(bytes[0], 0xa7); // a CBOR map of 7 entries
 * assert.deepEqual(decodeRuntimeInfo(bytes), { info, encoding: "cbor" });
 * ```
 *
 * Each function's documentation has a runnable example; examples/build_script.ts
 * is a whole build script (runtimes for both CPUs, AppDirs and a full-stack
 * project, then verify and inspect).
 *
 * @module
 */

export { FormatError, InputError, UsageError } from "./errors.ts";
export { VERSION } from "./version.ts";
export {
  decodeRuntimeInfo,
  encodeRuntimeInfo,
  FORMAT_VERSION,
  RUNTIME_INFO_SECTION,
} from "./format/runtime_info.ts";
export type { FilesystemType, MountOrExtract, RuntimeInfo } from "./format/runtime_info.ts";
export { STATIC_TOOLS_SECTION } from "./format/static_tools.ts";
export { assembleBundle, hashImage, readBundle, verifyBundle } from "./format/bundle.ts";
export type {
  AssembleOptions,
  BundleInfo,
  SectionLocation,
  VerifyResult,
} from "./format/bundle.ts";
export { pack } from "./packers/appdir.ts";
export type { PackOptions, PackResult } from "./packers/appdir.ts";
export { outputNameFromId, parseAppBundleId } from "./packers/appbundle_id.ts";
export type { AppBundleIdParts } from "./packers/appbundle_id.ts";
export { extractImage } from "./image/extract_image.ts";
export type { ExtractImageOptions } from "./image/extract_image.ts";
export {
  buildFullstackAppDir,
  ConfigError,
  PACK_CONFIG_NAMES,
  packFullstack,
  parsePackConfig,
  readPackConfig,
  runDev,
} from "./packers/fullstack/mod.ts";
export type {
  PackConfig,
  PackFullstackOptions,
  PackFullstackResult,
  RunDevOptions,
} from "./packers/fullstack/mod.ts";
export {
  BackendCallError,
  BackendHost,
  readFullstackDocument,
  runFullstack,
  stdioFrontend,
} from "./runtime/fullstack/host.ts";
export type { Frontend, FrontendContext, FullstackContext } from "./runtime/fullstack/host.ts";
export { createWindowFrontend } from "./runtime/fullstack/window/window_frontend.ts";
export { buildRuntime, cachedRuntime } from "./runtime/build/build_runtime.ts";
export type { BuildRuntimeOptions, BuiltRuntime } from "./runtime/build/build_runtime.ts";
export type { RuntimeEngine, RuntimeTarget } from "./runtime/build/build_runtime.ts";
export { FILESYSTEM_TYPES } from "./format/runtime_info.ts";
export type { RuntimeInfoEncoding } from "./format/runtime_info.ts";
export type { ElfSection } from "./format/elf/read_elf.ts";
export type { NewSection } from "./format/elf/append_sections.ts";
export type { CollectRule } from "./packers/fullstack/mod.ts";
export type { FullstackPlan, PlannedFile } from "./packers/fullstack/plan_fullstack.ts";
export type { WriteFullstackResult } from "./packers/fullstack/write_fullstack_app_dir.ts";
export type {
  EntryPoint,
  FullstackDocument,
  FullstackPython,
  PythonStrategy,
} from "./runtime/fullstack/document.ts";
export type {
  BackendEventListener,
  BackendHostOptions,
  BackendLaunch,
  BackendReady,
  CallOptions,
  HostRequestHandler,
} from "./runtime/fullstack/backend_host.ts";
export type { Logger, LogLevel } from "./runtime/fullstack/log.ts";
export type { RunFullstackOptions } from "./runtime/fullstack/host.ts";
export type { WindowFrontendOptions } from "./runtime/fullstack/window/window_frontend.ts";
export type { FoundBrowser } from "./runtime/fullstack/window/app_browser.ts";
