/**
 * Shared helpers of pbundle's tests: temporary directories, a capturing CLI io,
 * outside tools that may be missing on a developer's machine, a small AppDir
 * with every kind of entry, and running programs.
 *
 * @module
 */

import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { CliIo } from "../cli.ts";
import { main } from "../cli.ts";
import { pseudoRandomBytes } from "../fixtures/pseudo_random.ts";

/** The small real ELF used as a runtime until pbundle has its own. */
export const HOST_ELF = "/usr/bin/true";

/**
 * Runs `fn` with a fresh temporary directory that is removed afterwards, whatever happens.
 *
 * @param fn The test body.
 * @returns What `fn` returns.
 */
export async function withTempDir<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await Deno.makeTempDir({ prefix: "pbundle-test-" });
  try {
    return await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

/** A CliIo that keeps what was printed. */
export interface CapturedIo {
  /** The io to hand to `main`. */
  io: CliIo;
  /** Everything written to standard output. */
  stdout: () => string;
  /** Everything written to standard error. */
  stderr: () => string;
}

/**
 * Makes a CliIo that records standard output and standard error.
 *
 * @param isTerminal What the io claims about standard error.
 * @returns The io and its recordings.
 */
export function captureIo(isTerminal = false): CapturedIo {
  const out: string[] = [];
  const err: string[] = [];
  return {
    io: { out: (t) => void out.push(t), err: (t) => void err.push(t), isTerminal },
    stdout: () => out.join(""),
    stderr: () => err.join(""),
  };
}

/** The outcome of {@linkcode runCli}. */
export interface CliRun {
  /** The exit code `main` returned. */
  code: number;
  /** Standard output. */
  stdout: string;
  /** Standard error. */
  stderr: string;
}

/**
 * Runs the pbundle CLI in-process through `main`.
 *
 * @param args The arguments after "pbundle".
 * @returns The exit code and what was printed.
 */
export async function runCli(args: string[]): Promise<CliRun> {
  const captured = captureIo();
  const code = await main(args, captured.io);
  return { code, stdout: captured.stdout(), stderr: captured.stderr() };
}

/**
 * The arguments of `deno` that run the pbundle CLI from source as a process of
 * its own, for what `main` cannot be given in-process: signals, a terminal,
 * dropped capabilities.
 *
 * @param args The arguments after "pbundle".
 * @returns The arguments after "deno".
 */
export function cliProcessArgs(args: string[]): string[] {
  return [
    "run",
    "-A",
    "--config",
    fileURLToPath(new URL("../deno.json", import.meta.url)),
    fileURLToPath(new URL("../cli.ts", import.meta.url)),
    ...args,
  ];
}

const toolCache = new Map<string, boolean>();

/**
 * Whether an outside program is on PATH. Without it a test skips on a
 * developer's machine (logging why) but fails with CI=true, because CI installs
 * every tool.
 *
 * @param name The program.
 * @returns True when the program is there.
 * @throws {Error} When it is missing and CI=true.
 */
export function requireTool(name: string): boolean {
  let found = toolCache.get(name);
  if (found === undefined) {
    found = onPath(name);
    toolCache.set(name, found);
  }
  if (found) return true;
  if (Deno.env.get("CI") === "true") {
    throw new Error(`${name} is not on PATH, and CI must run every test: install it`);
  }
  console.warn(`skipped: ${name} is not on PATH`);
  return false;
}

/**
 * Whether every one of the outside programs is on PATH, by the rule of
 * {@linkcode requireTool}.
 *
 * @param names The programs.
 * @returns True when all are there.
 * @throws {Error} When one is missing and CI=true.
 */
export function requireTools(...names: string[]): boolean {
  return names.every((name) => requireTool(name));
}

/**
 * Whether a program is on PATH (without the CI rule of {@linkcode requireTool}).
 *
 * @param name The program.
 * @returns True when an executable file of that name is on PATH.
 */
export function onPath(name: string): boolean {
  for (const dir of (Deno.env.get("PATH") ?? "").split(":")) {
    if (dir === "") continue;
    try {
      const info = Deno.statSync(join(dir, name));
      if (info.isFile && ((info.mode ?? 0) & 0o111) !== 0) return true;
    } catch {
      // not here
    }
  }
  return false;
}

/** What a finished program did. */
export interface ProcessRun {
  /** Exit status. */
  code: number;
  /** Standard output as text. */
  stdout: string;
  /** Standard error as text. */
  stderr: string;
}

/**
 * Runs a program to completion.
 *
 * @param program The program.
 * @param args Its arguments.
 * @param options Working directory and environment.
 * @returns Its status and output.
 */
export async function run(
  program: string,
  args: string[],
  options: { cwd?: string; env?: Record<string, string> } = {},
): Promise<ProcessRun> {
  const command = new Deno.Command(program, {
    args,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    ...options,
  });
  const { code, stdout, stderr } = await command.output();
  const decoder = new TextDecoder();
  return { code, stdout: decoder.decode(stdout), stderr: decoder.decode(stderr) };
}

/**
 * Runs a program and fails with its stderr unless it exits 0.
 *
 * @param program The program.
 * @param args Its arguments.
 * @returns Its standard output.
 * @throws {Error} When the program exits non-zero.
 */
export async function runOk(program: string, args: string[]): Promise<string> {
  const result = await run(program, args);
  if (result.code !== 0) {
    throw new Error(`${program} ${args.join(" ")} exited ${result.code}: ${result.stderr}`);
  }
  return result.stdout;
}

export { pseudoRandomBytes };

/** What {@linkcode makeAppDir} may leave out, to test the warnings. */
export interface AppDirOptions {
  /**
   * Write an AppRun.
   * @default {true}
   */
  appRun?: boolean;
  /**
   * Make AppRun executable.
   * @default {true}
   */
  appRunExecutable?: boolean;
  /**
   * Add .DirIcon (a symlink to the icon).
   * @default {true}
   */
  dirIcon?: boolean;
  /**
   * Add hello.desktop.
   * @default {true}
   */
  desktop?: boolean;
  /**
   * Add usr/share/metainfo/hello.appdata.xml.
   * @default {true}
   */
  appStream?: boolean;
}

/** The text the AppRun of {@linkcode makeAppDir} prints. */
export const APPRUN_OUTPUT = "hello from AppRun";

/**
 * Makes a small AppDir with every kind of entry mksquashfs stores: an
 * executable AppRun script, regular, empty and multi-block files, a file with
 * a non-ASCII name, a relative symlink, a hard link, a FIFO, nested and empty
 * directories, plus .DirIcon, a .desktop file and AppStream metadata unless
 * told otherwise.
 *
 * @param dir The directory to create (must not exist yet).
 * @param options What to leave out.
 * @returns `dir`.
 */
export async function makeAppDir(dir: string, options: AppDirOptions = {}): Promise<string> {
  await Deno.mkdir(join(dir, "usr/bin"), { recursive: true });
  await Deno.mkdir(join(dir, "usr/share/empty"), { recursive: true });
  if (options.appRun ?? true) {
    await Deno.writeTextFile(
      join(dir, "AppRun"),
      `#!/bin/sh\necho "${APPRUN_OUTPUT} $*"\n`,
      { mode: (options.appRunExecutable ?? true) ? 0o755 : 0o644 },
    );
    // writeTextFile's mode is filtered by the umask: set it exactly.
    await Deno.chmod(join(dir, "AppRun"), (options.appRunExecutable ?? true) ? 0o755 : 0o644);
  }
  await Deno.writeTextFile(join(dir, "usr/bin/hello"), "#!/bin/sh\necho hello\n");
  await Deno.chmod(join(dir, "usr/bin/hello"), 0o755);
  await Deno.writeTextFile(join(dir, "usr/share/empty.txt"), "");
  await Deno.writeTextFile(join(dir, "usr/share/grüße.txt"), "non-ASCII name\n");
  // 300 KB spans three 128 KiB squashfs blocks and does not compress.
  await Deno.writeFile(join(dir, "usr/share/blob.bin"), pseudoRandomBytes(300_000));
  await Deno.symlink("bin/hello", join(dir, "usr/hello-link"));
  await Deno.link(join(dir, "usr/bin/hello"), join(dir, "usr/hello-hardlink"));
  await runOk("mkfifo", [join(dir, "usr/share/fifo")]);
  await Deno.writeTextFile(join(dir, "hello.png"), "not really a PNG\n");
  if (options.dirIcon ?? true) await Deno.symlink("hello.png", join(dir, ".DirIcon"));
  if (options.desktop ?? true) {
    await Deno.writeTextFile(
      join(dir, "hello.desktop"),
      "[Desktop Entry]\nType=Application\nName=Hello\nExec=hello\nIcon=hello\nCategories=Utility;\n",
    );
  }
  if (options.appStream ?? true) {
    await Deno.mkdir(join(dir, "usr/share/metainfo"), { recursive: true });
    await Deno.writeTextFile(
      join(dir, "usr/share/metainfo/hello.appdata.xml"),
      '<?xml version="1.0"?>\n<component type="desktop-application"><id>hello</id></component>\n',
    );
  }
  return dir;
}

/**
 * Copies the host ELF used as a runtime into `dir`.
 *
 * @param dir Where to put it.
 * @returns The copy's path.
 */
export async function copyRuntime(dir: string): Promise<string> {
  const path = join(dir, "runtime");
  await Deno.copyFile(HOST_ELF, path);
  return path;
}

/**
 * Lists a directory's entries, for checking that nothing was left behind.
 *
 * @param dir The directory.
 * @returns The names, sorted.
 */
export async function listDir(dir: string): Promise<string[]> {
  const names: string[] = [];
  for await (const entry of Deno.readDir(dir)) names.push(entry.name);
  return names.sort();
}

/**
 * Reads a byte range of a file.
 *
 * @param path The file.
 * @param offset Where to start.
 * @param length How many bytes.
 * @returns The bytes.
 */
export async function readRange(path: string, offset: number, length: number): Promise<Uint8Array> {
  const file = await Deno.open(path);
  try {
    await file.seek(offset, Deno.SeekMode.Start);
    const out = new Uint8Array(length);
    let done = 0;
    while (done < length) {
      const n = await file.read(out.subarray(done));
      if (n === null) break;
      done += n;
    }
    return out.subarray(0, done);
  } finally {
    file.close();
  }
}

/** Whether the tests run as root (permission tests then need another way). */
export function isRoot(): boolean {
  return Deno.uid() === 0;
}

/** An AppDir and a runtime, the inputs of `pbundle pack`. */
export interface PackInputs {
  /** The AppDir. */
  appDir: string;
  /** The runtime ELF that will head the bundle. */
  runtime: string;
}

/**
 * Makes the AppDir "A.AppDir" of {@linkcode makeAppDir} and a runtime copy in
 * `dir`, for tests that run `pbundle pack` themselves.
 *
 * @param dir A temporary directory.
 * @param options What the AppDir leaves out.
 * @returns Their paths.
 */
export async function makePackInputs(
  dir: string,
  options: AppDirOptions = {},
): Promise<PackInputs> {
  const appDir = await makeAppDir(join(dir, "A.AppDir"), options);
  const runtime = await copyRuntime(dir);
  return { appDir, runtime };
}

/**
 * The arguments of `pbundle pack` for `inputs`: -a, -i, --runtime, then `args`.
 *
 * @param inputs The AppDir and the runtime.
 * @param args What follows (-o and the options under test).
 * @param options The AppBundleID (default "hello-20260101-me").
 * @returns The arguments after "pbundle".
 */
export function packArgs(
  inputs: PackInputs,
  args: string[] = [],
  options: { id?: string } = {},
): string[] {
  return [
    "pack",
    "-a",
    inputs.appDir,
    "-i",
    options.id ?? "hello-20260101-me",
    "--runtime",
    inputs.runtime,
    ...args,
  ];
}

/** A packed fixture: where its pieces are. */
export interface PackedFixture {
  /** The AppDir that was packed. */
  appDir: string;
  /** The runtime copy that heads the bundle. */
  runtime: string;
  /** The bundle. */
  bundle: string;
  /** The CLI run that packed it. */
  cli: CliRun;
}

/**
 * Makes an AppDir and a runtime in `dir` and packs them with the CLI. The
 * static tools are left out (-t) unless `args` says otherwise, to keep tests fast.
 *
 * @param dir A temporary directory.
 * @param args Extra pack arguments.
 * @param options AppDir options, the bundle's name and the ID.
 * @returns The fixture's paths and the CLI run; fails unless pack exited 0.
 */
export async function packFixture(
  dir: string,
  args: string[] = ["-t"],
  options: { appDir?: AppDirOptions; name?: string; id?: string } = {},
): Promise<PackedFixture> {
  const appDir = join(dir, "Hello.AppDir");
  try {
    await Deno.lstat(appDir);
  } catch {
    await makeAppDir(appDir, options.appDir);
  }
  const runtime = await copyRuntime(dir);
  const bundle = join(dir, options.name ?? "hello.AppBundle");
  const cli = await runCli(
    packArgs({ appDir, runtime }, ["-o", bundle, ...args], {
      id: options.id ?? "hello-20260101-pbundle",
    }),
  );
  if (cli.code !== 0) throw new Error(`pack exited ${cli.code}: ${cli.stderr}`);
  return { appDir, runtime, bundle, cli };
}

/** A section as `readelf -SW` lists it. */
export interface ReadelfSection {
  /** Index. */
  index: number;
  /** Name. */
  name: string;
  /** Type, e.g. "PROGBITS". */
  type: string;
  /** File offset. */
  offset: number;
  /** Size. */
  size: number;
}

/**
 * Lists a file's sections with binutils' readelf, an independent reader.
 *
 * @param file The ELF file.
 * @returns The sections, index 0 included.
 */
export async function readelfSections(file: string): Promise<ReadelfSection[]> {
  const text = await runOk("readelf", ["-SW", file]);
  const sections: ReadelfSection[] = [];
  for (const line of text.split("\n")) {
    const m =
      /^\s*\[\s*(\d+)\]\s+(.*?)\s+([A-Z_0-9]+|LOOS\+\S+|<unknown>:\s*\S+)\s+([0-9a-f]{16})\s+([0-9a-f]+)\s+([0-9a-f]+)\s/
        .exec(line);
    if (m?.[1] === "0" && sections.length === 0) {
      sections.push({ index: 0, name: "", type: "NULL", offset: 0, size: 0 });
      continue;
    }
    if (!m) continue;
    sections.push({
      index: Number(m[1]),
      name: m[2]!,
      type: m[3]!,
      offset: parseInt(m[5]!, 16),
      size: parseInt(m[6]!, 16),
    });
  }
  return sections;
}

/**
 * Reads the ELF header fields that the writer patches, with readelf.
 *
 * @param file The ELF file.
 * @returns e_shoff, e_shnum and e_shstrndx as readelf reports them.
 */
export async function readelfHeader(
  file: string,
): Promise<{ shoff: number; shnum: number; shstrndx: number }> {
  const text = await runOk("readelf", ["-hW", file]);
  const field = (label: string) => {
    const m = new RegExp(`${label}:\\s+(\\d+)`).exec(text);
    if (!m) throw new Error(`readelf -h printed no "${label}"`);
    return Number(m[1]);
  };
  return {
    shoff: field("Start of section headers"),
    shnum: field("Number of section headers"),
    shstrndx: field("Section header string table index"),
  };
}
