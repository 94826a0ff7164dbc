/**
 * The self-packed pbundle (what `deno task release` makes without a denort):
 * built for this machine, then run with a PATH that holds no deno and a fresh
 * HOME and cache, it packs examples/hello without network or toolchain
 * (then verifies, inspects and extracts it) and the result runs; it packs a
 * full-stack project whose bundle answers a call, and runs that project with
 * `dev --stdio` and `dev --headless` (a server on 127.0.0.1, which its
 * permission flags must allow).
 *
 * @module
 */

import assert from "node:assert/strict";
import { cp } from "node:fs/promises";
import { join } from "node:path";
import { type ProcessRun, run, withTempDir } from "./_helpers.ts";
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

/** Runs a program with `input` on stdin until it exits. */
async function runWithInput(
  program: string,
  args: string[],
  input: string,
  options: { cwd: string; env: Record<string, string> },
): Promise<ProcessRun> {
  const child = new Deno.Command(program, {
    args,
    ...options,
    clearEnv: true,
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(input));
  await writer.close();
  const { code, stdout, stderr } = await child.output();
  const decoder = new TextDecoder();
  return { code, stdout: decoder.decode(stdout), stderr: decoder.decode(stderr) };
}

/** The JSON lines a full-stack frontend reads, the reply to `id` picked out. */
function reply(stdout: string, id: number): unknown {
  return stdout.split("\n").filter((line) => line.startsWith("{")).map((line) => JSON.parse(line))
    .find((message) => message.id === id);
}

/** Waits for the first line of a stream, failing when the stream ends first. */
async function firstLine(stream: ReadableStream<Uint8Array>): Promise<string> {
  let text = "";
  for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
    text += chunk;
    const end = text.indexOf("\n");
    if (end >= 0) return text.slice(0, end);
  }
  throw new Error(`the stream ended before a full line: "${text}"`);
}

Deno.test({
  name: "pbundle-x86_64.AppBundle, with no deno on PATH and a fresh HOME, packs and runs " +
    "examples/hello and a full-stack project, and runs `dev --stdio` and `dev --headless`",
  ignore: Deno.build.arch !== "x86_64",
}, async (t) => {
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
      LANG: "C.UTF-8",
    };
    const which = await run("/bin/sh", ["-c", "command -v deno || echo none"], { env });
    assert.equal(which.stdout.trim(), "none");

    await t.step("--version", async () => {
      const version = await run(bundle, ["--version"], { cwd: dir, env });
      assert.equal(version.code, 0, version.stderr);
      assert.equal(
        version.stdout,
        `pbundle ${VERSION} (writes AppBundle format ${FORMAT_VERSION})\n`,
      );
    });

    await t.step(
      "runtime build says in one line that this pbundle carries no runtime sources",
      async () => {
        const built = await run(bundle, ["runtime", "build"], { cwd: dir, env });
        assert.equal(built.code, 2, built.stderr);
        assert.match(
          built.stderr,
          /^pbundle: Cannot build a runtime: this pbundle has no runtime sources \("[^"\n]*main\.ts" is missing\)\nhint: this pbundle packs with its prebuilt runtimes in "[^"\n]*"; to build others, run pbundle from source or JSR\n$/,
        );
      },
    );

    await t.step("pack, verify, inspect, extract and run examples/hello", async () => {
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

      const verified = await run(bundle, ["verify", "hello.AppBundle", "--json"], {
        cwd: dir,
        env,
      });
      assert.equal(verified.code, 0, verified.stderr);
      assert.equal(JSON.parse(verified.stdout).ok, true);

      const inspected = await run(bundle, ["inspect", "hello.AppBundle", "--json"], {
        cwd: dir,
        env,
      });
      assert.equal(inspected.code, 0, inspected.stderr);
      assert.equal(
        JSON.parse(inspected.stdout).runtimeInfo.AppBundleID,
        "hello-20260101-release",
      );

      const extracted = await run(bundle, ["extract", "hello.AppBundle", "extracted"], {
        cwd: dir,
        env,
      });
      assert.equal(extracted.code, 0, extracted.stderr);
      assert.deepEqual(
        await Deno.readFile(join(dir, "extracted", "usr", "bin", "hello")),
        await Deno.readFile(join(REPO, "examples", "hello", "AppDir", "usr", "bin", "hello")),
      );

      const hello = await run(join(dir, "hello.AppBundle"), [], { cwd: dir, env });
      assert.equal(hello.code, 0, hello.stderr);
      assert.match(hello.stdout, /^Hello from an AppBundle!/);
    });

    // examples/fullstack with the system strategy (the host's python3.11 and
    // its pyyaml); no packages, so `dev` needs no pip and no network.
    const project = join(dir, "yaml-viewer");
    await cp(join(REPO, "examples", "fullstack"), project, {
      recursive: true,
      filter: (source) => !/(__pycache__|pack-output)/.test(source),
    });
    const toml = join(project, "pbundle.pack.toml");
    await Deno.writeTextFile(
      toml,
      (await Deno.readTextFile(toml))
        .replace(/^strategy = .*$/m, 'strategy = "system"')
        .replace(/^packages = .*$/m, "packages = []"),
    );
    const call = '{"id":1,"method":"api.echo","params":["hi"]}\n';

    await t.step("pack a full-stack project; the bundle answers a call", async () => {
      const packed = await run(
        bundle,
        ["pack", "--config", project, "-o", "yaml-viewer.AppBundle", "--json"],
        { cwd: dir, env },
      );
      assert.equal(packed.code, 0, packed.stderr);
      assert.equal(JSON.parse(packed.stdout).strategy, "system");
      const answered = await runWithInput(join(dir, "yaml-viewer.AppBundle"), [], call, {
        cwd: dir,
        env: { ...env, PBUNDLE_FRONTEND: "stdio" },
      });
      assert.equal(answered.code, 0, answered.stderr);
      assert.deepEqual(reply(answered.stdout, 1), { id: 1, ok: true, result: "hi" });
    });

    await t.step("dev --stdio answers a call", async () => {
      const answered = await runWithInput(bundle, ["dev", "--stdio", project], call, {
        cwd: dir,
        env,
      });
      assert.equal(answered.code, 0, answered.stderr);
      assert.deepEqual(reply(answered.stdout, 1), { id: 1, ok: true, result: "hi" });
    });

    await t.step("dev --headless serves on 127.0.0.1 and stops on SIGTERM", async () => {
      const child = new Deno.Command(bundle, {
        args: ["dev", "--headless", project],
        cwd: dir,
        env,
        clearEnv: true,
        stdin: "null",
        stdout: "piped",
        stderr: "piped",
      }).spawn();
      const stderr = new Response(child.stderr).text();
      try {
        const url = await firstLine(child.stdout);
        assert.match(url, /^http:\/\/127\.0\.0\.1:\d+\//);
        const response = await fetch(url, { redirect: "manual" });
        await response.body?.cancel();
        assert.ok([200, 302].includes(response.status), `status ${response.status}`);
      } catch (error) {
        child.kill("SIGKILL");
        await child.status;
        throw new Error(`${error}\nstderr of dev --headless:\n${await stderr}`);
      }
      child.kill("SIGTERM");
      const status = await child.status;
      // 128 + SIGTERM, as a bundle stopped by SIGTERM exits.
      assert.equal(status.code, 143, `dev exited with ${JSON.stringify(status)}:\n${await stderr}`);
    });

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
