/**
 * Issue 2: "packing a 2 GiB AppDir keeps peak memory under 300 MB". Runs
 * bench/pack_memory.ts (2 GiB of incompressible files packed with pbundle's
 * own writer, in a fresh process) and checks the kernel's high-water mark of
 * that process. Memory, unlike time, does not depend on how busy the machine
 * is, so this is a test and not only a benchmark figure.
 */

import assert from "node:assert/strict";
import { measurePackMemory } from "../bench/memory_bench.ts";

Deno.test("packing a 2 GiB AppDir peaks under 300 MB of memory", async () => {
  const m = await measurePackMemory(2048);
  assert.match(m.output, /^Packed into 2147\.\d MB \(2048\.0 MiB\)/m, m.output);
  assert.ok(m.peakMB > m.beforeMB, m.output);
  assert.ok(m.peakMB < 300, `peak ${m.peakMB} MB\n${m.output}`);
});
