/**
 * A build script that uses pbundle's library API instead of the command:
 * builds the runtimes it needs (cached), packs examples/hello for each target,
 * packs the full-stack example with `--full-stack` (for this machine's CPU;
 * `--strategy` overrides the pack file's [python] strategy, e.g. `system` to
 * use the host's python3.11 and download nothing), then verifies and inspects
 * every bundle it wrote, printing one line per bundle:
 * `<path>: <AppBundleID>, <filesystem> image of <bytes> bytes`.
 *
 * In your own project, import from "jsr:@pbundle/pbundle" instead of "../mod.ts":
 *
 * ```sh
 * deno run --allow-read --allow-write --allow-run --allow-env --allow-sys --allow-net \
 *   examples/build_script.ts [--target x86_64|aarch64|all] [--out DIR] [--full-stack [--strategy S]]
 * ```
 *
 * @module
 */

import { parseArgs } from "node:util";
import { mkdirSync } from "node:fs";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import {
  cachedRuntime,
  FormatError,
  InputError,
  pack,
  packFullstack,
  type PackFullstackOptions,
  readBundle,
  type RuntimeTarget,
  UsageError,
  verifyBundle,
} from "../mod.ts";

const examples = fileURLToPath(new URL(".", import.meta.url));
const USAGE =
  "Usage: build_script.ts [--target x86_64|aarch64|all] [--out DIR] [--full-stack [--strategy S]]";

async function main(args: string[]): Promise<void> {
  let values;
  try {
    ({ values } = parseArgs({
      args,
      options: {
        target: { type: "string", default: "all" },
        out: { type: "string", default: "out" },
        "full-stack": { type: "boolean", default: false },
        strategy: { type: "string" },
      },
    }));
  } catch (error) {
    throw new UsageError(`Cannot read the arguments: ${(error as Error).message}`, USAGE);
  }
  if (!["x86_64", "aarch64", "all"].includes(values.target)) {
    throw new UsageError(`Cannot build for "${values.target}": expected x86_64, aarch64 or all`);
  }
  // portable writes a directory, not a bundle, so this script does not offer it.
  const strategies = ["standalone", "pyoxidizer", "embedded", "system"];
  if (values.strategy !== undefined && !strategies.includes(values.strategy)) {
    throw new UsageError(
      `Cannot use strategy "${values.strategy}": expected one of ${strategies.join(", ")}`,
    );
  }
  const targets: RuntimeTarget[] = values.target === "all"
    ? ["x86_64", "aarch64"]
    : [values.target as RuntimeTarget];
  const out = resolve(values.out);
  mkdirSync(out, { recursive: true });

  const host: RuntimeTarget = Deno.build.arch === "aarch64" ? "aarch64" : "x86_64";
  const written: string[] = [];
  for (const target of targets) {
    const runtime = await cachedRuntime({
      target,
      log: (line) => console.error(`runtime: ${line}`),
    });
    const result = await pack({
      appDir: join(examples, "hello", "AppDir"),
      appBundleId: "hello-20260101-pbundle",
      runtime: runtime.path,
      output: join(out, `hello-${target}.AppBundle`),
      // The host's squashfuse and unsquashfs run on the host's CPU only.
      ...(target === host ? {} : { noStaticTools: true }),
    });
    written.push(result.output);
  }
  if (values["full-stack"]) {
    const result = await packFullstack({
      config: join(examples, "fullstack"),
      output: join(out, `fullstack-${host}.AppBundle`),
      ...(values.strategy
        ? { strategy: values.strategy as NonNullable<PackFullstackOptions["strategy"]> }
        : {}),
    });
    written.push(result.output);
  }

  for (const file of written) {
    const { ok } = await verifyBundle(file);
    if (!ok) throw new InputError(`Cannot verify "${file}": its image hash does not match`);
    const info = await readBundle(file);
    console.log(
      `${file}: ${info.runtimeInfo.AppBundleID}, ${info.runtimeInfo.FilesystemType} image of ${info.imageSize} bytes`,
    );
  }
}

if (import.meta.main) {
  try {
    await main(Deno.args);
  } catch (error) {
    // pbundle's errors are the user's to fix: one line (and a hint), no stack trace.
    if (
      !(error instanceof UsageError || error instanceof InputError || error instanceof FormatError)
    ) {
      throw error;
    }
    console.error(`build_script: ${error.message}`);
    if (error instanceof UsageError && error.hint) console.error(`hint: ${error.hint}`);
    Deno.exit(error instanceof UsageError ? 2 : 1);
  }
}
