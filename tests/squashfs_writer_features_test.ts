/**
 * The writer's space savers, checked from outside: small files and tails share
 * fragment blocks (`unsquashfs -s` counts them), a file whose content another
 * file has is stored once (the image grows by metadata only), and all-zero
 * blocks are stored as holes (unsquashfs and our reader extract them as holes,
 * which `stat %b` shows as unallocated).
 */

import assert from "node:assert/strict";
import * as fs from "node:fs";
import { pseudoRandomBytes } from "../fixtures/pseudo_random.ts";
import { SquashfsImage, writeSquashfs } from "../format/squashfs/mod.ts";
import { haveTools, runOk, tempDir } from "./_squashfs_helpers.ts";

const BLOCK = 131072;

/** `unsquashfs -s` of an image, as text. */
function summary(image: string): string {
  return new TextDecoder().decode(runOk("unsquashfs", ["-s", image]));
}

/** The count `unsquashfs -s` reports on the line "Number of <what> N". */
function count(image: string, what: string): number {
  const m = new RegExp(`^Number of ${what} (\\d+)$`, "m").exec(summary(image));
  assert.ok(m, `unsquashfs -s printed no "Number of ${what}"`);
  return Number(m[1]);
}

/** 512-byte blocks allocated to a file, as `stat %b` reports them. */
function allocatedBlocks(path: string): number {
  return Number(new TextDecoder().decode(runOk("stat", ["-c", "%b", path])).trim());
}

Deno.test("writeSquashfs() packs 200 small files into one shared fragment block", async () => {
  if (!haveTools("fragments", "unsquashfs")) return;
  await using work = await tempDir("pbundle-sqfs-frag-");
  const src = `${work.path}/src`;
  fs.mkdirSync(src);
  // 200 distinct 500-byte files: 100,000 bytes, less than one 128 KiB block.
  for (let i = 0; i < 200; i++) {
    fs.writeFileSync(`${src}/f${String(i).padStart(3, "0")}`, pseudoRandomBytes(500, i + 1));
  }
  const image = `${work.path}/img`;
  await writeSquashfs(src, image, { blockSize: BLOCK });
  assert.equal(count(image, "fragments"), 1);
  // Without fragments each file would take a block of its own: 200 blocks of
  // incompressible data, no smaller than the data itself.
  assert.ok(fs.statSync(image).size < 100_000 + 16_384, `${fs.statSync(image).size} bytes`);
  const out = `${work.path}/out`;
  runOk("unsquashfs", ["-q", "-n", "-d", out, image]);
  for (const i of [0, 99, 199]) {
    const name = `f${String(i).padStart(3, "0")}`;
    assert.deepEqual(fs.readFileSync(`${out}/${name}`), fs.readFileSync(`${src}/${name}`));
  }
});

Deno.test("writeSquashfs() stores a file's tail in a fragment and its full blocks as blocks", async () => {
  if (!haveTools("fragments", "unsquashfs")) return;
  await using work = await tempDir("pbundle-sqfs-tail-");
  const src = `${work.path}/src`;
  fs.mkdirSync(src);
  const data = pseudoRandomBytes(2 * BLOCK + 7000, 9);
  fs.writeFileSync(`${src}/tailed.bin`, data);
  const image = `${work.path}/img`;
  await writeSquashfs(src, image, { blockSize: BLOCK });
  assert.equal(count(image, "fragments"), 1);
  const img = await SquashfsImage.open(image);
  try {
    assert.deepEqual(await img.readFile("tailed.bin"), data);
  } finally {
    await img.close();
  }
});

Deno.test("writeSquashfs() stores duplicate files once", async () => {
  if (!haveTools("duplicates", "unsquashfs")) return;
  await using work = await tempDir("pbundle-sqfs-dup-");
  const content = pseudoRandomBytes(1_048_576 + 3000, 5);
  const one = `${work.path}/one`;
  const three = `${work.path}/three`;
  fs.mkdirSync(one);
  fs.mkdirSync(`${three}/sub`, { recursive: true });
  fs.writeFileSync(`${one}/a.bin`, content);
  for (const name of ["a.bin", "copy.bin", "sub/again.bin"]) {
    fs.writeFileSync(`${three}/${name}`, content);
  }
  // Same size, different content: must not be taken for a duplicate.
  const other = Uint8Array.from(content);
  other[500_000] = other[500_000]! ^ 1;
  fs.writeFileSync(`${three}/other.bin`, other);
  const imageOne = `${work.path}/one.img`;
  const imageThree = `${work.path}/three.img`;
  await writeSquashfs(one, imageOne);
  await writeSquashfs(three, imageThree);
  const growth = fs.statSync(imageThree).size - fs.statSync(imageOne).size;
  // Two more copies cost metadata only; "other" costs its eight full blocks
  // (its tail shares the fragment block, and the image is padded to 4 KiB).
  assert.ok(growth >= 8 * BLOCK, `grew by ${growth}: other.bin must be stored`);
  assert.ok(growth < content.length + 16_384, `grew by ${growth}: the copies were stored again`);
  const out = `${work.path}/out`;
  runOk("unsquashfs", ["-q", "-n", "-d", out, imageThree]);
  for (const name of ["a.bin", "copy.bin", "sub/again.bin"]) {
    assert.deepEqual(fs.readFileSync(`${out}/${name}`), Buffer.from(content));
  }
  assert.deepEqual(fs.readFileSync(`${out}/other.bin`), Buffer.from(other));
  // Duplicates are separate files, not hard links.
  assert.equal(fs.statSync(`${out}/copy.bin`).nlink, 1);
});

Deno.test("writeSquashfs() stores all-zero blocks as holes that unsquashfs and our reader keep sparse", async () => {
  if (!haveTools("sparse blocks", "unsquashfs", "stat")) return;
  await using work = await tempDir("pbundle-sqfs-sparse-");
  const src = `${work.path}/src`;
  fs.mkdirSync(src);
  // 16 zero blocks (2 MiB), one block of data, 16 zero blocks, a short tail.
  const size = 33 * BLOCK + 100;
  const data = new Uint8Array(size);
  data.set(pseudoRandomBytes(BLOCK, 3), 16 * BLOCK);
  data.set(pseudoRandomBytes(100, 4), 33 * BLOCK);
  fs.writeFileSync(`${src}/sparse.bin`, data);
  const image = `${work.path}/img`;
  await writeSquashfs(src, image, { blockSize: BLOCK });
  // Holes cost nothing: one block of random data and the tail, plus metadata.
  assert.ok(fs.statSync(image).size < BLOCK + 8192, `${fs.statSync(image).size} bytes`);

  const byTool = `${work.path}/unsquashfs`;
  runOk("unsquashfs", ["-q", "-n", "-d", byTool, image]);
  const ours = `${work.path}/ours`;
  const img = await SquashfsImage.open(image);
  try {
    await img.extract(ours);
  } finally {
    await img.close();
  }
  for (const dir of [byTool, ours]) {
    const file = `${dir}/sparse.bin`;
    assert.deepEqual(fs.readFileSync(file), Buffer.from(data));
    // 4.2 MiB long, but only the data block (256 sectors of 512 bytes) and the
    // tail are allocated; a writer that stored the zero blocks as data would
    // have unsquashfs write all 8,450 sectors.
    const sectors = allocatedBlocks(file);
    assert.ok(sectors < 600, `${file}: ${sectors} sectors allocated, expected holes`);
  }
});
