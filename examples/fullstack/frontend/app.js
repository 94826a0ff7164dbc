// Plain JavaScript: window.auroraview is injected by pbundle's app window
// (call(method, params) returns a promise; on(event, callback) receives events).
const $ = (id) => document.getElementById(id);

async function main() {
  const bridge = globalThis.auroraview;
  if (!bridge) {
    $("status").textContent =
      "No backend bridge: open this page through the packed app or pbundle dev.";
    return;
  }
  bridge.on("count", (data) => {
    $("status").textContent = `count ${data.value}`;
  });
  bridge.on("pbundle.backend_exited", (data) => {
    $("status").textContent = `Backend stopped (${
      data.signal ?? `status ${data.code}`
    }); restarting…`;
  });
  bridge.on("pbundle.backend_restarted", () => {
    $("status").textContent = "Backend restarted";
  });
  // A call that fails (the backend's error message) and is not handled where it was made.
  globalThis.addEventListener("unhandledrejection", (event) => {
    $("error").textContent = `Error: ${event.reason?.message ?? event.reason}`;
  });
  const info = await bridge.call("api.info");
  $("status").textContent = `Python ${info.python}, pyyaml ${info.yaml}, packed: ${info.packed}`;
  for (const name of await bridge.call("api.list_samples")) {
    const li = document.createElement("li");
    li.textContent = name;
    li.onclick = async () => {
      const sample = await bridge.call("api.get_sample", { name });
      $("sample").textContent = JSON.stringify(sample.data, null, 2);
    };
    $("samples").append(li);
  }
  $("parse").onclick = async () => {
    try {
      const parsed = await bridge.call("api.parse_yaml", { text: $("yaml").value });
      $("parsed").textContent = JSON.stringify(parsed, null, 2);
    } catch (error) {
      $("parsed").textContent = `Error: ${error.message}`;
    }
  };
}

main().catch((error) => {
  $("status").textContent = `Error: ${error.message}`;
});
