/**
 * Reads and validates a full-stack project's pack file (pbundle.pack.toml or
 * auroraview.pack.toml): every table of auroraview's packing document, plus
 * pbundle's backend-process keys. Unknown keys, wrong types and missing
 * required keys are errors naming the key, its table and the nearest valid
 * key. Relative paths resolve against the file's directory.
 *
 * @module
 */

import { existsSync, readFileSync } from "node:fs";
import { dirname, isAbsolute, join, resolve } from "node:path";
import { parse, TomlError } from "smol-toml";
import { FormatError, InputError } from "../../errors.ts";
import type { EntryPoint, PythonStrategy } from "../../runtime/fullstack/document.ts";

/** The file names looked for when --config names a directory, in order. */
export const PACK_CONFIG_NAMES = ["pbundle.pack.toml", "auroraview.pack.toml"] as const;

/** The Python strategies. */
export const PYTHON_STRATEGIES: readonly PythonStrategy[] = [
  "standalone",
  "pyoxidizer",
  "embedded",
  "system",
  "portable",
];

/** A pack file problem: names the key, its table and the nearest valid key. */
export class ConfigError extends InputError {
  /** The file. */
  readonly file: string;
  /** The table, e.g. "python.process" ("" for the top level). */
  readonly table: string;
  /** The key. */
  readonly key: string;
  /** The nearest valid key, when there is one. */
  readonly suggestion: string | undefined;
  /** The table of the nearest valid key when it is another table's ("" for the top level). */
  readonly suggestionTable: string | undefined;
  /**
   * Makes a pack-file error naming the file, the table and the key.
   *
   * @param file The pack file.
   * @param table The table.
   * @param key The key.
   * @param problem What is wrong ("{key}" stands for the key and its table).
   * @param suggestion The nearest valid key: a key of the same table, or one of another table.
   */
  constructor(
    file: string,
    table: string,
    key: string,
    problem: string,
    suggestion?: string | { key: string; table: string },
  ) {
    const where = (t: string) => (t === "" ? "at the top level" : `in [${t}]`);
    const hint = suggestion === undefined
      ? ""
      : typeof suggestion === "string"
      ? `; did you mean "${suggestion}"?`
      : `; did you mean "${suggestion.key}" ${where(suggestion.table)}?`;
    super(`Cannot read "${file}": ${problem.replace("{key}", `"${key}" ${where(table)}`)}${hint}`);
    this.name = "ConfigError";
    this.file = file;
    this.table = table;
    this.key = key;
    this.suggestion = typeof suggestion === "string" ? suggestion : suggestion?.key;
    this.suggestionTable = typeof suggestion === "object" ? suggestion.table : undefined;
  }
}

/** [[hooks.collect]]. */
export interface CollectRule {
  /** An absolute glob (source resolved against the pack file's directory). */
  source: string;
  /** Where matches go inside the image, relative (e.g. "resources/examples"). */
  dest: string;
  /** Keep each match's path relative to the glob's fixed base. */
  preserveStructure: boolean;
  /** Shown in verbose output. */
  description: string;
}

/** A validated pack file, with defaults filled in and paths absolute. */
export interface PackConfig {
  /** The pack file. */
  file: string;
  /** Its directory. */
  dir: string;
  /** [package]: the app's name, version, description, authors and license. */
  package: {
    name: string;
    version: string;
    description: string;
    authors: string[];
    license: string;
  };
  /** [app]: the window title and what the window shows (frontend files or a URL). */
  app: {
    title: string;
    frontendPath: string | null;
    url: string | null;
    allowNewWindow: boolean;
  };
  /** [window]: the app window's size and behaviour. */
  window: {
    width: number;
    height: number;
    minWidth: number | null;
    minHeight: number | null;
    resizable: boolean;
    frameless: boolean;
    transparent: boolean;
    alwaysOnTop: boolean;
    startPosition: string;
  };
  /** [bundle]: the icon, identifier and desktop metadata. */
  bundle: {
    icon: string | null;
    identifier: string;
    copyright: string;
    category: string;
    shortDescription: string;
    platform: {
      linux: { categories: string[]; appimage: boolean };
      windows: Record<string, unknown>;
      macos: Record<string, unknown>;
    };
  };
  /** [python]: the backend's Python version, entry point, packages and strategy. */
  python: {
    enabled: boolean;
    version: string;
    entryPoint: EntryPoint;
    packages: string[];
    includePaths: string[];
    exclude: string[];
    optimize: number;
    strategy: PythonStrategy;
    runtime: string | null;
    runtimeSha256: string | null;
    process: {
      console: boolean;
      moduleSearchPaths: string[];
      filesystemImporter: boolean;
      callTimeoutMs: number;
      maxRestarts: number;
      restartBackoffMs: number;
      shutdownGraceMs: number;
    };
    isolation: { pythonpath: boolean; path: boolean };
    protection: { enabled: boolean; optimization: number };
  };
  /** [build]: commands around the build, resources to collect, the output directory. */
  build: {
    before: string[];
    after: string[];
    resources: string[];
    exclude: string[];
    outDir: string;
    release: boolean;
  };
  /** [runtime]: environment variables set for the app. */
  runtime: { env: Record<string, string> };
  /** [hooks]: commands before collecting and after packing, and collect rules. */
  hooks: { beforeCollect: string[]; afterPack: string[]; collect: CollectRule[] };
  /** [debug]: debug mode, devtools and verbose logging. */
  debug: { enabled: boolean; devtools: boolean; verbose: boolean };
  /** [plugins]: the app window's host plugins (runtime/fullstack/window/host_plugins.ts). */
  plugins: { shell: boolean; process: boolean; processAllow: string[] };
}

// ---------------------------------------------------------------------------------------------
// The schema: every table and key the file may hold.

type Check =
  | { t: "string"; pattern?: RegExp; patternText?: string }
  | { t: "bool" }
  | { t: "int"; min?: number; max?: number }
  | { t: "strings" }
  | { t: "enum"; values: readonly string[] }
  | { t: "table"; keys: Schema }
  | { t: "stringMap" }
  | { t: "tables"; keys: Schema };
type Schema = Record<string, Check>;

const str: Check = { t: "string" };
const bool: Check = { t: "bool" };
const strings: Check = { t: "strings" };
const positive: Check = { t: "int", min: 1, max: 100000 };
const level: Check = { t: "int", min: 0, max: 2 };

const SCHEMA: Schema = {
  package: {
    t: "table",
    keys: {
      name: {
        t: "string",
        pattern: /^[A-Za-z0-9][A-Za-z0-9._-]*$/,
        patternText: "letters, digits, '.', '_' and '-'",
      },
      version: { t: "string", pattern: /^\S+$/, patternText: "a version without spaces" },
      description: str,
      authors: strings,
      license: str,
    },
  },
  app: {
    t: "table",
    keys: { title: str, frontend_path: str, url: str, allow_new_window: bool },
  },
  window: {
    t: "table",
    keys: {
      width: positive,
      height: positive,
      min_width: positive,
      min_height: positive,
      resizable: bool,
      frameless: bool,
      transparent: bool,
      always_on_top: bool,
      start_position: { t: "enum", values: ["center", "default"] },
    },
  },
  bundle: {
    t: "table",
    keys: {
      icon: str,
      identifier: {
        t: "string",
        pattern: /^[A-Za-z0-9][A-Za-z0-9._-]*$/,
        patternText: "a reverse-DNS name such as com.example.app",
      },
      copyright: str,
      category: str,
      short_description: str,
      platform: {
        t: "table",
        keys: {
          windows: {
            t: "table",
            keys: {
              console: bool,
              file_version: str,
              product_version: str,
              file_description: str,
              product_name: str,
              company_name: str,
            },
          },
          macos: { t: "table", keys: { bundle_identifier: str, minimum_system_version: str } },
          linux: { t: "table", keys: { categories: strings, appimage: bool } },
        },
      },
    },
  },
  python: {
    t: "table",
    keys: {
      enabled: bool,
      version: { t: "string", pattern: /^3\.\d{1,2}$/, patternText: 'a "3.X" version' },
      entry_point: {
        t: "string",
        pattern: /^(?:[A-Za-z_][\w]*(?:\.[A-Za-z_]\w*)*:[A-Za-z_]\w*|[^:]+\.pyc?)$/,
        patternText: '"module:function" or "file.py"',
      },
      packages: strings,
      include_paths: strings,
      exclude: strings,
      optimize: level,
      strategy: { t: "enum", values: PYTHON_STRATEGIES },
      runtime: str,
      runtime_sha256: {
        t: "string",
        pattern: /^[0-9a-fA-F]{64}$/,
        patternText: "64 hexadecimal digits",
      },
      process: {
        t: "table",
        keys: {
          console: bool,
          module_search_paths: strings,
          filesystem_importer: bool,
          call_timeout_ms: { t: "int", min: 0, max: 86_400_000 },
          max_restarts: { t: "int", min: 0, max: 1000 },
          restart_backoff_ms: { t: "int", min: 0, max: 60_000 },
          shutdown_grace_ms: { t: "int", min: 0, max: 600_000 },
        },
      },
      isolation: { t: "table", keys: { pythonpath: bool, path: bool } },
      protection: { t: "table", keys: { enabled: bool, optimization: level } },
    },
  },
  build: {
    t: "table",
    keys: {
      before: strings,
      after: strings,
      resources: strings,
      exclude: strings,
      out_dir: str,
      release: bool,
    },
  },
  runtime: { t: "table", keys: { env: { t: "stringMap" } } },
  hooks: {
    t: "table",
    keys: {
      before_collect: strings,
      after_pack: strings,
      collect: {
        t: "tables",
        keys: { source: str, dest: str, preserve_structure: bool, description: str },
      },
    },
  },
  debug: { t: "table", keys: { enabled: bool, devtools: bool, verbose: bool } },
  plugins: { t: "table", keys: { shell: bool, process: bool, process_allow: strings } },
};

const REQUIRED: Record<string, string[]> = {
  "": ["package"],
  package: ["name", "version"],
  "hooks.collect": ["source", "dest"],
};

// ---------------------------------------------------------------------------------------------

/**
 * Finds the pack file: a file path is returned as is; a directory is searched
 * for pbundle.pack.toml, then auroraview.pack.toml.
 *
 * @param pathOrDir A file or a directory.
 * @returns The absolute path of the pack file.
 * @throws {InputError} When none exists.
 */
export function findPackConfig(pathOrDir: string): string {
  const full = resolve(pathOrDir);
  if (!existsSync(full)) throw new InputError(`Cannot find pack file "${full}": no such file`);
  try {
    readFileSync(full);
    return full;
  } catch {
    for (const name of PACK_CONFIG_NAMES) {
      if (existsSync(join(full, name))) return join(full, name);
    }
  }
  throw new InputError(
    `Cannot find a pack file in "${full}": neither ${PACK_CONFIG_NAMES.join(" nor ")} exists`,
  );
}

/**
 * Reads, validates and normalizes a pack file.
 *
 * @param file The pack file (or a directory holding one).
 * @returns The configuration.
 * @throws {FormatError} When the file is not valid TOML (format "TOML", with line and column).
 * @throws {ConfigError} On an unknown key, a wrong type, a bad value or a missing required key.
 * @example Read the example's pack file
 * ```ts ignore
 * import { readPackConfig } from "@pbundle/pbundle";
 * const config = readPackConfig("examples/fullstack");
 * console.log(config.python.strategy);
 * ```
 */
export function readPackConfig(file: string): PackConfig {
  const path = findPackConfig(file);
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (error) {
    throw new InputError(`Cannot read "${path}": ${(error as Error).message}`);
  }
  return parsePackConfig(text, path);
}

/**
 * Validates and normalizes pack file text.
 *
 * @param text The TOML text.
 * @param file The file's path: relative paths resolve against its directory.
 * @returns The configuration.
 * @throws {FormatError} On a TOML syntax error.
 * @throws {ConfigError} On a schema error.
 */
export function parsePackConfig(text: string, file: string): PackConfig {
  let raw: Record<string, unknown>;
  try {
    raw = parse(text) as Record<string, unknown>;
  } catch (error) {
    if (error instanceof TomlError) {
      throw new FormatError(
        "TOML",
        `Cannot parse "${file}" at line ${error.line}, column ${error.column}: ${
          error.message.split("\n")[0]
        }`,
      );
    }
    throw error;
  }
  validateTable(raw, SCHEMA, "", file);
  return normalize(raw, file);
}

function validateTable(
  value: Record<string, unknown>,
  schema: Schema,
  table: string,
  file: string,
) {
  for (const [key, v] of Object.entries(value)) {
    const check = schema[key];
    if (!check) {
      const close = nearest(key, Object.keys(schema), closeEnough(key));
      const elsewhere = close === undefined ? tableHolding(key) : undefined;
      throw new ConfigError(
        file,
        table,
        key,
        close !== undefined || elsewhere !== undefined
          ? "unknown key {key}"
          : `unknown key {key} (valid keys: ${Object.keys(schema).join(", ")})`,
        close ?? elsewhere,
      );
    }
    validateValue(v, check, table, key, file);
  }
  for (const key of REQUIRED[table] ?? []) {
    if (!(key in value)) {
      // A required key has no "nearest valid key" of its own: a misspelling of it is
      // an unknown key, reported above with the suggestion.
      throw new ConfigError(
        file,
        table,
        key,
        `missing required key {key} (required ${
          table === "" ? "at the top level" : `in [${table}]`
        }: ${REQUIRED[table]!.join(", ")})`,
      );
    }
  }
}

/** The largest edit distance at which a key is suggested for a word. */
function closeEnough(word: string): number {
  return Math.max(2, Math.floor(word.length / 3));
}

/** The table of the schema that holds a key (case-insensitively), when exactly one does. */
function tableHolding(key: string): { key: string; table: string } | undefined {
  const found: Array<{ key: string; table: string }> = [];
  const walk = (schema: Schema, table: string) => {
    for (const [k, check] of Object.entries(schema)) {
      if (k.toLowerCase() === key.toLowerCase()) found.push({ key: k, table });
      if (check.t === "table" || check.t === "tables") {
        walk(check.keys, table === "" ? k : `${table}.${k}`);
      }
    }
  };
  walk(SCHEMA, "");
  return found.length === 1 ? found[0] : undefined;
}

function typeName(v: unknown): string {
  if (Array.isArray(v)) return "an array";
  if (v instanceof Date) return "a date";
  if (typeof v === "bigint" || (typeof v === "number" && Number.isInteger(v))) return "an integer";
  if (typeof v === "number") return "a float";
  if (typeof v === "object" && v !== null) return "a table";
  return `a ${typeof v}`;
}

function validateValue(v: unknown, check: Check, table: string, key: string, file: string) {
  const sub = table === "" ? key : `${table}.${key}`;
  const wrong = (expected: string) =>
    new ConfigError(file, table, key, `{key} must be ${expected}, not ${typeName(v)}`);
  switch (check.t) {
    case "string":
      if (typeof v !== "string") {
        if (typeof v === "number" || typeof v === "boolean" || typeof v === "bigint") {
          throw new ConfigError(
            file,
            table,
            key,
            `{key} must be a string, not ${typeName(v)} (quote it: "${String(v)}")`,
          );
        }
        throw wrong("a string");
      }
      if (check.pattern && !check.pattern.test(v)) {
        throw new ConfigError(
          file,
          table,
          key,
          `{key} is ${JSON.stringify(v)}; it must be ${check.patternText}`,
        );
      }
      return;
    case "bool":
      if (typeof v !== "boolean") throw wrong("true or false");
      return;
    case "int": {
      if (typeof v !== "number" || !Number.isInteger(v)) throw wrong("an integer");
      if (
        (check.min !== undefined && v < check.min) || (check.max !== undefined && v > check.max)
      ) {
        throw new ConfigError(
          file,
          table,
          key,
          `{key} is ${v}; it must be between ${check.min} and ${check.max}`,
        );
      }
      return;
    }
    case "strings":
      if (!Array.isArray(v)) throw wrong("an array of strings");
      v.forEach((item, i) => {
        if (typeof item !== "string") {
          throw new ConfigError(
            file,
            table,
            key,
            `{key} must be an array of strings, but item ${i} is ${typeName(item)}`,
          );
        }
      });
      return;
    case "enum":
      if (typeof v !== "string") throw wrong(`one of ${check.values.join(", ")}`);
      if (!check.values.includes(v)) {
        throw new ConfigError(
          file,
          table,
          key,
          `{key} is ${JSON.stringify(v)}; it must be one of ${check.values.join(", ")}`,
          nearest(v, check.values, closeEnough(v)),
        );
      }
      return;
    case "table":
      if (typeof v !== "object" || v === null || Array.isArray(v) || v instanceof Date) {
        throw wrong("a table");
      }
      validateTable(v as Record<string, unknown>, check.keys, sub, file);
      return;
    case "stringMap":
      if (typeof v !== "object" || v === null || Array.isArray(v)) throw wrong("a table");
      for (const [k, item] of Object.entries(v)) {
        if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(k)) {
          throw new ConfigError(file, sub, k, "{key} is not a valid environment variable name");
        }
        if (typeof item !== "string") {
          throw new ConfigError(
            file,
            sub,
            k,
            `{key} must be a string, not ${typeName(item)} (quote the value)`,
          );
        }
      }
      return;
    case "tables":
      if (!Array.isArray(v)) throw wrong("an array of tables ([[" + sub + "]])");
      for (const item of v) {
        if (typeof item !== "object" || item === null || Array.isArray(item)) {
          throw wrong("an array of tables ([[" + sub + "]])");
        }
        validateTable(item as Record<string, unknown>, check.keys, sub, file);
      }
      return;
  }
}

/**
 * The candidate nearest to a word by edit distance (the nearest valid key).
 *
 * @param word The misspelled word.
 * @param candidates The valid words.
 * @param maxDistance The largest distance accepted. @default Infinity
 * @returns The nearest, or undefined when none is within maxDistance.
 */
export function nearest(
  word: string,
  candidates: readonly string[],
  maxDistance = Infinity,
): string | undefined {
  let best: string | undefined;
  let bestDistance = maxDistance + 1;
  for (const c of candidates) {
    const d = editDistance(word.toLowerCase(), c.toLowerCase());
    if (d < bestDistance) {
      best = c;
      bestDistance = d;
    }
  }
  return best;
}

function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let previous = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const current = row[j]!;
      row[j] = Math.min(
        row[j]! + 1,
        row[j - 1]! + 1,
        previous + (a[i - 1] === b[j - 1] ? 0 : 1),
      );
      previous = current;
    }
  }
  return row[b.length]!;
}

// ---------------------------------------------------------------------------------------------

type Raw = Record<string, unknown>;

function tableOf(raw: Raw, ...path: string[]): Raw {
  let t: unknown = raw;
  for (const p of path) t = (t as Raw | undefined)?.[p];
  return (t ?? {}) as Raw;
}

function isUrl(s: string): boolean {
  return /^[a-z][a-z0-9+.-]*:\/\//i.test(s);
}

function normalize(raw: Raw, file: string): PackConfig {
  const dir = dirname(file);
  const at = (p: string) => (isAbsolute(p) ? p : resolve(dir, p));
  const pkg = tableOf(raw, "package");
  const app = tableOf(raw, "app");
  const win = tableOf(raw, "window");
  const bundle = tableOf(raw, "bundle");
  const py = tableOf(raw, "python");
  const proc = tableOf(raw, "python", "process");
  const iso = tableOf(raw, "python", "isolation");
  const prot = tableOf(raw, "python", "protection");
  const build = tableOf(raw, "build");
  const hooks = tableOf(raw, "hooks");
  const debug = tableOf(raw, "debug");
  const plugins = tableOf(raw, "plugins");
  const s = (t: Raw, k: string, d: string) => (t[k] as string | undefined) ?? d;
  const b = (t: Raw, k: string, d: boolean) => (t[k] as boolean | undefined) ?? d;
  const n = (t: Raw, k: string, d: number) => (t[k] as number | undefined) ?? d;
  const a = (t: Raw, k: string, d: string[]) => (t[k] as string[] | undefined) ?? d;

  const name = pkg["name"] as string;
  const enabled = "python" in raw ? b(py, "enabled", true) : false;
  if (!("frontend_path" in app) && !("url" in app)) {
    throw new ConfigError(
      file,
      "app",
      "frontend_path",
      'missing required key {key} (or "url")',
    );
  }
  if (enabled && !("entry_point" in py)) {
    throw new ConfigError(
      file,
      "python",
      "entry_point",
      "missing required key {key} (set enabled = false for an app without a Python backend)",
    );
  }
  const entryText = s(py, "entry_point", "main:run");
  const entryPoint: EntryPoint = /\.pyc?$/.test(entryText) && !entryText.includes(":")
    ? { file: entryText }
    : { module: entryText.split(":")[0]!, function: entryText.split(":")[1]! };
  const runtime = py["runtime"] as string | undefined;
  const linux = tableOf(raw, "bundle", "platform", "linux");
  const collect = ((hooks["collect"] as Raw[] | undefined) ?? []).map((rule) => {
    const dest = rule["dest"] as string;
    if (isAbsolute(dest) || dest.split(/[\\/]/).includes("..")) {
      throw new ConfigError(
        file,
        "hooks.collect",
        "dest",
        `{key} is ${JSON.stringify(dest)}; it must be a relative path inside the bundle`,
      );
    }
    return {
      source: at(rule["source"] as string),
      dest,
      preserveStructure: b(rule, "preserve_structure", false),
      description: s(rule, "description", ""),
    };
  });
  return {
    file,
    dir,
    package: {
      name,
      version: pkg["version"] as string,
      description: s(pkg, "description", ""),
      authors: a(pkg, "authors", []),
      license: s(pkg, "license", ""),
    },
    app: {
      title: s(app, "title", name),
      frontendPath: app["frontend_path"] ? at(app["frontend_path"] as string) : null,
      url: (app["url"] as string | undefined) ?? null,
      allowNewWindow: b(app, "allow_new_window", false),
    },
    window: {
      width: n(win, "width", 1280),
      height: n(win, "height", 720),
      minWidth: (win["min_width"] as number | undefined) ?? null,
      minHeight: (win["min_height"] as number | undefined) ?? null,
      resizable: b(win, "resizable", true),
      frameless: b(win, "frameless", false),
      transparent: b(win, "transparent", false),
      alwaysOnTop: b(win, "always_on_top", false),
      startPosition: s(win, "start_position", "center"),
    },
    bundle: {
      icon: bundle["icon"] ? at(bundle["icon"] as string) : null,
      identifier: s(bundle, "identifier", `io.pbundle.${name}`),
      copyright: s(bundle, "copyright", ""),
      category: s(bundle, "category", ""),
      shortDescription: s(bundle, "short_description", s(pkg, "description", "")),
      platform: {
        linux: { categories: a(linux, "categories", []), appimage: b(linux, "appimage", false) },
        windows: { ...tableOf(raw, "bundle", "platform", "windows") },
        macos: { ...tableOf(raw, "bundle", "platform", "macos") },
      },
    },
    python: {
      enabled,
      version: s(py, "version", "3.11"),
      entryPoint,
      packages: a(py, "packages", []),
      includePaths: a(py, "include_paths", ["."]).map(at),
      exclude: a(py, "exclude", ["__pycache__", "*.pyc", "tests"]),
      optimize: n(py, "optimize", 0),
      strategy: s(py, "strategy", "standalone") as PythonStrategy,
      runtime: runtime === undefined ? null : isUrl(runtime) ? runtime : at(runtime),
      runtimeSha256: ((py["runtime_sha256"] as string | undefined) ?? null)?.toLowerCase() ?? null,
      process: {
        console: b(proc, "console", false),
        moduleSearchPaths: a(proc, "module_search_paths", ["$EXTRACT_DIR", "$SITE_PACKAGES"]),
        filesystemImporter: b(proc, "filesystem_importer", true),
        callTimeoutMs: n(proc, "call_timeout_ms", 30000),
        maxRestarts: n(proc, "max_restarts", 5),
        restartBackoffMs: n(proc, "restart_backoff_ms", 200),
        shutdownGraceMs: n(proc, "shutdown_grace_ms", 3000),
      },
      isolation: { pythonpath: b(iso, "pythonpath", true), path: b(iso, "path", false) },
      protection: {
        enabled: b(prot, "enabled", false),
        optimization: n(prot, "optimization", n(py, "optimize", 0)),
      },
    },
    build: {
      before: a(build, "before", []),
      after: a(build, "after", []),
      resources: a(build, "resources", []).map(at),
      exclude: a(build, "exclude", []),
      outDir: at(s(build, "out_dir", ".")),
      release: b(build, "release", true),
    },
    runtime: { env: { ...(tableOf(raw, "runtime")["env"] as Record<string, string> | undefined) } },
    hooks: {
      beforeCollect: a(hooks, "before_collect", []),
      afterPack: a(hooks, "after_pack", []),
      collect,
    },
    debug: {
      enabled: b(debug, "enabled", false),
      devtools: b(debug, "devtools", false),
      verbose: b(debug, "verbose", false),
    },
    plugins: {
      shell: b(plugins, "shell", true),
      process: b(plugins, "process", false),
      processAllow: a(plugins, "process_allow", []),
    },
  };
}
