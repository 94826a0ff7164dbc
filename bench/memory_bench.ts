/**
 * The memory rows of `deno task bench`: bench/pack_memory.ts run in a fresh
 * process (2 GiB of incompressible files packed by pbundle's own writer),
 * reported against issue 2's limit of 300 MB.
 *
 * @module
 */

import { fileURLToPath } from "node:url";

const SCRIPT = fileURLToPath(new URL("./pack_memory.ts", import.meta.url));
const CONFIG = fileURLToPath(new URL("../deno.json", import.meta.url));

/** Runs the 2 GiB pack and returns its markdown table rows. */
export async function runMemoryBench(): Promise<string> {
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--config", CONFIG, SCRIPT, "--mib", "2048"],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const out = new TextDecoder().decode(stdout);
  if (code !== 0) {
    throw new Error(`pack_memory.ts failed:\n${out}\n${new TextDecoder().decode(stderr)}`);
  }
  const field = (label: RegExp) => {
    const m = label.exec(out);
    if (!m) throw new Error(`pack_memory.ts printed no ${label}:\n${out}`);
    return m[1]!;
  };
  const seconds = field(/^Packed into .* in ([\d.]+) s$/m);
  const peak = field(/^pbundle peak RSS \(VmHWM\):\s+([\d.]+ MB)/m);
  const before = field(/^pbundle VmHWM before packing:\s+([\d.]+ MB)/m);
  return [
    "| measure | value | target |",
    "| --- | --- | --- |",
    `| pack 2 GiB of incompressible files (zstd -15, pbundle's writer), peak RSS | ${peak} (${seconds} s) | < 300 MB |`,
    `| the same process before packing (Deno and pbundle loaded) | ${before} | |`,
  ].join("\n");
}
