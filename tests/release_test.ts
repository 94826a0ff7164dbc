/**
 * The self-packed pbundle (what `deno task release` makes without a denort):
 * built for this machine, then run with a PATH that holds no deno and a fresh
 * HOME and cache, it packs examples/hello without network or toolchain, and
 * the result runs.
 *
 * @module
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { run, withTempDir } from "./_helpers.ts";
import { REPO } from "./_package_layout.ts";
import { PBUNDLE_PERMISSIONS, releaseTarget } from "../scripts/release.ts";
import { FORMAT_VERSION } from "../format/runtime_info.ts";
import { VERSION } from "../version.ts";

/** A bin directory with every program of /usr/bin except deno. */
async function pathWithoutDeno(dir: string): Promise<string> {
  const bin = join(dir, "bin");
  await Deno.mkdir(bin);
  for await (const entry of Deno.readDir("/usr/bin")) {
    if (entry.name !== "deno") {
      await Deno.symlink(join("/usr/bin", entry.name), join(bin, entry.name));
    }
  }
  return `${bin}:/usr/sbin:/sbin`;
}

Deno.test({
  name:
    "pbundle-x86_64.AppBundle packs and runs examples/hello with no deno on PATH and a fresh HOME",
  ignore: Deno.build.arch !== "x86_64",
}, async () => {
  await withTempDir(async (dir) => {
    // zstd:3 keeps the test quick; the release itself uses zstd:15.
    const bundle = await releaseTarget("x86_64", join(dir, "dist"), {
      compression: "zstd:3",
      log: () => {},
    });
    assert.equal(bundle, join(dir, "dist", "pbundle-x86_64.AppBundle"));

    const home = join(dir, "home");
    await Deno.mkdir(home);
    const env = {
      PATH: await pathWithoutDeno(dir),
      HOME: home,
      XDG_CACHE_HOME: join(home, ".cache"),
      TMPDIR: dir,
    };
    const which = await run("/bin/sh", ["-c", "command -v deno || echo none"], { env });
    assert.equal(which.stdout.trim(), "none");

    const version = await run(bundle, ["--version"], { cwd: dir, env });
    assert.equal(version.code, 0, version.stderr);
    assert.equal(
      version.stdout,
      `pbundle ${VERSION} (writes AppBundle format ${FORMAT_VERSION})\n`,
    );

    const packed = await run(bundle, [
      "pack",
      "-a",
      join(REPO, "examples", "hello", "AppDir"),
      "-i",
      "hello-20260101-release",
      "-o",
      "hello.AppBundle",
      "--json",
    ], { cwd: dir, env });
    assert.equal(packed.code, 0, packed.stderr);
    assert.match(packed.stderr, /prebuilt, from PBUNDLE_PREBUILT_RUNTIME_DIR/);
    assert.equal(JSON.parse(packed.stdout).output, join(dir, "hello.AppBundle"));

    const verified = await run(bundle, ["verify", "hello.AppBundle", "--json"], { cwd: dir, env });
    assert.equal(verified.code, 0, verified.stderr);
    assert.equal(JSON.parse(verified.stdout).ok, true);

    const hello = await run(join(dir, "hello.AppBundle"), [], { cwd: dir, env });
    assert.equal(hello.code, 0, hello.stderr);
    assert.match(hello.stdout, /^Hello from an AppBundle!/);

    // Nothing was downloaded: no toolchain and no runtime build in the fresh cache.
    const cache = join(home, ".cache", "pbundle");
    for (const name of ["toolchain", "runtimes"]) {
      await assert.rejects(Deno.stat(join(cache, name)), Deno.errors.NotFound);
    }
  });
});

Deno.test("the AppRun's permissions are explicit and never --allow-all", () => {
  assert.ok(!PBUNDLE_PERMISSIONS.some((flag) => flag === "-A" || flag === "--allow-all"));
  assert.ok(PBUNDLE_PERMISSIONS.includes("--no-prompt"));
  assert.ok(!PBUNDLE_PERMISSIONS.some((flag) => flag.startsWith("--allow-ffi")));
});
