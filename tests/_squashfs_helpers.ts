/**
 * Helpers for the squashfs integration tests: tool checks that skip on a
 * developer's machine and fail under CI=true, and a byte-exact manifest of a
 * tree made by find(1), so names that are not UTF-8 compare exactly.
 *
 * @module
 */

/** Runs a command; returns status and raw output. */
export function run(
  cmd: string,
  args: string[],
  opts: { cwd?: string } = {},
): { code: number; stdout: Uint8Array; stderr: string } {
  const r = new Deno.Command(cmd, {
    args,
    stdout: "piped",
    stderr: "piped",
    env: { LC_ALL: "C" },
    ...(opts.cwd === undefined ? {} : { cwd: opts.cwd }),
  }).outputSync();
  return { code: r.code, stdout: r.stdout, stderr: new TextDecoder().decode(r.stderr) };
}

/** Runs a command and throws with its stderr when it fails. */
export function runOk(cmd: string, args: string[], opts: { cwd?: string } = {}): Uint8Array {
  const r = run(cmd, args, opts);
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(" ")} failed (${r.code}): ${r.stderr}`);
  return r.stdout;
}

/**
 * Whether the tools are installed. Without them the test is skipped with a
 * message, except under CI=true, where the missing tool is an error.
 */
export function haveTools(test: string, ...tools: string[]): boolean {
  const missing = tools.filter((t) => run("sh", ["-c", `command -v ${t}`]).code !== 0);
  if (missing.length === 0) return true;
  const message = `${test}: needs ${missing.join(", ")}, which is not installed`;
  if (Deno.env.get("CI") === "true") {
    throw new Error(`${message} (CI=true: failing instead of skipping)`);
  }
  console.warn(`SKIPPED ${message}`);
  return false;
}

/**
 * A manifest of the tree under `dir`: one line per entry with path, type, mode,
 * size and link target (and link count for non-directories), then a SHA-256
 * per regular file. Returned as latin1 text so raw name bytes stay exact.
 */
export function manifest(dir: string): string {
  const entries = runOk("sh", [
    "-c",
    `find . -mindepth 1 \\( -type d -printf '%P\\td\\t%m\\n' \\) -o -printf '%P\\t%y\\t%m\\t%s\\t%l\\t%n\\n' | sort && ` +
    `find . -type f -print0 | sort -z | xargs -0 -r sha256sum`,
  ], { cwd: dir });
  return new TextDecoder("latin1").decode(entries);
}

/** Creates a temporary directory removed by the returned function. */
export async function tempDir(
  prefix: string,
): Promise<{ path: string; [Symbol.asyncDispose](): Promise<void> }> {
  const path = await Deno.makeTempDir({ prefix });
  return {
    path,
    async [Symbol.asyncDispose]() {
      run("sh", ["-c", `chmod -R u+rwx "${path}" 2>/dev/null; rm -rf "${path}"`]);
      await Promise.resolve();
    },
  };
}
