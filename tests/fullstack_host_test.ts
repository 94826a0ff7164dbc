import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { rmSync } from "node:fs";
import { BackendCallError } from "../runtime/fullstack/backend_host.ts";
import { FullstackError } from "../runtime/fullstack/document.ts";
import {
  alive,
  brokenImportProject,
  PROBE,
  probeLaunch,
  ROOT,
  startProbe,
  waitFor,
} from "./_fullstack.ts";

Deno.test("BackendHost runs 100 calls at the same time (sync handlers in threads, async on the loop)", async () => {
  // Each call returns only when all 100 are running together; calls served one
  // at a time would never meet and fail after the handler's 20 s wait.
  // (How fast 100 concurrent 100 ms calls finish is measured in bench/fullstack_bench.ts.)
  const { host } = await startProbe();
  try {
    for (const method of ["api.rendezvous", "api.async_rendezvous"]) {
      const results = await Promise.all(
        Array.from({ length: 100 }, () => host.call(method, { parties: 100 })),
      );
      assert.deepEqual(results, Array(100).fill(100), method);
    }
  } finally {
    await host.stop();
  }
});

Deno.test("BackendHost matches answers by id when they come back out of order", async () => {
  const { host } = await startProbe();
  try {
    const slow = host.call("api.sleep", { seconds: 0.3 });
    const fast = host.call("api.echo", ["fast"]);
    const order: string[] = [];
    await Promise.all([
      slow.then(() => order.push("slow")),
      fast.then((v) => order.push(String(v))),
    ]);
    assert.deepEqual(order, ["fast", "slow"]);
  } finally {
    await host.stop();
  }
});

Deno.test("BackendHost carries non-ASCII text both ways unchanged", async () => {
  const { host } = await startProbe();
  try {
    const text = 'héllo wörld ✓ 日本語 😀 \u2028 \u0000 \\ " \n end';
    assert.equal(await host.call("api.echo", [text]), text);
    const nested = { "ключ": ["значение", { "emoji": "👍🏽" }] };
    assert.deepEqual(await host.call("api.echo", [nested]), nested);
  } finally {
    await host.stop();
  }
});

Deno.test("BackendHost receives a 10 MB result intact", async () => {
  const { host } = await startProbe();
  try {
    const size = 10 * 1024 * 1024;
    const result = await host.call("api.big", { size }) as string;
    assert.equal(result.length, size / 2);
    assert.ok(result === "é".repeat(size / 2));
    assert.equal(await host.call("api.echo", ["after"]), "after");
  } finally {
    await host.stop();
  }
});

Deno.test("BackendHost logs lines that are not protocol with a warning and keeps going", async () => {
  const { host, logs } = await startProbe();
  try {
    assert.equal(await host.call("api.garbage"), "after garbage");
    assert.equal(await host.call("api.echo", ["still fine"]), "still fine");
    const warnings = logs.filter((l) => l.includes("not protocol"));
    assert.ok(warnings.some((l) => l.includes("this is not json")), logs.join("\n"));
    assert.ok(warnings.some((l) => l.includes("[1, 2, 3]")), "a JSON array is not protocol");
    assert.ok(logs.some((l) => l === "[probe] a print() lands on stderr"), logs.join("\n"));
  } finally {
    await host.stop();
  }
});

Deno.test("BackendHost rejects with the backend's error message, and for unknown methods", async () => {
  const { host } = await startProbe();
  try {
    await assert.rejects(host.call("api.fail", { message: "ünïcode bad input" }), (e) => {
      assert.ok(e instanceof BackendCallError);
      assert.equal(e.kind, "error");
      assert.equal(e.message, "ValueError: ünïcode bad input");
      return true;
    });
    await assert.rejects(host.call("api.nope"), /Unknown method 'api\.nope'/);
  } finally {
    await host.stop();
  }
});

Deno.test("BackendHost times out a call that gets no answer", async () => {
  const { host } = await startProbe({}, { callTimeoutMs: 200 });
  try {
    await assert.rejects(host.call("api.sleep", { seconds: 2 }), (e) => {
      assert.ok(e instanceof BackendCallError);
      assert.equal(e.kind, "timeout");
      assert.match(e.message, /no answer from the backend within 200 ms/);
      return true;
    });
    assert.equal(await host.call("api.echo", ["ok"], { timeoutMs: 2000 }), "ok");
  } finally {
    await host.stop();
  }
});

Deno.test("BackendHost passes events on, and answers the backend's own requests", async () => {
  const { host } = await startProbe({}, {
    onRequest: (method, params) => {
      if (method === "host.ping") return { pong: params };
      throw new Error(`no ${method}`);
    },
  });
  const events: Array<[string, unknown]> = [];
  host.on((event, data) => events.push([event, data]));
  try {
    assert.equal(await host.call("api.events", { count: 3 }), 3);
    const ticks = events.filter(([e]) => e === "tick").map(([, d]) => d);
    assert.deepEqual(ticks, [0, 1, 2].map((i) => ({ i, text: "ünïcødé ✓" })));
    assert.deepEqual(await host.call("api.ask_host", { params: [1, "ü"] }), { pong: [1, "ü"] });
    await assert.rejects(
      host.call("api.ask_host", { method: "host.nothing" }),
      (e) => e instanceof BackendCallError && e.kind === "error" && e.message === "no host.nothing",
    );
    const ready = await host.waitReady();
    assert.ok(ready?.methods.includes("api.crash"));
  } finally {
    await host.stop();
  }
});

Deno.test("a crashed backend fails calls in flight, restarts, reports it, and serves again", async () => {
  const { host } = await startProbe();
  const events: string[] = [];
  host.on((event) => events.push(event));
  try {
    const firstPid = host.pid;
    const inFlight = host.call("api.sleep", { seconds: 2 });
    await new Promise((r) => setTimeout(r, 100));
    await assert.rejects(host.call("api.crash", { code: 3 }), (e) => {
      assert.ok(e instanceof BackendCallError);
      assert.equal(e.kind, "exited");
      assert.match(e.message, /the Python backend exited with status 3/);
      return true;
    });
    await assert.rejects(inFlight, /Cannot call api\.sleep: the Python backend exited/);
    assert.ok(await waitFor(() => events.includes("pbundle.backend_restarted")), events.join());
    assert.ok(events.includes("pbundle.backend_exited"));
    assert.equal(await host.call("api.echo", ["back"]), "back");
    assert.notEqual(host.pid, firstPid);
    assert.equal(host.restarts, 1);
  } finally {
    await host.stop();
  }
});

Deno.test("a backend that cannot start is given up after max_restarts, naming the cause", async () => {
  const { host, logs } = await startProbe({ PROBE_FAIL_AT_START: "1" }, { maxRestarts: 2 });
  const events: Array<[string, unknown]> = [];
  host.on((event, data) => events.push([event, data]));
  try {
    assert.ok(await waitFor(() => events.some(([e]) => e === "pbundle.backend_failed"), 30_000));
    const failed = events.find(([e]) => e === "pbundle.backend_failed")![1] as { message: string };
    assert.match(failed.message, /restarted 2 times/);
    assert.match(failed.message, /failing at start because PROBE_FAIL_AT_START is set/);
    await assert.rejects(host.call("api.echo", [1]), /restarted 2 times; giving up/);
    assert.equal(events.filter(([e]) => e === "pbundle.backend_restarted").length, 2);
    assert.ok(logs.some((l) => l.includes("error: Cannot keep the backend running")));
  } finally {
    await host.stop();
  }
});

Deno.test("stop() ends the backend and everything it started: no orphans", async () => {
  const { host } = await startProbe();
  try {
    const backend = host.pid!;
    const plain = await host.call("api.spawn") as number;
    const stubborn = await host.call("api.spawn", { ignore_term: true }) as number;
    assert.ok(alive(plain) && alive(stubborn) && alive(backend));
    await host.stop();
    assert.ok(!alive(backend), "backend still alive");
    assert.ok(await waitFor(() => !alive(plain) && !alive(stubborn)), "orphans left");
  } finally {
    await host.stop();
  }
});

Deno.test("a host killed with SIGKILL leaves no orphans: the backend sees stdin close", async () => {
  // A separate host process that we can SIGKILL.
  const script = `
    import { startProbe } from "${ROOT}/tests/_fullstack.ts";
    const { host } = await startProbe();
    const child = await host.call("api.spawn");
    console.log(JSON.stringify({ backend: host.pid, child }));
    await new Promise(() => {});
  `;
  const proc = spawn(Deno.execPath(), ["eval", "--config", `${ROOT}/deno.json`, script], {
    stdio: ["ignore", "pipe", "inherit"],
    cwd: PROBE,
  });
  const line = await new Promise<string>((resolve, reject) => {
    let out = "";
    proc.once("exit", (code) => reject(new Error(`the host exited early with status ${code}`)));
    proc.stdout!.on("data", (c) => {
      out += c;
      if (out.includes("\n")) resolve(out.split("\n")[0]!);
    });
  });
  const { backend, child } = JSON.parse(line);
  assert.ok(alive(backend) && alive(child));
  proc.kill("SIGKILL");
  assert.ok(await waitFor(() => !alive(backend) && !alive(child), 20_000), "orphans after SIGKILL");
});

Deno.test("processes the backend starts do not inherit AURORAVIEW_PACKED", async () => {
  const { host } = await startProbe({ AURORAVIEW_PACKED: "1" });
  try {
    // Dev documents are not packed; the host drops an inherited AURORAVIEW_PACKED.
    assert.deepEqual(await host.call("api.child_env"), {
      self: "<unset>",
      child: "<unset>",
      child_with_environ: "<unset>",
      packed: false,
    });
  } finally {
    await host.stop();
  }
  // Packed: the app sees the variable (the document's detection idiom) and is_packed() is
  // true, but children do not inherit it, also one started with env=os.environ.
  const packed = await startProbe({}, {}, (doc) => (doc.packed = true));
  try {
    assert.deepEqual(await packed.host.call("api.child_env"), {
      self: "1",
      child: "<unset>",
      child_with_environ: "<unset>",
      packed: true,
    });
  } finally {
    await packed.host.stop();
  }
});

Deno.test("serve() answers the calls still running when stdin closes", () => {
  const launch = probeLaunch();
  const input = [
    '{"id":1,"method":"api.sleep","params":{"seconds":0.5}}',
    '{"id":2,"method":"api.async_sleep","params":{"seconds":0.5}}',
    '{"id":3,"method":"api.echo","params":["fast"]}',
  ].join("\n") + "\n";
  const run = spawnSync(launch.command, launch.args, {
    env: launch.env,
    cwd: launch.cwd,
    input,
    encoding: "utf8",
    timeout: 20000,
  });
  assert.equal(run.status, 0, run.stderr);
  const answers = run.stdout.trim().split("\n").map((l) => JSON.parse(l)).filter((m) => "id" in m);
  assert.deepEqual(
    answers.sort((a, b) => a.id - b.id),
    [{ id: 1, ok: true, result: 0.5 }, { id: 2, ok: true, result: 0.5 }, {
      id: 3,
      ok: true,
      result: "fast",
    }],
  );
});

Deno.test("serve() waits at most the call timeout for calls running when stdin closes", () => {
  const launch = probeLaunch({}, (doc) => (doc.python!.process.callTimeoutMs = 300));
  assert.equal(launch.env["PBUNDLE_CALL_TIMEOUT_MS"], "300");
  const start = performance.now();
  const run = spawnSync(launch.command, launch.args, {
    env: launch.env,
    cwd: launch.cwd,
    input: '{"id":1,"method":"api.sleep","params":{"seconds":120}}\n',
    encoding: "utf8",
    timeout: 100_000,
  });
  assert.equal(run.status, 0, run.stderr);
  // Far below the call's 120 s, however loaded the machine: it did not wait for the call.
  assert.ok(performance.now() - start < 60_000, "waited for the whole 120 s call");
  assert.match(
    run.stderr,
    /pbundle_backend: warning: stdin closed; 1 call\(s\) still running after 0\.3 s are not answered/,
  );
  assert.doesNotMatch(run.stdout, /"id":1/);
});

Deno.test("a missing module imported by the entry module is named and the backend is not restarted", async () => {
  const project = brokenImportProject();
  const { host, logs } = await startProbe({}, { maxRestarts: 3 }, () => {}, project);
  const events: Array<[string, unknown]> = [];
  host.on((event, data) => events.push([event, data]));
  try {
    assert.ok(await waitFor(() => host.failure !== undefined, 30_000), logs.join("\n"));
    const why =
      /Cannot import module 'notamodule', imported by the entry module 'main' \(at '[^']*\/main\.py', line 2\): No module named 'notamodule'; sys\.path is \[.*\] \(add the package that provides it to \[python\] packages, or its directory to \[python\.process\] module_search_paths\)/;
    assert.ok(logs.some((l) => why.test(l)), logs.join("\n"));
    assert.ok(!logs.some((l) => l.includes("Cannot import entry module")), logs.join("\n"));
    assert.match(host.failure!, /exited with status 3 before it was ready, not restarting/);
    assert.match(host.failure!, why);
    assert.equal(host.restarts, 0);
    await new Promise((r) => setTimeout(r, 300)); // past the 50 ms backoff: still no restart
    assert.deepEqual(events.map(([e]) => e), ["pbundle.backend_failed"]);
    assert.equal((events[0]![1] as { message: string }).message, host.failure);
    await assert.rejects(host.call("api.echo", [1]), (e) => {
      assert.ok(e instanceof BackendCallError);
      assert.match(e.message, /^Cannot call api\.echo: .*Cannot import module 'notamodule'/);
      return true;
    });
    assert.ok(logs.some((l) => l.includes("error: Cannot start the backend:")), logs.join("\n"));
  } finally {
    await host.stop();
    rmSync(project, { recursive: true, force: true });
  }
});

Deno.test("PBUNDLE_LOG=trace logs a failing handler's traceback, as debug does", async () => {
  for (const level of ["trace", "debug"]) {
    const { host, logs } = await startProbe({ PBUNDLE_LOG: level });
    try {
      await assert.rejects(host.call("api.fail", ["boom"]), /ValueError: boom/);
      assert.ok(
        await waitFor(() => logs.some((l) => l.includes("Traceback (most recent call last)"))),
        `${level}: ${logs.join("\n")}`,
      );
    } finally {
      await host.stop();
    }
  }
});

Deno.test("PBUNDLE_PYTHON naming no executable file is an error that names the variable", () => {
  for (
    const [value, where] of [["/nonexistent/python3.11", ""], ["no-such-python", " on PATH"]]
  ) {
    assert.throws(
      () => probeLaunch({ PBUNDLE_PYTHON: value! }),
      (e) => {
        assert.ok(e instanceof FullstackError);
        assert.equal(
          e.message,
          `Cannot start the Python backend: PBUNDLE_PYTHON is "${value}", which is not an executable file${where} (set it to the path of a python3.11, or unset it to search PATH)`,
        );
        return true;
      },
    );
  }
  // A name on PATH is looked up.
  assert.match(probeLaunch({ PBUNDLE_PYTHON: "python3.11" }).command, /^\/.*\/python3\.11$/);
});
