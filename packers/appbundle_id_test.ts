import assert from "node:assert/strict";
import { outputNameFromId, parseAppBundleId } from "./appbundle_id.ts";
import type { AppBundleIdParts } from "./appbundle_id.ts";

for (
  const [id, expected] of [
    // Form I: name-date-maintainer, three date spellings, and a version in the date's place.
    ["hello-20260101-pbundle", { form: "I", name: "hello", repo: "pbundle", date: "20260101" }],
    ["hello-2026_01_31-xplshn", { form: "I", name: "hello", repo: "xplshn", date: "2026_01_31" }],
    ["hello-31_01_2026-xplshn", { form: "I", name: "hello", repo: "xplshn", date: "31_01_2026" }],
    ["my-app-20240229-me", { form: "I", name: "my-app", repo: "me", date: "20240229" }],
    ["hello-1.2.3-me", { form: "I", name: "hello", repo: "me", version: "1.2.3" }],
    // Form II: name#repo[:version].
    ["hello#pbundle/examples", { form: "II", name: "hello", repo: "pbundle/examples" }],
    [
      "hello#pbundle/examples:1.0",
      { form: "II", name: "hello", repo: "pbundle/examples", version: "1.0" },
    ],
    // Form III: name#repo[:version]@date.
    [
      "hello#pbundle/examples:1.0@20260101",
      { form: "III", name: "hello", repo: "pbundle/examples", version: "1.0", date: "20260101" },
    ],
    [
      "hello#pbundle/examples@2026_01_01",
      { form: "III", name: "hello", repo: "pbundle/examples", date: "2026_01_01" },
    ],
  ] as [string, AppBundleIdParts][]
) {
  Deno.test(`parseAppBundleId() reads "${id}" as form ${expected.form}`, () => {
    assert.deepEqual(parseAppBundleId(id), expected);
  });
}

for (
  const id of [
    "",
    "hello",
    "hello world-20260101-me",
    "hello-20261301-me", // month 13
    "hello-20230229-me", // not a leap year
    "hello-32_01_2026-me",
    "hello#",
    "#repo",
    "hello#repo@20261345",
    "hello#repo:1.0@",
  ]
) {
  Deno.test(`parseAppBundleId() refuses "${id}"`, () => {
    assert.equal(parseAppBundleId(id), undefined);
  });
}

for (
  const [id, filesystem, expected] of [
    ["hello-20260101-pbundle", "squashfs", "hello.AppBundle"],
    ["hello-20260101-pbundle", "dwarfs", "hello.dwfs.AppBundle"],
    ["hello#pbundle/examples:1.0", "squashfs", "hello.AppBundle"],
    ["tools/hello#repo@20260101", "squashfs", "tools_hello.AppBundle"],
    ["just a name", "squashfs", "just_a_name.AppBundle"],
    ["...", "squashfs", "app.AppBundle"],
  ] as const
) {
  Deno.test(`outputNameFromId() names a ${filesystem} bundle of "${id}" ${expected}`, () => {
    assert.equal(outputNameFromId(id, filesystem), expected);
  });
}
