/**
 * A build script that uses pbundle's library API instead of the command:
 * builds the runtimes it needs (cached), packs examples/hello for each target,
 * packs the full-stack example with `--full-stack`, then verifies and
 * inspects every bundle it wrote.
 *
 * In your own project, import from "jsr:@pbundle/pbundle" instead of "../mod.ts":
 *
 * ```sh
 * deno run --allow-read --allow-write --allow-run --allow-env --allow-sys --allow-net \
 *   examples/build_script.ts [--target x86_64|aarch64|all] [--out DIR] [--full-stack]
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
  pack,
  packFullstack,
  readBundle,
  type RuntimeTarget,
  verifyBundle,
} from "../mod.ts";

const examples = fileURLToPath(new URL(".", import.meta.url));
const { values } = parseArgs({
  args: Deno.args,
  options: {
    target: { type: "string", default: "all" },
    out: { type: "string", default: "out" },
    "full-stack": { type: "boolean", default: false },
  },
});
const targets: RuntimeTarget[] = values.target === "all"
  ? ["x86_64", "aarch64"]
  : [values.target as RuntimeTarget];
const out = resolve(values.out);
mkdirSync(out, { recursive: true });

const host: RuntimeTarget = Deno.build.arch === "aarch64" ? "aarch64" : "x86_64";
const written: string[] = [];
for (const target of targets) {
  const runtime = await cachedRuntime({ target, log: (line) => console.error(`runtime: ${line}`) });
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
  });
  written.push(result.output);
}

for (const file of written) {
  const { ok } = await verifyBundle(file);
  if (!ok) throw new Error(`Cannot verify "${file}": its image hash does not match`);
  const info = await readBundle(file);
  console.log(
    `${file}: ${info.runtimeInfo.AppBundleID}, ${info.runtimeInfo.FilesystemType} image of ${info.imageSize} bytes`,
  );
}
