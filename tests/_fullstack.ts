/**
 * Helpers for the full-stack tests: the example project copied with a chosen
 * strategy and the offline Python runtime, the protocol probe, and a host
 * started on a document.
 *
 * @module
 */

import { execFileSync, spawnSync } from "node:child_process";
import { cpSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { makePng } from "../fixtures/make_png.ts";
import { canMakePythonRuntime, makePythonRuntime } from "../fixtures/make_python_runtime.ts";
import { readPackConfig } from "../packers/fullstack/config.ts";
import { devDocument } from "../packers/fullstack/dev_document.ts";
import { SUPPORT_SOURCE_DIR } from "../packers/fullstack/write_fullstack_app_dir.ts";
import {
  BackendHost,
  type BackendHostOptions,
  type BackendLaunch,
} from "../runtime/fullstack/backend_host.ts";
import {
  type FullstackDocument,
  readFullstackDocument,
  resolveBackendLaunch,
} from "../runtime/fullstack/document.ts";
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

/**
 * A pure-Python wheel built in code (no build backend, no network): NAME-VERSION
 * with one module NAME (dashes as underscores) whose VALUE is `value`.
 *
 * @param dir Where the wheel goes (a pip find-links directory).
 * @param name The distribution's name.
 * @param version Its version.
 * @param value The module's VALUE.
 * @returns The wheel's path.
 */
export function makeWheel(dir: string, name: string, version: string, value: string): string {
  const mod = name.replace(/-/g, "_");
  const script = `
import base64, hashlib, sys, zipfile
path, mod, name, version, value = sys.argv[1:]
info = f"{mod}-{version}.dist-info"
files = {
    f"{mod}.py": f"VALUE = {value!r}\\n",
    f"{info}/METADATA": f"Metadata-Version: 2.1\\nName: {name}\\nVersion: {version}\\n",
    f"{info}/WHEEL": "Wheel-Version: 1.0\\nGenerator: pbundle-tests\\nRoot-Is-Purelib: true\\nTag: py3-none-any\\n",
}
record = []
with zipfile.ZipFile(path, "w") as z:
    for arc, text in files.items():
        data = text.encode()
        z.writestr(arc, data)
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record.append(f"{arc},sha256={digest},{len(data)}")
    record.append(f"{info}/RECORD,,")
    z.writestr(f"{info}/RECORD", "\\n".join(record) + "\\n")
`;
  const path = join(dir, `${mod}-${version}-py3-none-any.whl`);
  execFileSync("python3", ["-c", script, path, mod, name, version, value]);
  return path;
}

/**
 * A python3.11 "shim" like pyenv's: a script in SHIMROOT/shims that runs the
 * real interpreter, so dirname(dirname(shim)) is not the Python's prefix.
 *
 * @param root Where to make SHIMROOT/shims/python3.11.
 * @returns The shim and the real interpreter's sys.base_prefix.
 */
export function makePythonShim(root: string): { shim: string; basePrefix: string } {
  const [real, basePrefix] = execFileSync("python3.11", [
    "-c",
    "import sys; print(sys.executable); print(sys.base_prefix)",
  ], { encoding: "utf8" }).trim().split("\n") as [string, string];
  mkdirSync(join(root, "shims"), { recursive: true });
  const shim = join(root, "shims", "python3.11");
  writeFileSync(shim, `#!/bin/sh\nexec "${real}" "$@"\n`, { mode: 0o755 });
  return { shim, basePrefix };
}

/** The pack file of {@linkcode keysProject}: many keys at once, each with an effect to check. */
export const KEYS_TOML = `
[package]
name = "keys-demo"
version = "2.3.4"
description = "Shows that every key & setting <works>"
authors = ["Ada Lovelace <ada@example.invalid>", "Bob"]
license = "Apache-2.0"

[app]
title = "Keys Demo"
frontend_path = "./web"

[bundle]
icon = "./icon.png"
identifier = "dev.pbundle.keys"
copyright = "Copyright 2025 Keys -- Inc"
category = "Productivity"

[bundle.platform.windows]
console = true

[bundle.platform.macos]
minimum_system_version = "11.0"

[python]
version = "3.11"
entry_point = "server.py"
include_paths = ["./backend"]
exclude = ["*.txt", "scratch"]
packages = ["pbundle-keys-probe"]
strategy = "embedded"

[python.process]
console = true
module_search_paths = ["$RESOURCES_DIR/pylib", "\${EXTRACT_DIR}", "$SITE_PACKAGES", "$PYTHON_HOME/pbundle-home-probe"]

[build]
resources = ["./pylib", "./assets"]
exclude = ["*.map"]
release = false

[runtime.env]
KEYS_PYTHON_HOME = "$PYTHON_HOME"

[[hooks.collect]]
source = "./data/**/*.json"
dest = "resources/data_tree"
preserve_structure = true

[[hooks.collect]]
source = "./data/**/*.json"
dest = "resources/data_flat"
preserve_structure = false

[[hooks.collect]]
source = "./nothing/*.zzz"
dest = "resources/none"

[debug]
enabled = true
`;

const KEYS_SERVER = `"""keys-demo's backend, entered as a file (entry_point = "server.py")."""
import faulthandler
import os
import sys

import extra_mod  # resources/pylib, on sys.path through $RESOURCES_DIR
import pbundle_keys_probe  # pip-installed from the test's own index

from pbundle_backend import bind_call, serve


@bind_call("api.info")
def info():
    return {
        "name": __name__,
        "file": __file__,
        "extra": extra_mod.WHERE,
        "probe": pbundle_keys_probe.VALUE,
        "sys_path": sys.path,
        "faulthandler": faulthandler.is_enabled(),
        "env": {k: v for k, v in os.environ.items() if k.startswith(("AURORAVIEW_", "PYTHON", "KEYS_"))},
    }


@bind_call("api.echo")
def echo(value=None):
    return value


if __name__ == "__main__":
    serve()
`;

/**
 * Writes the keys project (see {@linkcode KEYS_TOML}) and the find-links
 * directory holding its one package, pbundle-keys-probe (VALUE "index-a").
 *
 * @param edit Changes the pack file's text.
 * @returns The project, the find-links directory and the icon's bytes (remove `root` when done).
 */
export function keysProject(
  edit: (toml: string) => string = (t) => t,
): { root: string; project: string; wheels: string; icon: Uint8Array } {
  const root = mkdtempSync(join(tmpdir(), "pbundle-keys-"));
  const project = join(root, "project");
  const wheels = join(root, "wheels-a");
  const write = (rel: string, text: string | Uint8Array) => {
    mkdirSync(dirname(join(project, rel)), { recursive: true });
    writeFileSync(join(project, rel), text);
  };
  write("pbundle.pack.toml", edit(KEYS_TOML));
  write("web/index.html", "<!doctype html><title>Keys</title>\n");
  write("web/app.js", "console.log('keys');\n");
  write("web/app.js.map", "{}\n");
  write("backend/server.py", KEYS_SERVER);
  write("backend/helpers.py", "HELP = 1\n");
  write("backend/notes.txt", "excluded by [python] exclude\n");
  write("backend/scratch/junk.py", "raise SystemExit('excluded by [python] exclude')\n");
  write("pylib/extra_mod.py", "WHERE = 'resources'\n");
  write("assets/logo.txt", "logo\n");
  write("assets/logo.map", "excluded by [build] exclude\n");
  write("data/a/one.json", '{"one": 1}\n');
  write("data/b/two.json", '{"two": 2}\n');
  const icon = makePng(48, [0xd6, 0x2b, 0x7a]);
  write("icon.png", icon);
  mkdirSync(wheels);
  makeWheel(wheels, "pbundle-keys-probe", "1.0", "index-a");
  return { root, project, wheels, icon };
}

/**
 * The environment that points pip at a find-links directory only (no index).
 *
 * @param wheels The directory.
 * @returns Variables to add.
 */
export function pipIndexEnv(wheels: string): Record<string, string> {
  return { PIP_FIND_LINKS: wheels, PIP_NO_INDEX: "1" };
}

/**
 * unsquashfs -s of a bundle's image: an independent reader of its compression settings.
 *
 * @param bundle The bundle.
 * @param scratch A directory for the image's copy.
 * @param env The bundle's environment.
 * @returns unsquashfs's report.
 */
export function squashfsInfo(bundle: string, scratch: string, env: Record<string, string>): string {
  const offset = Number(
    execFileSync(bundle, ["--pbundle_offset"], { env, encoding: "utf8" }).trim(),
  );
  if (!(offset > 0)) throw new Error(`${bundle} --pbundle_offset printed no offset`);
  const image = join(scratch, "image.squashfs");
  writeFileSync(image, readFileSync(bundle).subarray(offset));
  return execFileSync("unsquashfs", ["-s", image], { encoding: "utf8" });
}

/**
 * Starts an AppDir's backend with the host, makes the calls in turn, stops it.
 *
 * @param appDir The AppDir.
 * @param calls Method names and params.
 * @param env Variables over this process's environment.
 * @returns The results, in order.
 */
export async function callAppDir(
  appDir: string,
  calls: Array<[string, unknown?]>,
  env: Record<string, string> = {},
): Promise<unknown[]> {
  const doc = readFullstackDocument(appDir);
  const launch = resolveBackendLaunch(doc, appDir, { ...Deno.env.toObject(), ...env });
  const logs: string[] = [];
  const host = new BackendHost({
    launch,
    log: createLogger(doc.name, { write: (l) => logs.push(l) }),
    maxRestarts: 0,
  });
  await host.start();
  try {
    const out = [];
    for (const [method, params] of calls) out.push(await host.call(method, params));
    return out;
  } catch (error) {
    throw new Error(`${error}\n${logs.join("\n")}`);
  } finally {
    await host.stop();
  }
}

/**
 * Runs `pbundle` (cli.ts) to the end with `input` on stdin.
 *
 * @param args Its arguments.
 * @param env Variables over this process's environment.
 * @param input Its standard input.
 * @returns Its status and output, and the JSON lines of its stdout as `messages`.
 */
export function cliSync(args: string[], env: Record<string, string> = {}, input = "") {
  const run = spawnSync(Deno.execPath(), ["run", "-A", join(ROOT, "cli.ts"), ...args], {
    env: { ...Deno.env.toObject(), ...env },
    input,
    encoding: "utf8",
  });
  const messages = run.stdout.split("\n").filter((l) => l.startsWith("{")).map((l) =>
    JSON.parse(l)
  );
  return { status: run.status, stdout: run.stdout, stderr: run.stderr, messages };
}
