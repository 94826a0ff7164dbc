/**
 * pbundle run as JSR users get it: from the files `deno publish` uploads, laid
 * out as JSR serves them, with a current directory that is not the package —
 * once from a local copy and once over HTTP (a non-file import.meta.url, as
 * with jsr:). Each run builds a runtime into a fresh cache, packs
 * examples/hello and runs the bundle, then packs the full-stack example (whose
 * Python support files come from the copy in place, or over HTTP into the
 * cache) and calls its backend.
 *
 * @module
 */

import assert from "node:assert/strict";
import { existsSync, readdirSync } from "node:fs";
import { cp } from "node:fs/promises";
import { join } from "node:path";
import { run, withTempDir } from "./_helpers.ts";
import {
  copyPublishedPackage,
  denoDir,
  publishedFiles,
  REPO,
  shareToolchain,
  SOURCE_PERMISSIONS,
} from "./_package_layout.ts";
import { SUPPORT_FILES } from "../packers/fullstack/_support_files.ts";

const PERMISSIONS = SOURCE_PERMISSIONS;

Deno.test("deno publish uploads sources and docs, not tests, benches, fixtures or build output", async () => {
  const files = await publishedFiles();
  for (const required of ["mod.ts", "cli.ts", "deno.json", "README.md", "runtime/main.ts"]) {
    assert.ok(files.includes(required), `${required} is published`);
  }
  for (const file of SUPPORT_FILES) assert.ok(files.includes(file), `${file} is published`);
  for (const file of files) {
    assert.doesNotMatch(
      file,
      /^(tests|bench|fixtures|out|dist|node_modules|scripts|\.cache)\/|_test\.ts$|^deno\.lock$/,
    );
  }
});

Deno.test("SUPPORT_FILES lists every file of pbundle_backend and the packer's Python helper", () => {
  const backend = readdirSync(join(REPO, "python", "pbundle_backend"))
    .filter((name) => name.endsWith(".py"))
    .map((name) => `python/pbundle_backend/${name}`);
  assert.deepEqual(
    [...SUPPORT_FILES].sort(),
    [...backend, "packers/fullstack/_python_tools.py"].sort(),
  );
});

interface Layout {
  /** The deno arguments that name the CLI module. */
  cli: string[];
  /** The package directory (its deno.json is the config). */
  pkg: string;
  /** Whether the CLI module is served over HTTP (a non-file import.meta.url). */
  remote: boolean;
}

async function buildPackAndRun(layout: Layout, dir: string): Promise<void> {
  const cwd = join(dir, "elsewhere");
  const cacheHome = join(dir, "cache");
  await Deno.mkdir(cwd);
  await shareToolchain(cacheHome);
  const env = {
    PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin",
    HOME: Deno.env.get("HOME") ?? dir,
    XDG_CACHE_HOME: cacheHome,
    DENO_DIR: await denoDir(),
    NO_COLOR: "1",
  };
  const deno = (args: string[]) =>
    run(Deno.execPath(), ["run", "--quiet", ...PERMISSIONS, ...layout.cli, ...args], {
      cwd,
      env,
    });

  const built = await deno(["runtime", "build", "--json"]);
  assert.equal(built.code, 0, built.stderr);
  const runtime = JSON.parse(built.stdout);
  assert.equal(runtime.engine, "node");
  assert.equal(runtime.fromCache, false);
  assert.ok(runtime.path.startsWith(join(cacheHome, "pbundle", "runtimes")), runtime.path);

  const packed = await deno([
    "pack",
    "-a",
    join(layout.pkg, "examples", "hello", "AppDir"),
    "-i",
    "hello-20260101-jsr",
    "-o",
    "hello.AppBundle",
    "--json",
  ]);
  assert.equal(packed.code, 0, packed.stderr);
  const result = JSON.parse(packed.stdout);
  assert.equal(result.output, join(cwd, "hello.AppBundle"));

  const hello = await run(join(cwd, "hello.AppBundle"), [], { cwd, env });
  assert.equal(hello.code, 0, hello.stderr);
  assert.match(hello.stdout, /^Hello from an AppBundle!/);

  // A full-stack project: the packer needs pbundle_backend and its Python
  // helper, read in place from a local copy and fetched next to
  // import.meta.url (into the cache) when pbundle runs from a remote module.
  // The system strategy downloads nothing.
  const project = join(dir, "yaml-viewer");
  await cp(join(layout.pkg, "examples", "fullstack"), project, { recursive: true });
  const toml = join(project, "pbundle.pack.toml");
  await Deno.writeTextFile(
    toml,
    (await Deno.readTextFile(toml)).replace(/^strategy = .*$/m, 'strategy = "system"'),
  );
  const packedApp = await deno(["pack", "--config", project, "-o", "app.AppBundle", "--json"]);
  assert.equal(packedApp.code, 0, packedApp.stderr);
  assert.equal(JSON.parse(packedApp.stdout).output, join(cwd, "app.AppBundle"));
  const sources = join(cacheHome, "pbundle", "sources");
  if (layout.remote) {
    const [copy, ...others] = [...Deno.readDirSync(sources)].map((entry) => entry.name);
    assert.equal(others.length, 0);
    for (const file of SUPPORT_FILES) {
      assert.equal(
        await Deno.readTextFile(join(sources, copy!, file)),
        await Deno.readTextFile(join(layout.pkg, file)),
      );
    }
  } else {
    assert.equal(existsSync(sources), false, "a local copy reads its support files in place");
  }

  const app = new Deno.Command(join(cwd, "app.AppBundle"), {
    cwd,
    env: { ...env, PBUNDLE_FRONTEND: "stdio" },
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const stdin = app.stdin.getWriter();
  await stdin.write(new TextEncoder().encode('{"id":1,"method":"api.echo","params":["hi"]}\n'));
  await stdin.close();
  const answered = await app.output();
  const decoder = new TextDecoder();
  assert.equal(answered.code, 0, decoder.decode(answered.stderr));
  const replies = decoder.decode(answered.stdout).trim().split("\n").map((l) => JSON.parse(l));
  assert.deepEqual(replies.find((message) => message.id === 1), { id: 1, ok: true, result: "hi" });
}

Deno.test("the published files, copied elsewhere, build a runtime and pack an AppDir and a full-stack project from another directory", async () => {
  await withTempDir(async (dir) => {
    const pkg = join(dir, "pkg");
    await copyPublishedPackage(pkg);
    await buildPackAndRun(
      { pkg, remote: false, cli: ["--config", join(pkg, "deno.json"), join(pkg, "cli.ts")] },
      dir,
    );
  });
});

Deno.test("the published files, served over HTTP, build a runtime and pack an AppDir and a full-stack project (non-file import.meta.url)", async () => {
  await withTempDir(async (dir) => {
    const pkg = join(dir, "pkg");
    await copyPublishedPackage(pkg);
    const server = Deno.serve(
      { hostname: "127.0.0.1", port: 0, onListen() {} },
      async (request) => {
        const path = decodeURIComponent(new URL(request.url).pathname);
        if (path.includes("..")) return new Response("bad path", { status: 400 });
        try {
          const body = await Deno.readFile(join(pkg, path));
          const type = path.endsWith(".ts")
            ? "application/typescript"
            : path.endsWith(".json")
            ? "application/json"
            : "application/octet-stream";
          return new Response(body, { headers: { "content-type": type } });
        } catch {
          return new Response("not found", { status: 404 });
        }
      },
    );
    try {
      const host = `127.0.0.1:${server.addr.port}`;
      await buildPackAndRun({
        pkg,
        remote: true,
        cli: [
          "--no-lock",
          `--allow-import=${host}`,
          "--config",
          join(pkg, "deno.json"),
          `http://${host}/cli.ts`,
        ],
      }, dir);
    } finally {
      await server.shutdown();
    }
  });
});
