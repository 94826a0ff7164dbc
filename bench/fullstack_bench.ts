/**
 * The full-stack benchmark (issue 5's Speed section): host ↔ Python round
 * trips, 100 concurrent slow calls, cold launch against running the Python
 * entry point directly, and warm launch against the same AppDir run from a
 * squashfuse mount (pelf's and AppImage's way). Runnable as main; prints
 * markdown rows.
 *
 * @module
 */

import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { makePythonRuntime } from "../fixtures/make_python_runtime.ts";
import { readBundle } from "../format/bundle.ts";
import { packFullstack } from "../packers/fullstack/mod.ts";
import { BackendHost } from "../runtime/fullstack/backend_host.ts";
import { readFullstackDocument, resolveBackendLaunch } from "../runtime/fullstack/document.ts";
import { createLogger } from "../runtime/fullstack/log.ts";
import { copyProject, EXAMPLE } from "../tests/_fullstack.ts";

const REQUEST = '{"id":"first","method":"api.echo","params":["hi"]}\n';

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** Spawns a program, writes one request, resolves with ms until the answer line. */
function timeToFirstAnswer(
  command: string,
  args: string[],
  env: Record<string, string>,
  cwd: string,
): Promise<number> {
  const start = performance.now();
  return new Promise((resolve, reject) => {
    const child: ChildProcess = spawn(command, args, {
      env,
      cwd,
      stdio: ["pipe", "pipe", "ignore"],
    });
    let out = "";
    child.stdout!.on("data", (chunk) => {
      out += chunk;
      if (out.includes('"id":"first"')) {
        const ms = performance.now() - start;
        child.stdin!.end();
        child.once("exit", () => resolve(ms));
      }
    });
    child.once("error", reject);
    child.once("exit", (code) => {
      if (!out.includes('"id":"first"')) reject(new Error(`${command} exited ${code}: ${out}`));
    });
    child.stdin!.write(REQUEST);
  });
}

/**
 * Runs the benchmark and returns markdown table rows.
 *
 * @returns The rows ("| measure | value | target |").
 */
export async function runFullstackBench(): Promise<string> {
  const runtime = makePythonRuntime();
  const project = copyProject(
    EXAMPLE,
    (t) => t.replace(/^strategy = .*$/m, `strategy = "standalone"\nruntime = "${runtime}"`),
  );
  const work = mkdtempSync(join(tmpdir(), "pbundle-fsbench-"));
  const rows: string[] = [];
  try {
    const appDir = join(work, "AppDir");
    const bundle = join(work, "app.AppBundle");
    await packFullstack({
      config: project,
      output: bundle,
      keepAppDir: appDir,
      compression: "zstd:15",
      log: () => {},
    });
    const doc = readFullstackDocument(appDir);
    const env = process.env as Record<string, string>;

    // 1. Round trips through the host.
    const host = new BackendHost({
      launch: resolveBackendLaunch(doc, appDir, env),
      log: createLogger("bench", { level: "error" }),
    });
    await host.start();
    for (let i = 0; i < 200; i++) await host.call("api.echo", ["warm"]);
    const latencies: number[] = [];
    for (let i = 0; i < 2000; i++) {
      const t = performance.now();
      await host.call("api.echo", ["x"]);
      latencies.push(performance.now() - t);
    }
    const total = 10000;
    let t = performance.now();
    for (let done = 0; done < total; done += 100) {
      await Promise.all(Array.from({ length: 100 }, () => host.call("api.echo", ["x"])));
    }
    const perSecond = total / ((performance.now() - t) / 1000);
    t = performance.now();
    await Promise.all(Array.from({ length: 100 }, () => host.call("api.sleep", { seconds: 0.1 })));
    const concurrent = performance.now() - t;
    await host.stop();
    rows.push(
      `| Round trip of a small call, median (2,000 sequential calls) | ${
        median(latencies).toFixed(3)
      } ms | < 1 ms |`,
    );
    rows.push(
      `| Small calls per second (10,000 calls, 100 in flight) | ${
        Math.round(perSecond).toLocaleString("en")
      } | ≥ 5,000 |`,
    );
    rows.push(
      `| 100 concurrent calls to a 100 ms handler | ${concurrent.toFixed(0)} ms | < 1,000 ms |`,
    );

    // 2. Cold launch (empty extraction cache) against the entry point run directly.
    const launch = resolveBackendLaunch(doc, appDir, env);
    const direct: number[] = [];
    const cold: number[] = [];
    const warm: number[] = [];
    for (let i = 0; i < 5; i++) {
      direct.push(await timeToFirstAnswer(launch.command, launch.args, launch.env, appDir));
      const cache = join(work, `cache-${i}`);
      mkdirSync(cache);
      const bundleEnv = { ...env, XDG_CACHE_HOME: cache, PBUNDLE_FRONTEND: "stdio" };
      cold.push(await timeToFirstAnswer(bundle, [], bundleEnv, work));
      warm.push(await timeToFirstAnswer(bundle, [], bundleEnv, work));
      rmSync(cache, { recursive: true, force: true });
    }
    rows.push(
      `| Python entry point run directly, to the first answer | ${
        median(direct).toFixed(0)
      } ms | (baseline) |`,
    );
    rows.push(
      `| Cold launch of the bundle (extraction) to the first answer | ${
        median(cold).toFixed(0)
      } ms = ${(median(cold) / median(direct)).toFixed(2)}× direct | (reported) |`,
    );

    // 3. Warm launch against the same AppDir from a squashfuse mount (mount, run, unmount).
    let fuse: number[] = [];
    try {
      const { imageOffset } = await readBundle(bundle);
      const mount = join(work, "mnt");
      mkdirSync(mount);
      for (let i = 0; i < 5; i++) {
        const start = performance.now();
        execFileSync("squashfuse", ["-o", `offset=${imageOffset}`, bundle, mount]);
        const mountMs = performance.now() - start;
        try {
          const mounted = resolveBackendLaunch(doc, mount, env);
          const ms = await timeToFirstAnswer(mounted.command, mounted.args, mounted.env, mount);
          fuse.push(mountMs + ms);
        } finally {
          execFileSync("fusermount3", ["-u", mount]);
        }
      }
    } catch (error) {
      fuse = [];
      rows.push(
        `| squashfuse comparison | skipped: ${(error as Error).message.split("\n")[0]} | |`,
      );
    }
    const warmMs = median(warm);
    if (fuse.length > 0) {
      rows.push(
        `| Same AppDir from a squashfuse mount (mount + run to the first answer) | ${
          median(fuse).toFixed(0)
        } ms | (baseline) |`,
      );
      rows.push(
        `| Warm launch of the bundle (cache in place) to the first answer | ${
          warmMs.toFixed(0)
        } ms = ${(warmMs / median(fuse)).toFixed(2)}× squashfuse | ≤ 0.85× |`,
      );
    } else {
      rows.push(`| Warm launch of the bundle to the first answer | ${warmMs.toFixed(0)} ms | |`);
    }
    return rows.join("\n");
  } finally {
    rmSync(work, { recursive: true, force: true });
    rmSync(project, { recursive: true, force: true });
  }
}

if (import.meta.main) {
  console.log("| Measure | Result | Target |\n|---|---|---|");
  console.log(await runFullstackBench());
}
