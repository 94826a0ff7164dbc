/**
 * Runs every benchmark side by side in one run and writes the figures into the
 * README between the `<!-- bench:start -->` and `<!-- bench:end -->` markers.
 * Timings on a shared machine are noisy: each table compares pbundle with the
 * reference tool in the same run, as ratios.
 *
 * `deno task bench` runs them all; `deno task bench squashfs runtime` runs some.
 *
 * @module
 */

import { readFile, writeFile } from "node:fs/promises";
import { cpus } from "node:os";
import { fileURLToPath } from "node:url";
import { runFullstackBench } from "./fullstack_bench.ts";
import { runMemoryBench } from "./memory_bench.ts";
import { runRuntimeBench } from "./runtime_bench.ts";
import { runSquashfsBench, SQUASHFS_BENCH_HEADER } from "./squashfs_bench.ts";

const README = fileURLToPath(new URL("../README.md", import.meta.url));
const START = "<!-- bench:start -->";
const END = "<!-- bench:end -->";

/** The benchmarks, by name: a title and a function returning markdown table rows. */
const BENCHES: Record<string, { title: string; run: () => Promise<string>; header?: string }> = {
  squashfs: {
    title: "Native squashfs against squashfs-tools (Python 3.11 standard library, 52 MB)",
    run: () => runSquashfsBench(),
    header: SQUASHFS_BENCH_HEADER,
  },
  runtime: {
    title: "Runtime start-up (node engine), one small AppDir",
    run: runRuntimeBench,
  },
  fullstack: {
    title: "Full-stack host: JSON-RPC to Python, and launch times",
    run: runFullstackBench,
    header: "| measure | value | target |\n| --- | --- | --- |",
  },
  memory: {
    title: "Packing memory (bench/pack_memory.ts, a fresh process)",
    run: runMemoryBench,
  },
};

function withHeader(rows: string, header: string | undefined): string {
  const text = rows.trim();
  return header && !/^\|[^\n]*\n\|\s*-/.test(text) ? `${header}\n${text}` : text;
}

const names = Deno.args.length > 0 ? Deno.args : Object.keys(BENCHES);
const unknown = names.filter((n) => !(n in BENCHES));
if (unknown.length > 0) {
  console.error(
    `bench: unknown benchmark ${unknown.join(", ")}; known: ${Object.keys(BENCHES).join(", ")}`,
  );
  Deno.exit(2);
}

const sections: string[] = [];
for (const name of names) {
  const bench = BENCHES[name]!;
  console.error(`bench: running ${name}…`);
  const table = withHeader(await bench.run(), bench.header);
  console.log(`\n${bench.title}\n\n${table}\n`);
  sections.push(`#### ${bench.title}\n\n${table}`);
}

if (names.length === Object.keys(BENCHES).length) {
  const machine = `${cpus().length} cores, ${cpus()[0]?.model ?? "unknown CPU"}`;
  const date = new Date().toISOString().slice(0, 10);
  const body =
    `${START}\n_Measured ${date} by \`deno task bench\` on ${machine} (a shared, noisy machine: read the ratios)._\n\n${
      sections.join("\n\n")
    }\n${END}`;
  const readme = await readFile(README, "utf8");
  const at = readme.indexOf(START);
  const end = readme.indexOf(END);
  if (at < 0 || end < 0) {
    console.error(`bench: README.md has no ${START} … ${END} markers; not updated`);
  } else {
    await writeFile(README, readme.slice(0, at) + body + readme.slice(end + END.length));
    // Keep the README as deno fmt writes it (the test task checks formatting).
    const fmt = await new Deno.Command(Deno.execPath(), { args: ["fmt", "-q", README] }).output();
    if (!fmt.success) console.error("bench: deno fmt README.md failed");
    console.error("bench: README.md updated");
  }
}
