/**
 * The runtime's own flags, recognised only as the first argument: the
 * AppBundle document's `--pbundle_*` flags and AppImage's `--appimage-*`
 * flags. Every other argument belongs to the app.
 *
 * @module
 */

import { Buffer } from "node:buffer";
import {
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readdirSync,
  readSync,
  statSync,
} from "node:fs";
import { join, resolve } from "node:path";
import denoConfig from "../deno.json" with { type: "json" };
import { engineName, writeOut } from "./_engine.ts";
import { portableDirCandidates, variableName } from "./app_environment.ts";
import { fuseAvailability, mountImage, unmount } from "./fuse_mount.ts";
import { openImageReader } from "./image_reader.ts";
import { liveInstances } from "./instance_lock.ts";
import { removeTree } from "./remove_tree.ts";
import { runBundle } from "./run_bundle.ts";
import type { SignalRelay } from "./run_app.ts";
import type { RuntimeContext } from "./runtime_context.ts";
import { describeError, RuntimeError, writeFailureCause } from "./runtime_error.ts";
import { ToolBox } from "./tool_box.ts";
import { verifyImage } from "./verify_image.ts";
import {
  cleanStale,
  createRandomWorkDir,
  removeRootIfEmpty,
  removeWorkDir,
  workRoot,
} from "./work_root.ts";
import { onCleanup } from "./_cleanup.ts";

/** The runtime's version line (--appimage-version). */
export const RUNTIME_VERSION = `pbundle runtime ${denoConfig.version}`;

type Handler = (ctx: RuntimeContext, rest: Uint8Array[], relay: SignalRelay) => Promise<number>;

const decoder = new TextDecoder();
const text = (
  bytes: Uint8Array | undefined,
) => (bytes === undefined ? undefined : decoder.decode(bytes));

function print(line: string): void {
  writeOut(1, `${line}\n`);
}

function base64Flag(
  find: (ctx: RuntimeContext, tools: ToolBox) => Promise<Uint8Array | undefined>,
  what: string,
): Handler {
  return async (ctx) => {
    const tools = new ToolBox(ctx);
    const bytes = await find(ctx, tools);
    if (!bytes) {
      writeOut(2, `pbundle runtime: Cannot print the ${what}: the bundle has none\n`);
      return 1;
    }
    print(Buffer.from(bytes).toString("base64"));
    return 0;
  };
}

/** The first top-level file of the image whose name ends with the suffix (sorted by name), then the usual subdirectories. */
async function firstFileEndingWith(
  ctx: RuntimeContext,
  tools: ToolBox,
  suffix: string,
  subdirs: string[],
): Promise<Uint8Array | undefined> {
  const reader = await openImageReader(ctx, tools);
  for (const dir of ["", ...subdirs]) {
    const names = (await reader.listDir(dir))
      .filter((e) => e.path.endsWith(suffix) && (e.type === "file" || e.type === "symlink"))
      .map((e) => e.path)
      .sort();
    for (const name of names) {
      const bytes = await reader.readFile(name);
      if (bytes) return bytes;
    }
  }
  return undefined;
}

function helpText(ctx: RuntimeContext): string {
  const fs = ctx.info.FilesystemType;
  const name = variableName(ctx.info.AppBundleID);
  return `This bundle was made by ${ctx.info.PelfVersion}; the machine that made it says (uname):
  ${ctx.info.HostInfo}
Runtime: ${RUNTIME_VERSION} (${engineName()} engine)

  Internal variables:
  cfg.exeName: ${ctx.info.AppBundleID}
  cfg.rExeName: ${name}
  cfg.selfPath: ${ctx.bundlePath}
  cfg.appBundleFS: ${fs}
  cfg.archiveOffset: ${ctx.bundle.imageOffset}
  cfg.hash: ${ctx.info.Hash}
  cfg.mountOrExtract: ${ctx.info.MountOrExtract}
  cfg.disableRandomWorkDir: ${ctx.info.DisableRandomWorkDir}
  cfg.cacheDir: ${ctx.cacheRoot}

  Flags (only as the first argument):
  --pbundle_help               This text
  --pbundle_list               List the image's contents and the static tools
  --pbundle_link BINARY [ARGS] Run BINARY in the bundle's environment (its PATH first finds the bundle's bin dirs)
  --pbundle_pngIcon            Print the base64 of .DirIcon; exit 1 without one
  --pbundle_svgIcon            Print the base64 of .DirIcon.svg; exit 1 without one
  --pbundle_appstream          Print the base64 of the first AppStream .xml file
  --pbundle_desktop            Print the base64 of the first .desktop file
  --pbundle_portableHome       Create .${ctx.info.AppBundleID}.home beside the bundle, used as $HOME from then on
  --pbundle_portableConfig     Create .${ctx.info.AppBundleID}.config beside the bundle, used as $XDG_CONFIG_HOME
  --pbundle_cleanup            Unmount and remove what earlier runs of this bundle left behind
  --pbundle_mount [DIR]        Mount the image (at DIR) and keep it mounted until interrupted
  --pbundle_extract [GLOBS]    Extract the image (or the entries matching GLOBS) to ./${name}_${fs}
  --pbundle_extract_and_run    Extract the image to a temporary directory and run the app from there
  --pbundle_offset             Print the image's offset in the bundle
  --pbundle_verify             Check the image against its SHA-256

  AppImage compatibility:
  --appimage-extract [PATTERN] Extract to ./squashfs-root
  --appimage-extract-and-run   As --pbundle_extract_and_run (also APPIMAGE_EXTRACT_AND_RUN=1; NO_CLEANUP=1 keeps the directory)
  --appimage-mount             As --pbundle_mount
  --appimage-offset            As --pbundle_offset
  --appimage-help              This text
  --appimage-version           Print the runtime's version
  --appimage-portable-home     Create ${ctx.bundlePath}.home
  --appimage-portable-config   Create ${ctx.bundlePath}.config
  --appimage-updateinfo        Print the update information (.upd_info)
  --appimage-signature         Print the signature (.sha256_sig)

  Environment: TARGET_APPIMAGE=BUNDLE operates on another bundle; PBUNDLE_OVERTAKE_PATH=1 puts
  the bundle's bin directories first in PATH; XDG_CACHE_HOME moves the cache.
`;
}

async function extractTo(ctx: RuntimeContext, dest: string, patterns: string[]): Promise<number> {
  const tools = new ToolBox(ctx);
  verifyImage(ctx);
  const target = resolve(ctx.cwd, dest);
  // A directory this run creates is removed again when the extraction fails,
  // so nothing half-written is left; one that was there is left alone.
  const created = !existsSync(target);
  try {
    mkdirSync(target, { recursive: true });
  } catch (error) {
    throw new RuntimeError(`Cannot create "${target}": ${describeError(error)}`, 1);
  }
  try {
    await (await openImageReader(ctx, tools)).extract(
      target,
      patterns.length > 0 ? patterns : undefined,
    );
  } catch (error) {
    if (created) {
      try {
        removeTree(target);
      } catch { /* the extraction's own error is the one to report */ }
    }
    if (error instanceof RuntimeError) throw new RuntimeError(error.message, 1);
    throw new RuntimeError(`Cannot extract into "${target}": ${describeError(error)}`, 1);
  }
  print(`./${dest}`);
  return 0;
}

function makePortable(paths: (ctx: RuntimeContext) => string): Handler {
  return (ctx) => {
    const dir = paths(ctx);
    try {
      mkdirSync(dir, { recursive: true, mode: 0o755 });
    } catch (error) {
      // A read-only filesystem makes a recursive mkdir report ENOENT: say EROFS.
      throw new RuntimeError(
        `Cannot create "${dir}": ${describeError(writeFailureCause(dir, error))}`,
        1,
      );
    }
    print(dir);
    return Promise.resolve(0);
  };
}

async function mountAndWait(
  ctx: RuntimeContext,
  rest: Uint8Array[],
  relay: SignalRelay,
): Promise<number> {
  const tools = new ToolBox(ctx);
  const fuse = fuseAvailability(ctx, tools);
  if (!fuse.ok) {
    throw new RuntimeError(
      `Cannot mount the image: ${fuse.missing}; install fuse3 and squashfuse`,
      1,
    );
  }
  const wanted = text(rest[0]);
  let mountPoint: string;
  if (wanted) {
    mountPoint = resolve(ctx.cwd, wanted);
    if (!existsSync(mountPoint) || !statSync(mountPoint).isDirectory()) {
      throw new RuntimeError(`Cannot mount at "${mountPoint}": it is not a directory`, 2);
    }
    verifyImage(ctx);
    onCleanup(() => {
      unmount(mountPoint, tools);
    });
  } else {
    const root = workRoot(ctx);
    cleanStale(ctx, root, tools);
    verifyImage(ctx);
    const work = createRandomWorkDir(ctx, root);
    onCleanup(() => {
      removeWorkDir(work.dir, tools);
    });
    mountPoint = work.appDir;
  }
  try {
    mountImage(ctx, fuse.mounter, mountPoint);
  } catch (error) {
    throw new RuntimeError(
      `Cannot mount the image: ${error instanceof Error ? error.message : error}`,
      1,
    );
  }
  print(mountPoint);
  // Nothing else keeps the event loop alive while waiting for a signal.
  const keepAlive = setInterval(() => {}, 1 << 30);
  return await new Promise<number>((done) => {
    relay.forward = () => {
      clearInterval(keepAlive);
      done(0);
    };
  });
}

async function cleanupFlag(ctx: RuntimeContext): Promise<number> {
  const tools = new ToolBox(ctx);
  const root = workRoot(ctx);
  const removed = cleanStale(ctx, root, tools);
  removeRootIfEmpty(root);
  const apps = join(ctx.cacheRoot, "apps", ctx.safeId);
  if (existsSync(apps)) {
    for (const name of readdirSync(apps)) {
      const dir = join(apps, name);
      if (liveInstances(join(dir, "instances")) > 0) continue;
      try {
        removeTree(dir);
        removed.push(dir);
      } catch { /* in use */ }
    }
  }
  for (const dir of removed) print(`removed ${dir}`);
  if (removed.length === 0) print(`nothing to clean for ${ctx.info.AppBundleID}`);
  return await Promise.resolve(0);
}

const handlers: Record<string, Handler> = {
  "--pbundle_help": (ctx) => {
    writeOut(1, helpText(ctx));
    return Promise.resolve(0);
  },
  "--pbundle_list": async (ctx) => {
    const tools = new ToolBox(ctx);
    for (const entry of await (await openImageReader(ctx, tools)).list()) {
      if (entry.path !== "") print(entry.path);
    }
    const toolsDir = ctx.bundle.staticTools ? tools.prepare() : undefined;
    if (toolsDir) {
      for (const name of readdirSync(toolsDir).sort()) {
        if (!name.startsWith(".")) print(`[static tools] ${name}`);
      }
    }
    return 0;
  },
  "--pbundle_link": (ctx, rest, relay) => {
    const program = text(rest[0]);
    if (!program) throw new RuntimeError("Cannot link: --pbundle_link needs a program name", 2);
    return runBundle(ctx, relay, { link: program, args: rest.slice(1) });
  },
  "--pbundle_pngIcon": base64Flag(
    async (ctx, tools) => (await openImageReader(ctx, tools)).readFile(".DirIcon"),
    "PNG icon (.DirIcon)",
  ),
  "--pbundle_svgIcon": base64Flag(
    async (ctx, tools) => (await openImageReader(ctx, tools)).readFile(".DirIcon.svg"),
    "SVG icon (.DirIcon.svg)",
  ),
  "--pbundle_appstream": base64Flag(
    (ctx, tools) =>
      firstFileEndingWith(ctx, tools, ".xml", ["usr/share/metainfo", "usr/share/appdata"]),
    "AppStream metadata (.xml)",
  ),
  "--pbundle_desktop": base64Flag(
    (ctx, tools) => firstFileEndingWith(ctx, tools, ".desktop", ["usr/share/applications"]),
    "desktop file (.desktop)",
  ),
  "--pbundle_portableHome": makePortable((ctx) => portableDirCandidates(ctx, "home")[0]!),
  "--pbundle_portableConfig": makePortable((ctx) => portableDirCandidates(ctx, "config")[0]!),
  "--appimage-portable-home": makePortable((ctx) => portableDirCandidates(ctx, "home")[1]!),
  "--appimage-portable-config": makePortable((ctx) => portableDirCandidates(ctx, "config")[1]!),
  "--pbundle_cleanup": cleanupFlag,
  "--pbundle_mount": mountAndWait,
  "--appimage-mount": mountAndWait,
  "--pbundle_extract": (ctx, rest) =>
    extractTo(
      ctx,
      `${variableName(ctx.info.AppBundleID)}_${ctx.info.FilesystemType}`,
      rest.map((r) => decoder.decode(r)),
    ),
  "--appimage-extract": (ctx, rest) =>
    extractTo(ctx, "squashfs-root", rest.map((r) => decoder.decode(r))),
  "--pbundle_extract_and_run": (ctx, rest, relay) =>
    runBundle(ctx, relay, { forceExtract: true, keep: ctx.env.NO_CLEANUP === "1", args: rest }),
  "--appimage-extract-and-run": (ctx, rest, relay) =>
    runBundle(ctx, relay, { forceExtract: true, keep: ctx.env.NO_CLEANUP === "1", args: rest }),
  "--pbundle_offset": (ctx) => {
    print(String(ctx.bundle.imageOffset));
    return Promise.resolve(0);
  },
  "--appimage-offset": (ctx) => {
    print(String(ctx.bundle.imageOffset));
    return Promise.resolve(0);
  },
  "--pbundle_verify": (ctx) => {
    try {
      const result = verifyImage(ctx, { force: true });
      if (result === "unverifiable") {
        print(`cannot verify: the Hash "${ctx.info.Hash}" is not a SHA-256 (a pelf bundle?)`);
        return Promise.resolve(1);
      }
    } catch (error) {
      if (error instanceof RuntimeError) throw new RuntimeError(error.message, 1);
      throw error;
    }
    print(`OK: the image matches sha256 ${ctx.info.Hash}`);
    return Promise.resolve(0);
  },
  "--appimage-help": (ctx) => {
    writeOut(1, helpText(ctx));
    return Promise.resolve(0);
  },
  "--appimage-version": () => {
    print(RUNTIME_VERSION);
    return Promise.resolve(0);
  },
  "--appimage-updateinfo": (ctx) => {
    const info = (ctx.bundle.updInfo ?? "").replace(/\0+$/, "");
    print(info);
    return Promise.resolve(0);
  },
  "--appimage-signature": (ctx) => {
    const section = ctx.bundle.sections.find((s) => s.name === ".sha256_sig");
    if (!section || section.size === 0) {
      writeOut(2, "pbundle runtime: Cannot print the signature: the bundle is not signed\n");
      return Promise.resolve(1);
    }
    const bytes = Buffer.alloc(section.size);
    const fd = openSync(ctx.bundlePath, "r");
    try {
      readSync(fd, bytes, 0, section.size, section.offset);
    } finally {
      closeSync(fd);
    }
    print(bytes.toString("utf8").replace(/\0+$/, ""));
    return Promise.resolve(0);
  },
};

/**
 * Tells whether an argument is reserved for the runtime.
 *
 * @param arg The first argument.
 * @returns True for `--pbundle_*` and `--appimage-*`.
 */
export function isRuntimeFlag(arg: string): boolean {
  return arg.startsWith("--pbundle_") || arg.startsWith("--appimage-");
}

function closest(flag: string): string | undefined {
  let best: string | undefined;
  let bestScore = Infinity;
  for (const known of Object.keys(handlers)) {
    const a = flag.toLowerCase(), b = known.toLowerCase();
    const rows = Array.from({ length: a.length + 1 }, (_, i) => i);
    for (let j = 1; j <= b.length; j++) {
      let previous = rows[0]!;
      rows[0] = j;
      for (let i = 1; i <= a.length; i++) {
        const current = rows[i]!;
        rows[i] = Math.min(
          rows[i]! + 1,
          rows[i - 1]! + 1,
          previous + (a[i - 1] === b[j - 1] ? 0 : 1),
        );
        previous = current;
      }
    }
    const score = rows[a.length]!;
    if (score < bestScore) {
      bestScore = score;
      best = known;
    }
  }
  return bestScore <= 4 ? best : undefined;
}

/**
 * Runs a runtime flag.
 *
 * @param ctx The run's context.
 * @param flag The flag.
 * @param rest The arguments after it.
 * @param relay The signal relay.
 * @returns The exit status.
 * @throws {RuntimeError} With status 2 for an unknown flag.
 */
export function runRuntimeFlag(
  ctx: RuntimeContext,
  flag: string,
  rest: Uint8Array[],
  relay: SignalRelay,
): Promise<number> {
  const handler = handlers[flag];
  if (!handler) {
    const hint = closest(flag);
    throw new RuntimeError(
      `Cannot use "${flag}": the runtime has no such flag${
        hint ? `; did you mean ${hint}?` : ""
      } (see --pbundle_help)`,
      2,
    );
  }
  return handler(ctx, rest, relay);
}
