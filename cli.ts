/**
 * The `pbundle` command: argv to options, a library call, and an exit code.
 * This is the only module that prints or exits.
 *
 * Exit codes: 0 success; 1 bad input (a missing or unreadable file, a corrupt
 * bundle, a failed verification); 2 a usage mistake (an unknown flag, a missing
 * argument).
 *
 * @module
 */

import process from "node:process";
import { parseArgs } from "node:util";
import { basename, resolve } from "node:path";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { createHash } from "node:crypto";
import { FormatError, InputError, systemErrorMessage, UsageError } from "./errors.ts";
import { nearest } from "./_suggest.ts";
import { removeTempPaths } from "./_temp_paths.ts";
import { VERSION } from "./version.ts";
import { FORMAT_VERSION } from "./format/runtime_info.ts";
import type { FilesystemType, MountOrExtract } from "./format/runtime_info.ts";
import { readBundle, verifyBundle } from "./format/bundle.ts";
import { extractImage } from "./image/extract_image.ts";
import { pack, parseRuntimeInfoEntries } from "./packers/appdir.ts";
import { collectStaticTools } from "./packers/collect_static_tools.ts";
import { parseBlockSize } from "./packers/make_image.ts";
import { buildRuntime, hostTarget } from "./runtime/build/build_runtime.ts";
import { packFullstack, runDev } from "./packers/fullstack/mod.ts";
import { stdioFrontend } from "./runtime/fullstack/host.ts";
import { createWindowFrontend } from "./runtime/fullstack/window/window_frontend.ts";

type FlagSpec = NonNullable<Parameters<typeof parseArgs>[0]>["options"] & object;

const USAGE = `Usage: pbundle <command> [options]

Commands:
  pack      Pack an AppDir into an AppBundle
  inspect   Show a bundle's runtime info, sections and image
  verify    Recompute a bundle's image hash and compare it
  extract   Extract a bundle's image into a directory
  dev       Run a full-stack project from its source tree
  runtime   Build the runtime that heads every bundle (pbundle runtime build)

Options:
  -h, --help      Show help (also: pbundle <command> --help)
  -V, --version   Show pbundle's version and the format version it writes`;

const PACK_USAGE = `Usage: pbundle pack -a APPDIR -i APPBUNDLE_ID [options]
       pbundle pack --config FILE [--build] [--strategy S] [-o OUT] [--runtime F] [-c C]

Full-stack projects (a pbundle.pack.toml or auroraview.pack.toml):
      --config FILE               the pack file, or a directory holding one
      --build                     run [build] before/after commands first
      --strategy S                override [python] strategy: standalone, pyoxidizer,
                                  embedded, system or portable
      --keep-appdir DIR           also keep the AppDir that was packed in DIR

AppDirs (pelf's flags):

  -a, --add-appdir DIR            the AppDir to pack (must hold an executable AppRun)
  -i, --appbundle-id ID           name-date-maintainer, name#repo[:version] or name#repo[:version]@date
  -o, --output-to FILE            the bundle to write (default: derived from the ID)
  -c, --compression ALGO[:LEVEL]  zstd (default, level 15), gzip, xz, lz4 or lzo
                                  (with --mksquashfs, xz and lz4 take no level)
  -B, --block-size SIZE           squashfs block size: a power of two from 4K to 1M,
                                  as bytes or with K or M (default 128K)
  -j, --filesystem TYPE           squashfs (default) or dwarfs; inferred from *.dwfs.AppBundle
      --runtime FILE              the runtime ELF to put at the head of the bundle
                                  (default: the cached runtime, built when missing)
      --static-tools-dir DIR      take the static tools from DIR instead of PATH
  -t, --no-static-tools           add no .pbundle_static_tools section (none is added
                                  anyway when the runtime carries the tools: --embed-tools)
      --prefer-tools-in-path      the runtime uses tools on PATH before the bundled ones
      --list-static-tools         list the static tools that would be bundled, and exit
  -d, --disable-use-random-workdir  one fixed work directory per ID and image hash
  -b, --run-behavior N            MountOrExtract: 0 mount, 1 extract, 2 mount else extract,
                                  3 (default) as 2 but extract only under 350 MB
      --add-runtime-info-section '.key:value'   an extra runtime info key (repeatable)
      --add-elf-section FILE.elfS add FILE's bytes as a section named after it (repeatable)
      --add-updinfo STRING        add a .upd_info section
  -A, --appimage-compat           write the AppImage magic "AI\\x02" instead of "AB\\x02"
      --mksquashfs                make the squashfs image with the host's mksquashfs
                                  instead of pbundle's own writer
      --json                      print the result as JSON`;

/** Streams to print to; tests pass their own. */
export interface CliIo {
  /** Writes to standard output. */
  out: (text: string) => void;
  /** Writes to standard error. */
  err: (text: string) => void;
  /** Whether standard error is a terminal (progress is shown only then). */
  isTerminal: boolean;
}

const defaultIo: CliIo = {
  out: (text) => process.stdout.write(text),
  err: (text) => process.stderr.write(text),
  isTerminal: Boolean(process.stderr.isTTY),
};

function parseFlags<const T extends FlagSpec>(
  command: string,
  args: string[],
  spec: T,
  allowPositionals: boolean,
) {
  try {
    return parseArgs({ args, options: spec, allowPositionals, strict: true as const });
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    const flag = /'(-{1,2}[^'\s]+)'/.exec(message)?.[1];
    const known = Object.entries(spec).flatMap(([long, s]) =>
      s.short ? [`--${long}`, `-${s.short}`] : [`--${long}`]
    );
    if ((error as { code?: string }).code === "ERR_PARSE_ARGS_UNKNOWN_OPTION" && flag) {
      const guess = nearest(flag, known);
      throw new UsageError(
        `Cannot run pbundle ${command}: unknown option ${flag}`,
        guess ? `did you mean ${guess}?` : `see pbundle ${command} --help`,
      );
    }
    if ((error as { code?: string }).code === "ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL") {
      throw new UsageError(
        `Cannot run pbundle ${command}: unexpected argument ${
          JSON.stringify(message.split("'")[1] ?? "")
        }`,
        `see pbundle ${command} --help`,
      );
    }
    if ((error as { code?: string }).code === "ERR_PARSE_ARGS_INVALID_OPTION_VALUE") {
      // "Option '-a, --add-appdir <value>' argument missing" / "Option '--json' does not take an argument"
      const long = /--[\w-]+/.exec(message)?.[0] ?? flag ?? "an option";
      const missing = /argument missing/.test(message);
      throw new UsageError(
        `Cannot run pbundle ${command}: ${long} ${missing ? "needs a value" : "takes no value"}`,
        `see pbundle ${command} --help`,
      );
    }
    throw new UsageError(`Cannot run pbundle ${command}: ${message.replace(/\.$/, "")}`);
  }
}

async function runPack(args: string[], io: CliIo): Promise<number> {
  const { values } = parseFlags("pack", args, {
    "add-appdir": { type: "string", short: "a" },
    "appbundle-id": { type: "string", short: "i" },
    "output-to": { type: "string", short: "o" },
    "compression": { type: "string", short: "c" },
    "block-size": { type: "string", short: "B" },
    "filesystem": { type: "string", short: "j" },
    "runtime": { type: "string" },
    "static-tools-dir": { type: "string" },
    "no-static-tools": { type: "boolean", short: "t" },
    "prefer-tools-in-path": { type: "boolean" },
    "list-static-tools": { type: "boolean" },
    "disable-use-random-workdir": { type: "boolean", short: "d" },
    "run-behavior": { type: "string", short: "b" },
    "add-runtime-info-section": { type: "string", multiple: true },
    "add-elf-section": { type: "string", multiple: true },
    "add-updinfo": { type: "string" },
    "appimage-compat": { type: "boolean", short: "A" },
    "mksquashfs": { type: "boolean" },
    "config": { type: "string" },
    "build": { type: "boolean" },
    "strategy": { type: "string" },
    "keep-appdir": { type: "string" },
    "json": { type: "boolean" },
    "help": { type: "boolean", short: "h" },
  }, false);
  if (values.help) {
    io.out(`${PACK_USAGE}\n`);
    return 0;
  }
  const filesystem = values.filesystem;
  if (filesystem !== undefined && filesystem !== "squashfs" && filesystem !== "dwarfs") {
    throw new UsageError(
      `Cannot use filesystem "${filesystem}": expected squashfs or dwarfs`,
      nearest(filesystem, ["squashfs", "dwarfs"])
        ? `did you mean ${nearest(filesystem, ["squashfs", "dwarfs"])}?`
        : undefined,
    );
  }
  if (values.config !== undefined || values.build || values.strategy || values["keep-appdir"]) {
    if (values["block-size"] !== undefined) {
      throw new UsageError(
        "Cannot pack: --block-size applies to AppDirs (-a); a full-stack pack uses 128K blocks",
      );
    }
    return await runPackFullstack(values, io);
  }
  if (values["list-static-tools"]) {
    return await listStaticTools(
      (filesystem ?? "squashfs") as FilesystemType,
      values["static-tools-dir"],
      io,
    );
  }
  for (
    const [flag, value] of [
      ["--add-appdir", values["add-appdir"]],
      ["--appbundle-id", values["appbundle-id"]],
    ] as const
  ) {
    if (value === undefined) {
      throw new UsageError(`Cannot pack: ${flag} is required`, "see pbundle pack --help");
    }
  }
  let runBehavior: MountOrExtract | undefined;
  if (values["run-behavior"] !== undefined) {
    const n = Number(values["run-behavior"]);
    if (![0, 1, 2, 3].includes(n) || values["run-behavior"].trim() === "") {
      throw new UsageError(
        `Cannot use run behavior "${values["run-behavior"]}": expected 0, 1, 2 or 3`,
      );
    }
    runBehavior = n as MountOrExtract;
  }
  const options: Parameters<typeof pack>[0] = {
    appDir: values["add-appdir"]!,
    appBundleId: values["appbundle-id"]!,
    progress: io.isTerminal && !values.json,
    onWarning: (message) => io.err(`pbundle: warning: ${message}\n`),
  };
  if (values.runtime !== undefined) options.runtime = values.runtime;
  else options.onRuntimeLog = (line) => io.err(`pbundle: ${line}\n`);
  if (values["output-to"] !== undefined) options.output = values["output-to"];
  if (values.compression !== undefined) options.compression = values.compression;
  if (values["block-size"] !== undefined) {
    options.blockSize = parseBlockSize(values["block-size"]);
  }
  if (filesystem !== undefined) options.filesystem = filesystem;
  if (values["static-tools-dir"] !== undefined) options.staticToolsDir = values["static-tools-dir"];
  if (values["no-static-tools"]) options.noStaticTools = true;
  if (values["prefer-tools-in-path"]) options.preferToolsInPath = true;
  if (values["disable-use-random-workdir"]) options.disableRandomWorkDir = true;
  if (runBehavior !== undefined) options.runBehavior = runBehavior;
  if (values["add-runtime-info-section"]) {
    options.runtimeInfoExtra = parseRuntimeInfoEntries(values["add-runtime-info-section"]);
  }
  if (values["add-elf-section"]) options.elfSections = values["add-elf-section"];
  if (values["add-updinfo"] !== undefined) options.updInfo = values["add-updinfo"];
  if (values["appimage-compat"]) options.appimageCompat = true;
  if (values.mksquashfs) options.mksquashfs = true;
  const result = await pack(options);
  if (values.json) {
    io.out(`${JSON.stringify(result, null, 2)}\n`);
  } else {
    io.out(
      `Packed ${result.runtimeInfo.AppBundleID} into ${result.output} (${
        formatSize(result.size)
      }; ` +
        `${result.runtimeInfo.FilesystemType} image of ${
          formatSize(result.imageSize)
        } at offset ${result.imageOffset}${
          result.toolsInRuntime ? "; no static tools section: the runtime carries the tools" : ""
        })\n`,
    );
  }
  return 0;
}

async function runPackFullstack(
  values: {
    config?: string;
    build?: boolean;
    strategy?: string;
    "keep-appdir"?: string;
    "output-to"?: string;
    runtime?: string;
    compression?: string;
    "add-appdir"?: string;
    json?: boolean;
  },
  io: CliIo,
): Promise<number> {
  if (values["add-appdir"] !== undefined) {
    throw new UsageError(
      "Cannot pack: --config (a full-stack project) and --add-appdir (an AppDir) exclude each other",
    );
  }
  const options: Parameters<typeof packFullstack>[0] = {
    config: values.config ?? ".",
    log: (line) => io.err(`pbundle: ${line}\n`),
    onWarning: (message) => io.err(`pbundle: warning: ${message}\n`),
  };
  if (values.build) options.build = true;
  // The strategy name is checked by packFullstack (one list, in packers/fullstack/config.ts).
  if (values.strategy !== undefined) {
    options.strategy = values.strategy as NonNullable<typeof options.strategy>;
  }
  if (values["output-to"] !== undefined) options.output = values["output-to"];
  if (values.runtime !== undefined) options.runtime = values.runtime;
  if (values.compression !== undefined) options.compression = values.compression;
  if (values["keep-appdir"] !== undefined) options.keepAppDir = values["keep-appdir"];
  const result = await packFullstack(options);
  if (values.json) {
    io.out(`${JSON.stringify(result, null, 2)}\n`);
  } else {
    io.out(
      `Packed ${result.appBundleId} (${result.strategy}) into ${result.output}${
        result.outputKind === "directory" ? " (a directory)" : ""
      }\n`,
    );
  }
  return 0;
}

async function runDevCommand(args: string[], io: CliIo): Promise<number> {
  const separator = args.indexOf("--");
  const own = separator < 0 ? args : args.slice(0, separator);
  const appArgs = separator < 0 ? [] : args.slice(separator + 1);
  const { values, positionals } = parseFlags("dev", own, {
    config: { type: "string" },
    headless: { type: "boolean" },
    stdio: { type: "boolean" },
    help: { type: "boolean", short: "h" },
  }, true);
  if (values.help) {
    io.out(`${DEV_USAGE}\n`);
    return 0;
  }
  if (values.headless && values.stdio) {
    throw new UsageError("Cannot run pbundle dev: --headless and --stdio exclude each other");
  }
  const config = values.config ?? positionals[0] ?? ".";
  // Without a flag, PBUNDLE_FRONTEND chooses as for a bundle; dev's default is the window.
  const named = values.stdio || values.headless ? undefined : process.env["PBUNDLE_FRONTEND"];
  if (named !== undefined && named !== "stdio" && named !== "window") {
    io.err(
      `pbundle: warning: PBUNDLE_FRONTEND=${named} is unknown (window, stdio); using window\n`,
    );
  }
  const frontend = values.stdio || named === "stdio"
    ? stdioFrontend
    : createWindowFrontend(values.headless ? { headless: true } : {});
  return await runDev({
    config,
    args: appArgs,
    frontend,
    log: (line) => io.err(`pbundle: ${line}\n`),
  });
}

const DEV_USAGE = `Usage: pbundle dev [PROJECT | --config FILE] [--headless | --stdio] [-- ARGS...]

Runs a full-stack project from its source tree with the same host a bundle uses.

  --config FILE   the pack file (default: pbundle.pack.toml or auroraview.pack.toml in PROJECT or .)
  --headless      serve the frontend and print its address instead of opening a window
  --stdio         no frontend: JSON-RPC requests on stdin, answers and events on stdout
  -- ARGS         arguments passed to the backend

Without --headless or --stdio, PBUNDLE_FRONTEND=stdio or window chooses (default: window).`;

async function listStaticTools(
  filesystem: FilesystemType,
  fromDir: string | undefined,
  io: CliIo,
): Promise<number> {
  const dir = await mkdtemp(resolve(tmpdir(), "pbundle-tools-"));
  try {
    const collected = await collectStaticTools(filesystem, dir, fromDir);
    for (const tool of collected.tools) {
      const bytes = await readFile(resolve(dir, tool.name));
      io.out(
        `${tool.name} # ${createHash("sha256").update(bytes).digest("hex")} (${tool.source})\n`,
      );
    }
    for (const lib of collected.libraries) io.out(`lib/${lib}\n`);
    for (const name of collected.missing) io.err(`pbundle: warning: ${name} not found\n`);
    return 0;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

async function runInspect(args: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseFlags("inspect", args, {
    json: { type: "boolean" },
    help: { type: "boolean", short: "h" },
  }, true);
  if (values.help) {
    io.out("Usage: pbundle inspect FILE [--json]\n");
    return 0;
  }
  const file = onePositional("inspect", positionals, "FILE");
  const report = await readBundle(file);
  if (values.json) {
    io.out(`${JSON.stringify(report, null, 2)}\n`);
    return 0;
  }
  const lines = [
    `File:            ${report.path} (${formatSize(report.fileSize)})`,
    `Magic:           ${report.magic ?? "none"}`,
    `Runtime info:    ${report.runtimeInfoEncoding === "cbor" ? "CBOR" : "MessagePack (pelf 3.x)"}`,
    ...Object.entries(report.runtimeInfo).map(([k, v]) =>
      `  ${k}: ${typeof v === "string" ? v : JSON.stringify(v)}`
    ),
    `Image:           ${report.runtimeInfo.FilesystemType} at offset ${report.imageOffset}, ${
      formatSize(report.imageSize)
    }`,
    `Static tools:    ${
      report.staticTools
        ? `${formatSize(report.staticTools.size)} at offset ${report.staticTools.offset}`
        : "none"
    }`,
  ];
  if (report.updInfo !== undefined) lines.push(`Update info:     ${report.updInfo}`);
  lines.push("Sections:");
  for (const s of report.sections) {
    if (s.index === 0) continue;
    lines.push(
      `  [${String(s.index).padStart(2)}] ${s.name.padEnd(24)} offset ${
        String(s.offset).padStart(10)
      }  size ${s.size}`,
    );
  }
  io.out(`${lines.join("\n")}\n`);
  return 0;
}

async function runVerify(args: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseFlags("verify", args, {
    json: { type: "boolean" },
    help: { type: "boolean", short: "h" },
  }, true);
  if (values.help) {
    io.out("Usage: pbundle verify FILE [--json]\n");
    return 0;
  }
  const file = onePositional("verify", positionals, "FILE");
  const result = await verifyBundle(file);
  if (values.json) io.out(`${JSON.stringify(result, null, 2)}\n`);
  if (!result.ok) {
    io.err(
      `pbundle: Cannot verify "${file}": the image's hash is ${result.actual}, the runtime info says ${result.expected}\n`,
    );
    return 1;
  }
  if (!values.json) io.out(`${file}: OK (sha256 ${result.actual})\n`);
  return 0;
}

async function runExtract(args: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseFlags("extract", args, {
    pattern: { type: "string", multiple: true },
    devices: { type: "boolean" },
    help: { type: "boolean", short: "h" },
  }, true);
  if (values.help) {
    io.out(
      "Usage: pbundle extract FILE [DIR] [--pattern GLOB]... [--devices]\n\n" +
        "  DIR              where to extract (default: NAME_squashfs in the current directory)\n" +
        "  --pattern GLOB   extract only the paths matching GLOB (repeatable)\n" +
        "  --devices        create device nodes and fifos (root only; skipped with a warning otherwise)\n",
    );
    return 0;
  }
  if (positionals.length < 1 || positionals.length > 2) {
    throw new UsageError(
      "Cannot extract: expected FILE and an optional DIR",
      "see pbundle extract --help",
    );
  }
  const file = positionals[0]!;
  const bundle = await readBundle(file);
  const dir = resolve(
    positionals[1] ??
      `${basename(file).replace(/\.AppBundle$/, "")}_${bundle.runtimeInfo.FilesystemType}`,
  );
  await extractImage(bundle, dir, {
    ...(values.pattern ? { patterns: values.pattern } : {}),
    ...(values.devices ? { allowDevices: true } : {}),
    onWarning: (m) => io.err(`pbundle: warning: ${m}\n`),
  });
  io.out(`Extracted ${file} into ${dir}\n`);
  return 0;
}

async function runRuntime(args: string[], io: CliIo): Promise<number> {
  const [sub, ...rest] = args;
  if (sub === undefined || sub === "--help" || sub === "-h") {
    io.out(`${RUNTIME_USAGE}\n`);
    return sub === undefined ? 2 : 0;
  }
  if (sub !== "build") {
    throw new UsageError(
      `Cannot run pbundle runtime: unknown subcommand "${sub}"`,
      nearest(sub, ["build"]) ? "did you mean build?" : "see pbundle runtime --help",
    );
  }
  const { values } = parseFlags("runtime build", rest, {
    engine: { type: "string" },
    target: { type: "string" },
    "embed-tools": { type: "string" },
    json: { type: "boolean" },
    help: { type: "boolean", short: "h" },
  }, false);
  if (values.help) {
    io.out(`${RUNTIME_USAGE}\n`);
    return 0;
  }
  const engine = values.engine ?? "auto";
  if (engine !== "auto" && engine !== "deno" && engine !== "node") {
    const guess = nearest(engine, ["auto", "deno", "node"]);
    throw new UsageError(
      `Cannot build a runtime with engine "${engine}": expected deno, node or auto`,
      guess ? `did you mean ${guess}?` : undefined,
    );
  }
  const target = values.target ?? hostTarget();
  if (target !== "x86_64" && target !== "aarch64") {
    throw new UsageError(`Cannot build a runtime for "${target}": expected x86_64 or aarch64`);
  }
  const options: Parameters<typeof buildRuntime>[0] = {
    engine,
    target,
    log: (line) => io.err(`pbundle: ${line}\n`),
  };
  if (values["embed-tools"] !== undefined) options.embedToolsDir = values["embed-tools"];
  const built = await buildRuntime(options);
  if (values.json) io.out(`${JSON.stringify(built, null, 2)}\n`);
  else io.out(`${built.path}\n`);
  return 0;
}

function onePositional(command: string, positionals: string[], name: string): string {
  if (positionals.length !== 1) {
    throw new UsageError(
      `Cannot run pbundle ${command}: expected one ${name}, got ${positionals.length}`,
      `see pbundle ${command} --help`,
    );
  }
  return positionals[0]!;
}

function formatSize(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KiB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}

const RUNTIME_USAGE = `Usage: pbundle runtime build [options]

Builds the runtime ELF that heads every bundle and caches it under
$XDG_CACHE_HOME/pbundle/runtimes (or ~/.cache/pbundle/runtimes); prints its path.

      --engine deno|node|auto   deno compile (needs DENORT_BIN) or a Node single executable
                                application; auto (default) uses deno when DENORT_BIN is set
      --target x86_64|aarch64   the CPU to build for (default: this machine's)
      --embed-tools DIR         build the static tools in DIR into the runtime (embed edition)
      --json                    print the result as JSON`;

const COMMANDS: Record<string, (args: string[], io: CliIo) => Promise<number>> = {
  pack: runPack,
  dev: runDevCommand,
  runtime: runRuntime,
  inspect: runInspect,
  verify: runVerify,
  extract: runExtract,
};

/**
 * Runs the pbundle command line and returns its exit code; never exits the process.
 *
 * @param args The arguments after the program name.
 * @param io Where to print.
 * @returns The exit code.
 */
export async function main(args: string[], io: CliIo = defaultIo): Promise<number> {
  const [command, ...rest] = args;
  try {
    if (command === undefined || command === "-h" || command === "--help" || command === "help") {
      io.out(`${USAGE}\n`);
      return command === undefined ? 2 : 0;
    }
    if (command === "-V" || command === "--version") {
      io.out(`pbundle ${VERSION} (writes AppBundle format ${FORMAT_VERSION})\n`);
      return 0;
    }
    const run = COMMANDS[command];
    if (!run) {
      const guess = nearest(command, Object.keys(COMMANDS));
      throw new UsageError(
        `Cannot run pbundle: unknown command "${command}"`,
        guess ? `did you mean ${guess}?` : "see pbundle --help",
      );
    }
    return await run(rest, io);
  } catch (error) {
    if (error instanceof UsageError) {
      io.err(`pbundle: ${error.message}\n`);
      if (error.hint) io.err(`hint: ${error.hint}\n`);
      return 2;
    }
    if (error instanceof FormatError || error instanceof InputError) {
      io.err(`pbundle: ${error.message}\n`);
      return 1;
    }
    // A file the system refused (missing, unreadable, in the way) is the
    // user's to fix, not a bug: one line naming the path, no stack trace.
    const system = systemErrorMessage(error);
    if (system !== undefined) {
      io.err(`pbundle: ${system}\n`);
      return 1;
    }
    throw error;
  }
}

if (import.meta.main) {
  // An interrupted pack removes its temporary files before exiting (128 + signal).
  for (const [signal, number] of [["SIGINT", 2], ["SIGTERM", 15], ["SIGHUP", 1]] as const) {
    Deno.addSignalListener(signal, () => {
      removeTempPaths();
      Deno.exit(128 + number);
    });
  }
  Deno.exit(await main(Deno.args));
}
