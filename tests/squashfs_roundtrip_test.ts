import assert from "node:assert/strict";
import * as fs from "node:fs";
import { FormatError } from "../errors.ts";
import { makeTree } from "../fixtures/make_tree.ts";
import { SquashfsImage, writeSquashfs } from "../format/squashfs/mod.ts";
import { haveTools, manifest, run, runOk, tempDir } from "./_squashfs_helpers.ts";

const work = await tempDir("pbundle-sqfs-rt-");
globalThis.addEventListener("unload", () => void work[Symbol.asyncDispose]());
const src = `${work.path}/src`;
const made = await makeTree(src);
const expected = manifest(src);
console.log(`makeTree made: ${made.kinds.join(", ")}`);
if (made.skipped.length > 0) console.warn(`makeTree skipped: ${made.skipped.join("; ")}`);

let counter = 0;
function fresh(name: string): string {
  return `${work.path}/${name}-${counter++}`;
}

const configs = [
  { compression: "zstd", blockSize: 131072 },
  { compression: "gzip", blockSize: 131072 },
  { compression: "zstd", blockSize: 1048576 },
  { compression: "zstd", blockSize: 4096, level: 3 },
  { compression: "gzip", blockSize: 65536, level: 6 },
] as const;

for (const config of configs) {
  Deno.test(`writeSquashfs() image extracted by unsquashfs equals the source (${JSON.stringify(config)})`, async () => {
    if (!haveTools("unsquashfs round trip", "unsquashfs")) return;
    const image = fresh("img");
    await writeSquashfs(src, image, config);
    const out = fresh("out");
    runOk("unsquashfs", ["-q", "-n", "-d", out, image]);
    assert.equal(manifest(out), expected);
  });
}

for (const workers of [undefined, 0, 1, 2]) {
  Deno.test(`SquashfsImage extracts our own image equal to the source (workers: ${workers})`, async () => {
    const image = fresh("img");
    await writeSquashfs(src, image, { blockSize: 4096, level: 3 });
    const out = fresh("out");
    const img = await SquashfsImage.open(image);
    try {
      await img.extract(out, workers === undefined ? {} : { workers });
    } finally {
      await img.close();
    }
    assert.equal(manifest(out), expected);
  });
}

Deno.test("SquashfsImage.extract() with workers replaces files and links in the way", async () => {
  const image = fresh("img");
  await writeSquashfs(src, image, { compression: "gzip", blockSize: 4096 });
  const out = fresh("out");
  const outside = fresh("outside");
  fs.writeFileSync(outside, "keep");
  fs.mkdirSync(out);
  fs.writeFileSync(`${out}/large.bin`, "old contents, longer than nothing");
  fs.symlinkSync(outside, `${out}/AppRun`);
  const img = await SquashfsImage.open(image);
  try {
    await img.extract(out, { workers: 2 });
  } finally {
    await img.close();
  }
  assert.equal(fs.readFileSync(outside, "utf8"), "keep");
  assert.equal(manifest(out), expected);
});

for (const comp of ["zstd", "gzip", "lz4", "xz"]) {
  Deno.test(`SquashfsImage extracts a mksquashfs ${comp} image equal to the source`, async () => {
    if (!haveTools("mksquashfs round trip", "mksquashfs")) return;
    const image = fresh("ms");
    runOk("mksquashfs", [src, image, "-comp", comp, "-noappend", "-quiet", "-no-progress"]);
    const out = fresh("out");
    const img = await SquashfsImage.open(image);
    try {
      await img.extract(out, { workers: 2 });
      if (made.kinds.includes("xattr")) {
        const st = await img.stat("usr/bin/tool");
        assert.equal(new TextDecoder().decode(st.xattrs?.["user.pbundle.test"]), "yes");
      }
    } finally {
      await img.close();
    }
    assert.equal(manifest(out), expected);
  });
}

for (const comp of ["lzo"]) {
  Deno.test(`SquashfsImage.open() names the missing ${comp} decompressor`, async () => {
    if (!haveTools(`mksquashfs ${comp}`, "mksquashfs")) return;
    const image = fresh("ms");
    runOk("mksquashfs", [
      `${src}/usr/bin`,
      image,
      "-comp",
      comp,
      "-noappend",
      "-quiet",
      "-no-progress",
    ]);
    await assert.rejects(SquashfsImage.open(image), (e: unknown) => {
      assert.ok(e instanceof FormatError);
      assert.match(e.message, new RegExp(`compressed with ${comp}`));
      return true;
    });
  });
}

/** mksquashfs `dir` into a fresh image with xz and the extra options. */
function mksquashfsXz(dir: string, ...options: string[]): string {
  const image = fresh("xz");
  runOk("mksquashfs", [
    dir,
    image,
    "-comp",
    "xz",
    ...options,
    "-noappend",
    "-quiet",
    "-no-progress",
  ]);
  return image;
}

Deno.test("SquashfsImage lists, stats and reads files of a mksquashfs xz image", async () => {
  if (!haveTools("mksquashfs xz", "mksquashfs")) return;
  const img = await SquashfsImage.open(mksquashfsXz(src));
  try {
    const paths: string[] = [];
    for await (const entry of img.list()) paths.push(entry.path);
    const found = new TextDecoder("latin1").decode(
      runOk("find", [".", "-mindepth", "1"], { cwd: src }),
    );
    assert.equal(paths.length, found.trim().split("\n").length);
    const st = await img.stat("usr/bin/tool");
    assert.equal(st.type, "file");
    assert.equal(st.mode & 0o777, fs.statSync(`${src}/usr/bin/tool`).mode & 0o777);
    assert.deepEqual(
      await img.readFile("large.bin"),
      new Uint8Array(fs.readFileSync(`${src}/large.bin`)),
    );
    assert.deepEqual(
      await img.readFile("usr/bin/tool"),
      new Uint8Array(fs.readFileSync(`${src}/usr/bin/tool`)),
    );
  } finally {
    await img.close();
  }
});

Deno.test("SquashfsImage names the file whose xz block is corrupt", async () => {
  if (!haveTools("mksquashfs xz", "mksquashfs")) return;
  const dir = fresh("xzsrc");
  fs.mkdirSync(dir);
  fs.writeFileSync(`${dir}/big.txt`, "corrupt me please ".repeat(20000));
  const image = mksquashfsXz(dir);
  // The first data block follows the 96-byte superblock: damage its middle.
  const bytes = fs.readFileSync(image);
  for (let i = 0; i < 16; i++) bytes[96 + 40 + i]! ^= 0x5a;
  fs.writeFileSync(image, bytes);
  for (const workers of [0, 2]) {
    const img = await SquashfsImage.open(image);
    try {
      await assert.rejects(img.extract(fresh("out"), { workers }), (e: unknown) => {
        assert.ok(e instanceof FormatError);
        assert.match(e.message, /"big\.txt": block 0 is corrupt: xz block/);
        return true;
      });
      await assert.rejects(img.readFile("big.txt"), (e: unknown) => {
        assert.ok(e instanceof FormatError);
        assert.match(e.message, /"big\.txt": block 0 is corrupt/);
        return true;
      });
    } finally {
      await img.close();
    }
  }
});

Deno.test("SquashfsImage names the BCJ filter of a mksquashfs -Xbcj x86 image it cannot decode", async () => {
  if (!haveTools("mksquashfs xz", "mksquashfs")) return;
  // x86 calls (E8 rel32) to one address: the x86 filter makes them alike, so
  // mksquashfs keeps the filtered block whatever the host's CPU.
  const dir = fresh("bcjsrc");
  fs.mkdirSync(dir);
  const calls = new Uint8Array(5 * 40000);
  const v = new DataView(calls.buffer);
  for (let at = 0; at < calls.length; at += 5) {
    calls[at] = 0xe8;
    v.setInt32(at + 1, 0x4000 - (at + 5), true);
  }
  fs.writeFileSync(`${dir}/calls.bin`, calls);
  fs.writeFileSync(`${dir}/readme.txt`, "plain text\n");
  const img = await SquashfsImage.open(mksquashfsXz(dir, "-Xbcj", "x86", "-no-fragments"));
  try {
    assert.equal(new TextDecoder().decode(await img.readFile("readme.txt")), "plain text\n");
    await assert.rejects(img.extract(fresh("out")), (e: unknown) => {
      assert.ok(e instanceof FormatError);
      assert.match(e.message, /"calls\.bin": block 0 is corrupt: xz block uses the x86 BCJ filter/);
      return true;
    });
  } finally {
    await img.close();
  }
});

Deno.test("writeSquashfs() is reproducible and reports the image's SHA-256", async () => {
  const a = fresh("img");
  const b = fresh("img");
  const ra = await writeSquashfs(src, a, { workers: 2 });
  const rb = await writeSquashfs(src, b, { workers: 1 });
  assert.equal(ra.sha256, rb.sha256);
  assert.equal(ra.size, fs.statSync(a).size);
  assert.equal(ra.size % 4096, 0);
  const digest = await crypto.subtle.digest("SHA-256", fs.readFileSync(a));
  assert.equal(
    ra.sha256,
    [...new Uint8Array(digest)].map((x) => x.toString(16).padStart(2, "0")).join(""),
  );
  assert.deepEqual(fs.readFileSync(a), fs.readFileSync(b));
});

Deno.test("SquashfsImage lists, stats and reads files of an image inside a bundle", async () => {
  const image = fresh("img");
  await writeSquashfs(src, image, { mtime: 1700000000 });
  const bundle = fresh("bundle");
  const junk = new Uint8Array(12345).fill(0x7f);
  fs.writeFileSync(bundle, junk);
  fs.appendFileSync(bundle, fs.readFileSync(image));
  const img = await SquashfsImage.open(bundle, junk.length);
  try {
    const entries = new Map<
      string,
      { type: string; mode: number; target?: string; mtime: number; nlink: number }
    >();
    for await (const e of img.list()) entries.set(e.path, e);
    assert.equal(entries.get("AppRun")?.mode, 0o755);
    assert.equal(entries.get("usr/bin/setuid-tool")?.mode, 0o4755);
    assert.equal(entries.get("usr/tool-link")?.target, "bin/tool");
    assert.equal(entries.get("abs-link")?.target, "/usr/bin/env");
    assert.equal(entries.get("empty-dir")?.type, "dir");
    assert.equal(entries.get("usr/hard-2.txt")?.nlink, 3);
    assert.ok([...entries.values()].every((e) => e.mtime === 1700000000));
    const st = await img.stat("usr/tool-link");
    assert.equal(st.type, "symlink");
    assert.deepEqual(
      await img.readFile("usr/tool-link"),
      new Uint8Array(fs.readFileSync(`${src}/usr/bin/tool`)),
    );
    assert.deepEqual(
      await img.readFile("/large.bin"),
      new Uint8Array(fs.readFileSync(`${src}/large.bin`)),
    );
    assert.deepEqual(
      await img.readFile("sparse.img"),
      new Uint8Array(fs.readFileSync(`${src}/sparse.img`)),
    );
    assert.deepEqual(await img.readFile("empty-file"), new Uint8Array(0));
    if (made.kinds.includes("xattr")) {
      const tool = await img.stat("usr/bin/tool");
      assert.equal(new TextDecoder().decode(tool.xattrs?.["user.pbundle.test"]), "yes");
      const usr = await img.stat("usr");
      assert.equal(new TextDecoder().decode(usr.xattrs?.["user.pbundle.dir"]), "dir");
    }
    await assert.rejects(img.readFile("nope"), /no such file/);
    await assert.rejects(img.readFile("usr"), /not a file/);
    // readDir lists one directory: the same entries list() gives for it, and no deeper ones.
    const usr = (await img.readDir("usr")).map((e) => e.path);
    assert.deepEqual(
      usr,
      [...entries.keys()].filter((p) => /^usr\/[^/]+$/.test(p)).sort(),
    );
    assert.ok(usr.includes("usr/bin") && !usr.includes("usr/bin/tool"));
    assert.ok((await img.readDir("")).some((e) => e.path === "AppRun"));
    await assert.rejects(img.readDir("AppRun"), /not a directory/);
  } finally {
    await img.close();
  }
});

Deno.test("SquashfsImage.extract() takes glob patterns", async () => {
  const image = fresh("img");
  await writeSquashfs(src, image);
  const out = fresh("out");
  const img = await SquashfsImage.open(image);
  try {
    await img.extract(out, { patterns: ["usr/bin/**", "*.txt"] });
  } finally {
    await img.close();
  }
  assert.ok(fs.existsSync(`${out}/usr/bin/tool`));
  assert.ok(fs.lstatSync(`${out}/usr/bin/apprun-link`).isSymbolicLink());
  assert.ok(fs.existsSync(`${out}/dup-a.txt`));
  assert.ok(!fs.existsSync(`${out}/usr/lib`));
  assert.ok(!fs.existsSync(`${out}/large.bin`));
  assert.equal(fs.statSync(`${out}/usr/bin/tool`).mode & 0o7777, 0o755);
});

Deno.test("writeSquashfs() keeps extended attributes that unsquashfs restores", async () => {
  if (!made.kinds.includes("xattr")) {
    console.warn(
      `SKIPPED xattr round trip: ${
        made.skipped.find((x) => x.startsWith("xattr")) ?? "no xattrs in the tree"
      }`,
    );
    return;
  }
  if (!haveTools("xattr round trip", "unsquashfs", "python3")) return;
  const image = fresh("img");
  await writeSquashfs(src, image);
  const out = fresh("out");
  runOk("unsquashfs", ["-q", "-n", "-d", out, image]);
  const got = runOk("python3", [
    "-c",
    `import os; print(os.getxattr('${out}/usr/bin/tool', 'user.pbundle.test').decode(), os.getxattr('${out}/usr', 'user.pbundle.dir').decode())`,
  ]);
  assert.equal(new TextDecoder().decode(got).trim(), "yes dir");
});

Deno.test("squashfuse mounts our image at an offset inside a bundle", async () => {
  if (!haveTools("squashfuse mount", "squashfuse", "fusermount3")) return;
  const image = fresh("img");
  await writeSquashfs(src, image);
  const bundle = fresh("bundle");
  const junk = new Uint8Array(98765).fill(0xee);
  fs.writeFileSync(bundle, junk);
  fs.appendFileSync(bundle, fs.readFileSync(image));
  const mnt = fresh("mnt");
  fs.mkdirSync(mnt);
  runOk("squashfuse", ["-o", `offset=${junk.length}`, bundle, mnt]);
  try {
    assert.equal(manifest(mnt), expected);
  } finally {
    run("fusermount3", ["-u", mnt]);
  }
});

Deno.test("the Linux kernel mounts our image at an offset inside a bundle", async () => {
  if (!haveTools("kernel loop mount", "mount", "umount")) return;
  if (run("test", ["-e", "/dev/loop-control"]).code !== 0) {
    console.warn("SKIPPED kernel loop mount: no loop devices here (/dev/loop-control is missing)");
    return;
  }
  const image = fresh("img");
  await writeSquashfs(src, image, { compression: "gzip" });
  const bundle = fresh("bundle");
  const junk = new Uint8Array(4096 * 3 + 17).fill(0x11);
  fs.writeFileSync(bundle, junk);
  fs.appendFileSync(bundle, fs.readFileSync(image));
  const mnt = fresh("mnt");
  fs.mkdirSync(mnt);
  const sudo = Deno.uid() === 0 ? [] : ["sudo", "-n"];
  const [cmd, ...pre] = [...sudo, "mount"];
  const r = run(cmd!, [
    ...pre,
    "-t",
    "squashfs",
    "-o",
    `loop,ro,offset=${junk.length}`,
    bundle,
    mnt,
  ]);
  if (r.code !== 0) {
    if (
      /loop device|loop:|No such device/i.test(r.stderr) && !/permission|only root/i.test(r.stderr)
    ) {
      console.warn(`SKIPPED kernel loop mount: loop devices are unavailable: ${r.stderr.trim()}`);
      return;
    }
    throw new Error(`mount failed: ${r.stderr}`);
  }
  try {
    assert.equal(manifest(mnt), expected);
  } finally {
    run(sudo.length ? "sudo" : "umount", sudo.length ? ["-n", "umount", mnt] : [mnt]);
  }
});

Deno.test("SquashfsImage.extract() restores the mtimes of files, directories and symlinks", async () => {
  const image = fresh("img");
  await writeSquashfs(src, image, { mtime: 1700000000 });
  const out = fresh("out");
  const img = await SquashfsImage.open(image);
  try {
    await img.extract(out);
  } finally {
    await img.close();
  }
  for (const path of ["AppRun", "usr", "usr/tool-link", "abs-link"]) {
    assert.equal(fs.lstatSync(`${out}/${path}`).mtimeMs, 1700000000 * 1000, path);
  }
});
