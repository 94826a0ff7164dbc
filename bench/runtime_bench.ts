/**
 * The runtime benchmark (issue 3, "Speed"): on one small AppDir, side by side
 * in one run, the wall time of
 *
 * - its AppRun run directly;
 * - a shell script doing what a C runtime does (squashfuse mount, run, unmount);
 * - a Node single executable application that prints hello (the engine's start-up);
 * - the bundle in mount mode;
 * - the bundle in extract mode with a warm cache;
 * - the same bundle's --pbundle_pngIcon.
 *
 * Each case runs N times in a shell loop (so the measuring process adds
 * nothing per run). The rounds go round-robin over the cases, so that a
 * neighbour's load on a shared machine falls on every case alike rather than
 * on whichever case happened to run then; each case's best round counts.
 * Ratios are against the Node hello, with the targets.
 *
 * @module
 */

import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pack } from "../packers/appdir.ts";
import { cachedRuntime } from "../runtime/build/build_runtime.ts";
import { makeNodeSea } from "../runtime/build/make_node_sea.ts";
import { userCacheDir } from "../runtime/user_cache_dir.ts";
import { readBundle } from "../format/bundle.ts";

const RUNS = 10;
const ROUNDS = 6;
// A 1x1 PNG.
const PNG = Uint8Array.from(
  atob(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==",
  ),
  (c) => c.charCodeAt(0),
);

/** Runs a command RUNS times in a shell loop and returns the milliseconds per run. */
async function timeLoop(command: string[], env: Record<string, string>): Promise<number> {
  const script =
    `i=0; while [ $i -lt ${RUNS} ]; do "$@" >/dev/null 2>&1 || exit 1; i=$((i+1)); done`;
  const start = performance.now();
  const out = await new Deno.Command("/bin/sh", {
    args: ["-c", script, "sh", ...command],
    env,
    clearEnv: true,
    stdout: "null",
    stderr: "piped",
  }).output();
  const elapsed = (performance.now() - start) / RUNS;
  if (!out.success) {
    throw new Error(`benchmark case failed: ${command.join(" ")}`);
  }
  return elapsed;
}

/** Times every case ROUNDS times, round-robin, and returns each case's best round. */
async function timeCases(
  cases: [string, string[]][],
  env: Record<string, string>,
): Promise<[string, number][]> {
  const best = cases.map(([name]) => [name, Infinity] as [string, number]);
  for (let round = 0; round < ROUNDS; round++) {
    for (const [i, [, command]] of cases.entries()) {
      best[i]![1] = Math.min(best[i]![1], await timeLoop(command, env));
    }
  }
  return best;
}

/**
 * Runs the runtime benchmark.
 *
 * @returns Markdown table rows (with a header) of times and ratios.
 * @example Print the table
 * ```ts ignore
 * import { runRuntimeBench } from "./bench/runtime_bench.ts";
 * console.log(await runRuntimeBench());
 * ```
 */
export async function runRuntimeBench(): Promise<string> {
  const root = await mkdtemp(join(tmpdir(), "pbundle-runtime-bench-"));
  try {
    const appDir = join(root, "AppDir");
    await mkdir(appDir);
    await writeFile(join(appDir, "AppRun"), "#!/bin/sh\necho hello\n", { mode: 0o755 });
    await writeFile(join(appDir, ".DirIcon"), PNG);
    await writeFile(
      join(appDir, "hello.desktop"),
      "[Desktop Entry]\nType=Application\nName=hello\nExec=AppRun\nIcon=hello\n",
    );
    const runtime = (await cachedRuntime({ engine: "node" })).path;
    const mountBundle = join(root, "mount.AppBundle");
    const extractBundle = join(root, "extract.AppBundle");
    await pack({
      appDir,
      appBundleId: "bench-20260101-pbundle",
      output: mountBundle,
      runtime,
      runBehavior: 0,
    });
    await pack({
      appDir,
      appBundleId: "benchx-20260101-pbundle",
      output: extractBundle,
      runtime,
      runBehavior: 1,
      disableRandomWorkDir: true,
    });
    const hello = join(root, "hello.cjs");
    await writeFile(hello, 'console.log("hello");\n');
    const helloSea = join(root, "hello-sea");
    await makeNodeSea({ script: hello, output: helloSea, cacheRoot: userCacheDir() });
    const offset = (await readBundle(mountBundle)).imageOffset;
    const mnt = join(root, "mnt");
    await mkdir(mnt);
    const cRuntime = join(root, "c_runtime.sh");
    await writeFile(
      cRuntime,
      `#!/bin/sh\nsquashfuse -o offset=${offset} "${mountBundle}" "${mnt}" || exit 1\n"${mnt}/AppRun" "$@"\nstatus=$?\nfusermount3 -u "${mnt}"\nexit $status\n`,
      { mode: 0o755 },
    );
    const env = {
      PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin",
      HOME: Deno.env.get("HOME") ?? root,
      TMPDIR: join(root, "tmp"),
      XDG_CACHE_HOME: join(root, "cache"),
    };
    await mkdir(env.TMPDIR);
    // Warm the extract cache and the verification stamps.
    await timeLoop([extractBundle], env);
    await timeLoop([mountBundle], env);
    const cases: [string, string[]][] = [
      ["AppRun directly", [join(appDir, "AppRun")]],
      ["shell 'C runtime' (squashfuse, run, fusermount3 -u)", [cRuntime]],
      ["node SEA hello (engine start-up)", [helloSea]],
      ["bundle, mount mode (MountOrExtract 0)", [mountBundle]],
      ["bundle, extract mode, warm cache (1 + fixed dir)", [extractBundle]],
      ["bundle --pbundle_pngIcon", [mountBundle, "--pbundle_pngIcon"]],
      ["bundle --pbundle_offset (the runtime's own start-up)", [mountBundle, "--pbundle_offset"]],
    ];
    const results = await timeCases(cases, env);
    const ms = Object.fromEntries(results);
    const engine = ms["node SEA hello (engine start-up)"]!;
    const mount = ms["bundle, mount mode (MountOrExtract 0)"]!;
    const targets: Record<string, string> = {
      "bundle, mount mode (MountOrExtract 0)": `≤ 1.5 × engine: ${(mount / engine).toFixed(2)} ${
        mount / engine <= 1.5 ? "✓" : "✗"
      }`,
      "bundle, extract mode, warm cache (1 + fixed dir)": `≤ 1.2 × mount: ${
        (ms["bundle, extract mode, warm cache (1 + fixed dir)"]! / mount).toFixed(2)
      } ${ms["bundle, extract mode, warm cache (1 + fixed dir)"]! / mount <= 1.2 ? "✓" : "✗"}`,
      "bundle --pbundle_pngIcon": `≤ 1.2 × engine: ${
        (ms["bundle --pbundle_pngIcon"]! / engine).toFixed(2)
      } ${ms["bundle --pbundle_pngIcon"]! / engine <= 1.2 ? "✓" : "✗"}`,
    };
    const rows = [
      "| case | ms per run | × engine start-up | target |",
      "| --- | ---: | ---: | --- |",
      ...results.map(([name, t]) =>
        `| ${name} | ${t.toFixed(1)} | ${(t / engine).toFixed(2)} | ${targets[name] ?? ""} |`
      ),
    ];
    return rows.join("\n");
  } finally {
    const mounts = (await Deno.readTextFile("/proc/self/mountinfo")).split("\n")
      .map((l) => l.split(" ")[4] ?? "").filter((m) => m.startsWith(`${root}/`));
    for (const m of mounts) {
      await new Deno.Command("fusermount3", { args: ["-uz", m] }).output().catch(() => {});
    }
    await rm(root, { recursive: true, force: true });
  }
}

if (import.meta.main) {
  console.log(await runRuntimeBench());
}
