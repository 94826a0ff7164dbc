/**
 * pbundle packs an application directory into one self-contained Linux
 * executable, an AppBundle: a runtime ELF, ELF sections holding CBOR runtime
 * info and optional static tools, and a squashfs or DwarFS image appended at
 * the end of the ELF.
 *
 * @example Pack an AppDir, then check and inspect the bundle
 * ```ts ignore
 * import { pack, readBundle, verifyBundle } from "@pbundle/pbundle";
 *
 * await pack({
 *   appDir: "./examples/hello/AppDir",
 *   appBundleId: "hello-20260101-pbundle",
 *   runtime: "./appbundle-runtime",
 *   output: "./hello.AppBundle",
 * });
 * const { ok } = await verifyBundle("./hello.AppBundle");
 * const info = await readBundle("./hello.AppBundle");
 * console.log(ok, info.runtimeInfo.AppBundleID, info.imageOffset);
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
 * @example Build the runtime, pack, verify, inspect and extract in a script
 * ```ts ignore
 * import {
 *   cachedRuntime,
 *   extractImage,
 *   pack,
 *   packFullstack,
 *   readBundle,
 *   verifyBundle,
 * } from "@pbundle/pbundle";
 *
 * const runtime = await cachedRuntime({ target: "aarch64" }); // built once, then cached
 * await pack({
 *   appDir: "./AppDir",
 *   appBundleId: "myapp#github.com/me/myapp:1.0",
 *   runtime: runtime.path,
 *   output: "./myapp-aarch64.AppBundle",
 *   noStaticTools: true, // the host's tools are not aarch64 programs
 * });
 * await packFullstack({ config: "./webapp", output: "./webapp.AppBundle" });
 * if (!(await verifyBundle("./myapp-aarch64.AppBundle")).ok) throw new Error("corrupt");
 * const bundle = await readBundle("./myapp-aarch64.AppBundle");
 * await extractImage(bundle, "./myapp_squashfs");
 * ```
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
