/**
 * Every pack-file key has an effect a test shows: one project that sets many
 * keys at once (tests/_fullstack.ts, keysProject), packed as an AppDir with the
 * embedded strategy (no runtime to unpack, so quick) and once as a bundle, plus
 * `pbundle dev --stdio` runs for the backend-process keys.
 */

import assert from "node:assert/strict";
import { execFileSync, spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { InputError } from "../errors.ts";
import { buildFullstackAppDir, packFullstack } from "../packers/fullstack/mod.ts";
import { pipInstall } from "../packers/fullstack/write_fullstack_app_dir.ts";
import { readFullstackDocument } from "../runtime/fullstack/document.ts";
import { logLevelFrom } from "../runtime/fullstack/log.ts";
import {
  callAppDir,
  cliSync,
  copyProject,
  keysProject,
  makePythonShim,
  makeWheel,
  pipIndexEnv,
  PROBE,
  ROOT,
  squashfsInfo,
} from "./_fullstack.ts";

/** A line of the stdio frontend. */
type Message = {
  id?: string;
  ok?: boolean;
  error?: string;
  event?: string;
  data?: { restarts?: number };
};

type Info = {
  name: string;
  file: string;
  extra: string;
  probe: string;
  sys_path: string[];
  faulthandler: boolean;
  env: Record<string, string>;
};

Deno.test("one AppDir shows [package], [bundle], [python], [python.process], [build], [[hooks.collect]] and [debug] at work", async () => {
  const { root, project, wheels, icon } = keysProject();
  const { shim, basePrefix } = makePythonShim(join(root, "shimroot"));
  // PBUNDLE_PYTHON is a pyenv-like shim: $PYTHON_HOME must be the real prefix, not shimroot.
  const env = {
    ...Deno.env.toObject(),
    ...pipIndexEnv(wheels),
    PBUNDLE_PYTHON: shim,
    PBUNDLE_LOG: "",
    RUST_LOG: "",
    XDG_CACHE_HOME: join(root, "cache"),
  };
  const appDir = join(root, "AppDir");
  const lines: string[] = [];
  try {
    await buildFullstackAppDir(project, appDir, { env, log: (l) => lines.push(l) });
    const has = (rel: string) => existsSync(join(appDir, rel));

    // What pack prints at the normal level: the parsed-only notes and the warnings.
    assert.deepEqual(lines, [
      "note: [bundle.platform.windows] is parsed and validated; packing for Windows is out of scope",
      "note: [bundle.platform.macos] is parsed and validated; packing for macOS is out of scope",
      "note: [python.process] console only matters on Windows (a console window); ignored on Linux",
      `warning: [[hooks.collect]] source "${project}/nothing/*.zzz" matched nothing`,
    ]);

    // [package] description and authors, [bundle] copyright: AppStream.
    const appstream = readFileSync(
      join(appDir, "usr/share/metainfo/dev.pbundle.keys.appdata.xml"),
      "utf8",
    );
    assert.match(
      appstream,
      /<description>\s*<p>Shows that every key &amp; setting &lt;works&gt;<\/p>\s*<\/description>/,
    );
    assert.match(appstream, /<developer_name>Ada Lovelace<\/developer_name>/);
    assert.match(appstream, /<project_license>Apache-2\.0<\/project_license>/);
    assert.match(appstream, /<!-- Copyright 2025 Keys - - Inc -->/);
    assert.match(appstream, /<release version="2\.3\.4"\/>/);
    // [bundle] category, mapped into the .desktop file (no [bundle.platform.linux] categories).
    const desktop = readFileSync(join(appDir, "keys-demo.desktop"), "utf8");
    assert.match(desktop, /^Categories=Office;$/m);
    assert.match(desktop, /^Name=Keys Demo$/m);
    // [bundle] icon: .DirIcon and NAME.png are the given file.
    assert.deepEqual(new Uint8Array(readFileSync(join(appDir, ".DirIcon"))), icon);
    assert.deepEqual(new Uint8Array(readFileSync(join(appDir, "keys-demo.png"))), icon);

    // [python] exclude replaces the default list.
    assert.ok(has("python/server.py") && has("python/helpers.py"));
    assert.ok(!has("python/notes.txt") && !has("python/scratch"), "exclude = ['*.txt', 'scratch']");
    // pip used the configured index (the package exists only in the test's find-links).
    assert.ok(has("python/site-packages/pbundle_keys_probe.py"));
    // [build] resources, minus [build] exclude (also applied to the frontend).
    assert.ok(has("resources/pylib/extra_mod.py") && has("resources/assets/logo.txt"));
    assert.ok(!has("resources/assets/logo.map") && !has("frontend/app.js.map"));
    assert.ok(has("frontend/app.js"));
    // [[hooks.collect]] preserve_structure true keeps the path below the glob's base; false flattens.
    assert.ok(has("resources/data_tree/a/one.json") && has("resources/data_tree/b/two.json"));
    assert.ok(has("resources/data_flat/one.json") && has("resources/data_flat/two.json"));
    assert.ok(!has("resources/data_flat/a"));

    // The backend: a file entry point run as __main__, module_search_paths with
    // $RESOURCES_DIR, ${EXTRACT_DIR}, $SITE_PACKAGES and $PYTHON_HOME, [debug] enabled.
    const [info, echoed] = await callAppDir(appDir, [["api.info"], ["api.echo", ["file entry"]]], {
      PBUNDLE_PYTHON: shim,
      AURORAVIEW_EXAMPLES_DIR: "/hostile",
    }) as [Info, string];
    assert.equal(echoed, "file entry");
    assert.equal(info.name, "__main__");
    assert.equal(info.file, join(appDir, "python/server.py"));
    assert.equal(info.extra, "resources");
    assert.equal(info.probe, "index-a");
    const at = (p: string) => info.sys_path.indexOf(p);
    assert.ok(at(join(appDir, "resources/pylib")) >= 0, info.sys_path.join("\n"));
    assert.ok(at(join(appDir, "resources/pylib")) < at(join(appDir, "python")));
    assert.ok(at(join(appDir, "python")) < at(join(appDir, "python/site-packages")));
    assert.ok(at(join(basePrefix, "pbundle-home-probe")) >= 0, info.sys_path.join("\n"));
    assert.equal(info.env["KEYS_PYTHON_HOME"], basePrefix);
    assert.notEqual(basePrefix, join(root, "shimroot"));
    assert.equal(info.env["PYTHONFAULTHANDLER"], "1");
    assert.equal(info.faulthandler, true, "[debug] enabled turns faulthandler on");
    assert.equal(info.env["AURORAVIEW_EXAMPLES_DIR"], undefined, "no resources/examples");

    // AppRun finds the same $PYTHON_HOME through the shim.
    const out = execFileSync(join(appDir, "AppRun"), [], {
      input: '{"id":"i","method":"api.info"}\n',
      env: { ...Deno.env.toObject(), PBUNDLE_PYTHON: shim },
      encoding: "utf8",
      stdio: ["pipe", "pipe", "ignore"],
    });
    const appRunInfo = JSON.parse(out.split("\n").find((l) => l.includes('"id":"i"'))!).result;
    assert.equal(appRunInfo.env["KEYS_PYTHON_HOME"], basePrefix);
    assert.ok(appRunInfo.sys_path.includes(join(basePrefix, "pbundle-home-probe")));
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

Deno.test("a file.py entry point runs as bytecode with [python.protection]", async () => {
  const { root, project, wheels } = keysProject((t) =>
    t.replace("[build]", "[python.protection]\nenabled = true\n\n[build]")
  );
  const env = { ...Deno.env.toObject(), ...pipIndexEnv(wheels), XDG_CACHE_HOME: join(root, "c") };
  try {
    const appDir = join(root, "AppDir");
    await buildFullstackAppDir(project, appDir, { env, log: () => {} });
    assert.ok(!existsSync(join(appDir, "python/server.py")));
    assert.ok(existsSync(join(appDir, "python/server.pyc")));
    assert.deepEqual(readFullstackDocument(appDir).python?.entry, { file: "server.pyc" });
    const [info] = await callAppDir(appDir, [["api.info"]], {}) as [Info];
    assert.equal(info.name, "__main__");
    assert.equal(info.file, join(appDir, "python/server.pyc"));
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

Deno.test("[python] enabled = false: no backend, no Python in the AppDir, calls answered with an error", async () => {
  const { root, project } = keysProject((t) =>
    t.replace('[python]\nversion = "3.11"', '[python]\nenabled = false\nversion = "3.11"')
      .replace('strategy = "embedded"', 'strategy = "portable"')
  );
  try {
    const output = join(root, "app.AppDir");
    const result = await packFullstack({ config: project, output, log: () => {} });
    assert.equal(result.outputKind, "directory");
    assert.equal(readFullstackDocument(output).python, null);
    for (const rel of ["python", "python_runtime", "python_runtime.json", ".pbundle/python"]) {
      assert.ok(!existsSync(join(output, rel)), rel);
    }
    assert.ok(existsSync(join(output, "frontend/index.html")));
    const appRun = spawnSync(join(output, "AppRun"), [], { encoding: "utf8" });
    assert.equal(appRun.status, 127);
    assert.match(appRun.stderr, /keys-demo: a frontend-only pbundle app/);
    const dev = cliSync(["dev", project, "--stdio"], {}, '{"id":"a","method":"api.echo"}\n');
    assert.equal(dev.status, 0, dev.stderr);
    assert.deepEqual(dev.messages, [{
      id: "a",
      ok: false,
      error: "This app has no Python backend ([python] enabled = false)",
    }]);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

Deno.test("pip honours the configured index, and the install cache is keyed by it", () => {
  const { root, wheels } = keysProject();
  const other = join(root, "wheels-b");
  mkdirSync(other);
  makeWheel(other, "pbundle-keys-probe", "1.0", "index-b");
  const cacheDir = join(root, "cache");
  const install = (findLinks: string, target: string) => {
    const logs: string[] = [];
    pipInstall(["pbundle-keys-probe"], "3.11", target, {
      env: { ...Deno.env.toObject(), ...pipIndexEnv(findLinks), PBUNDLE_PIP_PYTHON: "python3.11" },
      cacheDir,
      log: (l) => logs.push(l),
      useCache: true,
    });
    return { value: readFileSync(join(target, "pbundle_keys_probe.py"), "utf8"), logs };
  };
  try {
    const a = install(wheels, join(root, "t1"));
    assert.equal(a.value, "VALUE = 'index-a'\n");
    assert.match(a.logs.join("\n"), /^pip install pbundle-keys-probe/m);
    // Another index: a new install, not the cached one from the first.
    const b = install(other, join(root, "t2"));
    assert.equal(b.value, "VALUE = 'index-b'\n");
    assert.match(b.logs.join("\n"), /^pip install pbundle-keys-probe/m);
    // The first index again: the cache answers.
    const again = install(wheels, join(root, "t3"));
    assert.equal(again.value, "VALUE = 'index-a'\n");
    assert.match(again.logs.join("\n"), /^using cached packages/m);
    // No index holds it: pip's own error is named.
    assert.throws(
      () => install(join(root, "empty-" + "dir"), join(root, "t4")),
      (e) =>
        e instanceof InputError && /Cannot install pbundle-keys-probe with pip/.test(e.message),
    );
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

Deno.test("the resources-not-found messages: a glob matching nothing, a resource that cannot be copied, no index.html", async () => {
  const { root, project, wheels } = keysProject((t) => t.replace('"./web"', '"./assets"'));
  const env = { ...Deno.env.toObject(), ...pipIndexEnv(wheels), XDG_CACHE_HOME: join(root, "c") };
  try {
    const lines: string[] = [];
    await buildFullstackAppDir(project, join(root, "AppDir"), { env, log: (l) => lines.push(l) });
    assert.ok(lines.includes(`warning: "${project}/assets" has no index.html`), lines.join("\n"));
    assert.ok(
      lines.includes(
        `warning: [[hooks.collect]] source "${project}/nothing/*.zzz" matched nothing`,
      ),
    );
    // A resource directory holding a dangling symlink.
    symlinkSync(join(project, "gone.txt"), join(project, "pylib", "broken.txt"));
    await assert.rejects(
      buildFullstackAppDir(project, join(root, "AppDir2"), { env, log: () => {} }),
      (e) =>
        e instanceof InputError &&
        e.message ===
          `Cannot copy resource "${project}/pylib/broken.txt": it is a symlink to a missing file ([build] resources)`,
    );
    rmSync(join(project, "pylib", "broken.txt"));
    // A resource that does not exist.
    writeFileSync(
      join(project, "pbundle.pack.toml"),
      readFileSync(join(project, "pbundle.pack.toml"), "utf8").replace('"./assets"]', '"./nope"]'),
    );
    await assert.rejects(
      buildFullstackAppDir(project, join(root, "AppDir3"), { env, log: () => {} }),
      (e) =>
        e instanceof InputError &&
        e.message ===
          `Cannot copy resource "${project}/nope": no such file or directory ([build] resources)`,
    );
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

Deno.test("[build] release = false packs zstd level 3, [bundle] icon answers --pbundle_pngIcon, notes print by default", () => {
  const { root, project, wheels, icon } = keysProject();
  const output = join(root, "keys.AppBundle");
  try {
    const run = cliSync(["pack", "--config", project, "-o", output], {
      ...pipIndexEnv(wheels),
      PBUNDLE_LOG: "",
      RUST_LOG: "",
      XDG_CACHE_HOME: join(root, "cache"),
    });
    assert.equal(run.status, 0, run.stderr);
    assert.match(
      run.stderr,
      /^pbundle: note: \[bundle\.platform\.windows\] is parsed and validated; packing for Windows is out of scope$/m,
    );
    assert.match(
      run.stderr,
      /^pbundle: note: \[bundle\.platform\.macos\] is parsed and validated; packing for macOS is out of scope$/m,
    );
    assert.match(
      run.stderr,
      /^pbundle: note: \[python\.process\] console only matters on Windows/m,
    );
    assert.doesNotMatch(run.stderr, /collected \d+ file/, "progress lines need verbose");
    const env = { ...Deno.env.toObject(), XDG_CACHE_HOME: join(root, "cache") };
    const pngIcon = spawnSync(output, ["--pbundle_pngIcon"], { env, encoding: "utf8" });
    assert.equal(pngIcon.status, 0, pngIcon.stderr);
    assert.deepEqual(Uint8Array.from(atob(pngIcon.stdout.trim()), (c) => c.charCodeAt(0)), icon);
    const info = squashfsInfo(output, root, env);
    assert.match(info, /^Compression zstd$/m);
    assert.match(info, /^\s*compression-level 3$/m, info);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

/**
 * Runs `pbundle dev PROJECT --stdio` as a real process, writes the lines, and
 * keeps stdin open until the process exits by itself (killed after 120 s, which
 * fails the test).
 */
function devUntilExit(project: string, env: Record<string, string>, input: string) {
  return new Promise<{ status: number | null; stderr: string; messages: Message[] }>(
    (resolve) => {
      const child = spawn(Deno.execPath(), [
        "run",
        "-A",
        join(ROOT, "cli.ts"),
        "dev",
        project,
        "--stdio",
      ], {
        env: { ...Deno.env.toObject(), ...env },
      });
      let stdout = "";
      let stderr = "";
      child.stdout.setEncoding("utf8").on("data", (c: string) => (stdout += c));
      child.stderr.setEncoding("utf8").on("data", (c: string) => (stderr += c));
      const guard = setTimeout(() => child.kill("SIGKILL"), 120_000);
      child.on("close", (status) => {
        clearTimeout(guard);
        const messages = stdout.split("\n").filter((l) => l.startsWith("{")).map((l) =>
          JSON.parse(l)
        );
        resolve({ status, stderr, messages });
      });
      child.stdin.write(input);
    },
  );
}

Deno.test("pbundle dev --stdio: call_timeout_ms and shutdown_grace_ms reach the host", () => {
  const project = copyProject(
    PROBE,
    (t) =>
      t.replace("call_timeout_ms = 5000", "call_timeout_ms = 400")
        .replace("shutdown_grace_ms = 1000", "shutdown_grace_ms = 250"),
  );
  try {
    // PROBE_STUBBORN: the backend ignores SIGTERM and hangs at exit, so only the
    // SIGKILL after shutdown_grace_ms ends it; api.sleep outlives call_timeout_ms.
    const run = cliSync(
      ["dev", project, "--stdio"],
      { PBUNDLE_LOG: "", PROBE_STUBBORN: "1" },
      '{"id":"z","method":"api.sleep","params":[60]}\n',
    );
    assert.equal(run.status, 0, run.stderr);
    assert.deepEqual(run.messages.find((m) => m.id === "z"), {
      id: "z",
      ok: false,
      error: "Cannot call api.sleep: no answer from the backend within 400 ms",
    });
    assert.match(run.stderr, /backend did not stop within 250 ms of SIGTERM; sending SIGKILL/);
  } finally {
    rmSync(project, { recursive: true, force: true });
  }
});

Deno.test("pbundle dev --stdio: max_restarts and restart_backoff_ms reach the host", async () => {
  const project = copyProject(PROBE, (t) =>
    t.replace("max_restarts = 3", "max_restarts = 2")
      .replace("restart_backoff_ms = 50", "restart_backoff_ms = 37"));
  try {
    // stdin stays open: the app ends because the host gives up on the backend.
    const run = await devUntilExit(project, { PBUNDLE_LOG: "", PROBE_FAIL_AT_START: "1" }, "");
    assert.equal(run.status, 127, run.stderr);
    assert.match(run.stderr, /backend exited with status 1; restarting in 37 ms \(restart 1\)/);
    assert.match(run.stderr, /backend exited with status 1; restarting in 74 ms \(restart 2\)/);
    assert.doesNotMatch(run.stderr, /\(restart 3\)/);
    assert.match(run.stderr, /was restarted 2 times; giving up/);
    const failed = run.messages.find((m) => m.event === "pbundle.backend_failed");
    assert.equal(failed?.data?.restarts, 2, JSON.stringify(run.messages));
    assert.equal(run.messages.filter((m) => m.event === "pbundle.backend_restarted").length, 2);
  } finally {
    rmSync(project, { recursive: true, force: true });
  }
});

Deno.test("RUST_LOG stands in for PBUNDLE_LOG (the document's variable); PBUNDLE_LOG wins", () => {
  assert.equal(logLevelFrom({ RUST_LOG: "debug" }), "debug");
  assert.equal(logLevelFrom({ RUST_LOG: "warn" }), "warn");
  assert.equal(logLevelFrom({ RUST_LOG: "debug", PBUNDLE_LOG: "error" }), "error");
  assert.equal(logLevelFrom({}), "info");
  // End to end: the host's debug lines appear with RUST_LOG=debug alone.
  const quiet = cliSync(["dev", PROBE, "--stdio"], { PBUNDLE_LOG: "", RUST_LOG: "" }, "");
  const loud = cliSync(["dev", PROBE, "--stdio"], { PBUNDLE_LOG: "", RUST_LOG: "debug" }, "");
  assert.equal(quiet.status, 0, quiet.stderr);
  assert.equal(loud.status, 0, loud.stderr);
  assert.doesNotMatch(quiet.stderr, /debug: backend PYTHONPATH=/);
  assert.match(loud.stderr, /\[protocol-probe\] debug: backend PYTHONPATH=/);
});
