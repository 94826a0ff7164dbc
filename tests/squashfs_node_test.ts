/**
 * The squashfs reader as the node-engine runtime runs it: bundled for Node and
 * run by the pinned Node 24, whose zstd blocks decode through Node's zlib
 * binding rather than node:zlib. Its bytes and its errors must be those of
 * the reader under Deno (node:zlib), on real images and damaged ones.
 */
import assert from "node:assert/strict";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { SquashfsImage } from "../format/squashfs/squashfs_image.ts";
import { writeSquashfs } from "../format/squashfs/write_squashfs.ts";
import { NODE_PACKAGES, pinnedFile } from "../runtime/build/_node_toolchain.ts";
import { hostTarget } from "../runtime/build/make_node_sea.ts";
import { userCacheDir } from "../runtime/user_cache_dir.ts";
import { pseudoRandomBytes, withTempDir } from "./_helpers.ts";
import { haveTools, runOk } from "./_squashfs_helpers.ts";
import { imageFileHashes } from "./_image_file_hashes.ts";

interface DriverOutput<T> {
  bindings: string[];
  result: T;
}

async function driver<T>(dir: string, args: string[]): Promise<DriverOutput<T>> {
  const script = join(dir, "driver.cjs");
  try {
    await Deno.stat(script);
  } catch {
    runOk(Deno.execPath(), [
      "bundle",
      "--quiet",
      "--platform",
      "node",
      "--format",
      "cjs",
      "--config",
      new URL("../deno.json", import.meta.url).pathname,
      "-o",
      script,
      new URL("./_node_reader_driver.ts", import.meta.url).pathname,
    ]);
  }
  const node = await pinnedFile(NODE_PACKAGES[hostTarget()], userCacheDir());
  const out = await new Deno.Command(node, {
    args: [script, ...args],
    stdout: "piped",
    stderr: "piped",
    env: { NODE_OPTIONS: "" },
    signal: AbortSignal.timeout(30_000),
  }).output();
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
  return JSON.parse(new TextDecoder().decode(out.stdout));
}

async function makeTree(src: string): Promise<void> {
  await mkdir(join(src, "usr/share/applications"), { recursive: true });
  await writeFile(join(src, ".DirIcon"), pseudoRandomBytes(70, 1));
  await writeFile(join(src, "usr/share/applications/a.desktop"), "[Desktop Entry]\nName=a\n");
  await writeFile(join(src, "big"), pseudoRandomBytes(300_000, 2));
  await writeFile(join(src, "text"), "squashfs ".repeat(40_000));
  for (let i = 0; i < 300; i++) await writeFile(join(src, `f${i}`), `file ${i}\n`.repeat(i));
}

Deno.test("the zstd decoder through Node's zlib binding agrees with node:zlib, whole and damaged", async () => {
  await withTempDir(async (dir) => {
    const { bindings, result } = await driver<{ cases: number; differ: string[] }>(dir, [
      "blocks",
    ]);
    assert.deepEqual(bindings, ["zlib"]);
    assert.ok(result.cases > 500);
    assert.deepEqual(result.differ, []);
  });
});

Deno.test("the reader under the pinned Node reads images and damaged images as under Deno", async () => {
  await withTempDir(async (dir) => {
    const src = join(dir, "src");
    await makeTree(src);
    const images = [join(dir, "ours.sqfs")];
    await writeSquashfs(src, images[0]!, { blockSize: 131072 });
    if (haveTools("mksquashfs zstd image under Node", "mksquashfs")) {
      images.push(join(dir, "mksquashfs.sqfs"));
      runOk("mksquashfs", [
        src,
        images[1]!,
        "-comp",
        "zstd",
        "-noappend",
        "-quiet",
        "-no-progress",
      ]);
    }
    for (const image of images) {
      const expected = await imageFileHashes(image);
      assert.equal(Object.keys(expected).length, 304);
      const whole = await driver<Record<string, string>>(dir, ["files", image]);
      assert.deepEqual(whole.bindings, ["zlib"]);
      assert.deepEqual(whole.result, expected);
      // Damage the tables and fragments (after the file data), one byte at a time.
      const bytes = await Deno.readFile(image);
      const sb = (await SquashfsImage.open(image)).superblock;
      const from = sb.inodeTableStart - 2048;
      for (let n = 0; n < 12; n++) {
        const bad = bytes.slice();
        const at = from + Math.floor((bad.length - from) * n / 12) + 5;
        bad[at] = bad[at]! ^ 0x5a;
        const damaged = join(dir, `damaged-${n}.sqfs`);
        await Deno.writeFile(damaged, bad);
        const got = await driver<Record<string, string>>(dir, ["files", damaged]);
        assert.deepEqual(got.result, await imageFileHashes(damaged), `${image} damaged at ${at}`);
      }
    }
  });
});
