import assert from "node:assert/strict";
import { extname, join, normalize } from "node:path";
import { fileURLToPath } from "node:url";

const CONTENT_TYPES: Record<string, string> = {
  ".ts": "application/typescript; charset=utf-8",
  ".js": "application/javascript",
  ".json": "application/json",
};

/** Serves the files under `root` read from disk, as a remote host would. */
function serveFolder(root: string): Deno.HttpServer<Deno.NetAddr> {
  return Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, async (request) => {
    const path = decodeURIComponent(new URL(request.url).pathname);
    if (path.split("/").includes("..")) return new Response("Forbidden", { status: 403 });
    try {
      const body = await Deno.readFile(join(root, normalize(path)));
      const type = CONTENT_TYPES[extname(path)] ?? "application/octet-stream";
      return new Response(body, { headers: { "content-type": type } });
    } catch {
      return new Response("Not found", { status: 404 });
    }
  });
}

Deno.test("mod.ts imported by http URL from a folder without deno.json runs a forward pass", async () => {
  const server = serveFolder(fileURLToPath(new URL("../", import.meta.url)));
  const host = `127.0.0.1:${server.addr.port}`;
  const dir = await Deno.makeTempDir({ prefix: "saliency_lab_url_import_" });
  try {
    const script = join(dir, "main.ts");
    await Deno.writeTextFile(
      script,
      `import { createReferenceNet, initBackend, tf } from "http://${host}/mod.ts";
const engine = await initBackend({ backend: "wasm", log: null });
const model = createReferenceNet({ numClasses: 3, inputSize: 16, width: 0.25 });
const { logits, saliency } = model.forward(tf.zeros([2, 16, 16, 3]));
console.log(JSON.stringify({ engine, logits: logits.shape, saliency: saliency.shape }));
`,
    );
    const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
      args: ["run", `--allow-import=${host}`, `--reload=http://${host}`, "--allow-read", script],
      cwd: dir,
      env: { NO_COLOR: "1" },
      stdout: "piped",
      stderr: "piped",
    }).output();
    const err = new TextDecoder().decode(stderr);
    assert.equal(code, 0, `the importing script failed:\n${err}`);
    const lines = new TextDecoder().decode(stdout).trim().split("\n");
    assert.deepEqual(JSON.parse(lines[lines.length - 1]), {
      engine: "wasm",
      logits: [2, 3],
      saliency: [2, 16, 16],
    });
  } finally {
    await server.shutdown();
    await Deno.remove(dir, { recursive: true });
  }
});
