/**
 * End-to-end tests of integrity and failure: a flipped image byte is refused,
 * truncated bundles and a bundle without runtime info get clear errors, FUSE
 * being unavailable falls back (modes 2, 3) or explains itself (mode 0), and
 * extraction never writes outside its directory.
 */

import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { lstat, mkdir, readFile, readlink, truncate, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { readBundle } from "../format/bundle.ts";
import {
  areaEnv,
  fuseWorks,
  listTree,
  mountsUnder,
  runBundleProcess,
  type TestArea,
  withBundle,
} from "./_runtime_helper.ts";

const FILES = {
  AppRun: '#!/bin/sh\necho "ok $*"\n',
  "data.bin": "0123456789".repeat(2000),
};

async function flipImageByte(area: TestArea): Promise<void> {
  const info = await readBundle(area.bundle);
  const bytes = await readFile(area.bundle);
  const at = info.imageOffset + Math.floor(info.imageSize / 2);
  bytes[at] = bytes[at]! ^ 0x01;
  await writeFile(area.bundle, bytes);
}

for (
  const [mode, runBehavior, fixed] of [["mount", 0, false], ["extract", 1, false], [
    "cached extract",
    1,
    true,
  ]] as const
) {
  Deno.test({
    name: `a flipped byte in the image is refused (${mode} mode), even after a good run`,
    ignore: mode === "mount" && !fuseWorks(),
    async fn() {
      await withBundle({ files: FILES, runBehavior, disableRandomWorkDir: fixed }, async (area) => {
        let r = await runBundleProcess(area.bundle, [], { env: areaEnv(area) });
        assert.equal(r.stdout, "ok \n", r.stderr);
        await flipImageByte(area);
        r = await runBundleProcess(area.bundle, [], { env: areaEnv(area) });
        if (fixed) {
          // The runtime info's hash names the good extraction, which was
          // completed and verified when made: it is trusted, so the good app
          // runs from it and the flipped bytes are never read.
          assert.equal(r.code, 0, r.stderr);
          assert.equal(r.stdout, "ok \n");
          assert.equal(r.stderr, "");
          // Without that cache, the damaged bundle is refused before its
          // image is first used, and nothing is cached from it.
          const fresh = areaEnv(area, { XDG_CACHE_HOME: join(area.root, "fresh-cache") });
          r = await runBundleProcess(area.bundle, [], { env: fresh });
          assert.equal(r.code, 127);
          assert.match(r.stderr, /its image does not match the hash in its runtime info/);
          assert.equal(r.stdout, "");
          assert.deepEqual(
            listTree(join(area.root, "fresh-cache", "pbundle", "apps")).filter((p) =>
              p.includes("/")
            ),
            [],
          );
        } else {
          assert.equal(r.code, 127);
          assert.match(r.stderr, /its image does not match the hash in its runtime info/);
          assert.equal(r.stdout, "");
        }
        r = await runBundleProcess(area.bundle, ["--pbundle_verify"], { env: areaEnv(area) });
        assert.equal(r.code, 1);
        assert.match(r.stderr, /does not match the hash/);
        assert.deepEqual(listTree(area.tmp), []);
      });
    },
  });
}

Deno.test("a truncated bundle gets a clear error", async () => {
  await withBundle({ files: FILES, runBehavior: 1 }, async (area) => {
    const info = await readBundle(area.bundle);
    const cuts: [number, RegExp][] = [
      [info.imageOffset + 100, /truncated/],
      [info.imageOffset, /truncated/],
      [info.imageOffset - 10, /truncated|past the end/],
      // (A file cut inside the engine's own code cannot start at all: the
      // kernel refuses it before any runtime code runs.)
    ];
    // Cut in the image's padding: the superblock is whole, the hash catches it.
    await truncate(area.bundle, info.fileSize - 1);
    const padded = await runBundleProcess(area.bundle, [], { env: areaEnv(area) });
    assert.equal(padded.code, 127);
    assert.match(padded.stderr, /damaged, truncated or modified/);
    for (const [size, message] of cuts) {
      await truncate(area.bundle, size);
      const r = await runBundleProcess(area.bundle, [], { env: areaEnv(area) });
      assert.equal(r.code, 127, `cut at ${size}`);
      assert.match(r.stderr, /^pbundle runtime: Cannot read the bundle/);
      assert.match(r.stderr, message);
      assert.equal(r.stderr.split("\n").length, 2, r.stderr); // one line
    }
  });
});

Deno.test("a bundle whose runtime info section was removed gets a clear error", async () => {
  await withBundle({ files: FILES, runBehavior: 1 }, async (area) => {
    const bytes = await readFile(area.bundle);
    const name = new TextEncoder().encode(".pbundle_runtime_info\0");
    const at = Buffer.from(bytes).lastIndexOf(Buffer.from(name));
    assert.ok(at > 0);
    bytes[at + 1] = "x".charCodeAt(0); // ".xbundle_runtime_info": the section is gone
    await writeFile(area.bundle, bytes);
    const r = await runBundleProcess(area.bundle, [], { env: areaEnv(area) });
    assert.equal(r.code, 127);
    assert.match(r.stderr, /has no \.pbundle_runtime_info section/);
  });
});

Deno.test("without FUSE: mode 0 says what is missing and how to run anyway; modes 2 and 3 extract with one line", async () => {
  const emptyPath = await Deno.makeTempDir();
  try {
    for (const mode of [0, 2, 3] as const) {
      await withBundle({ files: FILES, runBehavior: mode, noStaticTools: true }, async (area) => {
        const env = areaEnv(area, { PATH: emptyPath });
        const r = await runBundleProcess(area.bundle, ["x"], { env });
        if (mode === 0) {
          assert.equal(r.code, 127);
          assert.match(r.stderr, /Cannot mount the image .*squashfuse is not installed/);
          assert.match(r.stderr, /--pbundle_extract_and_run/);
          const anyway = await runBundleProcess(area.bundle, ["--pbundle_extract_and_run", "x"], {
            env,
          });
          assert.equal(anyway.stdout, "ok x\n", anyway.stderr);
        } else {
          assert.equal(r.code, 0, r.stderr);
          assert.equal(r.stdout, "ok x\n");
          assert.equal(r.stderr.trim().split("\n").length, 1);
          assert.match(r.stderr, /extracting instead/);
        }
        assert.deepEqual(listTree(area.tmp), []);
      });
    }
  } finally {
    await Deno.remove(emptyPath, { recursive: true });
  }
});

const isRoot = Deno.uid() === 0;

/**
 * Runs a bundle in a mount namespace of its own whose /dev is a fresh tmpfs
 * holding only null, zero, full, random and urandom: /dev/fuse is missing for
 * it alone.
 */
async function runWithoutDevFuse(area: TestArea, args: string[], env: Record<string, string>) {
  const saved = join(area.root, "saved-dev");
  await mkdir(saved, { recursive: true });
  const script = `set -e
mount --bind /dev "$0"
mount -t tmpfs -o size=64k,mode=755 tmpfs /dev
for d in null zero full random urandom; do : > "/dev/$d"; mount --bind "$0/$d" "/dev/$d"; done
test ! -e /dev/fuse
exec "$@"`;
  const out = await new Deno.Command("unshare", {
    args: ["-m", "--propagation", "private", "/bin/sh", "-c", script, saved, area.bundle, ...args],
    env,
    clearEnv: true,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  return {
    code: out.code,
    stdout: new TextDecoder().decode(out.stdout),
    stderr: new TextDecoder().decode(out.stderr),
  };
}

Deno.test({
  name:
    "without /dev/fuse: modes 2 and 3 extract with one line on stderr; mode 0 says /dev/fuse is missing",
  ignore: !isRoot, // a mount namespace needs CAP_SYS_ADMIN
  async fn() {
    for (const mode of [0, 2, 3] as const) {
      await withBundle({ files: FILES, runBehavior: mode }, async (area) => {
        const r = await runWithoutDevFuse(area, ["x"], areaEnv(area));
        if (mode === 0) {
          assert.equal(r.code, 127);
          assert.equal(r.stdout, "");
          assert.equal(
            r.stderr,
            `pbundle runtime: Cannot mount the image of "${area.bundle}": /dev/fuse is missing ` +
              `or not accessible; install fuse3 and squashfuse, or run it anyway with ` +
              `--pbundle_extract_and_run (or APPIMAGE_EXTRACT_AND_RUN=1)\n`,
          );
          const anyway = await runWithoutDevFuse(
            area,
            ["--pbundle_extract_and_run", "x"],
            areaEnv(area),
          );
          assert.equal(anyway.code, 0, anyway.stderr);
          assert.equal(anyway.stdout, "ok x\n");
        } else {
          assert.equal(r.code, 0, r.stderr);
          assert.equal(r.stdout, "ok x\n");
          assert.equal(
            r.stderr,
            "pbundle runtime: /dev/fuse is missing or not accessible; extracting instead\n",
          );
        }
        assert.deepEqual(listTree(area.tmp), []);
      });
    }
  },
});

Deno.test("when the mount fails (a squashfuse that exits 1): modes 2 and 3 extract with one line; mode 0 fails saying why", async () => {
  const fake = await Deno.makeTempDir();
  try {
    const log = join(fake, "calls.log");
    await writeFile(
      join(fake, "squashfuse"),
      `#!/bin/sh\nprintf '%s\\n' "$*" >> '${log}'\n` +
        `echo "fuse: device not found, try 'modprobe fuse' first" >&2\nexit 1\n`,
      { mode: 0o755 },
    );
    for (const mode of [0, 2, 3] as const) {
      await writeFile(log, "");
      // No tools section: the squashfuse on PATH is the one the runtime runs.
      await withBundle({ files: FILES, runBehavior: mode, noStaticTools: true }, async (area) => {
        const env = areaEnv(area, { PATH: `${fake}:${Deno.env.get("PATH") ?? "/usr/bin:/bin"}` });
        const r = await runBundleProcess(area.bundle, ["x"], { env });
        const offset = (await readBundle(area.bundle)).imageOffset;
        assert.match(
          await readFile(log, "utf8"),
          new RegExp(`-o offset=${offset} ${area.bundle} `),
        );
        const why = `mounting failed: ${join(fake, "squashfuse")} failed: ` +
          `fuse: device not found, try 'modprobe fuse' first`;
        if (mode === 0) {
          assert.equal(r.code, 127);
          assert.equal(r.stdout, "");
          assert.equal(
            r.stderr,
            `pbundle runtime: Cannot mount the image of "${area.bundle}": ${why}; install fuse3 ` +
              `and squashfuse, or run it anyway with --pbundle_extract_and_run ` +
              `(or APPIMAGE_EXTRACT_AND_RUN=1)\n`,
          );
        } else {
          assert.equal(r.code, 0, r.stderr);
          assert.equal(r.stdout, "ok x\n");
          assert.equal(r.stderr, `pbundle runtime: ${why}; extracting instead\n`);
        }
        assert.deepEqual(await mountsUnder(area.tmp), []);
        assert.deepEqual(listTree(area.tmp), []);
      });
    }
  } finally {
    await Deno.remove(fake, { recursive: true });
  }
});

Deno.test("extraction keeps symlinks that point outside as links and writes nothing outside", async () => {
  const outside = await Deno.makeTempDir();
  const files = {
    AppRun: "#!/bin/sh\n",
    "abs-link": { symlink: outside },
    "rel-link": { symlink: "../../../../../../../tmp" },
    "dir/file": "inside",
  };
  try {
    await withBundle({ files, runBehavior: 1 }, async (area) => {
      const cwd = join(area.root, "x");
      await mkdir(cwd);
      const r = await runBundleProcess(area.bundle, ["--appimage-extract"], {
        env: areaEnv(area),
        cwd,
      });
      assert.equal(r.code, 0, r.stderr);
      const root = join(cwd, "squashfs-root");
      assert.ok((await lstat(join(root, "abs-link"))).isSymbolicLink());
      assert.equal(await readlink(join(root, "abs-link")), outside);
      assert.ok((await lstat(join(root, "rel-link"))).isSymbolicLink());
      assert.deepEqual(listTree(outside), []);
      // Extracting again over the existing tree still does not follow the links.
      const again = await runBundleProcess(area.bundle, ["--appimage-extract"], {
        env: areaEnv(area),
        cwd,
      });
      assert.equal(again.code, 0, again.stderr);
      assert.deepEqual(listTree(outside), []);
    });
  } finally {
    await Deno.remove(outside, { recursive: true });
  }
});
