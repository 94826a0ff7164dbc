/**
 * Plans a full-stack AppDir from a pack file (pure: no I/O). The plan lists
 * what {@linkcode writeFullstackAppDir} does: commands to run, trees to copy,
 * the Python runtime to unpack, packages to install, bytecode to compile and
 * the generated files (.desktop, AppStream, .DirIcon, AppRun, python_runtime.json
 * and the `.pbundle/fullstack.json` marker the runtime looks for).
 *
 * @module
 */

import { join } from "node:path";
import { type PackConfig, PYTHON_STRATEGIES } from "./config.ts";
import { UsageError } from "../../errors.ts";
import { nearest } from "../../_suggest.ts";
import {
  FULLSTACK_DOCUMENT_VERSION,
  FULLSTACK_MARKER,
  type FullstackDocument,
  type PythonStrategy,
} from "../../runtime/fullstack/document.ts";

/** The directory names inside the AppDir (auroraview's overlay structure). */
export const OVERLAY = {
  frontend: "frontend",
  python: "python",
  sitePackages: "python/site-packages",
  bin: "python/bin",
  archive: "python/app.zip",
  resources: "resources",
  runtime: "python_runtime",
  runtimeJson: "python_runtime.json",
} as const;

/** Options for {@linkcode planFullstack}. */
export interface PlanFullstackOptions {
  /** Overrides [python] strategy. */
  strategy?: PythonStrategy;
  /** Run [build] before/after (pbundle pack --build). @default false */
  build?: boolean;
  /** The output path; default: [build] out_dir / NAME-VERSION.AppBundle (a directory for portable). */
  output?: string;
}

/** A file the plan generates. */
export interface PlannedFile {
  /** Path inside the AppDir. */
  path: string;
  /** Its content. */
  content: string | Uint8Array;
  /** File mode. */
  mode: number;
}

/** The plan. */
export interface FullstackPlan {
  /** The configuration it came from. */
  config: PackConfig;
  /** The strategy. */
  strategy: PythonStrategy;
  /** [bundle] identifier and [package] version, as a pelf AppBundleID (name#repo:version form). */
  appBundleId: string;
  /** Where the result goes. */
  output: string;
  /** "bundle" (one executable) or "directory" (portable). */
  outputKind: "bundle" | "directory";
  /** Shell commands before anything is collected ([build] before with --build, then [hooks] before_collect). */
  beforeCommands: string[];
  /** Shell commands after the output is written ([build] after with --build, then [hooks] after_pack). */
  afterCommands: string[];
  /** Whether a Python runtime is shipped (standalone, pyoxidizer, portable). */
  shipsRuntime: boolean;
  /** Whether site-packages are shipped (all but system). */
  shipsPackages: boolean;
  /** Whether the app's code and pure packages go into python/app.zip (pyoxidizer). */
  bytecodeArchive: boolean;
  /** Whether .py sources of the app are removed after compiling ([python.protection] or pyoxidizer). */
  bytecodeOnly: boolean;
  /** The optimization level of the app's bytecode and of the interpreter's -O flags. */
  optimize: number;
  /** The marker document (interpreter and home filled in by the writer once the runtime is known). */
  document: FullstackDocument;
  /** Generated files. */
  files: PlannedFile[];
  /** Notes on parsed-only keys and their reasons ("note: …") and warnings ("warning: …"); both always shown. */
  notes: string[];
}

/**
 * Plans the AppDir of a pack file.
 *
 * @param config The validated configuration.
 * @param options Strategy override, --build, output.
 * @returns The plan.
 */
export function planFullstack(
  config: PackConfig,
  options: PlanFullstackOptions = {},
): FullstackPlan {
  if (options.strategy !== undefined && !PYTHON_STRATEGIES.includes(options.strategy)) {
    const guess = nearest(options.strategy, PYTHON_STRATEGIES);
    throw new UsageError(
      `Cannot use strategy "${options.strategy}": expected one of ${PYTHON_STRATEGIES.join(", ")}`,
      guess ? `did you mean ${guess}?` : undefined,
    );
  }
  const strategy = options.strategy ?? config.python.strategy;
  const py = config.python;
  const shipsRuntime = py.enabled &&
    (strategy === "standalone" || strategy === "pyoxidizer" || strategy === "portable");
  const bytecodeArchive = py.enabled && strategy === "pyoxidizer";
  const bytecodeOnly = py.enabled && (py.protection.enabled || bytecodeArchive);
  const optimize = py.protection.enabled ? py.protection.optimization : py.optimize;
  const outputKind = strategy === "portable" ? "directory" : "bundle";
  const fileName = `${config.package.name}-${config.package.version}${
    outputKind === "bundle" ? ".AppBundle" : ".AppDir"
  }`;
  const output = options.output ?? join(config.build.outDir, fileName);
  const appBundleId =
    `${config.bundle.identifier}#${config.package.name}:${config.package.version}`;

  const document: FullstackDocument = {
    format: "pbundle-fullstack",
    version: FULLSTACK_DOCUMENT_VERSION,
    name: config.package.name,
    appVersion: config.package.version,
    title: config.app.title,
    packed: true,
    frontend: config.app.frontendPath ? OVERLAY.frontend : null,
    url: config.app.url,
    allowNewWindow: config.app.allowNewWindow,
    window: { ...config.window },
    debug: { ...config.debug },
    plugins: { ...config.plugins, processAllow: [...config.plugins.processAllow] },
    env: { ...config.runtime.env },
    resources: OVERLAY.resources,
    python: py.enabled
      ? {
        strategy,
        version: py.version,
        interpreter: null,
        home: null,
        entry: bytecodeOnly && "file" in py.entryPoint
          ? { file: py.entryPoint.file.replace(/\.py$/, ".pyc") }
          : py.entryPoint,
        codeDir: OVERLAY.python,
        sitePackages: OVERLAY.sitePackages,
        binDir: OVERLAY.bin,
        archive: bytecodeArchive ? OVERLAY.archive : null,
        extraPaths: [],
        moduleSearchPaths: py.process.moduleSearchPaths,
        filesystemImporter: py.process.filesystemImporter,
        isolation: { ...py.isolation },
        optimize: bytecodeOnly ? 0 : optimize,
        process: {
          callTimeoutMs: py.process.callTimeoutMs,
          maxRestarts: py.process.maxRestarts,
          restartBackoffMs: py.process.restartBackoffMs,
          shutdownGraceMs: py.process.shutdownGraceMs,
        },
      }
      : null,
  };

  const files: PlannedFile[] = [];
  const iconName = config.package.name;
  files.push({
    path: `${config.package.name}.desktop`,
    content: desktopEntry(config, iconName),
    mode: 0o644,
  });
  files.push({
    path: `usr/share/metainfo/${config.bundle.identifier}.appdata.xml`,
    content: appStream(config),
    mode: 0o644,
  });
  // AppRun, the icon (.DirIcon and NAME.ext), python_runtime.json and the marker
  // depend on the runtime the writer unpacks, so the writer makes them.

  const notes: string[] = [];
  if (Object.keys(config.bundle.platform.windows).length > 0) {
    notes.push(
      "note: [bundle.platform.windows] is parsed and validated; packing for Windows is out of scope",
    );
  }
  if (Object.keys(config.bundle.platform.macos).length > 0) {
    notes.push(
      "note: [bundle.platform.macos] is parsed and validated; packing for macOS is out of scope",
    );
  }
  if (py.enabled && !shipsRuntime) {
    for (const key of ["runtime", "runtime_sha256"] as const) {
      if ((key === "runtime" ? py.runtime : py.runtimeSha256) !== null) {
        notes.push(
          `warning: [python] ${key} is ignored: the ${strategy} strategy ships no Python runtime (it uses the system's python${py.version})`,
        );
      }
    }
  }
  if (py.process.console) {
    notes.push(
      "note: [python.process] console only matters on Windows (a console window); ignored on Linux",
    );
  }
  if (!py.process.filesystemImporter && strategy !== "pyoxidizer") {
    notes.push(
      "note: [python.process] filesystem_importer = false only changes the pyoxidizer strategy",
    );
  }
  return {
    config,
    strategy,
    appBundleId,
    output,
    outputKind,
    beforeCommands: [...(options.build ? config.build.before : []), ...config.hooks.beforeCollect],
    afterCommands: [...(options.build ? config.build.after : []), ...config.hooks.afterPack],
    shipsRuntime,
    shipsPackages: py.enabled && strategy !== "system",
    bytecodeArchive,
    bytecodeOnly,
    optimize,
    document,
    files,
    notes,
  };
}

/** The path of the marker inside the AppDir. */
export const MARKER_PATH = FULLSTACK_MARKER;

function desktopEscape(s: string): string {
  return s.replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(/\t/g, "\\t");
}

/**
 * The .desktop entry of an app.
 *
 * @param config The configuration.
 * @param iconName The Icon= name.
 * @returns The file's text.
 */
export function desktopEntry(config: PackConfig, iconName: string): string {
  const categories = config.bundle.platform.linux.categories.length > 0
    ? config.bundle.platform.linux.categories
    : [desktopCategory(config.bundle.category)];
  const lines = [
    "[Desktop Entry]",
    "Type=Application",
    `Name=${desktopEscape(config.app.title)}`,
    `Exec=${config.package.name} %U`,
    `Icon=${iconName}`,
    `Categories=${categories.join(";")};`,
    "Terminal=false",
  ];
  if (config.bundle.shortDescription) {
    lines.push(`Comment=${desktopEscape(config.bundle.shortDescription)}`);
  }
  lines.push(`X-AppImage-Version=${config.package.version}`);
  return lines.join("\n") + "\n";
}

/** Maps [bundle] category (macOS-style names such as "Productivity") to a freedesktop main category. */
export function desktopCategory(category: string): string {
  const key = category.toLowerCase().replace(/[^a-z]/g, "");
  const map: Record<string, string> = {
    productivity: "Office",
    office: "Office",
    business: "Office",
    developertools: "Development",
    development: "Development",
    education: "Education",
    entertainment: "Game",
    games: "Game",
    game: "Game",
    graphicsdesign: "Graphics",
    graphics: "Graphics",
    music: "AudioVideo",
    video: "AudioVideo",
    audiovideo: "AudioVideo",
    network: "Network",
    socialnetworking: "Network",
    science: "Science",
    utilities: "Utility",
    utility: "Utility",
    settings: "Settings",
    system: "System",
  };
  return map[key] ?? "Utility";
}

function xml(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(
    /"/g,
    "&quot;",
  );
}

/**
 * The AppStream metainfo of an app.
 *
 * @param config The configuration.
 * @returns The XML text.
 */
export function appStream(config: PackConfig): string {
  const id = config.bundle.identifier;
  const developer = config.package.authors[0]?.replace(/\s*<[^>]*>\s*$/, "") ?? "";
  const lines = [
    '<?xml version="1.0" encoding="UTF-8"?>',
    '<component type="desktop-application">',
    `  <id>${xml(id)}</id>`,
    `  <name>${xml(config.app.title)}</name>`,
    `  <summary>${xml(config.bundle.shortDescription || config.app.title)}</summary>`,
    "  <metadata_license>CC0-1.0</metadata_license>",
  ];
  if (config.package.license) {
    lines.push(`  <project_license>${xml(config.package.license)}</project_license>`);
  }
  if (developer) lines.push(`  <developer_name>${xml(developer)}</developer_name>`);
  if (config.package.description) {
    lines.push(
      "  <description>",
      `    <p>${xml(config.package.description)}</p>`,
      "  </description>",
    );
  }
  lines.push(`  <launchable type="desktop-id">${xml(config.package.name)}.desktop</launchable>`);
  if (config.bundle.copyright) {
    lines.push(`  <!-- ${xml(config.bundle.copyright).replace(/--/g, "- -")} -->`);
  }
  lines.push(
    "  <releases>",
    `    <release version="${xml(config.package.version)}"/>`,
    "  </releases>",
    "</component>",
  );
  return lines.join("\n") + "\n";
}
