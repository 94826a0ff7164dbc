/**
 * `deno task release`: builds the prebuilt `pbundle` command for each Linux
 * target into dist/.
 *
 * - With DENORT_BIN naming a denort binary, `deno compile` makes
 *   dist/pbundle-<target>, one self-contained executable.
 * - Without one (our build machines cannot download denort), pbundle packs
 *   itself: dist/pbundle-<target>.AppBundle holds a pinned Deno binary (from the
 *   npm package @deno/linux-*-glibc, checked against its pinned integrity and
 *   cached under pbundle's cache), pbundle's code as one script made by
 *   `deno bundle`, the prebuilt node-engine runtime for the target (so packing
 *   needs no network and no toolchain), and an AppRun that runs Deno with the
 *   narrowest permission flags that work (docs/DISTRIBUTION.md says why each).
 *
 * Usage: deno task release [--target x86_64|aarch64|all] [--out DIR] [--compression ALGO[:LEVEL]]
 *
 * @module
 */

import { parseArgs } from "node:util";
import { chmod, copyFile, mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { pack } from "../mod.ts";
import { packageRootOf, SUPPORT_FILES } from "../packers/fullstack/_support_files.ts";
import { buildRuntime, type RuntimeTarget } from "../runtime/build/build_runtime.ts";
import { pinnedFile, type PinnedPackage } from "../runtime/build/_node_toolchain.ts";
import { userCacheDir } from "../runtime/user_cache_dir.ts";
import { VERSION } from "../version.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url));

/**
 * The Deno each AppBundle carries. npm has @deno/linux-arm64-glibc only up to
 * 2.9.5, so aarch64 ships that release; x86_64 ships 2.9.6, the one we use.
 */
export const DENO_PACKAGES: Record<RuntimeTarget, PinnedPackage> = {
  x86_64: {
    name: "@deno/linux-x64-glibc",
    version: "2.9.6",
    integrity:
      "sha512-3md4TKLCuzsLDmfOoC5KN7NAZaxSVkMgm64vg6foD00JBADCpYS2/5QqXfzgnP5ZQz3iLP9vBQJtEgc116OAoQ==",
    member: "package/deno",
    keepAs: "deno",
    executable: true,
  },
  aarch64: {
    name: "@deno/linux-arm64-glibc",
    version: "2.9.5",
    integrity:
      "sha512-IuYjsz9PGl7CJcNXMuN27KNDB8Q40brK3SG3l+TXMDVW61ZKwcn0fQHBHnXFiiygEwI8by/fKnASEluhZB1atw==",
    member: "package/deno",
    keepAs: "deno",
    executable: true,
  },
};

/**
 * The permissions pbundle runs with, in the AppRun and in `deno compile`.
 * docs/DISTRIBUTION.md explains each one.
 */
export const PBUNDLE_PERMISSIONS: readonly string[] = [
  "--allow-read",
  "--allow-write",
  "--allow-run",
  "--allow-env",
  "--allow-sys",
  "--allow-net",
  "--no-prompt",
];

const DENO_TRIPLES: Record<RuntimeTarget, string> = {
  x86_64: "x86_64-unknown-linux-gnu",
  aarch64: "aarch64-unknown-linux-gnu",
};

async function deno(args: string[], what: string): Promise<void> {
  const output = await new Deno.Command(Deno.execPath(), {
    args,
    cwd: ROOT,
    stdout: "inherit",
    stderr: "piped",
  }).output();
  if (!output.success) {
    throw new Error(
      `Cannot ${what}: deno exited with status ${output.code}\n${
        new TextDecoder().decode(output.stderr)
      }`,
    );
  }
}

/** The AppRun: a POSIX shell script, so the bundle needs nothing but /bin/sh. */
export function appRunScript(): string {
  return [
    "#!/bin/sh",
    "# pbundle's AppRun: runs the bundled Deno on the bundled pbundle script.",
    'HERE="$(dirname "$(readlink -f "$0")")"',
    'export PBUNDLE_PREBUILT_RUNTIME_DIR="$HERE/pbundle/runtimes"',
    "export DENO_NO_UPDATE_CHECK=1",
    'exec "$HERE/pbundle/bin/deno" run --quiet --no-config --no-lock --cached-only \\',
    `  ${PBUNDLE_PERMISSIONS.join(" ")} \\`,
    '  "$HERE/pbundle/bin/pbundle.js" "$@"',
    "",
  ].join("\n");
}

/** Lays out the AppDir of pbundle's own AppBundle. */
async function writeAppDir(target: RuntimeTarget, appDir: string, log: (s: string) => void) {
  const bin = join(appDir, "pbundle", "bin");
  await mkdir(bin, { recursive: true });
  log(`bundling pbundle's code`);
  await deno(
    [
      "bundle",
      "--quiet",
      "--config",
      join(ROOT, "deno.json"),
      "-o",
      join(bin, "pbundle.js"),
      "cli.ts",
    ],
    "bundle cli.ts",
  );
  // The squashfs writer starts its compression workers from
  // new URL("./_compress_worker.ts", import.meta.url): keep one beside the script.
  await deno(
    [
      "bundle",
      "--quiet",
      "--config",
      join(ROOT, "deno.json"),
      "-o",
      join(bin, "_compress_worker.ts"),
      "format/squashfs/_compress_worker.ts",
    ],
    "bundle the compression worker",
  );
  // The full-stack packer reads its support files (pbundle_backend, its Python
  // helper) under the package root it resolves from import.meta.url; from the
  // bundled script at pbundle/bin/ that is the AppDir itself.
  const packageRoot = fileURLToPath(packageRootOf(pathToFileURL(join(bin, "pbundle.js"))));
  for (const file of SUPPORT_FILES) {
    await mkdir(join(packageRoot, file, ".."), { recursive: true });
    await copyFile(join(ROOT, file), join(packageRoot, file));
  }
  const denoPackage = DENO_PACKAGES[target];
  log(`fetching Deno ${denoPackage.version} (${denoPackage.name})`);
  await copyFile(await pinnedFile(denoPackage, userCacheDir()), join(bin, "deno"));
  await chmod(join(bin, "deno"), 0o755);
  log(`building the node-engine runtime for ${target}`);
  const runtime = await buildRuntime({ engine: "node", target, log });
  await mkdir(join(appDir, "pbundle", "runtimes"), { recursive: true });
  await copyFile(runtime.path, join(appDir, "pbundle", "runtimes", `node-${target}`));
  await chmod(join(appDir, "pbundle", "runtimes", `node-${target}`), 0o755);
  await writeFile(join(appDir, "AppRun"), appRunScript(), { mode: 0o755 });
  await writeFile(
    join(appDir, "pbundle.desktop"),
    [
      "[Desktop Entry]",
      "Type=Application",
      "Name=pbundle",
      "Exec=pbundle",
      "Icon=pbundle",
      "Terminal=true",
      "Categories=Development;",
      "",
    ].join("\n"),
  );
  await copyFile(join(ROOT, "examples", "hello", "AppDir", ".DirIcon"), join(appDir, ".DirIcon"))
    .catch(() => {});
  return runtime.path;
}

/**
 * Builds pbundle for one target.
 *
 * @param target The CPU.
 * @param outDir Where the result goes.
 * @param options Compression of the AppBundle's image; a log line callback.
 * @returns The path written.
 */
export async function releaseTarget(
  target: RuntimeTarget,
  outDir: string,
  options: { compression?: string; log?: (line: string) => void } = {},
): Promise<string> {
  const log = options.log ?? ((line: string) => console.error(`release: ${line}`));
  await mkdir(outDir, { recursive: true });
  const denort = Deno.env.get("DENORT_BIN");
  if (denort && existsSync(denort)) {
    const output = join(outDir, `pbundle-${target}`);
    log(`deno compile for ${target} (DENORT_BIN=${denort})`);
    await deno(
      [
        "compile",
        "--quiet",
        "--target",
        DENO_TRIPLES[target],
        ...PBUNDLE_PERMISSIONS,
        "--include",
        "runtime/",
        "--include",
        "python/",
        "--include",
        "packers/fullstack/_python_tools.py",
        "--include",
        "format/squashfs/_compress_worker.ts",
        "-o",
        output,
        "cli.ts",
      ],
      `compile pbundle for ${target}`,
    );
    return output;
  }
  log(`no DENORT_BIN: packing pbundle for ${target} as an AppBundle`);
  const work = await mkdtemp(join(tmpdir(), "pbundle-release-"));
  try {
    const appDir = join(work, "AppDir");
    const runtime = await writeAppDir(target, appDir, log);
    const output = resolve(outDir, `pbundle-${target}.AppBundle`);
    const result = await pack({
      appDir,
      appBundleId: `pbundle#github.com/pbundle/pbundle:${VERSION}`,
      runtime,
      output,
      compression: options.compression ?? "zstd:15",
      // The host's squashfuse and unsquashfs only run on the host's CPU; a
      // cross-built bundle relies on the runtime's own squashfs reader instead.
      ...(target === hostTargetName() ? {} : { noStaticTools: true }),
    });
    log(`wrote ${result.output} (${(result.size / 1024 / 1024).toFixed(1)} MiB)`);
    return result.output;
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

function hostTargetName(): RuntimeTarget {
  return Deno.build.arch === "aarch64" ? "aarch64" : "x86_64";
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      target: { type: "string", default: "all" },
      out: { type: "string", default: join(ROOT, "dist") },
      compression: { type: "string" },
    },
  });
  const targets: RuntimeTarget[] = values.target === "all"
    ? ["x86_64", "aarch64"]
    : [values.target as RuntimeTarget];
  for (const target of targets) {
    if (target !== "x86_64" && target !== "aarch64") {
      console.error(`release: Cannot build for "${target}": expected x86_64, aarch64 or all`);
      Deno.exit(2);
    }
    console.log(
      await releaseTarget(
        target,
        values.out,
        values.compression ? { compression: values.compression } : {},
      ),
    );
  }
}
