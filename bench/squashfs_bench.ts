/**
 * Squashfs benchmark: our writer and reader against squashfs-tools and
 * squashfuse on a >= 50 MB tree of mixed files (a Python standard library),
 * same compressor, level and block size. Prints a markdown table when run;
 * {@linkcode runSquashfsBench} returns its rows for a combined report.
 *
 * Run: deno run -A bench/squashfs_bench.ts [source-dir]
 *
 * @module
 */
import * as fs from "node:fs";
import { fileURLToPath } from "node:url";
import { SquashfsImage, writeSquashfs } from "../format/squashfs/mod.ts";
import { NODE_PACKAGES, pinnedFile } from "../runtime/build/_node_toolchain.ts";
import { userCacheDir } from "../runtime/user_cache_dir.ts";

/** Header of the table whose rows {@linkcode runSquashfsBench} returns. */
export const SQUASHFS_BENCH_HEADER =
  "| squashfs benchmark | pbundle | reference | ratio | target |\n" +
  "| --- | --- | --- | --- | --- |";

const CANDIDATES = [
  "/usr/lib/python3.11",
  "/root/.pyenv/versions/3.11.7/lib/python3.11",
];

function sh(
  cmd: string,
  args: string[],
): { ok: boolean; ms: number; stdout: string; stderr: string } {
  const t = performance.now();
  const r = new Deno.Command(cmd, { args, stdout: "piped", stderr: "piped" }).outputSync();
  return {
    ok: r.success,
    ms: performance.now() - t,
    stdout: new TextDecoder().decode(r.stdout),
    stderr: new TextDecoder().decode(r.stderr),
  };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

function treeBytes(dir: string): number {
  const r = sh("du", ["-sb", dir]);
  return Number(r.stdout.split("\t")[0]);
}

function have(tool: string): boolean {
  return sh("sh", ["-c", `command -v ${tool}`]).ok;
}

/** A regular file in `dir` whose size is closest to 1 MiB. */
function fileNear1MiB(dir: string): string {
  const r = sh("find", [
    dir,
    "-type",
    "f",
    "-size",
    "+512k",
    "-size",
    "-4M",
    "-printf",
    "%s %P\\n",
  ]);
  let best = "";
  let bestDelta = Infinity;
  for (const line of r.stdout.split("\n")) {
    if (!line) continue;
    const space = line.indexOf(" ");
    const delta = Math.abs(Number(line.slice(0, space)) - (1 << 20));
    if (delta < bestDelta) {
      bestDelta = delta;
      best = line.slice(space + 1);
    }
  }
  if (!best) throw new Error(`No file of about 1 MiB in ${dir}`);
  return best;
}

/**
 * A script that extracts an image once into a directory and prints the
 * milliseconds it took (from open to close, in a fresh process, as
 * `pbundle extract` and a bundle's start-up run it): `entry` for Deno, and
 * `script`, the same bundled for Node as the runtime ships the reader (`deno
 * bundle --platform node`), with `node`, the pinned Node 24 to run it.
 */
async function extractors(
  work: string,
): Promise<{ node: string; script: string; entry: string }> {
  const arch = Deno.build.arch === "aarch64" ? "aarch64" : "x86_64";
  const node = await pinnedFile(NODE_PACKAGES[arch], userCacheDir());
  const entry = `${work}/node_extract.ts`;
  const mod = fileURLToPath(new URL("../format/squashfs/mod.ts", import.meta.url));
  fs.writeFileSync(
    entry,
    `import { SquashfsImage } from ${JSON.stringify(mod)};
async function main() {
  const t = performance.now();
  const img = await SquashfsImage.open(process.argv[2]!);
  await img.extract(process.argv[3]!);
  await img.close();
  console.log(performance.now() - t);
}
main();
`,
  );
  const script = `${work}/node_extract.cjs`;
  const r = sh(Deno.execPath(), [
    "bundle",
    "--quiet",
    "--platform",
    "node",
    "--format",
    "cjs",
    "--config",
    config,
    "-o",
    script,
    entry,
  ]);
  if (!r.ok) throw new Error(`deno bundle failed: ${r.stderr}`);
  return { node, script, entry };
}

/** pbundle's deno.json, for its import map. */
const config = fileURLToPath(new URL("../deno.json", import.meta.url));

const s = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
const mb = (bytes: number) => `${(bytes / 1e6).toFixed(2)} MB`;
const ratio = (a: number, b: number) => `${(a / b).toFixed(2)}x`;

/**
 * Runs the benchmark and returns markdown table rows (see {@linkcode SQUASHFS_BENCH_HEADER}).
 *
 * @param options `source`: the tree (default: the first Python 3.11 stdlib found); `runs`: repetitions, the median is kept (default 3).
 * @returns The rows, one per line.
 * @throws {Error} When no source tree of 50 MB or more, or mksquashfs/unsquashfs, is available.
 */
export async function runSquashfsBench(
  options: { source?: string; runs?: number } = {},
): Promise<string> {
  const source = options.source ?? CANDIDATES.find((c) => fs.existsSync(c));
  if (source === undefined) throw new Error("No source tree found: pass one");
  const size = treeBytes(source);
  if (size < 50e6) throw new Error(`${source} holds ${mb(size)}, the benchmark wants >= 50 MB`);
  for (const tool of ["mksquashfs", "unsquashfs"]) {
    if (!have(tool)) throw new Error(`The benchmark needs ${tool}`);
  }
  const runs = options.runs ?? 3;
  const base = fs.existsSync("/dev/shm") ? "/dev/shm" : undefined;
  const work = await Deno.makeTempDir({
    prefix: "pbundle-sqfs-bench-",
    ...(base ? { dir: base } : {}),
  });
  const rows: string[] = [];
  const workers = navigator.hardwareConcurrency;
  try {
    for (const [comp, level] of [["zstd", 15], ["gzip", 9]] as const) {
      const ours = `${work}/ours-${comp}.sqfs`;
      const theirs = `${work}/mksquashfs-${comp}.sqfs`;
      const oursMs: number[] = [];
      const theirsMs: number[] = [];
      for (let i = 0; i < runs; i++) {
        fs.rmSync(theirs, { force: true });
        const r = sh("mksquashfs", [
          source,
          theirs,
          "-comp",
          comp,
          "-Xcompression-level",
          String(level),
          "-b",
          "131072",
          "-noappend",
          "-quiet",
          "-no-progress",
          "-processors",
          String(workers),
        ]);
        if (!r.ok) throw new Error(`mksquashfs failed: ${r.stderr}`);
        theirsMs.push(r.ms);
        const t = performance.now();
        await writeSquashfs(source, ours, { compression: comp, level, blockSize: 131072 });
        oursMs.push(performance.now() - t);
      }
      const a = median(oursMs);
      const b = median(theirsMs);
      rows.push(
        `| pack ${mb(size)} (${comp} -${level}, 128 KiB, ${workers} threads) | ${
          s(a)
        } | mksquashfs ${s(b)} | ${ratio(a, b)} | <= 1.5x |`,
      );
      const sa = fs.statSync(ours).size;
      const sb = fs.statSync(theirs).size;
      rows.push(
        `| image size (${comp} -${level}) | ${mb(sa)} | mksquashfs ${mb(sb)} | ${
          ((sa / sb - 1) * 100).toFixed(2)
        }% | <= +3% |`,
      );
    }

    // Extraction: unsquashfs, our reader under Deno (pbundle extract) and
    // under Node (the runtime), each in a fresh process, in turn within each
    // round; the ratio is the
    // median of the rounds' ratios, so a slow moment of a shared machine
    // weighs on both sides of the same round.
    const image = `${work}/ours-zstd.sqfs`;
    const { node, script, entry } = await extractors(work);
    const theirsMs: number[] = [];
    const denoMs: number[] = [];
    const nodeMs: number[] = [];
    for (let i = 0; i < Math.max(runs, 5); i++) {
      const d1 = `${work}/x-unsquashfs-${i}`;
      const r = sh("unsquashfs", ["-q", "-n", "-d", d1, image]);
      if (!r.ok) throw new Error(`unsquashfs failed: ${r.stderr}`);
      theirsMs.push(r.ms);
      const d2 = `${work}/x-ours-${i}`;
      const d = sh(Deno.execPath(), ["run", "-A", "--config", config, entry, image, d2]);
      if (!d.ok) throw new Error(`extraction under Deno failed: ${d.stderr}`);
      denoMs.push(Number(d.stdout.trim()));
      const d3 = `${work}/x-node-${i}`;
      const n = sh(node, [script, image, d3]);
      if (!n.ok) throw new Error(`extraction under Node failed: ${n.stderr}`);
      nodeMs.push(Number(n.stdout.trim()));
      for (const d of [d1, d2, d3]) fs.rmSync(d, { recursive: true, force: true });
    }
    const roundRatio = (ours: number[]) => median(ours.map((ms, i) => ms / theirsMs[i]!));
    for (const [engine, ours] of [["Deno", denoMs], ["Node 24", nodeMs]] as const) {
      rows.push(
        `| extract all (zstd image${base ? ", to tmpfs" : ""}, ${engine}) | ${
          s(median(ours))
        } | unsquashfs ${s(median(theirsMs))} | ${roundRatio(ours).toFixed(2)}x | <= 1.5x |`,
      );
    }

    const one = fileNear1MiB(source);
    const oneSize = fs.statSync(`${source}/${one}`).size;
    const readMs: number[] = [];
    for (let i = 0; i < Math.max(runs, 5); i++) {
      const t = performance.now();
      const img = await SquashfsImage.open(image);
      const data = await img.readFile(one);
      await img.close();
      readMs.push(performance.now() - t);
      if (data.length !== oneSize) {
        throw new Error(`read ${data.length} bytes of ${one}, expected ${oneSize}`);
      }
    }
    if (have("squashfuse") && have("fusermount3")) {
      const fuseMs: number[] = [];
      const mnt = `${work}/mnt`;
      fs.mkdirSync(mnt);
      for (let i = 0; i < Math.max(runs, 5); i++) {
        const t = performance.now();
        const m = sh("squashfuse", [image, mnt]);
        if (!m.ok) throw new Error(`squashfuse failed: ${m.stderr}`);
        const c = sh("sh", ["-c", `cat "${mnt}/${one}" > /dev/null`]);
        sh("fusermount3", ["-u", mnt]);
        if (!c.ok) throw new Error(`cat failed: ${c.stderr}`);
        fuseMs.push(performance.now() - t);
      }
      rows.push(
        `| read one ${mb(oneSize)} file (open+read+close, in process) | ${
          median(readMs).toFixed(1)
        } ms | squashfuse mount+cat+unmount ${median(fuseMs).toFixed(1)} ms | ${
          ratio(median(readMs), median(fuseMs))
        } | < 1x |`,
      );
    } else {
      rows.push(
        `| read one ${mb(oneSize)} file (in process) | ${
          median(readMs).toFixed(1)
        } ms | squashfuse not installed | - | < 1x |`,
      );
    }
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
  return rows.join("\n");
}

if (import.meta.main) {
  const rows = await runSquashfsBench(Deno.args[0] ? { source: Deno.args[0] } : {});
  console.log(`${SQUASHFS_BENCH_HEADER}\n${rows}`);
}
