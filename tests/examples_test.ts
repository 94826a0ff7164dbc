/**
 * examples/build_script.ts run as its header tells users to: `deno run` with
 * the permissions it lists, from the repository root. It builds examples/hello
 * for both CPUs and the full-stack example for this one; the bundles it
 * prints are checked to be what it says, and to run.
 *
 * @module
 */

import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { type ProcessRun, run, withTempDir } from "./_helpers.ts";
import { REPO, SOURCE_PERMISSIONS } from "./_package_layout.ts";
import { readBundle } from "../format/bundle.ts";

const PERMISSIONS = SOURCE_PERMISSIONS;

/** EM_AARCH64 and EM_X86_64 (ELF e_machine, at byte 18, little-endian). */
const E_MACHINE = { aarch64: 183, x86_64: 62 } as const;
const E_MACHINE_OFFSET = 18;

function buildScript(args: string[]): Promise<ProcessRun> {
  return run(Deno.execPath(), [
    "run",
    "--quiet",
    ...PERMISSIONS,
    "examples/build_script.ts",
    ...args,
  ], { cwd: REPO });
}

async function eMachine(path: string): Promise<number> {
  const file = await Deno.open(path);
  try {
    const head = new Uint8Array(E_MACHINE_OFFSET + 2);
    assert.equal(await file.read(head), head.length);
    return new DataView(head.buffer).getUint16(E_MACHINE_OFFSET, true);
  } finally {
    file.close();
  }
}

/** Runs a full-stack bundle with PBUNDLE_FRONTEND=stdio and one call on stdin. */
async function callBundle(bundle: string, line: string): Promise<ProcessRun> {
  const child = new Deno.Command(bundle, {
    env: { PBUNDLE_FRONTEND: "stdio" },
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(line));
  await writer.close();
  const { code, stdout, stderr } = await child.output();
  const decoder = new TextDecoder();
  return { code, stdout: decoder.decode(stdout), stderr: decoder.decode(stderr) };
}

Deno.test("examples/build_script.ts builds hello for both CPUs and the full-stack example, and they run", async () => {
  const host = Deno.build.arch === "aarch64" ? "aarch64" : "x86_64";
  const other = host === "x86_64" ? "aarch64" : "x86_64";
  await withTempDir(async (dir) => {
    const out = join(dir, "out");
    // The system strategy uses the host's python3.11 and its pyyaml, so the
    // full-stack pack downloads no Python build and installs nothing with pip.
    const built = await buildScript([
      "--target",
      "all",
      "--out",
      out,
      "--full-stack",
      "--strategy",
      "system",
    ]);
    assert.equal(built.code, 0, built.stderr);

    const expected = [
      [join(out, "hello-x86_64.AppBundle"), "hello-20260101-pbundle"],
      [join(out, "hello-aarch64.AppBundle"), "hello-20260101-pbundle"],
      [join(out, `fullstack-${host}.AppBundle`), "dev.pbundle.yamlviewer#yaml-viewer:0.1.0"],
    ];
    const lines = built.stdout.trimEnd().split("\n");
    assert.equal(lines.length, expected.length, built.stdout);
    for (const [index, [path, id]] of expected.entries()) {
      const info = await readBundle(path!);
      assert.equal(info.runtimeInfo.AppBundleID, id);
      assert.equal(lines[index], `${path}: ${id}, squashfs image of ${info.imageSize} bytes`);
    }

    assert.equal(await eMachine(join(out, `hello-${host}.AppBundle`)), E_MACHINE[host]);
    assert.equal(await eMachine(join(out, `hello-${other}.AppBundle`)), E_MACHINE[other]);
    const hello = await run(join(out, `hello-${host}.AppBundle`), [], { cwd: dir });
    assert.equal(hello.code, 0, hello.stderr);
    assert.match(hello.stdout, /^Hello from an AppBundle!/);

    const called = await callBundle(
      join(out, `fullstack-${host}.AppBundle`),
      '{"id":1,"method":"api.echo","params":["hi"]}\n',
    );
    assert.equal(called.code, 0, called.stderr);
    const replies = called.stdout.trim().split("\n").map((line) => JSON.parse(line));
    assert.deepEqual(replies.find((message) => message.id === 1), {
      id: 1,
      ok: true,
      result: "hi",
    });
  });
});

Deno.test("examples/build_script.ts rejects a bad argument in one line with status 2, writing nothing", async () => {
  await withTempDir(async (dir) => {
    const cases: [string[], RegExp][] = [
      [
        ["--target", "arm"],
        /^build_script: Cannot build for "arm": expected x86_64, aarch64 or all\n$/,
      ],
      [["--full-stack", "--strategy", "nope"], /^build_script: Cannot use strategy "nope"/],
      [
        ["--bogus"],
        /^build_script: Cannot read the arguments: Unknown option '--bogus'\nhint: Usage/,
      ],
    ];
    for (const [args, message] of cases) {
      const out = join(dir, "out");
      const result = await buildScript([...args, "--out", out]);
      assert.equal(result.code, 2, result.stderr);
      assert.match(result.stderr, message);
      assert.doesNotMatch(result.stderr, /\n\s+at /);
      assert.equal(existsSync(out), false);
    }
  });
});
