import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
} from "node:fs";
import { createServer } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { InputError, UsageError } from "../errors.ts";
import { runCli } from "./_helpers.ts";
import { buildFullstackAppDir, packFullstack } from "../packers/fullstack/mod.ts";
import { pbundleCacheDir } from "../packers/fullstack/write_fullstack_app_dir.ts";
import { runFullstack } from "../runtime/fullstack/host.ts";
import { BackendHost } from "../runtime/fullstack/backend_host.ts";
import {
  ISOLATED_PYTHON_VARIABLES,
  readFullstackDocument,
  resolveBackendLaunch,
} from "../runtime/fullstack/document.ts";
import { createLogger } from "../runtime/fullstack/log.ts";
import {
  callAppDir,
  cliSync,
  copyProject,
  EXAMPLE,
  exampleProject,
  pythonRuntimeArchive,
  squashfsInfo,
} from "./_fullstack.ts";

const RUNTIME = pythonRuntimeArchive();
const ignore = RUNTIME === undefined;
const quiet = () => {};

type Info = Record<string, unknown> & { env: Record<string, string>; sys_path: string[] };

async function build(strategy: string, extra = "", edit?: (t: string) => string) {
  let project = exampleProject(strategy, RUNTIME!, extra);
  if (edit) {
    const edited = copyProject(project, edit);
    rmSync(project, { recursive: true, force: true });
    project = edited;
  }
  const appDir = join(project, "AppDir");
  const result = await buildFullstackAppDir(project, appDir, { log: quiet });
  return { project, appDir, ...result };
}

function files(dir: string, rel = ""): string[] {
  const out: string[] = [];
  for (const name of readdirSync(join(dir, rel)).sort()) {
    const path = rel ? `${rel}/${name}` : name;
    if (statSync(join(dir, path)).isDirectory()) out.push(...files(dir, path));
    else out.push(path);
  }
  return out;
}

Deno.test({
  name: "standalone: the overlay follows the document and the API works through the host",
  ignore,
  fn: async () => {
    const { project, appDir } = await build("standalone");
    try {
      for (
        const path of [
          "frontend/index.html",
          "frontend/app.js",
          "python/main.py",
          "python/site-packages/yaml/__init__.py",
          "resources/examples/colors.yaml",
          "python_runtime/bin/python3.11",
          "python_runtime.json",
          ".pbundle/fullstack.json",
          ".pbundle/python/pbundle_backend/__init__.py",
          "yaml-viewer.desktop",
          "usr/share/metainfo/dev.pbundle.yamlviewer.appdata.xml",
          "AppRun",
        ]
      ) assert.ok(existsSync(join(appDir, path)), path);
      assert.ok(statSync(join(appDir, "python/bin")).isDirectory());
      const runtimeJson = JSON.parse(readFileSync(join(appDir, "python_runtime.json"), "utf8"));
      assert.equal(runtimeJson.version, "3.11.2");
      assert.equal(runtimeJson.interpreter, "python_runtime/bin/python3.11");
      assert.match(runtimeJson.sha256, /^[0-9a-f]{64}$/);
      const icon = readFileSync(join(appDir, ".DirIcon"));
      assert.deepEqual([...icon.subarray(0, 4)], [0x89, 0x50, 0x4e, 0x47]);
      const desktop = readFileSync(join(appDir, "yaml-viewer.desktop"), "utf8");
      assert.match(desktop, /^Name=YAML Viewer$/m);
      assert.match(desktop, /^Categories=Utility;Development;$/m);
      assert.match(desktop, /^Comment=YAML samples, parsed in Python$/m);
      const appstream = readFileSync(
        join(appDir, "usr/share/metainfo/dev.pbundle.yamlviewer.appdata.xml"),
        "utf8",
      );
      assert.match(appstream, /<id>dev\.pbundle\.yamlviewer<\/id>/);
      assert.match(appstream, /<release version="0\.1\.0"\/>/);
      assert.match(appstream, /<project_license>MIT<\/project_license>/);

      const [info, sample] = await callAppDir(appDir, [
        ["api.info"],
        ["api.get_sample", { name: "colors.yaml" }],
      ]) as [Info, { data: { colors: Array<Record<string, string>> } }];
      assert.equal(info["packed"], true);
      assert.equal(info["executable"], join(appDir, "python_runtime/bin/python3.11"));
      assert.equal(info["python"], "3.11.2");
      assert.equal(info["optimize"], 1, "optimize = 1 runs the interpreter with -O");
      assert.equal(info["libyaml"], true);
      assert.equal(info["yaml_file"], join(appDir, "python/site-packages/yaml/__init__.py"));
      // The host sets it and the app sees it (the document's detection idiom); the bootstrap
      // keeps it from the processes the app starts.
      assert.equal(info.env["AURORAVIEW_PACKED"], "1");
      assert.equal(info.env["AURORAVIEW_RESOURCES_DIR"], join(appDir, "resources"));
      assert.equal(info.env["AURORAVIEW_EXAMPLES_DIR"], join(appDir, "resources/examples"));
      assert.equal(info.env["AURORAVIEW_PYTHON_PATH"], info.env["PYTHONPATH"]);
      assert.ok(info.env["PYTHONPATH"]!.startsWith(`${join(appDir, "python")}:`));
      assert.equal(info.env["APP_ENV"], "production");
      assert.equal(info.env["SAMPLES_HINT"], join(appDir, "resources/examples"));
      assert.ok(String(info["path"]).startsWith(`${join(appDir, "python/bin")}:`));
      assert.equal(sample.data.colors[2]!["ja"], "青");
      assert.ok(
        existsSync(join(appDir, "python/__pycache__/main.cpython-311.opt-1.pyc")),
        "compiled at optimize 1",
      );

      // AppRun runs the same backend on stdin/stdout without pbundle's runtime, answers
      // calls still running when stdin ends, and drops what the host drops.
      const hostile = Object.fromEntries(ISOLATED_PYTHON_VARIABLES.map((k) => [k, "/hostile"]));
      const out = execFileSync(join(appDir, "AppRun"), [], {
        input: '{"id":"x","method":"api.echo","params":["ü"]}\n' +
          '{"id":"s","method":"api.sleep","params":[0.5]}\n{"id":"i","method":"api.info"}\n',
        encoding: "utf8",
        env: { ...Deno.env.toObject(), ...hostile, AURORAVIEW_EXAMPLES_DIR: "/hostile" },
        stdio: ["pipe", "pipe", "ignore"],
      });
      assert.match(out, /\{"id":"x","ok":true,"result":"ü"\}/);
      assert.match(out, /\{"id":"s","ok":true,"result":0\.5\}/);
      const appRunInfo = JSON.parse(out.split("\n").find((l) => l.includes('"id":"i"'))!).result;
      assert.deepEqual(
        Object.keys(appRunInfo.env).filter((k) => appRunInfo.env[k].includes("/hostile")),
        [],
      );
      assert.ok(appRunInfo.env["PYTHONPATH"].startsWith(join(appDir, "python")));
      const script = readFileSync(join(appDir, "AppRun"), "utf8");
      const unset = script.match(/^unset (.*)$/m)![1]!.split(" ");
      for (const k of ISOLATED_PYTHON_VARIABLES) {
        assert.ok(unset.includes(k) || new RegExp(`^export ${k}=`, "m").test(script), k);
      }
    } finally {
      rmSync(project, { recursive: true, force: true });
    }
  },
});

Deno.test({
  name: "pyoxidizer: app and pure packages are bytecode in python/app.zip, imported in place",
  ignore,
  fn: async () => {
    const { project, appDir, written } = await build("pyoxidizer");
    try {
      assert.ok(existsSync(join(appDir, "python/app.zip")));
      assert.ok(!existsSync(join(appDir, "python/main.py")));
      assert.deepEqual(written.archive?.onDisk, ["site-packages/yaml"]);
      const zipList = execFileSync("python3", [
        "-m",
        "zipfile",
        "-l",
        join(appDir, "python/app.zip"),
      ], {
        encoding: "utf8",
      });
      assert.match(zipList, /main\.pyc/);
      assert.doesNotMatch(zipList, /\.py\s/);
      const yamlFiles = files(join(appDir, "python/site-packages/yaml"));
      assert.ok(yamlFiles.some((f) => f.endsWith(".so")));
      assert.ok(!yamlFiles.some((f) => f.endsWith(".py")), "no sources on disk");
      const [info] = await callAppDir(appDir, [["api.info"]]) as [Info];
      assert.equal(info["main_file"], join(appDir, "python/app.zip/main.pyc"));
      assert.equal(info.sys_path[0], join(appDir, "python/app.zip"));
      assert.equal(info["libyaml"], true);
    } finally {
      rmSync(project, { recursive: true, force: true });
    }
    // Without the filesystem importer, extension modules cannot be imported: say so.
    const project2 = exampleProject("pyoxidizer", RUNTIME!).replace(/$/, "");
    const edited = copyProject(
      project2,
      (t) => t.replace("filesystem_importer = true", "filesystem_importer = false"),
    );
    try {
      await assert.rejects(
        buildFullstackAppDir(edited, join(edited, "AppDir"), { log: quiet }),
        (e) =>
          e instanceof InputError &&
          /'site-packages\/yaml'.*filesystem_importer = true/.test(e.message),
      );
    } finally {
      rmSync(project2, { recursive: true, force: true });
      rmSync(edited, { recursive: true, force: true });
    }
  },
});

Deno.test({
  name: "embedded ships site-packages and uses the host's python3.11; system ships only the code",
  ignore,
  fn: async () => {
    const embedded = await build("embedded");
    const system = await build("system");
    try {
      for (const { appDir } of [embedded, system]) {
        assert.ok(!existsSync(join(appDir, "python_runtime")));
        assert.ok(existsSync(join(appDir, "python/main.py")));
      }
      assert.ok(existsSync(join(embedded.appDir, "python/site-packages/yaml/__init__.py")));
      assert.ok(!existsSync(join(system.appDir, "python/site-packages")));
      const [e] = await callAppDir(embedded.appDir, [["api.info"]]) as [Info];
      assert.match(String(e["executable"]), /python3\.11$/);
      assert.ok(!String(e["executable"]).startsWith(embedded.appDir));
      assert.equal(e["yaml_file"], join(embedded.appDir, "python/site-packages/yaml/__init__.py"));
      const [s] = await callAppDir(system.appDir, [["api.info"]]) as [Info];
      assert.ok(!String(s["yaml_file"]).startsWith(system.appDir), "system uses the host's pyyaml");
      // AppRun with PBUNDLE_PYTHON naming nothing says so.
      const appRun = spawnSync(join(embedded.appDir, "AppRun"), [], {
        input: "",
        env: { ...Deno.env.toObject(), PBUNDLE_PYTHON: "/nonexistent/python3.11" },
        encoding: "utf8",
      });
      assert.equal(appRun.status, 127);
      assert.match(
        appRun.stderr,
        /PBUNDLE_PYTHON is "\/nonexistent\/python3\.11", which is not an executable file/,
      );
      // No python3.11 anywhere: the host says what is missing.
      const status = await runFullstack({
        appDir: embedded.appDir,
        env: { PATH: "/nonexistent" },
        args: [],
        runtimeInfo: {},
      });
      assert.equal(status, 127);
      assert.throws(
        () =>
          resolveBackendLaunch(readFullstackDocument(embedded.appDir), embedded.appDir, {
            PATH: "/nonexistent",
          }),
        /no Python 3\.11 found \(the embedded strategy uses the system's python3\.11/,
      );
    } finally {
      rmSync(embedded.project, { recursive: true, force: true });
      rmSync(system.project, { recursive: true, force: true });
    }
  },
});

Deno.test({
  name: "protection ships bytecode only at its optimization level; isolation and env apply",
  ignore,
  fn: async () => {
    const { project, appDir } = await build(
      "standalone",
      "",
      (t) =>
        t.replace(
          "[python.isolation]\npythonpath = true\npath = false",
          "[python.isolation]\npythonpath = false\npath = true",
        )
          .replace("[build]", "[python.protection]\nenabled = true\noptimization = 2\n\n[build]"),
    );
    try {
      assert.ok(!files(join(appDir, "python")).some((f) => f === "main.py"));
      assert.ok(existsSync(join(appDir, "python/main.pyc")));
      const [info] = await callAppDir(appDir, [["api.info"]], {
        PYTHONPATH: "/inherited/path",
      }) as [Info];
      assert.equal(info["docstrings"], false, "optimization 2 strips docstrings");
      assert.equal(info["main_source_shipped"], false);
      assert.ok(
        info.env["PYTHONPATH"]!.endsWith(":/inherited/path"),
        "pythonpath = false inherits",
      );
      assert.equal(
        info["path"],
        `${join(appDir, "python/bin")}:${
          join(appDir, "python_runtime/bin")
        }:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin`,
      );
    } finally {
      rmSync(project, { recursive: true, force: true });
    }
  },
});

Deno.test({
  name: "the runtime comes from a URL once (cached), and runtime_sha256 is checked",
  ignore,
  fn: async () => {
    let hits = 0;
    const archive = readFileSync(RUNTIME!);
    const server = createServer((_req, res) => {
      hits++;
      res.writeHead(200, { "content-length": archive.length });
      res.end(archive);
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const port = (server.address() as { port: number }).port;
    const url = `http://127.0.0.1:${port}/cpython-3.11-install_only.tar.gz`;
    const cacheDir = mkdtempSync(join(tmpdir(), "pbundle-cache-"));
    // A fresh download cache, but pip's installs shared with the other tests.
    mkdirSync(join(pbundleCacheDir(), "pip"), { recursive: true });
    symlinkSync(join(pbundleCacheDir(), "pip"), join(cacheDir, "pip"));
    const project = copyProject(
      EXAMPLE,
      (t) => t.replace(/^strategy = .*$/m, `strategy = "standalone"\nruntime = "${url}"`),
    );
    try {
      for (let i = 0; i < 2; i++) {
        const appDir = join(project, `AppDir${i}`);
        await buildFullstackAppDir(project, appDir, { log: quiet, cacheDir });
        assert.ok(existsSync(join(appDir, "python_runtime/bin/python3.11")));
      }
      assert.equal(hits, 1);
      const bad = copyProject(
        project,
        (t) =>
          t.replace(
            /^runtime = .*$/m,
            `runtime = "${RUNTIME}"\nruntime_sha256 = "${"0".repeat(64)}"`,
          ),
      );
      try {
        await assert.rejects(
          buildFullstackAppDir(bad, join(bad, "AppDir"), { log: quiet, cacheDir }),
          /its SHA-256 is [0-9a-f]{64}, but \[python\] runtime_sha256 is 0{64}/,
        );
      } finally {
        rmSync(bad, { recursive: true, force: true });
      }
    } finally {
      server.close();
      rmSync(project, { recursive: true, force: true });
      rmSync(cacheDir, { recursive: true, force: true });
    }
  },
});

Deno.test({
  name: "[build] commands run only with --build, hooks always; a missing entry module is named",
  ignore,
  fn: async () => {
    const project = copyProject(
      EXAMPLE,
      (t) =>
        t.replace(/^strategy = .*$/m, `strategy = "portable"\nruntime = "${RUNTIME}"`)
          .replace(
            "[build]",
            '[build]\nbefore = ["echo before > before.txt"]\nafter = ["echo \\"$PBUNDLE_OUTPUT\\" > after.txt"]',
          )
          .replace(
            "[debug]",
            '[hooks]\nbefore_collect = ["touch collected.txt"]\nafter_pack = ["touch packed.txt"]\n\n[debug]',
          ),
    );
    try {
      const output = join(project, "out.AppDir");
      const result = await packFullstack({ config: project, output, log: quiet });
      assert.equal(result.outputKind, "directory");
      assert.ok(
        existsSync(join(output, "python_runtime/bin/python3.11")),
        "portable ships the runtime",
      );
      assert.ok(
        existsSync(join(project, "collected.txt")) && existsSync(join(project, "packed.txt")),
      );
      assert.ok(
        !existsSync(join(project, "before.txt")) && !existsSync(join(project, "after.txt")),
      );
      await packFullstack({ config: project, output, build: true, log: quiet });
      assert.ok(existsSync(join(project, "before.txt")));
      assert.equal(readFileSync(join(project, "after.txt"), "utf8").trim(), output);
      const [answer] = await callAppDir(output, [["api.echo", ["portable"]]]);
      assert.equal(answer, "portable");

      // Troubleshooting: module not found names the module and the search path.
      const doc = readFullstackDocument(output);
      doc.python!.entry = { module: "no_such_main", function: "run" };
      const logs: string[] = [];
      const host = new BackendHost({
        launch: resolveBackendLaunch(doc, output, Deno.env.toObject()),
        log: createLogger("t", { write: (l) => logs.push(l) }),
        maxRestarts: 0,
      });
      await host.start();
      await assert.rejects(host.call("api.echo", [1]), /the Python backend exited with status 3/);
      await host.stop();
      assert.ok(
        logs.some((l) => /Cannot import entry module 'no_such_main'/.test(l)),
        logs.join("\n"),
      );
    } finally {
      rmSync(project, { recursive: true, force: true });
    }
  },
});

Deno.test({
  name: "a packed full-stack AppBundle answers calls and reuses its extraction cache",
  ignore,
  fn: async () => {
    const project = copyProject(
      EXAMPLE,
      (t) =>
        t.replace(/^strategy = .*$/m, `strategy = "standalone"\nruntime = "${RUNTIME}"`)
          .replace("[bundle.platform.linux]", "[bundle.platform.linux]\nappimage = true")
          .replace('version = "0.1.0"', `version = "0.1.${Date.now()}"`),
    );
    const cache = mkdtempSync(join(tmpdir(), "pbundle-xdg-"));
    try {
      const output = join(project, "app.AppBundle");
      const result = await packFullstack({
        config: project,
        output,
        log: quiet,
        compression: "zstd:3",
      });
      assert.match(result.appBundleId, /^dev\.pbundle\.yamlviewer#yaml-viewer:0\.1\.\d+$/);
      const head = readFileSync(output).subarray(8, 11);
      assert.deepEqual([...head], [0x41, 0x49, 0x02], "appimage = true writes AI\\x02");
      const env = { ...Deno.env.toObject(), XDG_CACHE_HOME: cache, PBUNDLE_FRONTEND: "stdio" };
      const request = '{"id":1,"method":"api.info"}\n{"id":2,"method":"api.list_samples"}\n';
      const runs = [0, 1].map(() =>
        spawnSync(output, ["--flag", "ü"], { input: request, env, encoding: "utf8" })
      );
      for (const run of runs) {
        assert.equal(run.status, 0, run.stderr);
        const lines = run.stdout.trim().split("\n").map((l) => JSON.parse(l));
        const info = lines.find((l) => l.id === 1).result;
        assert.equal(info.packed, true);
        assert.ok(info.executable.startsWith(join(cache, "pbundle")), info.executable);
        assert.deepEqual(info.argv, ["--flag", "ü"]);
        assert.deepEqual(lines.find((l) => l.id === 2).result, ["colors.yaml", "server.yaml"]);
        assert.match(run.stderr, /\[yaml-viewer\] yaml-viewer backend starting \(packed=True\)/);
      }
      const first = JSON.parse(runs[0]!.stdout.split("\n").find((l) => l.includes('"id":1'))!);
      const second = JSON.parse(runs[1]!.stdout.split("\n").find((l) => l.includes('"id":1'))!);
      assert.equal(first.result.executable, second.result.executable, "same cached extraction");
      const desktop = spawnSync(output, ["--pbundle_desktop"], { env, encoding: "utf8" });
      // The runtime prints the .desktop file in base64, as pelf does.
      assert.match(atob(desktop.stdout.trim()), /^Name=YAML Viewer$/m);
      const icon = spawnSync(output, ["--pbundle_pngIcon"], { env, encoding: "utf8" });
      assert.ok(atob(icon.stdout.trim()).startsWith("\x89PNG"));
    } finally {
      rmSync(project, { recursive: true, force: true });
      rmSync(cache, { recursive: true, force: true });
    }
  },
});

Deno.test({
  name:
    "pack --config without -o creates [build] out_dir; progress lines only when verbose; ignored runtime warns",
  ignore,
  fn: () => {
    const project = exampleProject("embedded", RUNTIME!, `runtime_sha256 = "${"0".repeat(64)}"\n`);
    const cache = mkdtempSync(join(tmpdir(), "pbundle-xdg-"));
    try {
      const output = join(project, "pack-output", "yaml-viewer-0.1.0.AppBundle");
      assert.ok(!existsSync(join(project, "pack-output")));
      const quietRun = cliSync(["pack", "--config", project], { PBUNDLE_LOG: "" });
      assert.equal(quietRun.status, 0, quietRun.stderr);
      assert.equal(
        quietRun.stdout,
        `Packed dev.pbundle.yamlviewer#yaml-viewer:0.1.0 (embedded) into ${output}\n`,
      );
      assert.ok(statSync(output).isFile());
      // [build] release = true (the example's): zstd at level 15, mksquashfs's default, so
      // the image carries no compressor options (release = false: fullstack_keys_test.ts).
      const squashfs = squashfsInfo(output, project, {
        ...Deno.env.toObject(),
        XDG_CACHE_HOME: cache,
      });
      assert.match(squashfs, /^Compression zstd$/m);
      assert.doesNotMatch(squashfs, /compression-level/);
      assert.deepEqual(quietRun.stderr.trim().split("\n"), [
        "pbundle: warning: [python] runtime is ignored: the embedded strategy ships no Python runtime (it uses the system's python3.11)",
        "pbundle: warning: [python] runtime_sha256 is ignored: the embedded strategy ships no Python runtime (it uses the system's python3.11)",
      ]);

      // The documented call of the bundle.
      const run = spawnSync(output, [], {
        input: '{"id":"1","method":"api.echo","params":["packed"]}\n',
        env: { ...Deno.env.toObject(), XDG_CACHE_HOME: cache, PBUNDLE_FRONTEND: "stdio" },
        encoding: "utf8",
      });
      assert.equal(run.status, 0, run.stderr);
      assert.match(run.stdout, /\{"id":"1","ok":true,"result":"packed"\}/);

      // PBUNDLE_LOG=debug, or [debug] verbose = true, shows the progress lines.
      const debugRun = cliSync(["pack", "--config", project], { PBUNDLE_LOG: "debug" });
      assert.equal(debugRun.status, 0, debugRun.stderr);
      assert.match(
        debugRun.stderr,
        /^pbundle: collected 2 file\(s\) into resources\/examples \(YAML samples shown by the app\)$/m,
      );
      const verbose = copyProject(project, (t) => t.replace("verbose = false", "verbose = true"));
      try {
        const verboseRun = cliSync(["pack", "--config", verbose], { PBUNDLE_LOG: "" });
        assert.equal(verboseRun.status, 0, verboseRun.stderr);
        assert.match(verboseRun.stderr, /^pbundle: collected 2 file\(s\)/m);
      } finally {
        rmSync(verbose, { recursive: true, force: true });
      }

      // -o into a directory that does not exist is still an error, not a new tree.
      const typo = cliSync([
        "pack",
        "--config",
        project,
        "-o",
        join(project, "nodir", "x.AppBundle"),
      ]);
      assert.equal(typo.status, 1);
      assert.match(typo.stderr, /the directory ".*\/nodir" does not exist/);
    } finally {
      rmSync(project, { recursive: true, force: true });
      rmSync(cache, { recursive: true, force: true });
    }
  },
});

Deno.test("an unknown strategy is a usage error naming the nearest, from the library and the CLI, before anything is written", async () => {
  const project = copyProject(EXAMPLE);
  try {
    const output = join(project, "out.AppBundle");
    await assert.rejects(
      packFullstack({ config: project, output, strategy: "systme" as "system", log: quiet }),
      (error: Error) => {
        assert.ok(error instanceof UsageError);
        assert.equal(
          error.message,
          'Cannot use strategy "systme": expected one of standalone, pyoxidizer, embedded, system, portable',
        );
        assert.equal(error.hint, "did you mean system?");
        return true;
      },
    );
    const cli = await runCli(["pack", "--config", project, "--strategy", "portabel", "-o", output]);
    assert.equal(cli.code, 2, cli.stderr);
    assert.equal(
      cli.stderr,
      'pbundle: Cannot use strategy "portabel": expected one of standalone, pyoxidizer, embedded, system, portable\nhint: did you mean portable?\n',
    );
    assert.ok(!existsSync(output), "nothing written");
  } finally {
    rmSync(project, { recursive: true, force: true });
  }
});
