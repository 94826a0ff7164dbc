/**
 * Helpers for the full-stack tests: the example project copied with a chosen
 * strategy and the offline Python runtime, the protocol probe, and a host
 * started on a document.
 *
 * @module
 */

import { cpSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { canMakePythonRuntime, makePythonRuntime } from "../fixtures/make_python_runtime.ts";
import { readPackConfig } from "../packers/fullstack/config.ts";
import { devDocument } from "../packers/fullstack/dev_document.ts";
import { SUPPORT_SOURCE_DIR } from "../packers/fullstack/write_fullstack_app_dir.ts";
import {
  BackendHost,
  type BackendHostOptions,
  type BackendLaunch,
} from "../runtime/fullstack/backend_host.ts";
import { type FullstackDocument, resolveBackendLaunch } from "../runtime/fullstack/document.ts";
import { createLogger } from "../runtime/fullstack/log.ts";

/** The repository root. */
export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
/** The full-stack example. */
export const EXAMPLE = join(ROOT, "examples", "fullstack");
/** The protocol probe project. */
export const PROBE = join(ROOT, "fixtures", "fullstack_protocol");

/**
 * The offline python-build-standalone-shaped archive, or undefined when the
 * tools to build it are missing (skips on a dev machine; fails with CI=true).
 */
export function pythonRuntimeArchive(): string | undefined {
  if (!canMakePythonRuntime()) {
    if (Deno.env.get("CI") === "true") throw new Error("apt-get and dpkg are needed in CI");
    console.warn("skipped: apt-get/dpkg missing, cannot build the Python runtime fixture");
    return undefined;
  }
  return makePythonRuntime();
}

/**
 * Copies a project to a temporary directory and edits its pack file.
 *
 * @param from The project.
 * @param edit Changes the pack file's text.
 * @returns The copy's directory.
 */
export function copyProject(from: string, edit: (toml: string) => string = (t) => t): string {
  const dir = mkdtempSync(join(tmpdir(), "pbundle-fs-test-"));
  cpSync(from, dir, {
    recursive: true,
    filter: (src) => !/(__pycache__|pack-output)/.test(src),
  });
  const file = join(dir, "pbundle.pack.toml");
  writeFileSync(file, edit(readFileSync(file, "utf8")));
  return dir;
}

/**
 * The example with a strategy and the fixture runtime.
 *
 * @param strategy The [python] strategy.
 * @param runtime The runtime archive.
 * @param extra Text appended to [python] (before [python.process]).
 * @returns The project directory.
 */
export function exampleProject(strategy: string, runtime: string, extra = ""): string {
  return copyProject(
    EXAMPLE,
    (t) =>
      t.replace(/^strategy = .*$/m, `strategy = "${strategy}"\nruntime = "${runtime}"\n${extra}`),
  );
}

/**
 * How the probe (or another project) is started from its source tree, as `pbundle dev` would.
 *
 * @param env Extra environment.
 * @param edit Changes the document first (e.g. packed = true).
 * @param project The project directory.
 * @returns The launch.
 */
export function probeLaunch(
  env: Record<string, string> = {},
  edit: (doc: FullstackDocument) => void = () => {},
  project = PROBE,
): BackendLaunch {
  const config = readPackConfig(project);
  const doc = devDocument(config);
  doc.resources = join(project, "resources");
  edit(doc);
  return resolveBackendLaunch(doc, project, { ...Deno.env.toObject(), ...env }, {
    supportDir: SUPPORT_SOURCE_DIR,
  });
}

/**
 * A BackendHost running the probe from its source tree (as `pbundle dev` would).
 *
 * @param env Extra environment.
 * @param options Host options.
 * @param edit Changes the document first.
 * @param project The project directory.
 * @returns The host (started) and the log lines it wrote.
 */
export async function startProbe(
  env: Record<string, string> = {},
  options: Partial<BackendHostOptions> = {},
  edit: (doc: FullstackDocument) => void = () => {},
  project = PROBE,
): Promise<{ host: BackendHost; logs: string[] }> {
  const launch = probeLaunch(env, edit, project);
  const logs: string[] = [];
  const host = new BackendHost({
    launch,
    log: createLogger("probe", { level: "debug", write: (line) => logs.push(line) }),
    callTimeoutMs: 5000,
    maxRestarts: 3,
    restartBackoffMs: 50,
    shutdownGraceMs: 1000,
    ...options,
  });
  await host.start();
  return { host, logs };
}

/**
 * A copy of the probe whose entry module imports a module that does not exist.
 *
 * @returns The project directory (remove it when done).
 */
export function brokenImportProject(): string {
  const dir = copyProject(
    PROBE,
    (t) => t.replace('entry_point = "probe:run"', 'entry_point = "main:run"'),
  );
  writeFileSync(join(dir, "main.py"), "import os\nimport notamodule\n\n\ndef run():\n    pass\n");
  return dir;
}

/**
 * Whether a process exists (and is not a zombie).
 *
 * @param pid The process id.
 * @returns True when it runs.
 */
export function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return !/^\d+ \(.*\) Z/.test(stat);
  } catch {
    return false;
  }
}

/**
 * Waits until a condition holds or a timeout passes.
 *
 * @param condition The condition.
 * @param timeoutMs The timeout.
 * @returns Whether it held.
 */
export async function waitFor(condition: () => boolean, timeoutMs = 20_000): Promise<boolean> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (condition()) return true;
    await new Promise((r) => setTimeout(r, 20));
  }
  return condition();
}
