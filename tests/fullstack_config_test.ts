import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FormatError } from "../errors.ts";
import {
  ConfigError,
  findPackConfig,
  parsePackConfig,
  readPackConfig,
} from "../packers/fullstack/config.ts";
import { EXAMPLE } from "./_fullstack.ts";

const BASE = `
[package]
name = "demo"
version = "1.0.0"
[app]
frontend_path = "./dist"
[python]
entry_point = "main:run"
`;

const FILE = "/project/pbundle.pack.toml";

Deno.test("parsePackConfig() reads the document's full example file", () => {
  const text = `
[package]
name = "my-app"
version = "1.0.0"
description = "My application description"
authors = ["Your Name <your@email.com>"]
license = "MIT"
[app]
title = "My Application"
frontend_path = "./dist"
allow_new_window = false
[window]
width = 1280
height = 720
min_width = 800
min_height = 600
resizable = true
frameless = false
transparent = false
always_on_top = false
start_position = "center"
[bundle]
icon = "./assets/my-app-icon.png"
identifier = "com.mycompany.myapp"
copyright = "Copyright 2025 My Company"
category = "Productivity"
short_description = "A great application"
[bundle.platform.windows]
console = false
file_version = "1.0.0.0"
product_version = "1.0.0"
file_description = "My Application"
product_name = "My Application"
company_name = "My Company"
[bundle.platform.macos]
[bundle.platform.linux]
categories = ["Utility", "Development"]
appimage = true
[python]
enabled = true
version = "3.11"
entry_point = "main:run"
packages = ["pyyaml", "requests"]
include_paths = [".", "src"]
exclude = ["__pycache__", "*.pyc", "tests"]
optimize = 1
strategy = "standalone"
[python.process]
console = false
module_search_paths = ["$EXTRACT_DIR", "$SITE_PACKAGES"]
filesystem_importer = true
[python.isolation]
pythonpath = true
path = true
[python.protection]
enabled = true
optimization = 2
[build]
before = ["npm run build"]
after = []
resources = ["./public"]
exclude = ["*.map", "*.ts", "node_modules"]
out_dir = "./pack-output"
release = true
[runtime]
[runtime.env]
APP_ENV = "production"
LOG_LEVEL = "info"
[hooks]
before_collect = []
after_pack = []
[[hooks.collect]]
source = "./examples/*.py"
dest = "resources/examples"
preserve_structure = false
description = "Example files"
[debug]
enabled = false
devtools = false
verbose = false
`;
  const c = parsePackConfig(text, FILE);
  assert.equal(c.package.name, "my-app");
  assert.deepEqual(c.package.authors, ["Your Name <your@email.com>"]);
  assert.equal(c.app.frontendPath, "/project/dist");
  assert.equal(c.window.minWidth, 800);
  assert.equal(c.bundle.icon, "/project/assets/my-app-icon.png");
  assert.equal(c.bundle.platform.linux.appimage, true);
  assert.equal(c.bundle.platform.windows["company_name"], "My Company");
  assert.deepEqual(c.python.entryPoint, { module: "main", function: "run" });
  assert.deepEqual(c.python.includePaths, ["/project", "/project/src"]);
  assert.equal(c.python.protection.optimization, 2);
  assert.equal(c.python.isolation.path, true);
  assert.deepEqual(c.build.resources, ["/project/public"]);
  assert.equal(c.build.outDir, "/project/pack-output");
  assert.deepEqual(c.runtime.env, { APP_ENV: "production", LOG_LEVEL: "info" });
  assert.equal(c.hooks.collect[0]!.source, "/project/examples/*.py");
  assert.equal(c.hooks.collect[0]!.dest, "resources/examples");
});

Deno.test("parsePackConfig() fills defaults and reads file.py entry points", () => {
  const c = parsePackConfig(BASE.replace('"main:run"', '"app/server.py"'), FILE);
  assert.deepEqual(c.python.entryPoint, { file: "app/server.py" });
  assert.equal(c.python.strategy, "standalone");
  assert.equal(c.python.version, "3.11");
  assert.deepEqual(c.python.process.moduleSearchPaths, ["$EXTRACT_DIR", "$SITE_PACKAGES"]);
  assert.equal(c.python.process.callTimeoutMs, 30000);
  assert.equal(c.bundle.identifier, "io.pbundle.demo");
  assert.equal(c.app.title, "demo");
  const noPython = parsePackConfig(BASE.replace(/\[python\][^]*$/, ""), FILE);
  assert.equal(noPython.python.enabled, false);
});

const ERRORS: Array<[string, string, RegExp]> = [
  [
    "unknown key",
    BASE + 'entry_pont = "x:y"\n',
    /unknown key "entry_pont" in \[python\]; did you mean "entry_point"\?/,
  ],
  [
    "unknown table",
    BASE + "[pyhton]\n",
    /unknown key "pyhton" at the top level; did you mean "python"\?/,
  ],
  [
    "unknown nested",
    BASE + "[python.isolation]\npythonpaths = true\n",
    /unknown key "pythonpaths" in \[python\.isolation\]; did you mean "pythonpath"\?/,
  ],
  [
    "wrong type",
    BASE + 'optimize = "2"\n',
    /"optimize" in \[python\] must be an integer, not a string/,
  ],
  [
    "out of range",
    BASE + "optimize = 3\n",
    /"optimize" in \[python\] is 3; it must be between 0 and 2/,
  ],
  [
    "bad enum",
    BASE + 'strategy = "standalon"\n',
    /"strategy" in \[python\] is "standalon"; it must be one of standalone, pyoxidizer, embedded, system, portable; did you mean "standalone"\?/,
  ],
  [
    "bad entry",
    BASE.replace('"main:run"', '"main"'),
    /"entry_point" in \[python\] is "main"; it must be "module:function" or "file\.py"/,
  ],
  [
    "key in another table",
    BASE + '[window]\nentry_point = "x:y"\n',
    /unknown key "entry_point" in \[window\]; did you mean "entry_point" in \[python\]\?/,
  ],
  [
    "far-off unknown key",
    BASE + "[debug]\nzzzzzz = 1\n",
    /unknown key "zzzzzz" in \[debug\] \(valid keys: enabled, devtools, verbose\)$/,
  ],
  [
    "bool as string",
    BASE + '[window]\nresizable = "yes"\n',
    /"resizable" in \[window\] must be true or false, not a string$/,
  ],
  [
    "version as float",
    BASE + "version = 3.12\n",
    /"version" in \[python\] must be a string, not a float \(quote it: "3\.12"\)$/,
  ],
  [
    "integer as float",
    BASE + "[window]\nwidth = 1.5\n",
    /"width" in \[window\] must be an integer, not a float$/,
  ],
  [
    "table as value",
    "debug = 1\n" + BASE,
    /"debug" at the top level must be a table, not an integer$/,
  ],
  [
    "strings as string",
    BASE + 'include_paths = "."\n',
    /"include_paths" in \[python\] must be an array of strings, not a string$/,
  ],
  [
    "enum as integer",
    BASE + "strategy = 1\n",
    /"strategy" in \[python\] must be one of standalone, pyoxidizer, embedded, system, portable, not an integer$/,
  ],
  [
    "env as string",
    BASE + '[runtime]\nenv = "A=1"\n',
    /"env" in \[runtime\] must be a table, not a string$/,
  ],
  [
    "env name",
    BASE + '[runtime.env]\n"1BAD" = "x"\n',
    /"1BAD" in \[runtime\.env\] is not a valid environment variable name$/,
  ],
  [
    "collect as table",
    BASE + '[hooks.collect]\nsource = "a"\ndest = "b"\n',
    /"collect" in \[hooks\] must be an array of tables \(\[\[hooks\.collect\]\]\), not a table$/,
  ],
  [
    "missing version",
    BASE.replace('version = "1.0.0"\n', ""),
    /missing required key "version" in \[package\] \(required in \[package\]: name, version\)$/,
  ],
  [
    "missing name",
    BASE.replace('name = "demo"\n', ""),
    /missing required key "name" in \[package\]/,
  ],
  [
    "missing package",
    BASE.replace(/\[package\][^[]*/, ""),
    /missing required key "package" at the top level/,
  ],
  [
    "missing entry",
    BASE.replace('entry_point = "main:run"\n', ""),
    /missing required key "entry_point" in \[python\]/,
  ],
  [
    "missing frontend",
    BASE.replace('frontend_path = "./dist"\n', ""),
    /missing required key "frontend_path" in \[app\] \(or "url"\)/,
  ],
  [
    "env not string",
    BASE + "[runtime.env]\nLEVEL = 3\n",
    /"LEVEL" in \[runtime\.env\] must be a string, not an integer \(quote the value\)/,
  ],
  [
    "collect missing dest",
    BASE + '[[hooks.collect]]\nsource = "*.txt"\n',
    /missing required key "dest" in \[hooks\.collect\]/,
  ],
  [
    "collect escapes",
    BASE + '[[hooks.collect]]\nsource = "*.txt"\ndest = "../out"\n',
    /"dest" in \[hooks\.collect\] is "\.\.\/out"; it must be a relative path inside the bundle/,
  ],
  [
    "strings",
    BASE + 'packages = ["a", 1]\n',
    /"packages" in \[python\] must be an array of strings, but item 1 is an integer/,
  ],
  [
    "sha",
    BASE + 'runtime_sha256 = "abc"\n',
    /"runtime_sha256" in \[python\] is "abc"; it must be 64 hexadecimal digits/,
  ],
  [
    "windows key",
    BASE + "[bundle.platform.windows]\nconsol = false\n",
    /unknown key "consol" in \[bundle\.platform\.windows\]; did you mean "console"\?/,
  ],
];

for (const [name, text, pattern] of ERRORS) {
  Deno.test(`parsePackConfig() rejects a file with ${name}, naming key and table`, () => {
    assert.throws(() => parsePackConfig(text, FILE), (e) => {
      assert.ok(e instanceof ConfigError, String(e));
      assert.match(e.message, pattern);
      assert.ok(e.message.startsWith(`Cannot read "${FILE}": `));
      // The key and its table, as the message names them.
      const where = e.table === "" ? "at the top level" : `in [${e.table}]`;
      assert.ok(e.message.includes(`"${e.key}" ${where}`), e.message);
      if (e.suggestion !== undefined) {
        assert.ok(e.message.includes(`did you mean "${e.suggestion}"`));
      }
      return true;
    });
  });
}

Deno.test("ConfigError carries the nearest valid key, and its table when it is another one", () => {
  const error = (text: string) => {
    try {
      parsePackConfig(text, FILE);
    } catch (e) {
      return e as ConfigError;
    }
    throw new Error("no error");
  };
  const typo = error(BASE + "[python.process]\nmax_restart = 1\n");
  assert.deepEqual([typo.table, typo.key, typo.suggestion, typo.suggestionTable], [
    "python.process",
    "max_restart",
    "max_restarts",
    undefined,
  ]);
  const moved = error(BASE + '[window]\nentry_point = "x:y"\n');
  assert.deepEqual([moved.table, moved.suggestion, moved.suggestionTable], [
    "window",
    "entry_point",
    "python",
  ]);
  assert.equal(error(BASE + "[debug]\nzzzzzz = 1\n").suggestion, undefined);
});

Deno.test("parsePackConfig() reports TOML syntax errors with line and column", () => {
  assert.throws(() => parsePackConfig("[package]\nname = \n", FILE), (e) => {
    assert.ok(e instanceof FormatError);
    assert.equal(e.format, "TOML");
    assert.match(e.message, /at line 2, column \d+/);
    return true;
  });
});

Deno.test("findPackConfig() looks for pbundle.pack.toml, then auroraview.pack.toml", () => {
  const dir = mkdtempSync(join(tmpdir(), "pbundle-cfg-"));
  assert.throws(
    () => findPackConfig(dir),
    /neither pbundle\.pack\.toml nor auroraview\.pack\.toml/,
  );
  writeFileSync(join(dir, "auroraview.pack.toml"), BASE);
  assert.equal(findPackConfig(dir), join(dir, "auroraview.pack.toml"));
  writeFileSync(join(dir, "pbundle.pack.toml"), BASE);
  assert.equal(findPackConfig(dir), join(dir, "pbundle.pack.toml"));
  mkdirSync(join(dir, "sub"));
  assert.equal(readPackConfig(join(dir, "auroraview.pack.toml")).dir, dir);
  assert.equal(readPackConfig(EXAMPLE).package.name, "yaml-viewer");
});
