import assert from "node:assert/strict";
import { mayFallBackToExtraction, MODE3_EXTRACT_LIMIT } from "./open_app_dir.ts";

Deno.test("mayFallBackToExtraction() follows MountOrExtract: 0 never, 2 always, 3 under 350 MB of bundle", () => {
  const cases: [number, number, boolean][] = [
    [0, 1, false],
    [0, MODE3_EXTRACT_LIMIT * 2, false],
    [1, MODE3_EXTRACT_LIMIT * 2, true],
    [2, 1, true],
    [2, MODE3_EXTRACT_LIMIT * 2, true],
    [3, MODE3_EXTRACT_LIMIT - 1, true],
    [3, MODE3_EXTRACT_LIMIT, false],
    [3, MODE3_EXTRACT_LIMIT * 2, false],
  ];
  for (const [mode, size, expected] of cases) {
    assert.equal(mayFallBackToExtraction(mode, size), expected, `mode ${mode}, ${size} bytes`);
  }
  assert.equal(MODE3_EXTRACT_LIMIT, 350 * 1024 * 1024);
});
