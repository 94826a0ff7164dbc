/**
 * Reads the bundle's image without mounting it: lists entries, reads one file
 * (following symlinks inside the image), extracts all of it or the entries
 * matching glob patterns. squashfs images use the native reader of
 * format/squashfs when it is present; otherwise, and for dwarfs, the runtime
 * runs `unsquashfs -o N` / `dwarfsextract --image-offset N` (bundled or on PATH).
 *
 * @module
 */

import { childProcess, seaModule } from "./_engine.ts";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join, posix } from "node:path";
import type { RuntimeContext } from "./runtime_context.ts";
import { RuntimeError } from "./runtime_error.ts";
import type { Tool, ToolBox } from "./tool_box.ts";
import { selfIdentity } from "./instance_lock.ts";

/** One entry of the image. */
export interface ImageEntry {
  /** Its path inside the image, without a leading slash ("" for the root). */
  path: string;
  /** "file", "dir", "symlink" or "other". */
  type: "file" | "dir" | "symlink" | "other";
  /** A symlink's target. */
  target?: string;
}

/** Read access to an image. */
export interface ImageReader {
  /** Lists entries; with `under`, only that path and what it holds. */
  list(under?: string): Promise<ImageEntry[]>;
  /**
   * Lists the entries directly inside one directory (an empty list when it is
   * missing); cheaper than {@linkcode list} where the reader can do it.
   */
  listDir(dir: string): Promise<ImageEntry[]>;
  /** Reads a regular file, following symlinks inside the image; undefined when missing. */
  readFile(path: string): Promise<Uint8Array | undefined>;
  /** Extracts everything, or the entries matching the glob patterns, into dest. */
  extract(dest: string, patterns?: string[]): Promise<void>;
}

const MAX_SYMLINK_HOPS = 16;

function run(tool: Tool, args: string[], ctx: RuntimeContext, what: string) {
  const result = childProcess().spawnSync(tool.path, args, {
    env: { ...ctx.env, ...tool.env },
    stdio: ["ignore", "pipe", "pipe"],
    maxBuffer: 1 << 30,
  });
  if (result.error) throw new RuntimeError(`Cannot ${what}: ${result.error.message}`);
  return result;
}

function toolOrThrow(tools: ToolBox, names: string[], what: string): Tool {
  const tool = tools.find(names);
  if (!tool) {
    throw new RuntimeError(
      `Cannot ${what}: ${names[0]} is not installed and the bundle carries no copy; install ${
        names[0] === "unsquashfs" ? "squashfs-tools" : "dwarfs"
      }`,
    );
  }
  return tool;
}

/**
 * Makes a glob matcher with the usual meaning: `*` and `?` within one path
 * component, `**` across components, `[...]` classes and `{a,b}` choices.
 * A pattern also matches everything below a directory it matches.
 *
 * @param patterns Glob patterns, relative to the image root.
 * @returns A predicate over image paths.
 */
export async function globMatcher(patterns: string[]): Promise<(path: string) => boolean> {
  const { default: picomatch } = seaModule<typeof import("./_picomatch.ts")>("picomatch") ??
    await import("./_picomatch.ts");
  const matchers = patterns.map((p) => picomatch(p.replace(/^\.?\/+/, ""), { dot: true }));
  return (path) => {
    const parts = path.split("/");
    for (let i = parts.length; i > 0; i--) {
      const prefix = parts.slice(0, i).join("/");
      if (matchers.some((m) => m(prefix))) return true;
    }
    return false;
  };
}

/** The reader that runs unsquashfs. */
function unsquashfsReader(ctx: RuntimeContext, tools: ToolBox): ImageReader {
  const offset = String(ctx.bundle.imageOffset);
  const tool = () => toolOrThrow(tools, ["unsquashfs"], "read the squashfs image");
  const list = (under?: string): ImageEntry[] => {
    const args = ["-o", offset, "-d", "", "-lls", ctx.bundlePath];
    if (under !== undefined) args.push(under);
    const result = run(tool(), args, ctx, "list the image");
    const entries: ImageEntry[] = [];
    for (const line of result.stdout.toString("utf8").split("\n")) {
      const match = /^([-dlcbps])\S+\s+\S+\s+\S+\s+\S+\s+\S+\s(.*)$/.exec(line);
      if (!match) continue;
      const [, kind, rest = ""] = match;
      let path = rest;
      let target: string | undefined;
      if (kind === "l") {
        const arrow = rest.indexOf(" -> ");
        if (arrow >= 0) {
          path = rest.slice(0, arrow);
          target = rest.slice(arrow + 4);
        }
      }
      path = path.replace(/^\/+/, "");
      const type = kind === "-"
        ? "file"
        : kind === "d"
        ? "dir"
        : kind === "l"
        ? "symlink"
        : "other";
      entries.push(target === undefined ? { path, type } : { path, type, target });
    }
    return entries;
  };
  return {
    list: (under) => Promise.resolve(list(under)),
    listDir: (dir) => Promise.resolve(directChildren(list(dir || undefined), dir)),
    readFile(path) {
      let current = path.replace(/^\/+/, "");
      for (let hop = 0; hop < MAX_SYMLINK_HOPS; hop++) {
        const entry = list(current).find((e) => e.path === current);
        if (!entry) return Promise.resolve(undefined);
        if (entry.type === "symlink" && entry.target !== undefined) {
          const next = entry.target.startsWith("/")
            ? posix.normalize(entry.target)
            : posix.normalize(posix.join(posix.dirname(current), entry.target));
          current = next.replace(/^\/+/, "");
          if (current.startsWith("..")) return Promise.resolve(undefined);
          continue;
        }
        if (entry.type !== "file") return Promise.resolve(undefined);
        const result = run(
          tool(),
          ["-o", offset, "-cat", ctx.bundlePath, current],
          ctx,
          "read the image",
        );
        if (result.status !== 0) return Promise.resolve(undefined);
        return Promise.resolve(new Uint8Array(result.stdout));
      }
      return Promise.resolve(undefined);
    },
    async extract(dest, patterns) {
      const args = ["-o", offset, "-f", "-d", dest, "-no-progress", "-no-xattrs", ctx.bundlePath];
      let listFile: string | undefined;
      if (patterns && patterns.length > 0) {
        const match = await globMatcher(patterns);
        const chosen = list().filter((e) => e.path !== "" && match(e.path)).map((e) => e.path);
        if (chosen.length === 0) {
          throw new RuntimeError(
            `Cannot extract: no entry matches ${patterns.map((p) => `"${p}"`).join(" ")}`,
            1,
          );
        }
        listFile = join(dest, "..", `.pbundle-extract-list-${selfIdentity()}`);
        mkdirSync(dest, { recursive: true });
        // unsquashfs treats names as patterns: escape its wildcards.
        writeFileSync(
          listFile,
          chosen.map((p) => p.replace(/([\\*?[\]])/g, "\\$1")).join("\n") + "\n",
        );
        args.push("-ef", listFile);
      }
      try {
        const result = run(tool(), args, ctx, "extract the image");
        if (result.status !== 0) {
          const reason = result.stderr.toString("utf8").trim().split("\n").pop();
          throw new RuntimeError(
            `Cannot extract the image into "${dest}": unsquashfs says ${reason}`,
          );
        }
      } finally {
        if (listFile) rmSync(listFile, { force: true });
      }
    },
  };
}

/** The reader that runs dwarfsextract (and mounts nothing). */
function dwarfsReader(ctx: RuntimeContext, tools: ToolBox): ImageReader {
  const offset = String(ctx.bundle.imageOffset);
  const tool = () => toolOrThrow(tools, ["dwarfsextract"], "read the dwarfs image");
  const extractTo = async (dest: string, patterns?: string[]) => {
    mkdirSync(dest, { recursive: true });
    const args = ["-i", ctx.bundlePath, "--image-offset", offset, "-o", dest];
    for (const pattern of patterns ?? []) args.push("--pattern", pattern);
    const result = run(tool(), args, ctx, "extract the image");
    if (result.status !== 0) {
      const reason = result.stderr.toString("utf8").trim().split("\n").pop();
      throw new RuntimeError(
        `Cannot extract the image into "${dest}": dwarfsextract says ${reason}`,
      );
    }
    await Promise.resolve();
  };
  const reader: ImageReader = {
    async listDir(dir) {
      return directChildren(await reader.list(), dir);
    },
    list() {
      const result = run(
        tool(),
        ["-i", ctx.bundlePath, "--image-offset", offset, "-f", "mtree"],
        ctx,
        "list the image",
      );
      const entries: ImageEntry[] = [];
      for (const line of result.stdout.toString("utf8").split("\n")) {
        const match = /^\.\/?(\S*)\s.*type=(\w+)/.exec(line);
        if (!match) continue;
        const type = match[2] === "file"
          ? "file"
          : match[2] === "dir"
          ? "dir"
          : match[2] === "link"
          ? "symlink"
          : "other";
        entries.push({ path: (match[1] ?? "").replace(/\\040/g, " "), type });
      }
      return Promise.resolve(entries);
    },
    async readFile(path) {
      const { mkdtempSync, readFileSync } = await import("node:fs");
      const { tmpdir } = await import("node:os");
      const dir = mkdtempSync(join(ctx.env.TMPDIR || tmpdir(), ".pbundle-read-"));
      try {
        await extractTo(dir, [path.replace(/^\/+/, "")]);
        return new Uint8Array(readFileSync(join(dir, path)));
      } catch {
        return undefined;
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
    extract: extractTo,
  };
  return reader;
}

/** The entries of `entries` directly inside `dir` ("" for the root). */
function directChildren(entries: ImageEntry[], dir: string): ImageEntry[] {
  const prefix = dir.replace(/^\/+|\/+$/g, "");
  const depth = prefix === "" ? 1 : prefix.split("/").length + 1;
  return entries.filter((e) =>
    e.path !== "" && e.path.split("/").length === depth &&
    (prefix === "" || e.path.startsWith(`${prefix}/`))
  );
}

/** The reader that uses format/squashfs's native reader (no tools needed). */
async function nativeSquashfsReader(ctx: RuntimeContext): Promise<ImageReader> {
  const { SquashfsImage } =
    seaModule<typeof import("../format/squashfs/squashfs_image.ts")>("squashfs") ??
      await import("../format/squashfs/squashfs_image.ts");
  const image = await SquashfsImage.open(ctx.bundlePath, ctx.bundle.imageOffset);
  return {
    async list(under) {
      const entries: ImageEntry[] = [];
      const prefix = under?.replace(/^\/+|\/+$/g, "");
      for await (const entry of image.list()) {
        if (prefix && entry.path !== prefix && !entry.path.startsWith(`${prefix}/`)) continue;
        const type = entry.type === "file" || entry.type === "dir" || entry.type === "symlink"
          ? entry.type
          : "other";
        entries.push(
          entry.target === undefined
            ? { path: entry.path, type }
            : { path: entry.path, type, target: entry.target },
        );
      }
      return entries;
    },
    async listDir(dir) {
      let entries;
      try {
        entries = await image.readDir(dir.replace(/^\/+|\/+$/g, ""));
      } catch {
        return [];
      }
      return entries.map((entry) => {
        const type = entry.type === "file" || entry.type === "dir" || entry.type === "symlink"
          ? entry.type
          : "other";
        return entry.target === undefined
          ? { path: entry.path, type }
          : { path: entry.path, type, target: entry.target };
      });
    },
    async readFile(path) {
      try {
        return await image.readFile(path.replace(/^\/+/, ""));
      } catch {
        return undefined;
      }
    },
    async extract(dest, patterns) {
      // Errors keep their code (ENOSPC, EROFS…): the caller says what to do.
      await image.extract(dest, patterns && patterns.length > 0 ? { patterns } : {});
    },
  };
}

/**
 * Opens the bundle's image for reading: the native reader for squashfs (or
 * unsquashfs when the native reader cannot open it, e.g. a compressor it lacks),
 * dwarfsextract for dwarfs.
 *
 * @param ctx The run's context.
 * @param tools The run's tools.
 * @returns A reader.
 */
export async function openImageReader(ctx: RuntimeContext, tools: ToolBox): Promise<ImageReader> {
  if (ctx.info.FilesystemType === "dwarfs") return dwarfsReader(ctx, tools);
  if (ctx.env.PBUNDLE_EXTRACT_WITH !== "unsquashfs") {
    try {
      return await nativeSquashfsReader(ctx);
    } catch { /* fall back to unsquashfs */ }
  }
  return unsquashfsReader(ctx, tools);
}
