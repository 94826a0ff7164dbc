/**
 * Peak memory of packing a large AppDir (issue 2: "packing a 2 GiB AppDir keeps
 * peak memory under 300 MB"). Too slow for the test suite, so it is a benchmark:
 *
 * ```sh
 * deno run -A bench/pack_memory.ts            # 2 GiB
 * deno run -A bench/pack_memory.ts --mib 256  # a quicker look
 * ```
 *
 * It writes an AppDir of incompressible (random) files under the system's
 * temporary directory, packs it in this process with `pack()` (the host's
 * /usr/bin/true as the runtime, no static tools), and reports:
 *
 * - pbundle's peak RSS: VmHWM of this process, read from /proc/self/status at
 *   the end (the kernel's high-water mark, so no spike is missed), and the peak
 *   of RSS samples taken every 50 ms while packing;
 * - the largest RSS sampled from a child process (mksquashfs or mkdwarfs, when
 *   the packer runs one), which is not pbundle's own memory but is reported
 *   beside it.
 *
 * Everything it wrote is removed at the end. Exits 1 when pbundle's peak, or
 * the image tool's, is over the limit.
 *
 * Measured on a 2-core x86-64 machine (zstd level 15): with pbundle's own
 * writer (2 compression workers), 2 GiB packed in 44 s at a 211.1 MB VmHWM;
 * with 4 workers forced (the default cap, for machines with 4 or more cores),
 * 231 MB. Before the writer compressed blocks in place into buffers that go
 * round it was 290.6 MB with 2 workers: node:zlib's *Sync functions allocate
 * per block, and each V8 isolate let ~64 MiB of such garbage pile up. With
 * --mksquashfs (squashfs-tools 4.5.1), 88 s, pbundle 184 MB VmHWM and
 * mksquashfs 79 MB RSS (1.67 GB before make_image.ts passed -mem 128M).
 *
 * @module
 */

import { randomFillSync } from "node:crypto";
import { mkdir, mkdtemp, open, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { pack } from "../packers/appdir.ts";

const MIB = 1024 * 1024;
/** The limit on pbundle's peak memory. */
const LIMIT_BYTES = 300 * 1000 * 1000;
/** Size of each file in the AppDir. */
const FILE_BYTES = 64 * MIB;
/** How often memory is sampled while packing. */
const SAMPLE_MS = 50;

/** Reads a "VmXXX:   1234 kB" line of a /proc status file, in bytes. */
async function procStatusBytes(pid: number | "self", field: string): Promise<number | undefined> {
  try {
    const text = await readFile(`/proc/${pid}/status`, "utf8");
    const m = new RegExp(`^${field}:\\s+(\\d+) kB$`, "m").exec(text);
    return m ? Number(m[1]) * 1024 : undefined;
  } catch {
    return undefined; // the process ended between listing and reading
  }
}

/** The RSS of every live descendant process of this one. */
async function childrenRss(): Promise<number[]> {
  const parents = new Map<number, number>();
  for (const name of await readdir("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const text = await readFile(`/proc/${name}/status`, "utf8");
      const ppid = /^PPid:\s+(\d+)$/m.exec(text)?.[1];
      if (ppid) parents.set(Number(name), Number(ppid));
    } catch {
      // gone
    }
  }
  const mine = new Set([process.pid]);
  let grew = true;
  while (grew) {
    grew = false;
    for (const [pid, ppid] of parents) {
      if (mine.has(ppid) && !mine.has(pid)) {
        mine.add(pid);
        grew = true;
      }
    }
  }
  mine.delete(process.pid);
  const out: number[] = [];
  for (const pid of mine) {
    const rss = await procStatusBytes(pid, "VmRSS");
    if (rss !== undefined) out.push(rss);
  }
  return out;
}

/** Writes `total` bytes of random data as files of FILE_BYTES, streaming 1 MiB at a time. */
async function writeRandomFiles(dir: string, total: number): Promise<void> {
  const chunk = new Uint8Array(MIB);
  let left = total;
  for (let i = 0; left > 0; i++) {
    const size = Math.min(FILE_BYTES, left);
    const file = await open(join(dir, `data-${String(i).padStart(3, "0")}.bin`), "w");
    try {
      for (let done = 0; done < size; done += chunk.length) {
        randomFillSync(chunk);
        await file.write(chunk, 0, Math.min(chunk.length, size - done));
      }
    } finally {
      await file.close();
    }
    left -= size;
  }
}

function mb(bytes: number): string {
  return `${(bytes / 1e6).toFixed(1)} MB (${(bytes / MIB).toFixed(1)} MiB)`;
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      mib: { type: "string", default: "2048" },
      compression: { type: "string", default: "zstd" },
    },
  });
  const total = Number(values.mib) * MIB;
  const root = await mkdtemp(join(tmpdir(), "pbundle-pack-memory-"));
  try {
    const appDir = join(root, "Big.AppDir");
    await mkdir(join(appDir, "usr/share/big"), { recursive: true });
    await writeFile(join(appDir, "AppRun"), "#!/bin/sh\necho big\n", { mode: 0o755 });
    const started = performance.now();
    await writeRandomFiles(join(appDir, "usr/share/big"), total);
    console.log(
      `Wrote ${mb(total)} of random data in ${((performance.now() - started) / 1000).toFixed(1)} s`,
    );
    const beforePack = await procStatusBytes("self", "VmHWM") ?? 0;

    let peakSampled = 0;
    let peakChild = 0;
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        peakSampled = Math.max(peakSampled, process.memoryUsage.rss());
        for (const rss of await childrenRss()) peakChild = Math.max(peakChild, rss);
        await new Promise((r) => setTimeout(r, SAMPLE_MS));
      }
    })();
    const packStarted = performance.now();
    const output = join(root, "big.AppBundle");
    try {
      await pack({
        appDir,
        appBundleId: "big-20260101-bench",
        runtime: "/usr/bin/true",
        output,
        compression: values.compression,
        noStaticTools: true,
      });
    } finally {
      sampling = false;
      await sampler;
    }
    const seconds = (performance.now() - packStarted) / 1000;
    const hwm = await procStatusBytes("self", "VmHWM") ?? 0;
    const size = (await stat(output)).size;
    console.log(`Packed into ${mb(size)} in ${seconds.toFixed(1)} s`);
    console.log(`pbundle peak RSS (VmHWM):       ${mb(hwm)}`);
    console.log(`pbundle peak RSS (sampled):     ${mb(peakSampled)}`);
    console.log(`pbundle VmHWM before packing:   ${mb(beforePack)}`);
    console.log(`largest child process RSS:     ${mb(peakChild)}`);
    console.log(`limit for pbundle:              ${mb(LIMIT_BYTES)}`);
    if (hwm > LIMIT_BYTES || peakChild > LIMIT_BYTES) {
      console.log("FAIL: pbundle's or the image tool's peak memory is over the limit");
      Deno.exitCode = 1;
    } else {
      console.log("OK: pbundle's and the image tool's peak memory are under the limit");
    }
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}
