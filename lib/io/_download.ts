// Streaming a download into a file: through a temporary file and a rename, its
// SHA-256 checked before the rename, with a progress bar. Private to lib/io/.
import { createHash } from "node:crypto";
import { dirname } from "node:path";
import { ProgressBar } from "../util/progress.ts";

/** Options of {@linkcode saveStream}. */
export interface SaveStreamOptions {
  /** The bytes expected, for the progress bar (`undefined`: unknown). */
  size?: number;
  /** What is downloaded, for messages (a URL or `hf:` source). */
  what: string;
  /** The expected SHA-256, in hex: the whole hash or a prefix of at least 8 digits. */
  sha256?: string;
  /** Where the expected hash comes from, for the error message. */
  sha256From?: string;
  /** No progress bar. */
  quiet: boolean;
}

/**
 * Writes `stream` to `path` (its folder created), hashing it on the way.
 * A wrong hash, a short stream or any failure removes the partial file and
 * throws; `path` then keeps what it had. Returns the SHA-256.
 */
export async function saveStream(
  stream: ReadableStream<Uint8Array>,
  path: string,
  options: SaveStreamOptions,
): Promise<string> {
  await Deno.mkdir(dirname(path), { recursive: true });
  const tmp = `${path}.${Deno.pid}-${crypto.randomUUID().slice(0, 8)}.part`;
  const hash = createHash("sha256");
  const mb = options.size === undefined ? undefined : Math.max(1, Math.ceil(options.size / 1e6));
  const bar = options.quiet || mb === undefined ? undefined : new ProgressBar(mb, {
    label: `${path.split(/[\\/]/).pop()} (MB)`,
    unit: "MB",
  });
  if (!options.quiet) console.error(`Downloading ${options.what} to ${path}`);
  let received = 0;
  try {
    const file = await Deno.open(tmp, { write: true, createNew: true });
    try {
      for await (const chunk of stream) {
        hash.update(chunk);
        let at = 0;
        while (at < chunk.length) at += await file.write(chunk.subarray(at));
        const before = Math.min(mb ?? 0, Math.floor(received / 1e6));
        received += chunk.length;
        const after = Math.min(mb ?? 0, Math.floor(received / 1e6));
        if (after > before) bar?.tick(after - before);
      }
    } finally {
      file.close();
    }
    if (options.size !== undefined && received !== options.size) {
      throw new Error(`the download stopped at ${received} of ${options.size} bytes`);
    }
    const digest = hash.digest("hex");
    const expected = options.sha256?.toLowerCase();
    if (expected && !digest.startsWith(expected)) {
      throw new Error(
        `its SHA-256 is ${digest}, but ${options.sha256From ?? "the expected hash"} says ` +
          `${expected.length < 64 ? "it starts with " : ""}${expected}; the download is damaged ` +
          `or not the file meant, and was not kept`,
      );
    }
    const rest = (mb ?? 0) - Math.min(mb ?? 0, Math.floor(received / 1e6));
    if (rest > 0) bar?.tick(rest);
    bar?.done();
    await Deno.rename(tmp, path);
    return digest;
  } catch (error) {
    await Deno.remove(tmp).catch(() => {});
    // A stream aborted with a reason (as @huggingface/hub's are) throws that reason itself.
    const reason = error instanceof Error ? error.message : String(error);
    throw new Error(`Cannot download ${options.what}: ${reason}`, { cause: error });
  }
}
