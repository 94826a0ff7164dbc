/**
 * Issue 2: "packing a 2 GiB AppDir keeps peak memory under 300 MB". Runs
 * bench/pack_memory.ts (2 GiB of incompressible files packed with pbundle's
 * own writer, in a fresh process) and checks the kernel's high-water mark of
 * that process. Memory, unlike time, does not depend on how busy the machine
 * is, so this is a test and not only a benchmark figure.
 */

import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";

const SCRIPT = fileURLToPath(new URL("../bench/pack_memory.ts", import.meta.url));
const CONFIG = fileURLToPath(new URL("../deno.json", import.meta.url));

Deno.test("packing a 2 GiB AppDir peaks under 300 MB of memory", async () => {
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--config", CONFIG, SCRIPT, "--mib", "2048"],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const out = new TextDecoder().decode(stdout);
  assert.equal(code, 0, `${out}\n${new TextDecoder().decode(stderr)}`);
  assert.match(out, /^Packed into 2147\.\d MB \(2048\.0 MiB\)/m, out);
  const hwm = /^pbundle peak RSS \(VmHWM\):\s+([\d.]+) MB/m.exec(out);
  assert.ok(hwm, out);
  assert.ok(Number(hwm[1]) < 300, `peak ${hwm[1]} MB\n${out}`);
});
