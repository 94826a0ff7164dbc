/**
 * Hostile images through the runtime, not only through the reader: bundles
 * whose squashfs image holds an entry named with ../ components, an entry
 * with an absolute name, and a directory entry repeated to shadow a symlink
 * that points outside (so that a naive extractor would write through the
 * link). Each image is written by our writer with uncompressed metadata and
 * patched (as tests/squashfs_hostile_test.ts does), then assembled into a
 * bundle with the node-engine runtime and a runtime info whose Hash is the
 * patched image's, so the integrity check passes and the extraction itself
 * meets the hostile entry. In extract mode (random and cached work dirs) and
 * with --pbundle_extract and --appimage-extract (and in extract mode through
 * unsquashfs, the fallback reader), the run must fail with one
 * clear line and the runtime's status, write nothing at the path the entry
 * aims at, and leave no work directory, cache temporary or TMPDIR entry
 * behind.
 */

import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { chmod, mkdir, mkdtemp, readFile, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { assembleBundle } from "../format/bundle.ts";
import { encodeRuntimeInfo, FORMAT_VERSION, RUNTIME_INFO_SECTION } from "../format/runtime_info.ts";
import { writeSquashfs } from "../format/squashfs/mod.ts";
import { listTree, runBundleProcess, testRuntime } from "./_runtime_helper.ts";
import { haveTools } from "./_squashfs_helpers.ts";

const ID = "hostile-20260101-pbundle";
const enc = new TextEncoder();
/** Where the superblock keeps the directory table's start (squashfs 4.0 superblock). */
const DIR_TABLE_START = 72;

/** A test area: the hostile bundle's source, the bundle, and the sentinels outside. */
interface Area {
  root: string;
  tmp: string;
  cache: string;
  home: string;
  env: Record<string, string>;
}

async function makeArea(): Promise<Area> {
  const root = await mkdtemp(join(tmpdir(), "pbundle-rt-hostile-"));
  const area = {
    root,
    tmp: join(root, "tmp"),
    cache: join(root, "cache"),
    home: join(root, "home"),
  };
  for (const d of [area.tmp, area.cache, area.home]) await mkdir(d);
  return {
    ...area,
    env: {
      PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin",
      HOME: area.home,
      TMPDIR: area.tmp,
      XDG_CACHE_HOME: area.cache,
      LANG: "C.UTF-8",
    },
  };
}

type Spec = Record<string, string | { link: string }>;

/** Writes the tree and its image with uncompressed metadata; returns the image bytes. */
async function craft(area: Area, spec: Spec): Promise<Uint8Array> {
  const src = join(area.root, "src");
  await mkdir(src);
  for (const [name, what] of Object.entries(spec)) {
    const p = join(src, name);
    await mkdir(join(p, ".."), { recursive: true });
    if (typeof what === "string") await writeFile(p, what);
    else await symlink(what.link, p);
  }
  await chmod(join(src, "AppRun"), 0o755);
  const image = join(area.root, "image");
  await writeSquashfs(src, image, { compressMetadata: false, workers: 0 });
  const bytes = new Uint8Array(await readFile(image));
  await rm(src, { recursive: true });
  await rm(image);
  return bytes;
}

/** Finds `needle` in the directory table; returns its position. */
function findInDirTable(bytes: Uint8Array, needle: string, from?: number): number {
  const start = from ??
    Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(DIR_TABLE_START, true));
  const n = enc.encode(needle);
  for (let i = start; i + n.length <= bytes.length; i++) {
    if (n.every((b, k) => bytes[i + k] === b)) return i;
  }
  throw new Error(`${needle} not found in the directory table`);
}

/** Assembles a bundle around `image` with the test runtime; its Hash is the image's. */
async function assemble(
  area: Area,
  image: Uint8Array,
  options: { runBehavior: 1; fixed: boolean },
): Promise<string> {
  const imagePath = join(area.root, "hostile.sqfs");
  await writeFile(imagePath, image);
  const bundle = join(area.root, "hostile.AppBundle");
  await assembleBundle({
    runtime: await testRuntime(),
    sections: [{
      name: RUNTIME_INFO_SECTION,
      data: encodeRuntimeInfo({
        AppBundleID: ID,
        PelfVersion: FORMAT_VERSION,
        HostInfo: "test",
        FilesystemType: "squashfs",
        Hash: createHash("sha256").update(image).digest("hex"),
        DisableRandomWorkDir: options.fixed,
        MountOrExtract: options.runBehavior,
      }),
    }],
    image: imagePath,
    output: bundle,
  });
  await rm(imagePath);
  return bundle;
}

/** A hostile image: how to make it, the path its entry aims at, and what the refusal says. */
interface Case {
  name: string;
  make(area: Area): Promise<{ image: Uint8Array; target: string }>;
  refusal: RegExp;
}

const APPRUN = "#!/bin/sh\necho should never run\n";

const CASES: Case[] = [
  {
    name: "an entry named ../../…/escaped-rel.txt",
    async make(area) {
      // Enough ../ to climb to / from any extraction directory, then down to the sentinel.
      const target = join(area.root, "escaped-rel.txt");
      const hostile = "../".repeat(32) + target.slice(1);
      const stand = "A".repeat(hostile.length);
      const image = await craft(area, { AppRun: APPRUN, [`sub/${stand}`]: "evil\n" });
      image.set(enc.encode(hostile), findInDirTable(image, stand));
      return { image, target };
    },
    refusal: /: entry name "(\.\.\/){32}[^"]*\/escaped-rel\.txt" is not a single path component\n$/,
  },
  {
    name: "an entry with an absolute name",
    async make(area) {
      const target = join(area.root, "escaped-abs.txt");
      const stand = "B".repeat(target.length);
      const image = await craft(area, { AppRun: APPRUN, [`sub/${stand}`]: "evil\n" });
      image.set(enc.encode(target), findInDirTable(image, stand));
      return { image, target };
    },
    refusal: /: entry name "\/[^"]*\/escaped-abs\.txt" is not a single path component\n$/,
  },
  {
    name: "a directory entry repeated to shadow a symlink that points outside",
    async make(area) {
      // "q" is a symlink to the sentinel directory; directory "r" holds the
      // payload. Renaming "r" to "q" makes the listing name "q" twice: an
      // extractor that made the link first and then wrote "q/payload" would
      // write through it.
      const outside = join(area.root, "outside");
      await mkdir(outside);
      const image = await craft(area, {
        AppRun: APPRUN,
        q: { link: outside },
        "r/payload": "evil\n",
      });
      let at = -1;
      // The root's listing (AppRun, q, r) holds the entry of directory "r":
      // u16 type 1 (dir), u16 size 0 (name length 1), then the name.
      const from = findInDirTable(image, "AppRun");
      for (let i = from; i < image.length && at < 0; i++) {
        if (image[i] === 0x72 && image[i - 1] === 0 && image[i - 2] === 0 && image[i - 4] === 1) {
          at = i;
        }
      }
      assert.ok(at > 0, "the directory entry of r");
      image[at] = 0x71;
      return { image, target: join(outside, "payload") };
    },
    refusal:
      /: Cannot read directory "\/" in squashfs image: entry "q" is out of order or repeated\n$/,
  },
];

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/** What must hold after every hostile run: nothing at the target, nothing left behind. */
function assertNothingWritten(area: Area, target: string, label: string): void {
  assert.throws(() => Deno.lstatSync(target), Deno.errors.NotFound, `${label}: ${target} exists`);
  assert.deepEqual(listTree(area.tmp), [], `${label}: left in TMPDIR`);
}

for (const c of CASES) {
  Deno.test(`a bundle whose image has ${c.name} refuses to extract it in every way and writes nothing outside`, async () => {
    const area = await makeArea();
    try {
      const { image, target } = await c.make(area);
      // Extract mode with a random work dir, then with the cache.
      for (const fixed of [false, true]) {
        const bundle = await assemble(area, image, { runBehavior: 1, fixed });
        const r = await runBundleProcess(bundle, ["x"], { env: area.env, cwd: area.home });
        const label = fixed ? "cached extract mode" : "extract mode";
        assert.equal(r.code, 127, `${label}: ${r.stderr}`);
        assert.equal(r.stdout, "");
        const into = fixed
          ? `the cache "${escape(join(area.cache, "pbundle", "apps", ID))}"`
          : `"${escape(join(area.tmp, ".pbundles", ID))}_[0-9a-z]+"`;
        assert.match(
          r.stderr,
          new RegExp(
            `^pbundle runtime: Cannot extract "${escape(bundle)}" into ${into}: [^\n]*\n$`,
          ),
        );
        assert.match(r.stderr, c.refusal);
        assertNothingWritten(area, target, label);
        if (fixed) {
          // No extraction, complete or temporary, is left in the cache to be trusted.
          const apps = join(area.cache, "pbundle", "apps", ID);
          assert.deepEqual(listTree(apps), [], `${label}: ${listTree(apps).join(", ")}`);
        }
      }
      // The extraction flags: the directory the run made is removed again.
      const bundle = await assemble(area, image, { runBehavior: 1, fixed: false });
      // Extract mode through unsquashfs (the runtime's reader where the native
      // one cannot open an image) refuses too, and writes nothing outside.
      if (haveTools("hostile image through unsquashfs", "unsquashfs")) {
        const r = await runBundleProcess(bundle, ["x"], {
          env: { ...area.env, PBUNDLE_EXTRACT_WITH: "unsquashfs" },
          cwd: area.home,
        });
        assert.equal(r.code, 127, r.stderr);
        assert.equal(r.stdout, "");
        assert.match(
          r.stderr,
          new RegExp(
            `^pbundle runtime: Cannot extract the image into "${
              escape(join(area.tmp, ".pbundles", ID))
            }_[0-9a-z]+/app": unsquashfs says FATAL ERROR: [^\n]*\n$`,
          ),
        );
        assertNothingWritten(area, target, "unsquashfs");
      }
      const flags = [
        ["--pbundle_extract", `${ID.replace(/-/g, "")}_squashfs`],
        ["--appimage-extract", "squashfs-root"],
      ] as const;
      for (const [flag, dir] of flags) {
        const r = await runBundleProcess(bundle, [flag], { env: area.env, cwd: area.home });
        assert.equal(r.code, 1, `${flag}: ${r.stderr}`);
        assert.equal(r.stdout, "");
        assert.match(
          r.stderr,
          new RegExp(
            `^pbundle runtime: Cannot extract into "${escape(join(area.home, dir))}": [^\n]*\n$`,
          ),
        );
        assert.match(r.stderr, c.refusal);
        assertNothingWritten(area, target, flag);
        assert.deepEqual(listTree(area.home), [], `${flag}: left behind`);
      }
      // Into a squashfs-root that was already there: it is left, with what it held.
      await mkdir(join(area.home, "squashfs-root"));
      await writeFile(join(area.home, "squashfs-root", "mine"), "kept");
      const r = await runBundleProcess(bundle, ["--appimage-extract"], {
        env: area.env,
        cwd: area.home,
      });
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stderr, c.refusal);
      assertNothingWritten(area, target, "--appimage-extract over a tree");
      assert.equal(await readFile(join(area.home, "squashfs-root", "mine"), "utf8"), "kept");
      assert.deepEqual(
        listTree(area.home).filter((p) => !p.startsWith("squashfs-root/") && p !== "squashfs-root"),
        [],
      );
    } finally {
      await rm(area.root, { recursive: true, force: true });
    }
  });
}
