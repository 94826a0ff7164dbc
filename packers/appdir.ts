/**
 * The AppDir packer: pelf's builder, flag for flag. It checks the AppDir, makes
 * its image, builds the runtime info and static tools sections (none when the
 * runtime is of the embed edition and carries the tools itself), and assembles
 * the bundle into a temporary file that is renamed into place when complete.
 *
 * @module
 */

import { access, constants, lstat, mkdtemp, readdir, readFile, rm, stat } from "node:fs/promises";
import { basename, dirname, join, resolve } from "node:path";
import os from "node:os";
import { InputError, UsageError } from "../errors.ts";
import { trackTempPath } from "../_temp_paths.ts";
import { assembleBundle, describeFsError } from "../format/bundle.ts";
import type { NewSection } from "../format/elf/append_sections.ts";
import {
  encodeRuntimeInfo,
  FIXED_KEYS,
  FORMAT_VERSION,
  RUNTIME_INFO_SECTION,
} from "../format/runtime_info.ts";
import type { FilesystemType, MountOrExtract, RuntimeInfo } from "../format/runtime_info.ts";
import { createStaticToolsArchive, STATIC_TOOLS_SECTION } from "../format/static_tools.ts";
import { outputNameFromId, parseAppBundleId } from "./appbundle_id.ts";
import { collectStaticTools } from "./collect_static_tools.ts";
import { checkBlockSize, DEFAULT_BLOCK_SIZE, makeImage, parseCompression } from "./make_image.ts";
import { readRuntimeTools } from "./_runtime_tools.ts";
import type { Compression } from "./make_image.ts";
import { cachedRuntime } from "../runtime/build/build_runtime.ts";

/** Options of {@linkcode pack}, one per pelf flag. */
export interface PackOptions {
  /** -a/--add-appdir: the AppDir to pack. */
  appDir: string;
  /** -i/--appbundle-id: the bundle's ID. */
  appBundleId: string;
  /**
   * -o/--output-to: the bundle to write.
   * @default {"<name>.AppBundle in the current directory, derived from the ID"}
   */
  output?: string;
  /**
   * -c/--compression: ALGO[:LEVEL].
   * @default {"zstd:15"}
   */
  compression?: string;
  /**
   * -j/--filesystem. Inferred from an output named *.dwfs.AppBundle or *.sqfs.AppBundle.
   * @default {"squashfs"}
   */
  filesystem?: FilesystemType;
  /**
   * --runtime: the runtime ELF to put at the head of the bundle.
   * @default {the cached runtime for this machine, built when missing (`pbundle runtime build`)}
   */
  runtime?: string;
  /** Called with one line per step of building the runtime, when one is built. */
  onRuntimeLog?: (line: string) => void;
  /** --static-tools-dir: take the static tools from this directory instead of PATH. */
  staticToolsDir?: string;
  /**
   * -t/--no-static-tools: add no .pbundle_static_tools section.
   * @default {false}
   */
  noStaticTools?: boolean;
  /**
   * --prefer-tools-in-path: the runtime uses the tools on PATH before the bundled ones.
   * @default {false}
   */
  preferToolsInPath?: boolean;
  /**
   * -d/--disable-use-random-workdir: one fixed work directory per ID and hash.
   * @default {false}
   */
  disableRandomWorkDir?: boolean;
  /**
   * -b/--run-behavior: MountOrExtract, 0 to 3.
   * @default {3}
   */
  runBehavior?: MountOrExtract;
  /** --add-runtime-info-section '.key:value': extra string keys of the runtime info. */
  runtimeInfoExtra?: Record<string, string>;
  /** --add-elf-section FILE.elfS: files added as sections named after the file. */
  elfSections?: string[];
  /** --add-updinfo STRING: the .upd_info section. */
  updInfo?: string;
  /**
   * -B/--block-size: the squashfs data block size in bytes, a power of two
   * from 4096 (4K) to 1048576 (1M). Squashfs only.
   * @default {131072}
   */
  blockSize?: number;
  /**
   * --mksquashfs: make the squashfs image with the host's mksquashfs instead of
   * pbundle's own writer.
   * @default {false}
   */
  mksquashfs?: boolean;
  /**
   * -A/--appimage-compat: write "AI\x02" at offset 8 instead of "AB\x02".
   * @default {false}
   */
  appimageCompat?: boolean;
  /**
   * Show progress on a terminal.
   * @default {false}
   */
  progress?: boolean;
  /** Called with each warning (missing .DirIcon, an unusual ID...). */
  onWarning?: (message: string) => void;
}

/** What {@linkcode pack} wrote. */
export interface PackResult {
  /** The bundle's path. */
  output: string;
  /** The runtime info written. */
  runtimeInfo: RuntimeInfo;
  /** Where the image starts. */
  imageOffset: number;
  /** The image's size. */
  imageSize: number;
  /** The bundle's size. */
  size: number;
  /** The static tools carried in the .pbundle_static_tools section, by name. */
  staticTools: string[];
  /**
   * The runtime carries the static tools itself (an embed-edition runtime, built
   * with `pbundle runtime build --embed-tools`), so no .pbundle_static_tools
   * section was added.
   */
  toolsInRuntime: boolean;
}

/** The runtime info key that tells the runtime to prefer tools on PATH. */
export const PREFER_TOOLS_IN_PATH_KEY = "PreferToolsInPath";

/**
 * Reports "sysname release version machine" of this host, as `uname -srvm` does.
 *
 * @returns The host description written into HostInfo.
 */
export function hostInfo(): string {
  return [os.type(), os.release(), os.version(), os.machine()].join(" ");
}

/**
 * Infers the filesystem from an output name: *.dwfs.AppBundle is DwarFS, anything else squashfs.
 *
 * @param output The output file name.
 * @returns The filesystem, or undefined when the name does not say.
 */
export function filesystemFromOutput(output: string): FilesystemType | undefined {
  if (/\.dwfs\.AppBundle$/.test(output)) return "dwarfs";
  if (/\.sqfs\.AppBundle$/.test(output)) return "squashfs";
  return undefined;
}

/**
 * Checks an AppDir: it must exist and hold an executable AppRun. Returns warnings for
 * what a desktop integration would miss (.DirIcon, a .desktop file, AppStream metadata).
 *
 * @param appDir The AppDir.
 * @returns Warnings.
 * @throws {InputError} When the AppDir or its AppRun is missing or AppRun is not executable.
 */
export async function checkAppDir(appDir: string): Promise<string[]> {
  try {
    if (!(await stat(appDir)).isDirectory()) {
      throw new InputError(`Cannot pack "${appDir}": it is not a directory`);
    }
    await access(appDir, constants.R_OK | constants.X_OK);
  } catch (error) {
    if (error instanceof InputError) throw error;
    throw new InputError(`Cannot pack "${appDir}": ${describeFsError(error)}`);
  }
  const appRun = join(appDir, "AppRun");
  try {
    const info = await stat(appRun);
    if (!info.isFile()) throw new InputError(`Cannot pack "${appDir}": "${appRun}" is not a file`);
    if ((info.mode & 0o111) === 0) {
      throw new InputError(
        `Cannot pack "${appDir}": "${appRun}" is not executable; run chmod +x "${appRun}"`,
      );
    }
  } catch (error) {
    if (error instanceof InputError) throw error;
    throw new InputError(`Cannot pack "${appDir}": it has no AppRun ("${appRun}" is missing)`);
  }
  const warnings: string[] = [];
  const top = await readdir(appDir);
  if (!top.includes(".DirIcon")) {
    warnings.push(`"${appDir}" has no .DirIcon: the bundle will have no icon`);
  }
  if (!top.some((n) => n.endsWith(".desktop"))) {
    warnings.push(
      `"${appDir}" has no .desktop file at its top level: desktop integration will lack a launcher`,
    );
  }
  const metainfo = [
    ...top.filter((n) => n.endsWith(".appdata.xml") || n.endsWith(".metainfo.xml")),
    ...await listXml(join(appDir, "usr/share/metainfo")),
    ...await listXml(join(appDir, "usr/share/appdata")),
  ];
  if (metainfo.length === 0) {
    warnings.push(`"${appDir}" has no AppStream metadata (usr/share/metainfo/*.xml)`);
  }
  return warnings;
}

async function listXml(dir: string): Promise<string[]> {
  try {
    return (await readdir(dir)).filter((n) => n.endsWith(".xml"));
  } catch {
    return [];
  }
}

/**
 * Parses `--add-runtime-info-section` values of the form '.key:value'.
 *
 * @param entries The values as given.
 * @returns The keys (without the leading dot) and values.
 * @throws {UsageError} When an entry lacks the dot or the colon, or names a fixed key.
 */
export function parseRuntimeInfoEntries(entries: readonly string[]): Record<string, string> {
  const fixed: readonly string[] = FIXED_KEYS;
  const out: Record<string, string> = {};
  for (const entry of entries) {
    const m = /^\.([^:]+):(.*)$/s.exec(entry);
    if (!m) {
      throw new UsageError(
        `Cannot add runtime info "${entry}": expected '.key:value'`,
        "e.g. --add-runtime-info-section '.Homepage:https://example.org'",
      );
    }
    if (fixed.includes(m[1]!)) {
      throw new UsageError(`Cannot add runtime info "${entry}": ${m[1]} is set by pbundle itself`);
    }
    out[m[1]!] = m[2]!;
  }
  return out;
}

/**
 * Packs an AppDir into an AppBundle.
 *
 * @example Pack an AppDir with the runtime `pbundle runtime build` caches
 * ```ts
 * import { cachedRuntime, pack } from "@pbundle/pbundle";
 * import assert from "node:assert/strict";
 *
 * const dir = await Deno.makeTempDir();
 * try {
 *   await Deno.mkdir(`${dir}/AppDir`);
 *   await Deno.writeTextFile(`${dir}/AppDir/AppRun`, "#!/bin/sh\necho hello\n", { mode: 0o755 });
 *   const runtime = await cachedRuntime(); // built on first use, then reused
 *   const result = await pack({
 *     appDir: `${dir}/AppDir`,
 *     appBundleId: "hello-20260101-me",
 *     runtime: runtime.path,
 *     output: `${dir}/hello.AppBundle`,
 *     compression: "zstd:3",
 *     onWarning: (message) => console.error(`warning: ${message}`), // e.g. no .DirIcon
 *   });
 *   assert.equal(result.runtimeInfo.FilesystemType, "squashfs");
 *   assert.equal(result.size, (await Deno.stat(result.output)).size);
 * } finally {
 *   await Deno.remove(dir, { recursive: true });
 * }
 * ```
 *
 * @param options What to pack and how.
 * @returns What was written.
 * @throws {UsageError} For contradictory or malformed options (a block size that is not a
 * power of two from 4 KiB to 1 MiB, or one given for DwarFS).
 * @throws {InputError} For a missing AppDir, runtime or output directory, or a failing tool.
 * @throws {FormatError} When the runtime is not a 64-bit little-endian ELF.
 */
export async function pack(options: PackOptions): Promise<PackResult> {
  const warn = options.onWarning ?? (() => {});
  const appDir = resolve(options.appDir);
  for (const w of await checkAppDir(appDir)) warn(w);
  if (parseAppBundleId(options.appBundleId) === undefined) {
    if (options.appBundleId.trim() === "") {
      throw new UsageError(
        "Cannot pack: the AppBundleID is empty",
        "pass -i NAME-YYYYMMDD-MAINTAINER",
      );
    }
    warn(
      `AppBundleID "${options.appBundleId}" follows none of pelf's forms (name-date-maintainer, name#repo[:version], name#repo[:version]@date)`,
    );
  }
  const inferred = options.output ? filesystemFromOutput(options.output) : undefined;
  if (options.filesystem && inferred && options.filesystem !== inferred) {
    throw new UsageError(
      `Cannot pack a ${options.filesystem} image into "${options.output}": the name says ${inferred}`,
    );
  }
  const filesystem: FilesystemType = options.filesystem ?? inferred ?? "squashfs";
  const output = resolve(options.output ?? outputNameFromId(options.appBundleId, filesystem));
  const runBehavior = options.runBehavior ?? 3;
  if (![0, 1, 2, 3].includes(runBehavior)) {
    throw new UsageError(`Cannot use run behavior ${runBehavior}: expected 0, 1, 2 or 3`);
  }
  const compression: Compression = parseCompression(options.compression ?? "zstd");
  if (options.blockSize !== undefined) {
    if (filesystem !== "squashfs") {
      throw new UsageError(
        `Cannot use a block size with a ${filesystem} image: --block-size applies to squashfs`,
      );
    }
    checkBlockSize(options.blockSize);
  }
  await checkOutputDir(output);
  let runtime = options.runtime;
  if (runtime === undefined) {
    const built = await cachedRuntime(options.onRuntimeLog ? { log: options.onRuntimeLog } : {});
    runtime = built.path;
  }
  await checkRuntime(runtime);
  let toolsInRuntime: boolean;
  try {
    toolsInRuntime = (await readRuntimeTools(runtime)).embedded;
  } catch (error) {
    throw new InputError(`Cannot use the runtime "${runtime}": ${describeFsError(error)}`);
  }
  if (toolsInRuntime && options.staticToolsDir !== undefined && !options.noStaticTools) {
    warn(
      `--static-tools-dir "${options.staticToolsDir}" is ignored: the runtime carries its own static tools (embed edition)`,
    );
  }
  const sections: NewSection[] = [];
  for (const file of options.elfSections ?? []) {
    if (!file.endsWith(".elfS")) {
      throw new UsageError(
        `Cannot add ELF section from "${file}": the file name must end in .elfS`,
      );
    }
    let data: Uint8Array;
    try {
      data = new Uint8Array(await readFile(file));
    } catch (error) {
      throw new InputError(`Cannot add ELF section from "${file}": ${describeFsError(error)}`);
    }
    sections.push({ name: basename(file).slice(0, -".elfS".length), data });
  }
  const extra = options.runtimeInfoExtra ?? {};

  const work = await mkdtemp(join(dirname(output), `.${basename(output)}.work-`));
  const untrack = trackTempPath(work);
  try {
    const image = join(work, "image");
    const { size: imageSize, sha256 } = await makeImage({
      appDir,
      output: image,
      filesystem,
      compression,
      blockSize: options.blockSize ?? DEFAULT_BLOCK_SIZE,
      progress: options.progress ?? false,
      useTool: options.mksquashfs ?? false,
      onWarning: warn,
    });
    const runtimeInfo: RuntimeInfo = {
      AppBundleID: options.appBundleId,
      PelfVersion: FORMAT_VERSION,
      HostInfo: hostInfo(),
      FilesystemType: filesystem,
      Hash: sha256,
      DisableRandomWorkDir: options.disableRandomWorkDir ?? false,
      MountOrExtract: runBehavior,
    };
    if (options.preferToolsInPath) runtimeInfo[PREFER_TOOLS_IN_PATH_KEY] = "true";
    Object.assign(runtimeInfo, extra);
    const allSections: NewSection[] = [
      { name: RUNTIME_INFO_SECTION, data: encodeRuntimeInfo(runtimeInfo) },
    ];
    let staticTools: string[] = [];
    // An embed-edition runtime carries the tools; a section would shadow them.
    if (!options.noStaticTools && !toolsInRuntime) {
      const toolsDir = join(work, "tools");
      const collected = await collectStaticTools(filesystem, toolsDir, options.staticToolsDir);
      if (collected.missing.length > 0) {
        warn(
          `static tools not found ${
            options.staticToolsDir ? `in "${options.staticToolsDir}"` : "on PATH"
          }: ${
            collected.missing.join(", ")
          }; the bundle will use the tools on the user's PATH for those`,
        );
      }
      if (collected.tools.length > 0) {
        allSections.push({
          name: STATIC_TOOLS_SECTION,
          data: await createStaticToolsArchive(toolsDir),
        });
        staticTools = collected.tools.map((t) => t.name);
      }
    }
    if (options.updInfo !== undefined) {
      allSections.push({ name: ".upd_info", data: new TextEncoder().encode(options.updInfo) });
    }
    allSections.push(...sections);
    const { imageOffset, size } = await assembleBundle({
      runtime,
      sections: allSections,
      image,
      output,
      magic: options.appimageCompat ? "AI" : "AB",
    });
    return { output, runtimeInfo, imageOffset, imageSize, size, staticTools, toolsInRuntime };
  } finally {
    await rm(work, { recursive: true, force: true });
    untrack();
  }
}

async function checkOutputDir(output: string): Promise<void> {
  const dir = dirname(output);
  try {
    if (!(await stat(dir)).isDirectory()) throw Object.assign(new Error(), { code: "ENOTDIR" });
    await access(dir, constants.W_OK);
  } catch (error) {
    const code = (error as { code?: string }).code;
    const state = code === "ENOENT" ? "the directory does not exist" : describeFsError(error);
    throw new InputError(`Cannot write "${output}": ${state}`);
  }
  try {
    if ((await lstat(output)).isDirectory()) {
      throw new InputError(`Cannot write "${output}": it is a directory`);
    }
  } catch (error) {
    if (error instanceof InputError) throw error;
  }
}

async function checkRuntime(runtime: string): Promise<void> {
  try {
    const info = await stat(runtime);
    if (!info.isFile()) {
      throw new InputError(`Cannot use the runtime "${runtime}": it is not a file`);
    }
  } catch (error) {
    if (error instanceof InputError) throw error;
    throw new InputError(`Cannot use the runtime "${runtime}": ${describeFsError(error)}`);
  }
}
