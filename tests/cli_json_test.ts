/**
 * The stable script interface of the `pbundle` command (docs/CLI.md): the
 * exit codes and the JSON each command prints with --json, key by key.
 *
 * @module
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { HOST_ELF, makeAppDir, runCli, withTempDir } from "./_helpers.ts";

type Shape = Record<string, string>;

/**
 * Checks that `value` has the keys of `shape` and no others, each of the named
 * typeof ("null" and "array" too; "a|b" for either); a type ending in "?"
 * marks a key that may be absent.
 */
function assertShape(value: Record<string, unknown>, shape: Shape, what: string): void {
  const required = Object.keys(shape).filter((key) => !shape[key]!.endsWith("?"));
  for (const key of required) assert.ok(key in value, `${what}.${key} is missing`);
  for (const key of Object.keys(value)) assert.ok(key in shape, `${what}.${key} is not documented`);
  for (const [key, type] of Object.entries(shape)) {
    if (!(key in value)) continue;
    const v = value[key];
    const actual = v === null ? "null" : Array.isArray(v) ? "array" : typeof v;
    assert.ok(
      type.replace(/\?$/, "").split("|").includes(actual),
      `${what}.${key} is ${actual}, expected ${type}`,
    );
  }
}

const RUNTIME_INFO: Shape = {
  AppBundleID: "string",
  PelfVersion: "string",
  HostInfo: "string",
  FilesystemType: "string",
  Hash: "string",
  DisableRandomWorkDir: "boolean",
  MountOrExtract: "number",
};

Deno.test("pack, inspect and verify --json print the documented shapes", async () => {
  await withTempDir(async (dir) => {
    const appDir = await makeAppDir(join(dir, "AppDir"));
    const bundle = join(dir, "app.AppBundle");
    const packed = await runCli([
      "pack",
      "-a",
      appDir,
      "-i",
      "app-20260101-test",
      "-o",
      bundle,
      "--runtime",
      HOST_ELF,
      "--no-static-tools",
      "--json",
    ]);
    assert.equal(packed.code, 0, packed.stderr);
    const pack = JSON.parse(packed.stdout);
    assertShape(pack, {
      output: "string",
      runtimeInfo: "object",
      imageOffset: "number",
      imageSize: "number",
      size: "number",
      staticTools: "array",
      toolsInRuntime: "boolean",
    }, "pack");
    assert.equal(pack.toolsInRuntime, false, "a plain ELF runtime carries no tools");
    assertShape(pack.runtimeInfo, RUNTIME_INFO, "pack.runtimeInfo");

    const inspected = await runCli(["inspect", bundle, "--json"]);
    assert.equal(inspected.code, 0, inspected.stderr);
    const inspect = JSON.parse(inspected.stdout);
    assertShape(inspect, {
      path: "string",
      fileSize: "number",
      imageOffset: "number",
      imageSize: "number",
      runtimeInfo: "object",
      runtimeInfoEncoding: "string",
      sections: "array",
      staticTools: "object?",
      updInfo: "string?",
      magic: "string|null",
    }, "inspect");
    assertShape(inspect.runtimeInfo, RUNTIME_INFO, "inspect.runtimeInfo");
    for (const section of inspect.sections) {
      assertShape(section, {
        index: "number",
        name: "string",
        type: "number",
        offset: "number",
        size: "number",
      }, "inspect.sections[]");
    }

    const verified = await runCli(["verify", bundle, "--json"]);
    assert.equal(verified.code, 0, verified.stderr);
    assertShape(
      JSON.parse(verified.stdout),
      { ok: "boolean", expected: "string", actual: "string" },
      "verify",
    );

    // A flipped image byte: verify still prints the same shape, with ok false, and exits 1.
    const bytes = await Deno.readFile(bundle);
    bytes[pack.imageOffset + 100]! ^= 0xff;
    await Deno.writeFile(bundle, bytes);
    const failed = await runCli(["verify", bundle, "--json"]);
    assert.equal(failed.code, 1);
    const failure = JSON.parse(failed.stdout);
    assert.equal(failure.ok, false);
    assert.notEqual(failure.actual, failure.expected);
  });
});

Deno.test("runtime build --json prints the documented shape", async () => {
  const built = await runCli(["runtime", "build", "--json"]);
  assert.equal(built.code, 0, built.stderr);
  assertShape(JSON.parse(built.stdout), {
    path: "string",
    engine: "string",
    target: "string",
    engineReason: "string",
    fromCache: "boolean",
  }, "runtime build");
});

Deno.test("exit codes: 0 success, 1 bad input, 2 usage", async () => {
  const cases: [string[], number][] = [
    [["--version"], 0],
    [["--help"], 0],
    [[], 2],
    [["pakc"], 2],
    [["pack", "--bogus"], 2],
    [["pack", "-i", "x-20260101-y"], 2],
    [["inspect"], 2],
    [["inspect", "/nonexistent/file.AppBundle"], 1],
    [["verify", "/nonexistent/file.AppBundle", "--json"], 1],
    [["runtime"], 2],
    [["runtime", "biuld"], 2],
  ];
  for (const [args, code] of cases) {
    const result = await runCli(args);
    assert.equal(result.code, code, `pbundle ${args.join(" ")}: ${result.stderr}`);
  }
});
