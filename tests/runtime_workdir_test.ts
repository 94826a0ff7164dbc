/**
 * End-to-end tests of work directories: concurrent first launches of an
 * extract-mode bundle, a fixed mount shared and counted by instance files,
 * stale work dirs after SIGKILL, killed extractions never used, a noexec
 * $TMPDIR, bundles on read-only media, and unwritable or full cache dirs.
 */

import assert from "node:assert/strict";
import { mkdir, readdir, readFile, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import {
  areaEnv,
  fuseWorks,
  listTree,
  mountsUnder,
  runBundleProcess,
  withBundle,
} from "./_runtime_helper.ts";

const APPRUN = `#!/bin/sh
case "$1" in
  sleep) echo "ready $$"; exec sleep 30 ;;
  appdir) echo "$APPDIR" ;;
  *) echo "hello from $(cat "$APPDIR/data.txt")" ;;
esac
`;
const FILES = { AppRun: APPRUN, "data.txt": "the image", "sub/dir/file": "x" };
const isRoot = Deno.uid() === 0;

async function waitReady(
  child: Deno.ChildProcess,
): Promise<{ pid: number; reader: ReadableStreamDefaultReader<Uint8Array> }> {
  const reader = child.stdout.getReader();
  let out = "";
  while (!/ready \d+/.test(out)) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`the app never got ready: ${out}`);
    out += new TextDecoder().decode(value);
  }
  return { pid: Number(/ready (\d+)/.exec(out)![1]), reader };
}

function spawnBundle(bundle: string, args: string[], env: Record<string, string>) {
  return new Deno.Command(bundle, { args, env, clearEnv: true, stdout: "piped", stderr: "piped" })
    .spawn();
}

/** Starts the bundle's app, then kills the runtime and the orphaned app with SIGKILL: no cleanup runs. */
async function killedRun(bundle: string, env: Record<string, string>): Promise<void> {
  const child = spawnBundle(bundle, ["sleep"], env);
  const { pid, reader } = await waitReady(child);
  child.kill("SIGKILL");
  await child.status;
  Deno.kill(pid, "SIGKILL"); // the orphaned app
  await reader.cancel();
  await child.stderr.cancel();
}

async function run(cmd: string, args: string[]) {
  const out = await new Deno.Command(cmd, { args, stdout: "null", stderr: "piped" }).output();
  if (!out.success) {
    throw new Error(`${cmd} ${args.join(" ")}: ${new TextDecoder().decode(out.stderr)}`);
  }
}

Deno.test("20 concurrent first launches of an extract-mode bundle all succeed with the same output", async () => {
  await withBundle({ files: FILES, runBehavior: 1, disableRandomWorkDir: true }, async (area) => {
    const runs = await Promise.all(
      Array.from({ length: 20 }, () => runBundleProcess(area.bundle, [], { env: areaEnv(area) })),
    );
    for (const r of runs) {
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout, "hello from the image\n");
    }
    const apps = join(area.cache, "pbundle", "apps", "testapp-20260101-pbundle");
    const entries = await readdir(apps);
    assert.equal(entries.length, 1, entries.join(", ")); // one extraction, no temporaries left
    assert.deepEqual(listTree(area.tmp), []);
    // The next launch uses the cache and extracts nothing: a file added to the
    // cached tree survives (a new extraction renames a fresh tree into place),
    // and the extracted file keeps its inode and mtime.
    const root = join(apps, entries[0]!, "root");
    await writeFile(join(root, "probe"), "left by the test");
    const before = await stat(join(root, "data.txt"));
    const r = await runBundleProcess(area.bundle, ["appdir"], { env: areaEnv(area) });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), root);
    assert.equal(await readFile(join(root, "probe"), "utf8"), "left by the test");
    const after = await stat(join(root, "data.txt"));
    assert.equal(after.ino, before.ino);
    assert.equal(after.mtimeMs, before.mtimeMs);
    assert.deepEqual(await readdir(apps), entries);
    // 20 concurrent random-dir extractions too.
    await withBundle({ files: FILES, runBehavior: 1 }, async (random) => {
      const all = await Promise.all(
        Array.from(
          { length: 20 },
          () => runBundleProcess(random.bundle, [], { env: areaEnv(random) }),
        ),
      );
      for (const one of all) assert.equal(one.stdout, "hello from the image\n", one.stderr);
      assert.deepEqual(listTree(random.tmp), []);
    });
  });
});

Deno.test("a killed or unmarked extraction in the cache is never used", async () => {
  await withBundle({ files: FILES, runBehavior: 1, disableRandomWorkDir: true }, async (area) => {
    let r = await runBundleProcess(area.bundle, ["appdir"], { env: areaEnv(area) });
    const root = r.stdout.trim();
    const final = join(root, "..");
    const apps = join(final, "..");
    // Forge what a killed extraction leaves: a temporary dir of a dead process,
    // and a final dir without its completion marker holding wrong content.
    await mkdir(join(apps, ".tmp-0123456789abcdef-999999-1", "root"), { recursive: true });
    await run("rm", ["-rf", final]);
    await mkdir(join(final, "root"), { recursive: true });
    await writeFile(join(final, "root", "AppRun"), "#!/bin/sh\necho forged\n", { mode: 0o755 });
    r = await runBundleProcess(area.bundle, [], { env: areaEnv(area) });
    assert.equal(r.stdout, "hello from the image\n", r.stderr);
    assert.deepEqual((await readdir(apps)).filter((n) => n.startsWith(".")), []);
  });
});

Deno.test({
  name: "a fixed mount is shared by concurrent instances and unmounted when the last one exits",
  ignore: !fuseWorks(),
  async fn() {
    await withBundle({ files: FILES, runBehavior: 0, disableRandomWorkDir: true }, async (area) => {
      const env = areaEnv(area);
      const a = spawnBundle(area.bundle, ["sleep"], env);
      const ra = await waitReady(a);
      const b = spawnBundle(area.bundle, ["sleep"], env);
      const rb = await waitReady(b);
      assert.equal((await mountsUnder(area.tmp)).length, 1);
      Deno.kill(ra.pid, "SIGTERM"); // A's app ends: B still uses the mount
      assert.equal((await a.status).code, 143);
      assert.equal((await mountsUnder(area.tmp)).length, 1);
      const r = await runBundleProcess(area.bundle, [], { env });
      assert.equal(r.stdout, "hello from the image\n");
      assert.equal((await mountsUnder(area.tmp)).length, 1);
      Deno.kill(rb.pid, "SIGTERM");
      assert.equal((await b.status).code, 143);
      await ra.reader.cancel();
      await rb.reader.cancel();
      await a.stderr.cancel();
      await b.stderr.cancel();
      assert.deepEqual(await mountsUnder(area.tmp), []);
      assert.deepEqual(listTree(area.tmp), []);
    });
  },
});

for (const fixed of [false, true]) {
  Deno.test({
    name: `a work dir left by a runtime killed with SIGKILL is cleaned by the next launch (${
      fixed ? "fixed" : "random"
    } mount) and by --pbundle_cleanup`,
    ignore: !fuseWorks(),
    async fn() {
      await withBundle(
        { files: FILES, runBehavior: 0, disableRandomWorkDir: fixed },
        async (area) => {
          const env = areaEnv(area);
          for (const cleaner of [[], ["--pbundle_cleanup"]]) {
            await killedRun(area.bundle, env);
            assert.equal((await mountsUnder(area.tmp)).length, 1);
            assert.notDeepEqual(listTree(area.tmp), []);
            const r = await runBundleProcess(area.bundle, cleaner.length ? cleaner : ["appdir"], {
              env,
            });
            assert.equal(r.code, 0, r.stderr);
            if (cleaner.length) assert.match(r.stdout, /removed /);
            assert.deepEqual(await mountsUnder(area.tmp), []);
            assert.deepEqual(listTree(area.tmp), []);
          }
        },
      );
    },
  });
}

Deno.test("a runtime killed with SIGKILL in extract mode leaves a random work dir that the next launch and --pbundle_cleanup remove", async () => {
  await withBundle({ files: FILES, runBehavior: 1 }, async (area) => {
    const env = areaEnv(area);
    const root = join(area.tmp, ".pbundles");
    for (const cleaner of [["appdir"], ["--pbundle_cleanup"]]) {
      await killedRun(area.bundle, env);
      // The killed run's extraction is still there, with its dead owner.
      const left = await readdir(root);
      assert.equal(left.length, 1, left.join(", "));
      assert.match(left[0]!, /^testapp-20260101-pbundle_/);
      assert.equal(await readFile(join(root, left[0]!, "app", "data.txt"), "utf8"), "the image");
      const r = await runBundleProcess(area.bundle, cleaner, { env });
      assert.equal(r.code, 0, r.stderr);
      if (cleaner[0] === "--pbundle_cleanup") {
        assert.match(r.stdout, new RegExp(`removed .*${left[0]}`));
      } else {
        // The next launch ran in a directory of its own and removed both.
        assert.match(r.stdout, new RegExp(`^${root}/testapp-20260101-pbundle_`));
        assert.ok(!r.stdout.includes(left[0]!), r.stdout);
      }
      assert.deepEqual(listTree(area.tmp), []);
    }
  });
});

for (const mode of ["mount", "extract"] as const) {
  Deno.test({
    name: `the random work dir of ${
      mode === "mount" ? "a mount" : "an extract"
    }-mode run has mode 0700, inside a root of mode 0700`,
    ignore: mode === "mount" && !fuseWorks(),
    async fn() {
      await withBundle({ files: FILES, runBehavior: mode === "mount" ? 0 : 1 }, async (area) => {
        // A umask that would leave directories open to everyone must not matter.
        const child = new Deno.Command("/bin/sh", {
          args: ["-c", 'umask 000; exec "$0" sleep', area.bundle],
          env: areaEnv(area),
          clearEnv: true,
          stdout: "piped",
          stderr: "piped",
        }).spawn();
        const { pid, reader } = await waitReady(child);
        try {
          const root = join(area.tmp, ".pbundles");
          const [name, ...others] = await readdir(root);
          assert.deepEqual(others, []);
          assert.equal((await stat(root)).mode! & 0o777, 0o700);
          assert.equal((await stat(join(root, name!))).mode! & 0o777, 0o700);
        } finally {
          Deno.kill(pid, "SIGTERM");
          await child.status;
          await reader.cancel();
          await child.stderr.cancel();
        }
        assert.deepEqual(listTree(area.tmp), []);
      });
    },
  });
}

Deno.test({
  name: "with $TMPDIR mounted noexec, an extract-mode bundle works from an exec-allowed dir",
  ignore: !isRoot,
  async fn() {
    await withBundle({ files: FILES, runBehavior: 1 }, async (area) => {
      await run("mount", ["-t", "tmpfs", "-o", "noexec,size=16m", "tmpfs", area.tmp]);
      try {
        const r = await runBundleProcess(area.bundle, ["appdir"], { env: areaEnv(area) });
        assert.equal(r.code, 0, r.stderr);
        assert.ok(r.stdout.startsWith(join(area.cache, "pbundle", "work")), r.stdout);
        const again = await runBundleProcess(area.bundle, [], { env: areaEnv(area) });
        assert.equal(again.stdout, "hello from the image\n");
        assert.deepEqual(listTree(area.tmp), []);
      } finally {
        await run("umount", [area.tmp]);
      }
    });
  },
});

Deno.test({
  name: "a bundle on read-only media runs in every mode and nothing is written beside it",
  ignore: !isRoot,
  async fn() {
    await withBundle({ files: FILES, runBehavior: 1, disableRandomWorkDir: true }, async (area) => {
      const media = join(area.root, "media");
      await mkdir(media);
      await run("mount", ["-t", "tmpfs", "-o", "size=300m", "tmpfs", media]);
      try {
        await run("cp", [area.bundle, join(media, "app.AppBundle")]);
        await run("mount", ["-o", "remount,ro", media]);
        const bundle = join(media, "app.AppBundle");
        for (
          const args of [[], ["--pbundle_extract_and_run"], ["--pbundle_pngIcon"], [
            "--pbundle_verify",
          ]]
        ) {
          const r = await runBundleProcess(bundle, args, { env: areaEnv(area) });
          assert.ok(r.code === 0 || args[0] === "--pbundle_pngIcon", `${args}: ${r.stderr}`);
        }
        assert.deepEqual(await readdir(media), ["app.AppBundle"]);
      } finally {
        await run("umount", [media]);
      }
    });
  },
});

Deno.test({
  name: "a read-only or full cache directory gives a clear error for a cached extraction",
  ignore: !isRoot,
  async fn() {
    await withBundle({
      files: { ...FILES, "big.bin": "x".repeat(200_000) },
      runBehavior: 1,
      disableRandomWorkDir: true,
    }, async (area) => {
      await run("mount", ["-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", area.cache]);
      try {
        const r = await runBundleProcess(area.bundle, [], { env: areaEnv(area) });
        assert.equal(r.code, 127);
        assert.match(r.stderr, /Cannot .* cache .*read-only file system \(EROFS\)/);
      } finally {
        await run("umount", [area.cache]);
      }
      await run("mount", ["-t", "tmpfs", "-o", "size=64k", "tmpfs", area.cache]);
      try {
        const r = await runBundleProcess(area.bundle, [], { env: areaEnv(area) });
        assert.equal(r.code, 127);
        assert.equal(r.stdout, "");
        assert.equal(
          r.stderr,
          `pbundle runtime: Cannot extract "${area.bundle}" into the cache "${
            join(area.cache, "pbundle", "apps", "testapp-20260101-pbundle")
          }": no space left on the device (ENOSPC) on the filesystem mounted at "${area.cache}"; ` +
            `free some space or set XDG_CACHE_HOME to a writable directory\n`,
        );
        // Nothing half-written is left to be trusted: no extraction, no temporary.
        assert.deepEqual(
          listTree(join(area.cache, "pbundle", "apps")).filter((p) => p.includes("/")),
          [],
        );
      } finally {
        await run("umount", [area.cache]);
      }
    });
  },
});
