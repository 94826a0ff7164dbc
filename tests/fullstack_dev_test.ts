import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { brokenImportProject, PROBE, ROOT } from "./_fullstack.ts";

/** Runs `pbundle dev ARGS` as a real process with stdin and extra environment. */
function dev(args: string[], input: string, env: Record<string, string> = {}) {
  const run = spawnSync(Deno.execPath(), ["run", "-A", join(ROOT, "cli.ts"), "dev", ...args], {
    input,
    env: { ...Deno.env.toObject(), PBUNDLE_HEADLESS: "1", ...env },
    encoding: "utf8",
    timeout: 60000,
  });
  const messages = run.stdout.trim().split("\n").filter((l) => l.startsWith("{")).map((l) =>
    JSON.parse(l)
  );
  return { status: run.status, stderr: run.stderr, messages };
}

Deno.test("pbundle dev without --stdio or --headless honours PBUNDLE_FRONTEND=stdio", () => {
  const run = dev([PROBE], '{"id":"a","method":"api.echo","params":["hi"]}\n', {
    PBUNDLE_FRONTEND: "stdio",
  });
  assert.equal(run.status, 0, run.stderr);
  assert.deepEqual(run.messages.find((m) => m.id === "a"), { id: "a", ok: true, result: "hi" });
});

Deno.test("pbundle dev reports an import failure to the frontend at once and exits 127", () => {
  const project = brokenImportProject();
  try {
    const start = performance.now();
    const run = dev([project, "--stdio"], '{"id":"a","method":"api.echo","params":["hi"]}\n');
    assert.equal(run.status, 127, run.stderr);
    const answer = run.messages.find((m) => m.id === "a");
    assert.equal(answer?.ok, false, JSON.stringify(run.messages));
    assert.match(answer.error, /^Cannot call api\.echo: .*Cannot import module 'notamodule'/);
    const failed = run.messages.find((m) => m.event === "pbundle.backend_failed");
    assert.ok(failed, JSON.stringify(run.messages));
    assert.equal(failed.data.restarts, 0);
    assert.match(failed.data.message, /Cannot import module 'notamodule', imported by the entry/);
    assert.ok(!run.messages.some((m) => m.event === "pbundle.backend_restarted"));
    assert.doesNotMatch(run.stderr, /restarting in/);
    assert.ok(performance.now() - start < 30000);
  } finally {
    rmSync(project, { recursive: true, force: true });
  }
});

Deno.test("pbundle dev with PBUNDLE_PYTHON naming no file exits 127 naming the variable", () => {
  const run = dev([PROBE, "--stdio"], "", { PBUNDLE_PYTHON: "/nonexistent/python3.11" });
  assert.equal(run.status, 127, run.stderr);
  assert.match(
    run.stderr,
    /Cannot start the Python backend: PBUNDLE_PYTHON is "\/nonexistent\/python3\.11", which is not an executable file/,
  );
});
