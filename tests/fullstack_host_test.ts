import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { BackendCallError } from "../runtime/fullstack/backend_host.ts";
import { alive, PROBE, ROOT, startProbe, waitFor } from "./_fullstack.ts";

Deno.test("BackendHost answers 100 concurrent calls to a 100 ms handler in under 1 s", async () => {
  const { host } = await startProbe();
  try {
    await host.call("api.echo", 1); // warm
    for (const method of ["api.sleep", "api.async_sleep"]) {
      const start = performance.now();
      const results = await Promise.all(
        Array.from({ length: 100 }, () => host.call(method, { seconds: 0.1 })),
      );
      const elapsed = performance.now() - start;
      assert.equal(results.length, 100);
      assert.ok(results.every((r) => r === 0.1));
      assert.ok(elapsed < 1000, `${method}: 100 concurrent calls took ${elapsed} ms`);
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
    assert.ok(await waitFor(() => events.some(([e]) => e === "pbundle.backend_failed"), 8000));
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
    const start = performance.now();
    await host.stop();
    assert.ok(!alive(backend), "backend still alive");
    assert.ok(await waitFor(() => !alive(plain) && !alive(stubborn), 3000), "orphans left");
    assert.ok(performance.now() - start < 2500);
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
  assert.ok(await waitFor(() => !alive(backend) && !alive(child), 5000), "orphans after SIGKILL");
});

Deno.test("processes the backend starts do not inherit AURORAVIEW_PACKED", async () => {
  const { host } = await startProbe({ AURORAVIEW_PACKED: "1" });
  try {
    // Dev documents are not packed; the host drops an inherited AURORAVIEW_PACKED.
    assert.deepEqual(await host.call("api.child_env"), {
      self: "<unset>",
      child: "<unset>",
      packed: false,
    });
  } finally {
    await host.stop();
  }
});
