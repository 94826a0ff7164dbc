/**
 * Writes the AppDir a {@linkcode FullstackPlan} describes (the I/O half of the
 * full-stack packer): runs the before commands, copies the frontend, the app's
 * code and the resources, unpacks the Python runtime, installs the packages
 * with pip, compiles bytecode, and writes the generated files and the marker.
 *
 * @module
 */

import { execFileSync, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import {
  chmodSync,
  copyFileSync,
  cpSync,
  existsSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { homedir } from "node:os";
import { basename, dirname, extname, join, relative, resolve } from "node:path";
import process from "node:process";
import picomatch from "picomatch";
import * as tar from "tar";
import { InputError } from "../../errors.ts";
import { describeFsError } from "../../format/bundle.ts";
import {
  droppedVariables,
  findHostPython,
  FULLSTACK_MARKER,
  type FullstackDocument,
  type FullstackError,
  resolveBackendLaunch,
  SUPPORT_PYTHON_DIR,
} from "../../runtime/fullstack/document.ts";
import type { CollectRule, PackConfig } from "./config.ts";
import { type FullstackPlan, OVERLAY } from "./plan_fullstack.ts";
import { pngIcon } from "./png_icon.ts";
import { ensureSupportFiles, SOURCE_ROOT } from "./_support_files.ts";

/** pbundle's Python support module (pbundle_backend) in this source tree (see _support_files.ts). */
export const SUPPORT_SOURCE_DIR = join(SOURCE_ROOT, "python");
const PYTHON_TOOLS = join(SOURCE_ROOT, "packers", "fullstack", "_python_tools.py");

/** Pack lines shown without [debug] verbose: warnings, and notes on keys without effect here. */
export const ALWAYS_SHOWN: RegExp = /^(?:warning|note)\b/;

/** Options for {@linkcode writeFullstackAppDir}. */
export interface WriteFullstackOptions {
  /** Progress and verbose lines. @default warnings and notes to stderr, and the rest with [debug] verbose */
  log?: (line: string) => void;
  /** The environment (PATH, pip configuration, caches). @default process.env */
  env?: Record<string, string>;
  /** pbundle's cache directory (runtime downloads, pip installs). @default $XDG_CACHE_HOME/pbundle */
  cacheDir?: string;
  /** Reuse pip installs cached by requirement list, Python version, platform and pip's configuration. @default true */
  pipCache?: boolean;
}

/** What {@linkcode writeFullstackAppDir} did. */
export interface WriteFullstackResult {
  /** The document written to the marker. */
  document: FullstackDocument;
  /** The Python runtime's full version, when one was shipped or found. */
  pythonVersion: string | null;
  /** Packages archived (pyoxidizer) and kept on disk. */
  archive: { archived: string[]; onDisk: string[] } | null;
}

/**
 * pbundle's per-user cache directory.
 *
 * @param env The environment.
 * @returns $XDG_CACHE_HOME/pbundle, else ~/.cache/pbundle.
 */
export function pbundleCacheDir(env: Record<string, string | undefined> = process.env): string {
  const xdg = env["XDG_CACHE_HOME"];
  if (xdg && xdg.startsWith("/")) return join(xdg, "pbundle");
  return join(env["HOME"] || homedir(), ".cache", "pbundle");
}

/**
 * Writes the AppDir of a plan into an empty or missing directory.
 *
 * @param plan The plan.
 * @param appDir The AppDir to create.
 * @param options Log, environment, caches.
 * @returns The document and what was shipped.
 * @throws {InputError} When a command fails, a path is missing, pip fails, or the runtime does not match.
 */
export async function writeFullstackAppDir(
  plan: FullstackPlan,
  appDir: string,
  options: WriteFullstackOptions = {},
): Promise<WriteFullstackResult> {
  const config = plan.config;
  const env = options.env ?? (process.env as Record<string, string>);
  const log = options.log ??
    ((line: string) => {
      if (config.debug.verbose || ALWAYS_SHOWN.test(line)) {
        process.stderr.write(`pbundle: ${line}\n`);
      }
    });
  const cacheDir = options.cacheDir ?? pbundleCacheDir(env);
  await ensureSupportFiles();
  for (const note of plan.notes) log(note);

  for (const command of plan.beforeCommands) runCommand(command, config.dir, env, log);
  mkdirSync(appDir, { recursive: true });
  const doc: FullstackDocument = structuredClone(plan.document);

  // Frontend.
  if (config.app.frontendPath) {
    if (!isDir(config.app.frontendPath)) {
      throw new InputError(
        `Cannot copy the frontend "${config.app.frontendPath}": no such directory ([app] frontend_path)`,
      );
    }
    copyTree(config.app.frontendPath, join(appDir, OVERLAY.frontend), config.build.exclude, [], {
      what: "frontend file",
      key: "[app] frontend_path",
    });
    if (!existsSync(join(appDir, OVERLAY.frontend, "index.html"))) {
      log(`warning: "${config.app.frontendPath}" has no index.html`);
    }
  }

  collectResources(config, appDir, log);

  let pythonVersion: string | null = null;
  let archiveSummary: WriteFullstackResult["archive"] = null;
  if (doc.python) {
    const py = doc.python;
    // The interpreter that compiles (and, for a shipped runtime, runs) the app.
    let buildPython: string;
    if (plan.shipsRuntime) {
      const archive = await obtainRuntime(
        config.python.runtime,
        config.python.runtimeSha256,
        py.version,
        cacheDir,
        log,
      );
      const runtimeDir = join(appDir, OVERLAY.runtime);
      mkdirSync(runtimeDir, { recursive: true });
      await tar.x({ file: archive.path, cwd: runtimeDir, strip: 1 });
      const interpreter = [`bin/python${py.version}`, "bin/python3"].find((p) =>
        existsSync(join(runtimeDir, p))
      );
      if (!interpreter) {
        throw new InputError(
          `Cannot use the Python runtime "${archive.source}": it has no python/bin/python${py.version} (an install_only archive of python-build-standalone is expected)`,
        );
      }
      if (!existsSync(join(runtimeDir, "lib", `python${py.version}`))) {
        const found = readdirSync(join(runtimeDir, "lib")).filter((n) => /^python3\.\d+$/.test(n));
        throw new InputError(
          `Cannot use the Python runtime "${archive.source}": it holds ${
            found.join(", ") || "no Python"
          }, but [python] version is "${py.version}"`,
        );
      }
      py.interpreter = `${OVERLAY.runtime}/${interpreter}`;
      py.home = OVERLAY.runtime;
      buildPython = join(runtimeDir, interpreter);
      pythonVersion = pythonFullVersion(buildPython);
      writeJson(join(appDir, OVERLAY.runtimeJson), {
        version: pythonVersion,
        strategy: plan.strategy,
        interpreter: py.interpreter,
        home: py.home,
        source: archive.source,
        sha256: archive.sha256,
        platform: "x86_64-unknown-linux-gnu",
      });
    } else {
      try {
        buildPython = findHostPython(py.version, env, plan.strategy);
      } catch (error) {
        throw new InputError(
          `Cannot pack with the ${plan.strategy} strategy: ${(error as FullstackError).message}`,
        );
      }
      pythonVersion = pythonFullVersion(buildPython);
      writeJson(join(appDir, OVERLAY.runtimeJson), {
        version: py.version,
        strategy: plan.strategy,
        interpreter: null,
        home: null,
        source: `the system's python${py.version}`,
        sha256: null,
        platform: "x86_64-unknown-linux-gnu",
      });
    }

    // The app's code.
    const codeDir = join(appDir, OVERLAY.python);
    mkdirSync(codeDir, { recursive: true });
    const skip = [
      config.app.frontendPath,
      config.build.outDir === config.dir ? null : config.build.outDir,
      config.file,
      ...config.build.resources,
      appDir,
    ].filter((p): p is string => p !== null);
    for (const include of config.python.includePaths) {
      if (!existsSync(include)) {
        throw new InputError(
          `Cannot copy include path "${include}": no such directory ([python] include_paths)`,
        );
      }
      copyTree(include, codeDir, [...config.python.exclude, "node_modules", ".*"], skip, {
        what: "Python file",
        key: "[python] include_paths",
      });
    }
    const entry = config.python.entryPoint;
    if ("file" in entry && !existsSync(join(codeDir, entry.file))) {
      throw new InputError(
        `Cannot find the entry file "${entry.file}" in the include paths (${
          config.python.includePaths.join(", ")
        }); check [python] entry_point and include_paths`,
      );
    }
    if ("module" in entry) {
      const first = entry.module.split(".")[0]!;
      const rel = entry.module.replace(/\./g, "/");
      if (
        !existsSync(join(codeDir, `${rel}.py`)) && !existsSync(join(codeDir, rel, "__init__.py")) &&
        !existsSync(join(codeDir, first))
      ) {
        log(
          `warning: entry module "${entry.module}" is not in the include paths; it must come from a package`,
        );
      }
    }
    mkdirSync(join(appDir, OVERLAY.bin), { recursive: true });

    // Third-party packages.
    if (plan.shipsPackages && config.python.packages.length > 0) {
      pipInstall(config.python.packages, py.version, join(appDir, OVERLAY.sitePackages), {
        env,
        cacheDir,
        log,
        useCache: options.pipCache ?? true,
      });
    } else if (!plan.shipsPackages && config.python.packages.length > 0) {
      log(
        `note: the system strategy ships no packages; ${
          config.python.packages.join(", ")
        } must be installed on the target`,
      );
    }

    // pbundle's support module.
    cpSync(
      join(SUPPORT_SOURCE_DIR, "pbundle_backend"),
      join(appDir, SUPPORT_PYTHON_DIR, "pbundle_backend"),
      {
        recursive: true,
        filter: (src) => !src.includes("__pycache__"),
      },
    );

    // Bytecode.
    const interpreterOptimize = doc.python.optimize;
    if (plan.bytecodeArchive) {
      const out = runPythonTool(buildPython, [
        "archive",
        join(appDir, OVERLAY.archive),
        String(plan.optimize),
        py.filesystemImporter ? "0" : "1",
        codeDir,
        join(appDir, OVERLAY.sitePackages),
      ]);
      const summary = JSON.parse(out.trim().split("\n").pop()!);
      archiveSummary = { archived: summary.archived, onDisk: summary.on_disk };
      log(
        `archived ${summary.archived.length} item(s) in ${OVERLAY.archive}; on disk: ${
          summary.on_disk.join(", ") || "none"
        }`,
      );
    } else {
      runPythonTool(buildPython, [
        "compile",
        codeDir,
        String(plan.optimize),
        plan.bytecodeOnly ? "1" : "0",
        plan.bytecodeOnly ? "1" : "0",
      ]);
      if (plan.bytecodeOnly && isDir(join(appDir, OVERLAY.sitePackages))) {
        // Sources of the app only; packages keep theirs but get matching bytecode.
        runPythonTool(buildPython, [
          "compile",
          join(appDir, OVERLAY.sitePackages),
          String(interpreterOptimize),
          "0",
          "0",
        ]);
      }
    }
    if (plan.shipsRuntime) {
      // Bytecode for the runtime's standard library at the level the backend runs with,
      // so no launch compiles it (Debian-built runtimes ship none; the image is read-only).
      runPythonTool(buildPython, [
        "compile-stdlib",
        join(appDir, OVERLAY.runtime, "lib", `python${py.version}`),
        String(interpreterOptimize),
      ]);
    }
    runPythonTool(buildPython, [
      "compile",
      join(appDir, SUPPORT_PYTHON_DIR),
      String(interpreterOptimize),
      "0",
      "0",
    ]);
  }

  // Icon, desktop file, AppStream, AppRun, marker.
  const iconName = config.package.name;
  if (config.bundle.icon) {
    if (!existsSync(config.bundle.icon)) {
      throw new InputError(
        `Cannot copy the icon "${config.bundle.icon}": no such file ([bundle] icon)`,
      );
    }
    const ext = extname(config.bundle.icon).toLowerCase() || ".png";
    copyFileSync(config.bundle.icon, join(appDir, ".DirIcon"));
    copyFileSync(config.bundle.icon, join(appDir, `${iconName}${ext}`));
  } else {
    const png = pngIcon(config.package.name);
    writeFileSync(join(appDir, ".DirIcon"), png);
    writeFileSync(join(appDir, `${iconName}.png`), png);
  }
  for (const file of plan.files) {
    mkdirSync(dirname(join(appDir, file.path)), { recursive: true });
    writeFileSync(join(appDir, file.path), file.content, { mode: file.mode });
    chmodSync(join(appDir, file.path), file.mode);
  }
  writeFileSync(join(appDir, "AppRun"), appRunScript(doc, appDir), { mode: 0o755 });
  chmodSync(join(appDir, "AppRun"), 0o755);
  writeJson(join(appDir, FULLSTACK_MARKER), doc);
  return { document: doc, pythonVersion, archive: archiveSummary };
}

/**
 * Collects resources under a root (the AppDir, or a temporary root for dev):
 * [build] resources go to ROOT/resources/NAME, then each [[hooks.collect]] rule
 * copies its matches to ROOT/dest.
 *
 * @param config The configuration.
 * @param root The root.
 * @param log The logger.
 * @throws {InputError} When a [build] resources path is missing.
 */
export function collectResources(
  config: PackConfig,
  root: string,
  log: (line: string) => void,
): void {
  const resourcesDir = join(root, OVERLAY.resources);
  mkdirSync(resourcesDir, { recursive: true });
  for (const dir of config.build.resources) {
    if (!existsSync(dir)) {
      throw new InputError(
        `Cannot copy resource "${dir}": no such file or directory ([build] resources)`,
      );
    }
    copyTree(dir, join(resourcesDir, basename(dir)), config.build.exclude, [], {
      what: "resource",
      key: "[build] resources",
    });
  }
  for (const rule of config.hooks.collect) {
    const count = collect(rule, join(root, rule.dest));
    log(
      `collected ${count} file(s) into ${rule.dest}${
        rule.description ? ` (${rule.description})` : ""
      }`,
    );
    if (count === 0) log(`warning: [[hooks.collect]] source "${rule.source}" matched nothing`);
  }
}

function writeJson(file: string, value: unknown): void {
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, JSON.stringify(value, null, 2) + "\n");
}

function isDir(p: string): boolean {
  try {
    return statSync(p).isDirectory();
  } catch {
    return false;
  }
}

/**
 * Runs a shell command ([build] before/after, hooks) in the project directory,
 * its output on stderr.
 *
 * @param command The command line.
 * @param cwd The directory.
 * @param env The environment.
 * @param log The logger.
 * @throws {InputError} When it fails.
 */
export function runCommand(
  command: string,
  cwd: string,
  env: Record<string, string>,
  log: (line: string) => void,
): void {
  log(`running: ${command}`);
  const result = spawnSync("sh", ["-c", command], { cwd, env, stdio: ["ignore", 2, 2] });
  if (result.error) {
    throw new InputError(`Cannot run command "${command}": ${result.error.message}`);
  }
  if (result.status !== 0) {
    throw new InputError(
      `Cannot run command "${command}": it exited with ${
        result.signal ? `signal ${result.signal}` : `status ${result.status}`
      }`,
    );
  }
}

/**
 * Copies a tree, leaving out names matching the exclude globs and the skipped
 * absolute paths. A file that cannot be copied (unreadable, a dangling symlink)
 * is an InputError naming it: `Cannot copy resource "…": … ([build] resources)`.
 */
function copyTree(
  from: string,
  to: string,
  exclude: string[],
  skip: string[],
  source: { what: string; key: string },
): void {
  const matchers = exclude.map((p) => picomatch(p, { dot: true }));
  const excluded = (rel: string) => {
    const name = basename(rel);
    return matchers.some((m) => m(name) || m(rel));
  };
  const skipSet = new Set(skip.map((p) => resolve(p)));
  const walk = (src: string, dst: string, rel: string) => {
    const st = lstatSync(src);
    if (skipSet.has(resolve(src)) && rel !== "") return;
    if (rel !== "" && excluded(rel)) return;
    if (st.isDirectory()) {
      mkdirSync(dst, { recursive: true });
      for (const name of readdirSync(src).sort()) {
        walk(join(src, name), join(dst, name), rel === "" ? name : `${rel}/${name}`);
      }
    } else if (st.isFile() || st.isSymbolicLink()) {
      mkdirSync(dirname(dst), { recursive: true });
      try {
        copyFileSync(src, dst);
        chmodSync(dst, statSync(src).mode & 0o777);
      } catch (error) {
        const dangling = st.isSymbolicLink() && !existsSync(src);
        throw new InputError(
          `Cannot copy ${source.what} "${src}": ${
            dangling ? "it is a symlink to a missing file" : describeFsError(error)
          } (${source.key})`,
        );
      }
    }
  };
  walk(from, to, "");
}

/** Copies the files an [[hooks.collect]] glob matches into destRoot; returns how many. */
function collect(rule: CollectRule, destRoot: string): number {
  const scan = picomatch.scan(rule.source);
  const base = scan.isGlob ? scan.base : dirname(rule.source);
  const isMatch = scan.isGlob
    ? picomatch(rule.source, { dot: false })
    : (p: string) => p === rule.source;
  let count = 0;
  const walk = (dir: string) => {
    let names: string[];
    try {
      names = readdirSync(dir).sort();
    } catch {
      return;
    }
    for (const name of names) {
      const full = join(dir, name);
      if (isDir(full)) {
        if (name !== "node_modules" && !name.startsWith(".")) walk(full);
      } else if (isMatch(full)) {
        const dest = rule.preserveStructure
          ? join(destRoot, relative(base, full))
          : join(destRoot, name);
        mkdirSync(dirname(dest), { recursive: true });
        try {
          copyFileSync(full, dest);
        } catch (error) {
          throw new InputError(
            `Cannot copy resource "${full}": ${
              existsSync(full) ? describeFsError(error) : "it is a symlink to a missing file"
            } ([[hooks.collect]] source "${rule.source}")`,
          );
        }
        count++;
      }
    }
  };
  if (!scan.isGlob) {
    if (existsSync(rule.source) && statSync(rule.source).isDirectory()) {
      cpSync(
        rule.source,
        rule.preserveStructure ? join(destRoot, basename(rule.source)) : destRoot,
        { recursive: true },
      );
      return readdirSync(rule.source).length;
    }
    if (existsSync(rule.source)) {
      mkdirSync(destRoot, { recursive: true });
      copyFileSync(rule.source, join(destRoot, basename(rule.source)));
      return 1;
    }
    return 0;
  }
  walk(base);
  return count;
}

interface RuntimeArchive {
  path: string;
  source: string;
  sha256: string;
}

/** python-build-standalone's release used when [python] runtime is absent. */
export const STANDALONE_RELEASE = "20241016";
const STANDALONE_VERSIONS: Record<string, string> = {
  "3.9": "3.9.20",
  "3.10": "3.10.15",
  "3.11": "3.11.10",
  "3.12": "3.12.7",
  "3.13": "3.13.0",
};

/**
 * The download URL of python-build-standalone's install_only archive for a version.
 *
 * @param version "3.X".
 * @returns The URL.
 * @throws {InputError} For a version the release does not have.
 */
export function standaloneUrl(version: string): string {
  const full = STANDALONE_VERSIONS[version];
  if (!full) {
    throw new InputError(
      `Cannot download a Python ${version} runtime: python-build-standalone ${STANDALONE_RELEASE} has ${
        Object.keys(STANDALONE_VERSIONS).join(", ")
      }; set [python] runtime to an install_only archive`,
    );
  }
  return `https://github.com/astral-sh/python-build-standalone/releases/download/${STANDALONE_RELEASE}/cpython-${full}+${STANDALONE_RELEASE}-x86_64-unknown-linux-gnu-install_only.tar.gz`;
}

async function obtainRuntime(
  runtime: string | null,
  sha256: string | null,
  version: string,
  cacheDir: string,
  log: (line: string) => void,
): Promise<RuntimeArchive> {
  const source = runtime ?? standaloneUrl(version);
  let path: string;
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(source)) {
    const key = createHash("sha256").update(source).digest("hex").slice(0, 16);
    path = join(
      cacheDir,
      "python-runtimes",
      key,
      basename(new URL(source).pathname) || "python.tar.gz",
    );
    if (!existsSync(path)) {
      log(`downloading ${source}`);
      let response: Response;
      try {
        response = await fetch(source);
      } catch (error) {
        throw new InputError(
          `Cannot download the Python runtime "${source}": ${
            (error as Error).message
          } (set [python] runtime to a local install_only archive to pack offline)`,
        );
      }
      if (!response.ok) {
        throw new InputError(
          `Cannot download the Python runtime "${source}": HTTP ${response.status}`,
        );
      }
      const bytes = new Uint8Array(await response.arrayBuffer());
      mkdirSync(dirname(path), { recursive: true });
      const partial = `${path}.${process.pid}.tmp`;
      writeFileSync(partial, bytes);
      if (sha256) checkSha(partial, sha256, source, () => rmSync(partial, { force: true }));
      renameSync(partial, path);
    } else log(`using the cached runtime ${path}`);
  } else {
    path = source;
    if (!existsSync(path)) {
      throw new InputError(
        `Cannot find the Python runtime "${path}": no such file ([python] runtime)`,
      );
    }
  }
  const actual = checkSha(path, sha256, source, () => {});
  return { path, source, sha256: actual };
}

function checkSha(
  path: string,
  expected: string | null,
  source: string,
  onBad: () => void,
): string {
  const actual = createHash("sha256").update(readFileSync(path)).digest("hex");
  if (expected && actual !== expected) {
    onBad();
    throw new InputError(
      `Cannot use the Python runtime "${source}": its SHA-256 is ${actual}, but [python] runtime_sha256 is ${expected}`,
    );
  }
  return actual;
}

function pythonFullVersion(python: string): string {
  return execFileSync(python, ["-c", "import sys; print(sys.version.split()[0])"], {
    encoding: "utf8",
  }).trim();
}

function runPythonTool(python: string, args: string[]): string {
  const result = spawnSync(python, ["-s", "-E", PYTHON_TOOLS, ...args], {
    encoding: "utf8",
    env: { PATH: process.env["PATH"] ?? "/usr/bin:/bin", LC_ALL: "C.UTF-8" },
  });
  if (result.status !== 0) {
    const detail = (result.stderr || result.error?.message || "").trim().split("\n").slice(-3).join(
      " ",
    );
    throw new InputError(`Cannot ${args[0]} the app's Python code with "${python}": ${detail}`);
  }
  return result.stdout;
}

/** Options of {@linkcode pipInstall}. */
export interface PipOptions {
  env: Record<string, string>;
  cacheDir: string;
  log: (line: string) => void;
  useCache: boolean;
}

/**
 * Installs packages with pip into a site-packages directory for a target
 * Python version (x86_64 manylinux wheels when the version differs from the
 * pip's own interpreter), honouring pip's configured index, and caching the
 * result by requirement list, version, platform and pip's configuration
 * ({@linkcode pipConfiguration}), so another index never reuses a stale install.
 */
export function pipInstall(
  packages: string[],
  version: string,
  target: string,
  options: PipOptions,
): void {
  const pipPython = options.env["PBUNDLE_PIP_PYTHON"] ?? "python3";
  let hostVersion: string;
  try {
    hostVersion = execFileSync(pipPython, [
      "-c",
      "import sys; print('%d.%d' % sys.version_info[:2])",
    ], {
      encoding: "utf8",
      env: options.env,
    }).trim();
  } catch (error) {
    throw new InputError(
      `Cannot install packages: "${pipPython}" does not run (${
        (error as Error).message
      }); pip comes from the build machine's python3 or PBUNDLE_PIP_PYTHON`,
    );
  }
  const cross = hostVersion !== version
    ? [
      "--python-version",
      version,
      "--implementation",
      "cp",
      "--only-binary=:all:",
      ...["manylinux2014_x86_64", "manylinux_2_17_x86_64", "manylinux_2_28_x86_64", "linux_x86_64"]
        .flatMap((p) => ["--platform", p]),
    ]
    : [];
  // pip's configuration (index-url, extra-index-url, find-links, no-index, … from its
  // files and PIP_* variables) is part of the key: another index may hold other builds.
  const key = createHash("sha256").update(
    JSON.stringify({
      packages,
      version,
      cross,
      pip: pipConfiguration(pipPython, options.env),
      v: 2,
    }),
  ).digest("hex").slice(0, 20);
  const cached = join(options.cacheDir, "pip", key);
  if (!options.useCache || !existsSync(join(cached, ".complete"))) {
    const partial = `${cached}.${process.pid}.tmp`;
    rmSync(partial, { recursive: true, force: true });
    options.log(`pip install ${packages.join(" ")} (Python ${version})`);
    const result = spawnSync(pipPython, [
      "-m",
      "pip",
      "install",
      "--target",
      partial,
      "--no-compile",
      "--no-warn-script-location",
      "--disable-pip-version-check",
      ...cross,
      ...packages,
    ], { env: { ...options.env, PIP_ROOT_USER_ACTION: "ignore" }, encoding: "utf8" });
    if (result.status !== 0) {
      rmSync(partial, { recursive: true, force: true });
      const detail = (result.stderr || "").trim().split("\n").filter((l) =>
        !/^WARNING: Retrying/.test(l)
      ).slice(-3).join(" ");
      throw new InputError(
        `Cannot install ${packages.join(", ")} with pip for Python ${version}: ${detail}`,
      );
    }
    writeFileSync(join(partial, ".complete"), JSON.stringify({ packages, version }) + "\n");
    rmSync(cached, { recursive: true, force: true });
    mkdirSync(dirname(cached), { recursive: true });
    renameSync(partial, cached);
  } else options.log(`using cached packages for ${packages.join(" ")} (${cached})`);
  cpSync(cached, target, {
    recursive: true,
    verbatimSymlinks: true,
    filter: (src) => basename(src) !== ".complete",
  });
  // pip puts console scripts in bin/; external binaries belong in python/bin.
  if (isDir(join(target, "bin"))) {
    cpSync(join(target, "bin"), join(dirname(target), "bin"), { recursive: true });
    rmSync(join(target, "bin"), { recursive: true, force: true });
  }
}

/**
 * What decides where pip looks for packages: `pip config list` (its files and
 * PIP_* variables, as pip itself reads them) and the PIP_* variables.
 *
 * @param pipPython The Python whose pip installs.
 * @param env The environment pip runs in.
 * @returns A text that changes when the index or any other pip setting does.
 */
export function pipConfiguration(pipPython: string, env: Record<string, string>): string {
  const listed = spawnSync(pipPython, ["-m", "pip", "config", "list"], { env, encoding: "utf8" });
  const variables = Object.keys(env).filter((k) => k.startsWith("PIP_")).sort()
    .map((k) => `${k}=${env[k]}`);
  return [listed.status === 0 ? listed.stdout : "", ...variables].join("\n");
}

/**
 * The AppRun script of a full-stack AppDir. The bundle's runtime does not run it
 * (it hosts the app in-process when it finds the marker); it serves the AppDir's
 * other users (--appimage-extract, the portable directory, AppImage tools): it
 * starts the backend alone with the packed environment, speaking the protocol
 * on stdin/stdout.
 *
 * @param doc The document, interpreter filled in.
 * @param appDir The AppDir (its paths become "$HERE").
 * @returns The script.
 */
export function appRunScript(doc: FullstackDocument, appDir: string): string {
  if (!doc.python) {
    return `#!/bin/sh\necho "${doc.name}: a frontend-only pbundle app; run the bundle itself" >&2\nexit 127\n`;
  }
  const placeholder = "/@PBUNDLE_APPDIR@";
  const launch = resolveBackendLaunch(
    { ...doc, python: { ...doc.python, interpreter: doc.python.interpreter ?? null } },
    placeholder,
    { PATH: "@PATH@", PBUNDLE_PYTHON: "@PY@" },
    {
      cwd: placeholder,
      check: false,
      exists: (p) => existsSync(p.split(placeholder).join(appDir)),
      pythonHome: "/@PYTHON_HOME@",
    },
  );
  const q = (s: string) =>
    `"${
      s.replace(/["\\`$]/g, (c) => `\\${c}`).split(placeholder).join("${HERE}").replace(
        /@PATH@/g,
        "${PATH}",
      ).replace(/\/@PYTHON_HOME@/g, "${_pbundle_python_home}")
    }"`;
  const lines = [
    "#!/bin/sh",
    `# ${doc.name}: runs this pbundle full-stack AppDir's Python backend on stdin/stdout`,
    "# (JSON-RPC lines). The AppBundle's runtime hosts the app itself and does not use this.",
    'HERE="$(dirname "$(readlink -f "$0")")"',
  ];
  if (doc.python.interpreter) {
    lines.push(`PY=${q(launch.command)}`);
  } else {
    const v = doc.python.version;
    lines.push(
      'if [ -n "${PBUNDLE_PYTHON:-}" ]; then',
      '  PY="$(command -v "$PBUNDLE_PYTHON" || true)"',
      `  [ -n "$PY" ] && [ -f "$PY" ] && [ -x "$PY" ] || { echo "${doc.name}: cannot start the Python backend: PBUNDLE_PYTHON is \\"$PBUNDLE_PYTHON\\", which is not an executable file (set it to the path of a python${v}, or unset it to search PATH)" >&2; exit 127; }`,
      "else",
      `  PY="$(command -v python${v} || true)"`,
      `  [ -n "$PY" ] || { echo "${doc.name}: cannot find python${v} (set PBUNDLE_PYTHON)" >&2; exit 127; }`,
      "fi",
    );
  }
  if (Object.values(launch.env).some((v) => v.includes("/@PYTHON_HOME@"))) {
    // $PYTHON_HOME of the host's Python: its real prefix, not a shim's directory.
    lines.push(
      `_pbundle_python_home="$("$PY" -E -s -c 'import sys; print(sys.base_prefix)')" || exit 127`,
    );
  }
  // The variables the host drops (one list, document.ts), unless set below.
  const unset = droppedVariables(doc.python.isolation).filter((k) => !(k in launch.env));
  if (!("AURORAVIEW_EXAMPLES_DIR" in launch.env)) unset.push("AURORAVIEW_EXAMPLES_DIR");
  lines.push(`unset ${unset.join(" ")}`);
  for (const [k, v] of Object.entries(launch.env)) {
    if (k === "PBUNDLE_PYTHON") continue;
    if (k !== "PATH" && !/^(PYTHON|AURORAVIEW_|PBUNDLE_)/.test(k) && !(k in doc.env)) continue;
    lines.push(`export ${k}=${q(v)}`);
  }
  lines.push(`exec "$PY" ${launch.args.map(q).join(" ")} "$@"`);
  return lines.join("\n") + "\n";
}
