/**
 * Hostile and damaged images: each is written by our writer with uncompressed
 * metadata (so names, headers and inodes sit in the file as plain bytes) and
 * then patched. Extraction must refuse cleanly, write nothing outside its
 * target, and never hang.
 */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import { FormatError } from "../errors.ts";
import { makeTree } from "../fixtures/make_tree.ts";
import { SquashfsImage, writeSquashfs } from "../format/squashfs/mod.ts";
import { tempDir } from "./_squashfs_helpers.ts";

const work = await tempDir("pbundle-sqfs-hostile-");
globalThis.addEventListener("unload", () => void work[Symbol.asyncDispose]());
let counter = 0;
const fresh = (name: string) => `${work.path}/${name}-${counter++}`;
const enc = new TextEncoder();

type Spec = Record<string, string | { link: string } | { dir: true }>;

/** Writes a tree from `spec` and packs it with uncompressed metadata; returns the image path and bytes. */
async function craft(
  spec: Spec,
  compressMetadata = false,
): Promise<{ path: string; bytes: Uint8Array }> {
  const src = fresh("src");
  fs.mkdirSync(src);
  for (const [name, what] of Object.entries(spec)) {
    const p = `${src}/${name}`;
    fs.mkdirSync(p.slice(0, p.lastIndexOf("/")), { recursive: true });
    if (typeof what === "string") fs.writeFileSync(p, what);
    else if ("link" in what) fs.symlinkSync(what.link, p);
    else fs.mkdirSync(p, { recursive: true });
  }
  const path = fresh("img");
  await writeSquashfs(src, path, { compressMetadata, workers: 0 });
  return { path, bytes: new Uint8Array(fs.readFileSync(path)) };
}

function view(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

const DIR_TABLE_START = 72;
const INODE_TABLE_START = 64;

/** Finds `needle` once in the directory table; returns its position. */
function findInDirTable(bytes: Uint8Array, needle: string): number {
  const from = Number(view(bytes).getBigUint64(DIR_TABLE_START, true));
  const n = enc.encode(needle);
  for (let i = from; i + n.length <= bytes.length; i++) {
    if (n.every((b, k) => bytes[i + k] === b)) return i;
  }
  throw new Error(`${needle} not found`);
}

function save(bytes: Uint8Array): string {
  const path = fresh("bad");
  fs.writeFileSync(path, bytes);
  return path;
}

async function extractRejects(
  path: string,
  pattern: RegExp,
  dest = fresh("out"),
  options: { workers?: number } = {},
): Promise<string> {
  const img = await SquashfsImage.open(path);
  try {
    await assert.rejects(img.extract(dest, options), (e: unknown) => {
      assert.ok(e instanceof FormatError, `expected FormatError, got ${e}`);
      assert.match(e.message, pattern);
      return true;
    });
  } finally {
    await img.close();
  }
  return dest;
}

for (
  const [from, to] of <[string, string][]> [
    ["AAAAAAAAAAAAAAAAA", "../../escaped.txt"],
    ["BBBBBBBBBBBBBBBBBBBBBBBB", "/tmp/pbundle-escaped.txt"],
    ["CC", ".."],
    ["D", "."],
  ]
) {
  Deno.test(`SquashfsImage.extract() refuses an entry named "${to}"`, async () => {
    const { bytes } = await craft({ [`sub/${from}`]: "evil\n" });
    bytes.set(enc.encode(to), findInDirTable(bytes, from));
    const dest = fresh("out");
    await extractRejects(save(bytes), /not a single path component/, dest);
    assert.ok(!fs.existsSync(`${work.path}/escaped.txt`));
    assert.ok(!fs.existsSync(`${dest}/../escaped.txt`));
    assert.ok(!fs.existsSync("/tmp/pbundle-escaped.txt"));
  });
}

Deno.test("SquashfsImage.extract() refuses a directory entry repeated to shadow a symlink", async () => {
  const outside = fresh("outside");
  fs.mkdirSync(outside);
  const { bytes } = await craft({ a: { link: outside }, "b/payload": "evil\n" });
  // Rename directory "b" to "a": the listing now names "a" twice.
  const at = findInDirTable(bytes, "payload"); // make sure the tree is what we think
  assert.ok(at > 0);
  const from = Number(view(bytes).getBigUint64(DIR_TABLE_START, true));
  let patched = false;
  for (let i = from; i < bytes.length - 1; i++) {
    // entry: u16 offset, s16 delta, u16 type=1 (dir), u16 size=0, name "b"
    if (bytes[i] === 0x62 && bytes[i - 2] === 0 && bytes[i - 1] === 0 && bytes[i - 4] === 1) {
      bytes[i] = 0x61;
      patched = true;
      break;
    }
  }
  assert.ok(patched);
  await extractRejects(save(bytes), /out of order or repeated/);
  assert.deepEqual(fs.readdirSync(outside), []);
});

Deno.test("SquashfsImage.extract() replaces a symlink in the target instead of following it", async () => {
  const outside = fresh("outside");
  fs.mkdirSync(outside);
  const { path } = await craft({ "usr/bin/tool": "tool\n" }, true);
  const dest = fresh("out");
  fs.mkdirSync(dest);
  fs.symlinkSync(outside, `${dest}/usr`);
  const img = await SquashfsImage.open(path);
  try {
    await img.extract(dest);
  } finally {
    await img.close();
  }
  assert.deepEqual(fs.readdirSync(outside), []);
  assert.ok(fs.lstatSync(`${dest}/usr`).isDirectory());
  assert.equal(fs.readFileSync(`${dest}/usr/bin/tool`, "utf8"), "tool\n");
});

Deno.test("SquashfsImage.extract() keeps symlinks pointing outside as links and never writes through them", async () => {
  const outside = fresh("outside");
  fs.mkdirSync(outside);
  const { path } = await craft(
    { "escape": { link: outside }, "abs": { link: "/etc/passwd" } },
    true,
  );
  const dest = fresh("out");
  const img = await SquashfsImage.open(path);
  try {
    await img.extract(dest);
  } finally {
    await img.close();
  }
  assert.equal(fs.readlinkSync(`${dest}/escape`), outside);
  assert.equal(fs.readlinkSync(`${dest}/abs`), "/etc/passwd");
  assert.deepEqual(fs.readdirSync(outside), []);
});

Deno.test("SquashfsImage.extract() skips fifos and device nodes with a warning unless asked as root", async () => {
  const src = fresh("src");
  const made = await makeTree(src, {
    specials: true,
    nonUtf8: false,
    xattrs: false,
    largeSize: 10,
  });
  const image = fresh("img");
  await writeSquashfs(src, image);
  const img = await SquashfsImage.open(image);
  try {
    const warnings: string[] = [];
    const dest = fresh("out");
    await img.extract(dest, { onWarning: (m) => warnings.push(m) });
    assert.ok(!fs.existsSync(`${dest}/fifo`));
    assert.ok(warnings.some((w) => /fifo "fifo"/.test(w)));
    if (made.kinds.includes("chardev")) {
      assert.ok(!fs.existsSync(`${dest}/chardev`));
      assert.ok(warnings.some((w) => /chardev "chardev"/.test(w)));
      const st = await img.stat("chardev");
      assert.deepEqual(st.rdev, { major: 1, minor: 3 });
    }
    if (Deno.uid() === 0) {
      const dest2 = fresh("out");
      await img.extract(dest2, { allowDevices: true });
      assert.ok(fs.lstatSync(`${dest2}/fifo`).isFIFO());
      if (made.kinds.includes("chardev")) {
        assert.ok(fs.lstatSync(`${dest2}/chardev`).isCharacterDevice());
      }
    }
  } finally {
    await img.close();
  }
});

Deno.test("SquashfsImage refuses a directory that contains its own ancestor", async () => {
  const { bytes } = await craft({ "loop/SUBDIRX": { dir: true } });
  const root = view(bytes).getBigUint64(32, true);
  const name = findInDirTable(bytes, "SUBDIRX");
  // The only entry of "loop": header (12 bytes) then entry (8 bytes) then the name.
  const v = view(bytes);
  v.setUint32(name - 8 - 12 + 4, Number(root >> 16n), true);
  v.setUint16(name - 8, Number(root & 0xffffn), true);
  const path = save(bytes);
  await extractRejects(path, /directory loop/);
  const img = await SquashfsImage.open(path);
  try {
    await assert.rejects(async () => {
      for await (const _ of img.list()) { /* walk */ }
    }, /directory loop/);
  } finally {
    await img.close();
  }
});

Deno.test("SquashfsImage refuses a directory claiming 2^32 entries", async () => {
  const { bytes } = await craft({ "d/ONLYENTRY": "x" });
  const name = findInDirTable(bytes, "ONLYENTRY");
  view(bytes).setUint32(name - 8 - 12, 0xffffffff, true);
  await extractRejects(save(bytes), /claims 4294967296 entries, at most 256/);
});

Deno.test("SquashfsImage refuses a file larger than the image could hold", async () => {
  const { bytes } = await craft({ "f.txt": "y".repeat(123457) });
  const v = view(bytes);
  const from = Number(v.getBigUint64(INODE_TABLE_START, true));
  const to = Number(v.getBigUint64(DIR_TABLE_START, true));
  let at = -1;
  for (let i = from; i < to - 4; i++) if (v.getUint32(i, true) === 123457) at = i;
  assert.ok(at > 0);
  v.setUint32(at, 0xfffffff0, true);
  const path = save(bytes);
  await extractRejects(path, /more than the inode table can hold/);
  const img = await SquashfsImage.open(path);
  try {
    await assert.rejects(img.readFile("f.txt"), FormatError);
  } finally {
    await img.close();
  }
});

Deno.test("SquashfsImage names the file whose data block is corrupt", async () => {
  const text = "corrupt me please ".repeat(20000);
  const { bytes } = await craft({ "docs/big.txt": text }, true);
  // The first data block follows the 96-byte superblock: break its zstd magic.
  bytes.set([0xde, 0xad, 0xbe, 0xef], 96);
  const path = save(bytes);
  await extractRejects(path, /"docs\/big\.txt": block 0 is corrupt/);
  await extractRejects(path, /"docs\/big\.txt": block 0 is corrupt/, fresh("out"), { workers: 2 });
  const img = await SquashfsImage.open(path);
  try {
    await assert.rejects(img.readFile("docs/big.txt"), /docs\/big\.txt/);
  } finally {
    await img.close();
  }
});

Deno.test("SquashfsImage names the file whose fragment is corrupt", async () => {
  const { bytes } = await craft({ "small.txt": "tiny tiny tiny tiny tiny tiny tiny tiny\n" }, true);
  bytes.set([0xde, 0xad, 0xbe, 0xef], 96);
  const path = save(bytes);
  await extractRejects(path, /"small\.txt": fragment 0 is corrupt/, fresh("out"), { workers: 1 });
  const img = await SquashfsImage.open(path);
  try {
    await assert.rejects(img.readFile("small.txt"), /"small\.txt": fragment 0 is corrupt/);
  } finally {
    await img.close();
  }
});

Deno.test("SquashfsImage.open() rejects a bad magic, a truncated image and a bad block size", async () => {
  const { bytes } = await craft({ "a.txt": "a" }, true);
  const cases: [Uint8Array, RegExp][] = [];
  const badMagic = bytes.slice();
  badMagic.set([0, 0, 0, 0], 0);
  cases.push([badMagic, /magic is 0x00000000, expected 0x73717368 \(at byte 0x0\)/]);
  cases.push([bytes.slice(0, 200), /truncated/]);
  const badBlock = bytes.slice();
  view(badBlock).setUint32(12, 3000, true);
  cases.push([badBlock, /block size 3000/]);
  cases.push([bytes.slice(0, 50), /only 50 bytes, expected 96/]);
  for (const [image, pattern] of cases) {
    await assert.rejects(SquashfsImage.open(save(image)), (e: unknown) => {
      assert.ok(e instanceof FormatError);
      assert.match(e.message, pattern);
      return true;
    });
  }
});

Deno.test("SquashfsImage refuses an inode reference outside the inode table", async () => {
  const { bytes } = await craft({ "a.txt": "a" }, true);
  view(bytes).setBigUint64(32, 0x7fff_0000_0000n, true);
  const img = await SquashfsImage.open(save(bytes));
  try {
    await assert.rejects(img.readFile("a.txt"), /outside the inode table/);
  } finally {
    await img.close();
  }
});
