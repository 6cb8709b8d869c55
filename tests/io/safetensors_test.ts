import assert from "node:assert/strict";
import { DataError } from "../../lib/data/errors.ts";
import {
  encodeSafetensors,
  parseSafetensors,
  readSafetensors,
  writeSafetensors,
} from "../../lib/io/safetensors.ts";
import { requirePython, runPython } from "../_python.ts";

const NUMPY = await requirePython("numpy", "the safetensors tests against Python");

/** Asserts that `fn` throws a DataError on `file` whose message matches `pattern`. */
function throwsData(fn: () => unknown, file: string, pattern: RegExp): void {
  let caught: unknown;
  try {
    fn();
  } catch (error) {
    caught = error;
  }
  assert.ok(caught instanceof DataError, `expected a DataError, got ${caught}`);
  assert.equal(caught.file, file);
  assert.match(caught.message, pattern);
}

/** A safetensors file with this header (padded to 8 bytes) and `dataBytes` zero bytes of data. */
function craft(header: unknown, dataBytes: number): Uint8Array {
  const text = JSON.stringify(header);
  const json = new TextEncoder().encode(text.padEnd(Math.ceil(text.length / 8) * 8, " "));
  const out = new Uint8Array(8 + json.length + dataBytes);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  return out;
}

Deno.test("encodeSafetensors() round-trips F32 exactly and rounds F16 and BF16 to nearest even", () => {
  const third = new Float32Array([1 / 3, -1 / 3, 65520, 1e-8, 0.1]);
  const bytes = encodeSafetensors({
    half: { shape: [5], data: third, dtype: "F16" },
    weight: { shape: [2, 3], data: new Float32Array([1, 2, 3, 4, 5, 6.5]) },
    brain: { shape: [5], data: third, dtype: "BF16" },
  }, { metadata: { format: "pt" } });
  const { tensors, metadata } = parseSafetensors(bytes);
  assert.deepEqual([...tensors.keys()], ["half", "weight", "brain"]);
  assert.deepEqual(metadata, { format: "pt" });
  const weight = tensors.get("weight")!;
  assert.deepEqual([weight.dtype, weight.shape, [...weight.data]], [
    "float32",
    [2, 3],
    [1, 2, 3, 4, 5, 6.5],
  ]);
  // The F32 values are a view on the file's bytes, not a copy.
  assert.equal(weight.data.buffer, bytes.buffer);
  // float16: 1/3 -> 0.333251953125, 65520 overflows to infinity, 1e-8 -> 0 (below
  // half the smallest subnormal, 2^-25), 0.1 -> 0.0999755859375.
  assert.deepEqual([...tensors.get("half")!.data], [
    0.333251953125,
    -0.333251953125,
    Infinity,
    0,
    0.0999755859375,
  ]);
  // bfloat16 keeps 8 bits of mantissa: 1/3 -> 0.333984375.
  assert.deepEqual([...tensors.get("brain")!.data].slice(0, 2), [0.333984375, -0.333984375]);
});

Deno.test({
  name: "parseSafetensors() reads a file Python wrote by hand, and Python reads ours",
  ignore: !NUMPY,
  async fn() {
    const dir = await Deno.makeTempDir();
    try {
      const ours = `${dir}/ours.safetensors`;
      await writeSafetensors(ours, {
        w: { shape: [2, 2], data: new Float32Array([0.5, -1, 2, 1 / 3]) },
        h: { shape: [3], data: new Float32Array([0.1, 0.2, 0.3]), dtype: "F16" },
        b: { shape: [1], data: new Float32Array([1 / 3]), dtype: "BF16" },
      });
      // Written from the format's description with struct and numpy: no padding,
      // so the data starts unaligned, and a scalar I64.
      const script = `
import json, struct, sys
import numpy as np
rng = np.random.default_rng(0)
f32 = rng.standard_normal((2, 3)).astype(np.float32)
f16 = rng.standard_normal(5).astype(np.float16)
b32 = rng.standard_normal(4).astype(np.float32).view(np.uint32).astype(np.uint64)
bf16 = ((b32 + 0x7FFF + ((b32 >> 16) & 1)) >> 16).astype(np.uint16)
items = [("f32", "F32", f32), ("f16", "F16", f16), ("bf16", "BF16", bf16),
         ("f64", "F64", np.array([[1.5, -2.25]])), ("i64", "I64", np.array(7, dtype=np.int64)),
         ("i32", "I32", np.array([-3, 4], dtype=np.int32))]
header, blob = {"__metadata__": {"format": "np"}}, b""
for name, code, a in items:
    raw = a.astype(a.dtype.newbyteorder("<")).tobytes()
    header[name] = {"dtype": code, "shape": list(a.shape), "data_offsets": [len(blob), len(blob) + len(raw)]}
    blob += raw
text = json.dumps(header).encode()
open(sys.argv[1], "wb").write(struct.pack("<Q", len(text)) + text + blob)
expected = {"f32": f32, "f16": f16.astype(np.float32), "bf16": (bf16.astype(np.uint32) << 16).view(np.float32),
            "f64": items[3][2], "i64": items[4][2], "i32": items[5][2]}
# And read ours the same way.
data = open(sys.argv[2], "rb").read()
n = struct.unpack("<Q", data[:8])[0]
head = json.loads(data[8:8 + n])
codes = {"F32": np.float32, "F16": np.float16, "BF16": np.uint16}
ours = {}
for name, e in head.items():
    a = np.frombuffer(data[8 + n + e["data_offsets"][0]:8 + n + e["data_offsets"][1]], dtype=codes[e["dtype"]])
    if e["dtype"] == "BF16":
        a = (a.astype(np.uint32) << 16).view(np.float32)
    ours[name] = a.astype(np.float64).tolist()
print(json.dumps({"theirs": {k: np.asarray(v, dtype=np.float64).reshape(-1).tolist() for k, v in expected.items()},
                  "ours": ours}))
`;
      const theirs = `${dir}/theirs.safetensors`;
      const result = JSON.parse(await runPython(script, [theirs, ours]));
      const read = await readSafetensors(theirs);
      assert.deepEqual(read.metadata, { format: "np" });
      const dtypes = Object.fromEntries([...read.tensors].map(([k, t]) => [k, t.dtype]));
      assert.deepEqual(dtypes, {
        f32: "float32",
        f16: "float16",
        bf16: "bfloat16",
        f64: "float64",
        i64: "int64",
        i32: "int32",
      });
      assert.deepEqual(read.tensors.get("i64")!.shape, []);
      for (const [name, values] of Object.entries(result.theirs as Record<string, number[]>)) {
        assert.deepEqual([...read.tensors.get(name)!.data], values.map(Math.fround), name);
      }
      assert.deepEqual(result.ours, {
        w: [0.5, -1, 2, Math.fround(1 / 3)],
        h: [0.0999755859375, 0.199951171875, 0.300048828125],
        b: [0.333984375],
      });
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test("parseSafetensors() names the file and the tensor for each kind of broken file", () => {
  const good = encodeSafetensors({
    a: { shape: [2, 2], data: new Float32Array(4) },
    b: { shape: [3], data: new Float32Array(3) },
  });
  const name = "broken.safetensors";
  throwsData(() => parseSafetensors(good.subarray(0, 5), { name }), name, /truncated: 5 bytes/);
  throwsData(
    () => parseSafetensors(good.subarray(0, good.length - 4), { name }),
    name,
    /truncated or its offsets are out of range: tensor "b" ends at byte 28 of the data, which has 24/,
  );
  throwsData(() => parseSafetensors(good.subarray(0, 20), { name }), name, /truncated: the header/);
  const notJson = new Uint8Array(16);
  notJson[0] = 8;
  notJson.set(new TextEncoder().encode("{nothing"), 8);
  throwsData(() => parseSafetensors(notJson, { name }), name, /the header is not JSON/);
  throwsData(() => parseSafetensors(craft([1, 2], 0), { name }), name, /not a JSON object/);
  const huge = new Uint8Array(16);
  new DataView(huge.buffer).setBigUint64(0, 1n << 40n, true);
  throwsData(() => parseSafetensors(huge, { name }), name, /more than the format's 100 MB/);
  throwsData(
    () =>
      parseSafetensors(craft({ x: { dtype: "F8_E4M3", shape: [1], data_offsets: [0, 1] } }, 1), {
        name,
      }),
    name,
    /tensor "x" has dtype "F8_E4M3", which is not read/,
  );
  throwsData(
    () =>
      parseSafetensors(craft({ x: { dtype: "F32", shape: [2], data_offsets: [0, 8] } }, 4), {
        name,
      }),
    name,
    /out of range: tensor "x" ends at byte 8 of the data, which has 4 bytes/,
  );
  throwsData(
    () =>
      parseSafetensors(craft({ x: { dtype: "F32", shape: [2], data_offsets: [0, 4] } }, 4), {
        name,
      }),
    name,
    /tensor "x": data_offsets \[0, 4\] hold 4 bytes, but shape \[2\] of F32 needs 8/,
  );
  throwsData(
    () =>
      parseSafetensors(craft({ x: { dtype: "F32", shape: [-1], data_offsets: [0, 4] } }, 4), {
        name,
      }),
    name,
    /tensor "x": expected a shape of non-negative integers/,
  );
  throwsData(
    () => parseSafetensors(craft({ __metadata__: { epoch: 3 } }, 0), { name }),
    name,
    /\(field "__metadata__"\): expected a string for "epoch"/,
  );
});

Deno.test({
  name:
    "readSafetensors() reads a 100 MB ResNet-50-sized file in under 3 s, adding about its size to peak memory",
  ignore: Deno.build.os !== "linux",
  async fn() {
    const dir = await Deno.makeTempDir();
    try {
      // ResNet-50's 25.6 M parameters: 161 tensors of its shapes would do as
      // well; what matters is the total and that there are many.
      const path = `${dir}/resnet50-sized.safetensors`;
      const tensors: Record<string, { shape: number[]; data: Float32Array }> = {};
      const perTensor = 160_000;
      for (let i = 0; i < 160; i++) {
        tensors[`layer${i}.weight`] = { shape: [400, 400], data: new Float32Array(perTensor) };
      }
      await writeSafetensors(path, tensors);
      const size = (await Deno.stat(path)).size;
      assert.ok(size > 100_000_000);
      // A fresh process, so that its peak resident memory (VmHWM) is this read's.
      const probe = `
        import { readSafetensors } from ${
        JSON.stringify(new URL("../../lib/io/safetensors.ts", import.meta.url).href)
      };
        const hwm = () => Number(/VmHWM:\\s+(\\d+)/.exec(Deno.readTextFileSync("/proc/self/status"))![1]) * 1024;
        const before = hwm();
        const start = performance.now();
        const { tensors } = await readSafetensors(Deno.args[0]);
        const seconds = (performance.now() - start) / 1000;
        console.log(JSON.stringify({ seconds, added: hwm() - before, count: tensors.size }));
      `;
      const out = await new Deno.Command(Deno.execPath(), {
        args: ["eval", "--ext=ts", probe, path],
        stdout: "piped",
        stderr: "piped",
      }).output();
      assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
      const { seconds, added, count } = JSON.parse(new TextDecoder().decode(out.stdout));
      console.log(
        `read ${(size / 1e6).toFixed(0)} MB in ${seconds.toFixed(2)} s, peak memory +${
          (added / 1e6).toFixed(0)
        } MB`,
      );
      assert.equal(count, 160);
      assert.ok(seconds <= 3, `took ${seconds} s`);
      assert.ok(added <= 1.25 * size, `peak memory grew by ${added} bytes for ${size}`);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
