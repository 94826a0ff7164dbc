/**
 * Shared helpers of the runtime tests: the node-engine runtime (built once per
 * test run, then reused from the cache while the runtime sources are
 * unchanged), AppDirs and bundles in temporary directories, and running a
 * bundle as a real process in an isolated environment (its own TMPDIR, cache
 * and HOME).
 *
 * @module
 */

import { existsSync, readdirSync } from "node:fs";
import { chmod, mkdir, mkdtemp, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { cachedRuntime } from "../runtime/build/build_runtime.ts";
import { pack, type PackOptions } from "../packers/appdir.ts";

let runtimePromise: Promise<string> | undefined;

/**
 * Returns the node-engine runtime for the tests, building it on first use.
 * PBUNDLE_TEST_RUNTIME names a prebuilt one instead.
 *
 * @returns The runtime's path.
 */
export function testRuntime(): Promise<string> {
  const given = Deno.env.get("PBUNDLE_TEST_RUNTIME");
  if (given) return Promise.resolve(given);
  runtimePromise ??= cachedRuntime({ engine: "node" }).then((r) => r.path);
  return runtimePromise;
}

/** A file of a test AppDir: text, or text with a mode, or a symlink. */
export type TestFile = string | { content: string | Uint8Array; mode: number } | {
  symlink: string;
};

/**
 * A shell AppRun that prints its arguments one per line between < and >,
 * and the variables the tests look at.
 */
export const ECHO_APPRUN = `#!/bin/sh
for a in "$@"; do printf '<%s>\\n' "$a"; done
`;

/**
 * Writes an AppDir.
 *
 * @param dir Where to write it.
 * @param files Relative path to content.
 */
export async function writeAppDir(dir: string, files: Record<string, TestFile>): Promise<void> {
  await mkdir(dir, { recursive: true });
  for (const [path, file] of Object.entries(files)) {
    const target = join(dir, path);
    await mkdir(dirname(target), { recursive: true });
    if (typeof file === "string") {
      await writeFile(target, file);
      if (file.startsWith("#!")) await chmod(target, 0o755);
    } else if ("symlink" in file) {
      await symlink(file.symlink, target);
    } else {
      await writeFile(target, file.content);
      await chmod(target, file.mode);
    }
  }
}

/** A temporary test area: a bundle and an isolated environment. */
export interface TestArea {
  /** The area's root (removed by cleanup). */
  root: string;
  /** The bundle's path. */
  bundle: string;
  /** TMPDIR for the bundle's runs. */
  tmp: string;
  /** XDG_CACHE_HOME for the bundle's runs. */
  cache: string;
  /** HOME for the bundle's runs. */
  home: string;
  /** Removes everything (unmounting anything left first). */
  cleanup(): Promise<void>;
}

/** Options for {@linkcode makeBundle}. */
export interface MakeBundleOptions
  extends Partial<Omit<PackOptions, "appDir" | "output" | "runtime">> {
  /** The AppDir's files. @default {an AppRun that echoes its arguments} */
  files?: Record<string, TestFile>;
  /** The bundle's file name. @default {"app.AppBundle"} */
  name?: string;
}

/**
 * Packs a bundle with the node-engine runtime in a fresh test area.
 *
 * @param options AppDir files and pack options.
 * @returns The test area.
 */
export async function makeBundle(options: MakeBundleOptions = {}): Promise<TestArea> {
  const root = await mkdtemp(join(tmpdir(), "pbundle-rt-test-"));
  const appDir = join(root, "AppDir");
  await writeAppDir(appDir, options.files ?? { AppRun: ECHO_APPRUN });
  const bundle = join(root, "out", options.name ?? "app.AppBundle");
  await mkdir(dirname(bundle), { recursive: true });
  const { files: _files, name: _name, ...packOptions } = options;
  await pack({
    appBundleId: "testapp-20260101-pbundle",
    compression: "zstd:3",
    ...packOptions,
    appDir,
    output: bundle,
    runtime: await testRuntime(),
  });
  await chmod(bundle, 0o755);
  const area: TestArea = {
    root,
    bundle,
    tmp: join(root, "tmp"),
    cache: join(root, "cache"),
    home: join(root, "home"),
    async cleanup() {
      await unmountUnder(root);
      await new Deno.Command("chmod", { args: ["-R", "u+w", root], stderr: "null" }).output();
      await rm(root, { recursive: true, force: true });
    },
  };
  await mkdir(area.tmp);
  await mkdir(area.cache);
  await mkdir(area.home);
  return area;
}

/**
 * Runs `fn` with a bundle packed by {@linkcode makeBundle}, and cleans its
 * test area up afterwards, whatever happens.
 *
 * @param options AppDir files and pack options.
 * @param fn The test body.
 * @returns What `fn` returns.
 */
export async function withBundle<T>(
  options: MakeBundleOptions,
  fn: (area: TestArea) => Promise<T>,
): Promise<T> {
  const area = await makeBundle(options);
  try {
    return await fn(area);
  } finally {
    await area.cleanup();
  }
}

/** Unmounts every mount below a directory (tests must not leave mounts behind). */
export async function unmountUnder(dir: string): Promise<void> {
  const mounts = (await Deno.readTextFile("/proc/self/mountinfo")).split("\n")
    .map((l) => l.split(" ")[4] ?? "").filter((m) => m.startsWith(`${dir}/`));
  for (const m of mounts.reverse()) {
    await new Deno.Command("fusermount3", { args: ["-uz", m], stderr: "null" }).output()
      .catch(() => {});
  }
}

/** The isolated environment of a test run. */
export function areaEnv(
  area: TestArea,
  extra: Record<string, string> = {},
): Record<string, string> {
  return {
    PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin",
    HOME: area.home,
    TMPDIR: area.tmp,
    XDG_CACHE_HOME: area.cache,
    LANG: "C.UTF-8",
    ...extra,
  };
}

/** What a run produced. */
export interface RunResult {
  /** The exit status (128+N for signal N, as a shell reports it). */
  code: number;
  /** The signal that ended the runtime itself, if any. */
  signal: Deno.Signal | null;
  /** stdout, raw. */
  stdoutBytes: Uint8Array;
  /** stdout as text. */
  stdout: string;
  /** stderr as text. */
  stderr: string;
}

function octal(bytes: Uint8Array): string {
  let out = "";
  for (const b of bytes) out += "\\" + b.toString(8).padStart(3, "0");
  return out;
}

/** Options for {@linkcode runBundleProcess}. */
export interface RunOptions {
  /** The environment (complete). */
  env: Record<string, string>;
  /** The working directory. */
  cwd?: string;
  /** argv[0] to start the bundle with (multicall tests use a symlink path instead). */
  program?: string;
}

/**
 * Runs a bundle as a real process. Arguments given as bytes are passed byte
 * for byte (through sh's printf, since Deno's own API takes strings).
 *
 * @param bundle The bundle (or a symlink to it).
 * @param args Arguments, text or raw bytes.
 * @param options Environment and directory.
 * @returns What the run produced.
 */
export async function runBundleProcess(
  bundle: string,
  args: (string | Uint8Array)[],
  options: RunOptions,
): Promise<RunResult> {
  const raw = args.some((a) => typeof a !== "string");
  let command = bundle;
  let commandArgs = args as string[];
  if (raw) {
    const lines = ["set --"];
    for (const arg of args) {
      const bytes = typeof arg === "string" ? new TextEncoder().encode(arg) : arg;
      lines.push(`a=$(printf '${octal(bytes)}x'); set -- "$@" "\${a%x}"`);
    }
    lines.push('exec "$0" "$@"');
    command = "/bin/sh";
    commandArgs = ["-c", lines.join("\n"), bundle];
  }
  return await runCommand([command, ...commandArgs], options);
}

/**
 * Lists everything under a directory, relative paths, sorted.
 *
 * @param dir The directory.
 * @returns The paths ([] when the directory is missing).
 */
export function listTree(dir: string): string[] {
  if (!existsSync(dir)) return [];
  const out: string[] = [];
  const walk = (d: string, prefix: string) => {
    for (const entry of readdirSync(d, { withFileTypes: true })) {
      const rel = prefix ? `${prefix}/${entry.name}` : entry.name;
      out.push(rel);
      if (entry.isDirectory()) walk(join(d, entry.name), rel);
    }
  };
  walk(dir, "");
  return out.sort();
}

/** Whether FUSE mounting works here; with CI=true a missing FUSE is a failure, not a skip. */
export function fuseWorks(): boolean {
  const ok = existsSync("/dev/fuse") && existsSync("/usr/bin/squashfuse") &&
    (existsSync("/usr/bin/fusermount3") || existsSync("/bin/fusermount3"));
  if (!ok && Deno.env.get("CI") === "true") {
    throw new Error("FUSE (/dev/fuse, squashfuse, fusermount3) is required when CI=true");
  }
  return ok;
}

/** The mounts currently below a directory. */
export async function mountsUnder(dir: string): Promise<string[]> {
  return (await Deno.readTextFile("/proc/self/mountinfo")).split("\n")
    .map((l) => l.split(" ")[4] ?? "").filter((m) => m.startsWith(`${dir}/`));
}

/** Options for {@linkcode runBundleAsUser}. */
export interface RunAsUserOptions extends RunOptions {
  /** The user and group ID to run as (the test itself runs as root). */
  uid: number;
  /** The group ID. @default {the uid} */
  gid?: number;
  /**
   * Give the run a /dev/fuse that every user may open (mode 0666, as most
   * distributions ship it), in a mount namespace of its own, so that FUSE
   * works for the unprivileged user even where the host's /dev/fuse is 0600.
   * Nothing outside that namespace changes.
   * @default {false}
   */
  openDevFuse?: boolean;
}

/**
 * Runs a bundle as a real process of an unprivileged user: `setpriv` drops to
 * the uid and gid with no supplementary groups and no capabilities, then
 * execs the bundle. Needs root.
 *
 * @param bundle The bundle.
 * @param args The arguments.
 * @param options Environment, directory, user, and whether to give FUSE to the user.
 * @returns What the run produced.
 */
export async function runBundleAsUser(
  bundle: string,
  args: string[],
  options: RunAsUserOptions,
): Promise<RunResult> {
  const gid = options.gid ?? options.uid;
  const drop = [
    "setpriv",
    `--reuid=${options.uid}`,
    `--regid=${gid}`,
    "--clear-groups",
    "--inh-caps=-all",
    "--",
    bundle,
    ...args,
  ];
  let command = drop;
  if (options.openDevFuse) {
    // A private mount namespace: a small tmpfs holds a fresh fuse device node
    // of mode 0666 that is bound over /dev/fuse for this namespace alone.
    const script = `set -e
mount -t tmpfs -o size=16k,mode=700 tmpfs "$0"
mknod -m 666 "$0/fuse" c 10 229
mount --bind "$0/fuse" /dev/fuse
exec "$@"`;
    const nodeDir = await mkdtemp(join(tmpdir(), "pbundle-rt-devfuse-"));
    try {
      command = [
        "unshare",
        "-m",
        "--propagation",
        "private",
        "/bin/sh",
        "-c",
        script,
        nodeDir,
        ...drop,
      ];
      return await runCommand(command, options);
    } finally {
      await rm(nodeDir, { recursive: true, force: true });
    }
  }
  return await runCommand(command, options);
}

async function runCommand(command: string[], options: RunOptions): Promise<RunResult> {
  const output = await new Deno.Command(command[0]!, {
    args: command.slice(1),
    env: options.env,
    clearEnv: true,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    ...(options.cwd ? { cwd: options.cwd } : {}),
  }).output();
  return {
    code: output.code,
    signal: output.signal,
    stdoutBytes: output.stdout,
    stdout: new TextDecoder().decode(output.stdout),
    stderr: new TextDecoder().decode(output.stderr),
  };
}
