/**
 * The memory rows of `deno task bench`: bench/pack_memory.ts run in a fresh
 * process (2 GiB of incompressible files packed by pbundle's own writer),
 * reported against issue 2's limit of 300 MB. tests/pack_memory_test.ts runs
 * the same measurement and asserts the limit.
 *
 * @module
 */

import { fileURLToPath } from "node:url";

const SCRIPT = fileURLToPath(new URL("./pack_memory.ts", import.meta.url));
const CONFIG = fileURLToPath(new URL("../deno.json", import.meta.url));

/** What bench/pack_memory.ts measured. */
export interface PackMemory {
  /** Peak RSS (VmHWM) of the packing process, in MB (10^6 bytes). */
  peakMB: number;
  /** The same process's VmHWM before packing, in MB. */
  beforeMB: number;
  /** Seconds the pack took. */
  seconds: number;
  /** What the script printed. */
  output: string;
}

/**
 * Runs bench/pack_memory.ts in a fresh process.
 *
 * @param mib How much data to pack, in MiB.
 * @returns The figures it printed.
 * @throws {Error} When the script fails (also when it finds the peak over the limit) or prints no figures.
 */
export async function measurePackMemory(mib = 2048): Promise<PackMemory> {
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--config", CONFIG, SCRIPT, "--mib", String(mib)],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const output = new TextDecoder().decode(stdout);
  if (code !== 0) {
    throw new Error(`pack_memory.ts failed:\n${output}\n${new TextDecoder().decode(stderr)}`);
  }
  const field = (label: RegExp) => {
    const m = label.exec(output);
    if (!m) throw new Error(`pack_memory.ts printed no ${label}:\n${output}`);
    return Number(m[1]);
  };
  return {
    peakMB: field(/^pbundle peak RSS \(VmHWM\):\s+([\d.]+) MB/m),
    beforeMB: field(/^pbundle VmHWM before packing:\s+([\d.]+) MB/m),
    seconds: field(/^Packed into .* in ([\d.]+) s$/m),
    output,
  };
}

/** Runs the 2 GiB pack and returns its markdown table rows. */
export async function runMemoryBench(): Promise<string> {
  const m = await measurePackMemory();
  return [
    "| measure | value | target |",
    "| --- | --- | --- |",
    `| pack 2 GiB of incompressible files (zstd -15, pbundle's writer), peak RSS | ${
      m.peakMB.toFixed(1)
    } MB (${m.seconds.toFixed(1)} s) | < 300 MB |`,
    `| the same process before packing (Deno and pbundle loaded) | ${m.beforeMB.toFixed(1)} MB | |`,
  ].join("\n");
}
