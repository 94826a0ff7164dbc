/**
 * The full-stack marker document (`.pbundle/fullstack.json` at the root of the
 * image) and how the host turns it into the backend's command line and
 * environment. The packer writes the document; the runtime reads it. Engine-
 * neutral (node: built-ins only).
 *
 * @module
 */

import { accessSync, constants, existsSync, readFileSync, statSync } from "node:fs";
import { delimiter, dirname, isAbsolute, join, resolve } from "node:path";
import { execFileSync } from "node:child_process";
import type { BackendLaunch } from "./backend_host.ts";

/** The path of the marker inside the image. */
export const FULLSTACK_MARKER = ".pbundle/fullstack.json";
/** The directory of pbundle's own Python support module inside the image. */
export const SUPPORT_PYTHON_DIR = ".pbundle/python";
/** The document's format version. */
export const FULLSTACK_DOCUMENT_VERSION = 1;

/** Python packing strategies (auroraview's names). */
export type PythonStrategy = "standalone" | "pyoxidizer" | "embedded" | "system" | "portable";

/** How the backend is entered: `module:function` or a file. */
export type EntryPoint = { module: string; function: string } | { file: string };

/** The marker document. Paths are relative to the AppDir unless absolute (dev mode). */
export interface FullstackDocument {
  /** Always "pbundle-fullstack". */
  format: "pbundle-fullstack";
  /** The document's own format version. */
  version: number;
  /** [package] name. */
  name: string;
  /** [package] version. */
  appVersion: string;
  /** [app] title, falling back to the name. */
  title: string;
  /** True in a bundle (sets AURORAVIEW_PACKED=1); false for `pbundle dev`. */
  packed: boolean;
  /** The frontend directory ([app] frontend_path copied to frontend/), or null. */
  frontend: string | null;
  /** [app] url, or null. */
  url: string | null;
  /** [app] allow_new_window. */
  allowNewWindow: boolean;
  /** [window], as written. */
  window: Record<string, unknown>;
  /** [debug]. */
  debug: { enabled: boolean; devtools: boolean; verbose: boolean };
  /** [plugins] (absent in older documents: shell on, process off). */
  plugins?: { shell: boolean; process: boolean; processAllow: string[] };
  /** [runtime.env]: values may use $EXTRACT_DIR, $SITE_PACKAGES, $RESOURCES_DIR, $PYTHON_HOME. */
  env: Record<string, string>;
  /** The resources directory (resources/). */
  resources: string;
  /** The Python backend, or null when [python] enabled = false. */
  python: FullstackPython | null;
}

/** The Python part of the document. */
export interface FullstackPython {
  /** How Python is shipped. */
  strategy: PythonStrategy;
  /** "X.Y". */
  version: string;
  /** The interpreter inside the AppDir, or null to use the host's python of `version`. */
  interpreter: string | null;
  /** The runtime's home (sys.prefix) inside the AppDir, or null. */
  home: string | null;
  /** The entry point; a file path is relative to codeDir. */
  entry: EntryPoint;
  /** The directory holding the app's code (python/): $EXTRACT_DIR. */
  codeDir: string;
  /** python/site-packages: $SITE_PACKAGES. */
  sitePackages: string;
  /** python/bin: external binaries, first on the backend's PATH. */
  binDir: string;
  /** The bytecode archive imported in place (pyoxidizer strategy), or null. */
  archive: string | null;
  /** Extra paths put on sys.path in dev mode (the project's include_paths). */
  extraPaths: string[];
  /** [python.process] module_search_paths, unresolved. */
  moduleSearchPaths: string[];
  /** [python.process] filesystem_importer: false keeps only the archive and the runtime on sys.path. */
  filesystemImporter: boolean;
  /** [python.isolation]. */
  isolation: { pythonpath: boolean; path: boolean };
  /** Interpreter optimization level (-O, -OO) matching the compiled bytecode. */
  optimize: number;
  /** Backend process settings. */
  process: {
    callTimeoutMs: number;
    maxRestarts: number;
    restartBackoffMs: number;
    shutdownGraceMs: number;
  };
}

/** Raised when the document is missing or unusable; the runtime exits 127 with its message. */
export class FullstackError extends Error {
  /** @param message "Cannot <action> <object>: <state>". */
  constructor(message: string) {
    super(message);
    this.name = "FullstackError";
  }
}

/**
 * Reads and checks `.pbundle/fullstack.json` of an AppDir.
 *
 * @param appDir The extracted or mounted AppDir.
 * @returns The document.
 * @throws {FullstackError} When it is missing, not JSON, or of an unknown version.
 */
export function readFullstackDocument(appDir: string): FullstackDocument {
  const file = join(appDir, FULLSTACK_MARKER);
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (error) {
    throw new FullstackError(`Cannot read "${file}": ${(error as Error).message}`);
  }
  let doc: FullstackDocument;
  try {
    doc = JSON.parse(text);
  } catch (error) {
    throw new FullstackError(`Cannot parse "${file}": ${(error as Error).message}`);
  }
  if (doc?.format !== "pbundle-fullstack" || doc.version !== FULLSTACK_DOCUMENT_VERSION) {
    throw new FullstackError(
      `Cannot use "${file}": format ${JSON.stringify(doc?.format)} version ${
        JSON.stringify(doc?.version)
      }, expected pbundle-fullstack version ${FULLSTACK_DOCUMENT_VERSION} (repack with this pbundle)`,
    );
  }
  return doc;
}

/** The directories that $EXTRACT_DIR and friends stand for. */
export interface PathVariables {
  EXTRACT_DIR: string;
  SITE_PACKAGES: string;
  RESOURCES_DIR: string;
  PYTHON_HOME: string;
}

/**
 * Whether a string uses $PYTHON_HOME (or ${PYTHON_HOME}).
 *
 * @param text The text.
 * @returns True when {@linkcode substitutePathVariables} would replace it.
 */
export function usesPythonHome(text: string): boolean {
  return /\$(?:\{PYTHON_HOME\}|PYTHON_HOME\b)/.test(text);
}

/**
 * Replaces $EXTRACT_DIR, $SITE_PACKAGES, $RESOURCES_DIR and $PYTHON_HOME (also
 * written ${NAME}) in a string. Other $ words are left alone.
 *
 * @param text The text.
 * @param vars The values.
 * @returns The text with the variables replaced.
 */
export function substitutePathVariables(text: string, vars: PathVariables): string {
  return text.replace(
    /\$(?:\{(EXTRACT_DIR|SITE_PACKAGES|RESOURCES_DIR|PYTHON_HOME)\}|(EXTRACT_DIR|SITE_PACKAGES|RESOURCES_DIR|PYTHON_HOME)\b)/g,
    (_m, a: string | undefined, b: string | undefined) => vars[(a ?? b) as keyof PathVariables],
  );
}

/**
 * The variables [python.isolation] pythonpath = true removes from the
 * backend's environment (the host's and AppRun's one list).
 */
export const ISOLATED_PYTHON_VARIABLES: readonly string[] = [
  "PYTHONPATH",
  "PYTHONHOME",
  "PYTHONSTARTUP",
  "PYTHONUSERBASE",
  "PYTHONEXECUTABLE",
  "PYTHONSAFEPATH",
  "VIRTUAL_ENV",
  "CONDA_PREFIX",
];

/**
 * The caller's variables the backend does not inherit: {@linkcode ISOLATED_PYTHON_VARIABLES}
 * with [python.isolation] pythonpath (else only PYTHONHOME), and AURORAVIEW_PACKED,
 * which only the document sets.
 *
 * @param isolation [python.isolation].
 * @returns The variable names.
 */
export function droppedVariables(isolation: { pythonpath: boolean }): string[] {
  return [
    ...(isolation.pythonpath ? ISOLATED_PYTHON_VARIABLES : ["PYTHONHOME"]),
    "AURORAVIEW_PACKED",
  ];
}

/** Options for {@linkcode resolveBackendLaunch}. */
export interface ResolveLaunchOptions {
  /** Extra arguments for the app (after the entry). */
  args?: string[];
  /** The working directory of the backend. @default the AppDir */
  cwd?: string;
  /** Where pbundle_backend lives when the AppDir has no .pbundle/python (dev mode). */
  supportDir?: string;
  /** Check that the interpreter exists (false: PBUNDLE_PYTHON is taken as given). @default true */
  check?: boolean;
  /** Tests whether a path exists (for writing AppRun with placeholder paths). @default existsSync */
  exists?: (path: string) => boolean;
  /**
   * $PYTHON_HOME for a host interpreter (AppRun passes a placeholder its script fills in).
   * @default the interpreter's sys.base_prefix, asked only when something uses $PYTHON_HOME
   */
  pythonHome?: string;
}

/**
 * Computes how to start the backend of a document: the interpreter, its
 * arguments and the complete environment (AURORAVIEW_PACKED and friends,
 * PYTHONPATH from module_search_paths, [python.isolation], PATH with python/bin,
 * [runtime.env]).
 *
 * @param doc The document.
 * @param appDir The AppDir the document's relative paths start from.
 * @param env The environment the host runs in.
 * @param options Arguments, working directory.
 * @returns The launch.
 * @throws {FullstackError} When no interpreter of the right version is found.
 */
export function resolveBackendLaunch(
  doc: FullstackDocument,
  appDir: string,
  env: Record<string, string>,
  options: ResolveLaunchOptions = {},
): BackendLaunch {
  const py = doc.python;
  if (!py) {
    throw new FullstackError(`Cannot start a backend for "${doc.name}": [python] enabled = false`);
  }
  const at = (p: string) => (isAbsolute(p) ? p : resolve(appDir, p));
  const exists = options.exists ?? existsSync;
  const interpreter = py.interpreter
    ? at(py.interpreter)
    : options.check === false && env["PBUNDLE_PYTHON"]
    ? env["PBUNDLE_PYTHON"]
    : findHostPython(py.version, env, py.strategy);
  if (py.interpreter && options.check !== false && !isExecutable(interpreter)) {
    throw new FullstackError(
      `Cannot start the Python backend: the interpreter "${interpreter}" is missing or not executable (the bundle's ${py.strategy} runtime is incomplete; repack it)`,
    );
  }
  // A host interpreter's prefix is asked for only when something uses it: a
  // pyenv shim or a symlink says nothing about where its Python lives, and
  // starting Python once more would slow every launch.
  const needsHome = [...py.moduleSearchPaths, ...Object.values(doc.env)].some(usesPythonHome);
  const home = py.home
    ? at(py.home)
    : options.pythonHome ?? (needsHome ? hostPythonHome(interpreter, env) : "");
  const vars: PathVariables = {
    EXTRACT_DIR: at(py.codeDir),
    SITE_PACKAGES: at(py.sitePackages),
    RESOURCES_DIR: at(doc.resources),
    PYTHON_HOME: home,
  };
  const searchPaths: string[] = [];
  const add = (p: string) => {
    if (p !== "" && !searchPaths.includes(p)) searchPaths.push(p);
  };
  if (py.archive) add(at(py.archive));
  if (py.filesystemImporter || !py.archive) {
    for (const p of py.moduleSearchPaths) add(at(substitutePathVariables(p, vars)));
    for (const p of py.extraPaths) add(at(p));
    add(vars.EXTRACT_DIR); // the entry module must be importable whatever the search paths say
    if (exists(vars.SITE_PACKAGES)) add(vars.SITE_PACKAGES);
  }
  const supportDir = exists(join(appDir, SUPPORT_PYTHON_DIR))
    ? join(appDir, SUPPORT_PYTHON_DIR)
    : options.supportDir;
  if (supportDir) add(supportDir);

  const out: Record<string, string> = {};
  const dropped = new Set(droppedVariables(py.isolation));
  for (const [k, v] of Object.entries(env)) {
    if (!dropped.has(k)) out[k] = v;
  }
  const inherited = !py.isolation.pythonpath && env["PYTHONPATH"] ? [env["PYTHONPATH"]] : [];
  out["PYTHONPATH"] = [...searchPaths, ...inherited].join(delimiter);
  out["AURORAVIEW_PYTHON_PATH"] = searchPaths.join(delimiter);
  if (doc.packed) out["AURORAVIEW_PACKED"] = "1";
  out["AURORAVIEW_RESOURCES_DIR"] = vars.RESOURCES_DIR;
  const examples = join(vars.RESOURCES_DIR, "examples");
  if (exists(examples)) out["AURORAVIEW_EXAMPLES_DIR"] = examples;
  else delete out["AURORAVIEW_EXAMPLES_DIR"];
  out["PBUNDLE_APP_NAME"] = doc.name;
  out["PBUNDLE_CALL_TIMEOUT_MS"] = String(py.process.callTimeoutMs);
  out["PYTHONUNBUFFERED"] = "1";
  out["PYTHONIOENCODING"] = "utf-8";
  out["PYTHONDONTWRITEBYTECODE"] = "1";
  if (py.isolation.pythonpath) out["PYTHONNOUSERSITE"] = "1";
  if (doc.debug.enabled) out["PYTHONFAULTHANDLER"] = "1";
  if (doc.debug.verbose && !out["PBUNDLE_LOG"]) out["PBUNDLE_LOG"] = "debug";
  const pathParts: string[] = [];
  const bin = at(py.binDir);
  if (exists(bin)) pathParts.push(bin);
  if (py.interpreter) pathParts.push(dirname(interpreter));
  pathParts.push(
    py.isolation.path
      ? "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
      : env["PATH"] ?? "/usr/local/bin:/usr/bin:/bin",
  );
  out["PATH"] = pathParts.join(delimiter);
  for (const [k, v] of Object.entries(doc.env)) out[k] = substitutePathVariables(v, vars);

  const args: string[] = [];
  if (py.optimize >= 2) args.push("-OO");
  else if (py.optimize === 1) args.push("-O");
  if (py.isolation.pythonpath) args.push("-s");
  // -c puts "" (the working directory) first on sys.path; take it off again.
  args.push(
    "-c",
    "import sys; del sys.path[0]; import runpy; runpy.run_module('pbundle_backend', run_name='__main__', alter_sys=True)",
  );
  if ("module" in py.entry) args.push("module", `${py.entry.module}:${py.entry.function}`);
  else args.push("file", at(join(py.codeDir, py.entry.file)));
  args.push(...(options.args ?? []));
  return { command: interpreter, args, env: out, cwd: options.cwd ?? appDir };
}

/**
 * Finds the host's Python of a version for the embedded and system strategies:
 * $PBUNDLE_PYTHON (a path, or a name looked up on PATH; it must be an
 * executable file), else pythonX.Y on PATH, then python3 when its version matches.
 *
 * @param version "X.Y".
 * @param env The environment whose PATH is searched.
 * @param strategy For the error message.
 * @returns The interpreter's path.
 * @throws {FullstackError} When none is found, or PBUNDLE_PYTHON names no executable file.
 */
export function findHostPython(
  version: string,
  env: Record<string, string>,
  strategy = "embedded",
): string {
  const chosen = env["PBUNDLE_PYTHON"];
  const dirs = (env["PATH"] ?? "").split(delimiter).filter((d) => d !== "");
  if (chosen) {
    const found = chosen.includes("/")
      ? [chosen].filter(isExecutable)
      : dirs.map((dir) => join(dir, chosen)).filter(isExecutable);
    if (found[0]) return found[0];
    throw new FullstackError(
      `Cannot start the Python backend: PBUNDLE_PYTHON is "${chosen}", which is not an executable file${
        chosen.includes("/") ? "" : " on PATH"
      } (set it to the path of a python${version}, or unset it to search PATH)`,
    );
  }
  for (const name of [`python${version}`]) {
    for (const dir of dirs) {
      const candidate = join(dir, name);
      if (isExecutable(candidate)) return candidate;
    }
  }
  for (const dir of dirs) {
    const candidate = join(dir, "python3");
    if (!isExecutable(candidate)) continue;
    try {
      const found = execFileSync(candidate, [
        "-c",
        "import sys; print('%d.%d' % sys.version_info[:2])",
      ], { env, encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).trim();
      if (found === version) return candidate;
    } catch { /* not usable */ }
  }
  throw new FullstackError(
    `Cannot start the Python backend: no Python ${version} found (the ${strategy} strategy uses the system's python${version}; install it, put it on PATH, or set PBUNDLE_PYTHON to its path)`,
  );
}

/**
 * The installation prefix (sys.base_prefix) of a host interpreter: $PYTHON_HOME
 * for the embedded and system strategies and `pbundle dev`.
 *
 * @param interpreter The interpreter (a pyenv shim or a symlink is fine).
 * @param env The environment it runs in (a shim needs its PATH).
 * @returns The prefix, e.g. /usr or ~/.pyenv/versions/3.11.7.
 * @throws {FullstackError} When the interpreter does not answer.
 */
export function hostPythonHome(interpreter: string, env: Record<string, string>): string {
  try {
    return execFileSync(interpreter, ["-E", "-s", "-c", "import sys; print(sys.base_prefix)"], {
      env,
      encoding: "utf8",
      stdio: ["ignore", "pipe", "pipe"],
    }).trim();
  } catch (error) {
    const detail = String((error as { stderr?: string }).stderr ?? "").trim().split("\n").pop() ||
      (error as Error).message;
    throw new FullstackError(
      `Cannot find $PYTHON_HOME: "${interpreter}" did not print its prefix (${detail})`,
    );
  }
}

function isExecutable(file: string): boolean {
  try {
    if (!statSync(file).isFile()) return false;
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}
