import assert from "node:assert/strict";
import { loadFflate } from "../../lib/deps.ts";
import { parsePth, readPth } from "../../lib/io/pth.ts";
import { pathExists } from "../../lib/util/fs.ts";
import { requirePython, runPython } from "../_python.ts";
import { rejectsData } from "../_helpers.ts";

const TORCH = await requirePython("torch", "the .pth tests against files torch.save wrote");

// Every file torch writes for these tests, made by one Python run.
const WRITE = `
import collections, json, sys, zipfile
import torch
out = sys.argv[1]
torch.manual_seed(0)
net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4))
net[1].running_mean.uniform_()
sd = net.state_dict()  # an OrderedDict with _metadata, and an int64 num_batches_tracked
base = torch.arange(20, dtype=torch.float32)
sd["half"] = torch.randn(3, 5).half()
sd["brain"] = torch.randn(4).bfloat16()
sd["double"] = torch.randn(2, 2, dtype=torch.float64)
sd["offset_view"] = base[5:11].view(2, 3)      # storage offset 5, shared with the next
sd["transposed"] = base.view(4, 5).t()         # strides (1, 5)
sd["strided"] = base.view(4, 5)[::2, 1::2]     # offset 1, strides (10, 2)
sd["param"] = torch.nn.Parameter(torch.ones(3))
torch.save(sd, f"{out}/state.pth")
torch.save({"state_dict": sd, "epoch": 3, "best": 0.5, "optimizer": {"lr": 0.1}}, f"{out}/checkpoint.pth")
torch.save({"model": sd, "args": [1, 2]}, f"{out}/model_key.pth")
torch.save(sd, f"{out}/legacy.pth", _use_new_zipfile_serialization=False)
torch.save(torch.nn.Linear(2, 2), f"{out}/module.pth")
torch.jit.save(torch.jit.script(torch.nn.Linear(2, 2)), f"{out}/script.pt")
with zipfile.ZipFile(f"{out}/state.pth") as src, zipfile.ZipFile(f"{out}/deflated.pth", "w", zipfile.ZIP_DEFLATED) as dst:
    for info in src.infolist():
        dst.writestr(info.filename, src.read(info.filename))
json.dump({k: {"shape": list(v.shape), "values": v.detach().double().reshape(-1).tolist()} for k, v in sd.items()},
          open(f"{out}/expected.json", "w"))
`;

interface Expected {
  [key: string]: { shape: number[]; values: number[] };
}

Deno.test({
  name: "readPth() reads what torch.save wrote: dtypes, views with offsets and strides, wrappers",
  ignore: !TORCH,
  async fn(t) {
    const dir = await Deno.makeTempDir();
    try {
      await runPython(WRITE, [dir]);
      const expected: Expected = JSON.parse(await Deno.readTextFile(`${dir}/expected.json`));
      const check = (tensors: Map<string, { shape: number[]; data: Float32Array }>) => {
        assert.deepEqual([...tensors.keys()], Object.keys(expected));
        for (const [key, { shape, values }] of Object.entries(expected)) {
          const tensor = tensors.get(key)!;
          assert.deepEqual(tensor.shape, shape, key);
          assert.deepEqual([...tensor.data], values.map(Math.fround), key);
        }
      };

      await t.step("a state dict, with every dtype and view", async () => {
        const { tensors, wrapper } = await readPth(`${dir}/state.pth`);
        check(tensors);
        assert.equal(wrapper, undefined);
        const dtypes = Object.fromEntries([...tensors].map(([k, v]) => [k, v.dtype]));
        assert.equal(dtypes["1.num_batches_tracked"], "int64");
        assert.equal(dtypes.half, "float16");
        assert.equal(dtypes.brain, "bfloat16");
        assert.equal(dtypes.double, "float64");
        assert.deepEqual(tensors.get("strided")!.data, new Float32Array([1, 3, 11, 13]));
      });
      await t.step("a checkpoint wrapping it under state_dict, then under model", async () => {
        const checkpoint = await readPth(`${dir}/checkpoint.pth`);
        check(checkpoint.tensors);
        assert.equal(checkpoint.wrapper, "state_dict");
        const model = await readPth(`${dir}/model_key.pth`);
        check(model.tensors);
        assert.equal(model.wrapper, "model");
      });
      await t.step("a zip whose entries are deflated", async () => {
        check((await readPth(`${dir}/deflated.pth`)).tensors);
      });
      await t.step("the legacy format, with how to re-save", async () => {
        const file = `${dir}/legacy.pth`;
        await rejectsData(
          readPth(file),
          /legacy \(pre-1\.6\) format.*torch\.save\(obj, path, _use_new_zipfile_serialization=True\)/,
          file,
        );
      });
      await t.step("a whole pickled module, refused by its class", async () => {
        const file = `${dir}/module.pth`;
        await rejectsData(
          readPth(file),
          /the global "torch\.nn\.modules\.linear\.Linear".*refused and nothing was run/,
          file,
        );
      });
      await t.step("a TorchScript archive", async () => {
        const file = `${dir}/script.pt`;
        await rejectsData(readPth(file), /TorchScript archive/, file);
      });
      await t.step("a truncated file", async () => {
        const bytes = await Deno.readFile(`${dir}/state.pth`);
        await rejectsData(
          parsePth(bytes.subarray(0, bytes.length - 30), { name: "cut.pth" }),
          /truncated or damaged: no end-of-central-directory record/,
          "cut.pth",
        );
      });
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

/** A zip of one stored entry, `archive/data.pkl`, holding `pickle`. */
async function checkpointOf(pickle: number[]): Promise<Uint8Array> {
  const fflate = await loadFflate();
  return fflate.zipSync({ "archive/data.pkl": [new Uint8Array(pickle), { level: 0 }] });
}

// Pickle opcodes (pickletools), to write small pickles by hand.
const PROTO = 0x80, STOP = 0x2e, MARK = 0x28, TUPLE = 0x74, TUPLE1 = 0x85, EMPTY_TUPLE = 0x29;
const EMPTY_DICT = 0x7d, SETITEM = 0x73, REDUCE = 0x52, BINPERSID = 0x51, NEWFALSE = 0x89;
const STACK_GLOBAL = 0x93;

function ascii(text: string): number[] {
  return [...new TextEncoder().encode(text)];
}

/** BINUNICODE. */
function str(text: string): number[] {
  return [0x58, text.length, 0, 0, 0, ...ascii(text)];
}

/** SHORT_BINUNICODE. */
function shortStr(text: string): number[] {
  return [0x8c, text.length, ...ascii(text)];
}

/** GLOBAL (protocol 2). */
function global(module: string, name: string): number[] {
  return [0x63, ...ascii(`${module}\n${name}\n`)];
}

/** BININT1. */
function int(n: number): number[] {
  return [0x4b, n];
}

Deno.test("parsePth() refuses a pickle that calls os.system, by name, and runs nothing", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const marker = `${dir}/pwned`;
    const command = str(`touch ${marker}`);
    // Protocol 2's GLOBAL "posix system" (os.system as CPython on Linux pickles
    // it), then protocol 4's STACK_GLOBAL "builtins eval"; each called by REDUCE.
    const viaGlobal = [PROTO, 2, ...global("posix", "system"), ...command, TUPLE1, REDUCE, STOP];
    const viaStack = [
      ...[PROTO, 4, ...shortStr("builtins"), ...shortStr("eval"), STACK_GLOBAL],
      ...[...command, TUPLE1, REDUCE, STOP],
    ];
    await rejectsData(
      parsePth(await checkpointOf(viaGlobal), { name: "evil.pth" }),
      /^evil\.pth: archive\/data\.pkl: the pickle needs the global "posix\.system", which a state dict of tensors never uses; it was refused and nothing was run/,
      "evil.pth",
    );
    await rejectsData(
      parsePth(await checkpointOf(viaStack), { name: "evil.pth" }),
      /the global "builtins\.eval"/,
      "evil.pth",
    );
    assert.equal(await pathExists(marker), false);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("parsePth() says what it found when the file holds no state dict", async () => {
  const noTensors = [PROTO, 2, EMPTY_DICT, ...str("epoch"), ...int(3), SETITEM, STOP];
  await rejectsData(
    parsePth(await checkpointOf(noTensors), { name: "c.pth" }),
    /a dict of epoch with entries that are not tensors, and no state_dict\/model_state_dict\/model entry/,
    "c.pth",
  );
  // {"w": _rebuild_tensor_v2(storage "0" (2 floats), 0, (2,), (1,), False, OrderedDict())},
  // with no data/0 in the archive.
  const storage = [
    ...[MARK, ...str("storage"), ...global("torch", "FloatStorage"), ...str("0"), ...str("cpu")],
    ...[...int(2), TUPLE, BINPERSID],
  ];
  const hooks = [...global("collections", "OrderedDict"), EMPTY_TUPLE, REDUCE];
  const args = [
    MARK,
    ...storage,
    ...int(0),
    ...int(2),
    TUPLE1,
    ...int(1),
    TUPLE1,
    NEWFALSE,
    ...hooks,
    TUPLE,
  ];
  const missing = [
    ...[PROTO, 2, EMPTY_DICT, ...str("w"), ...global("torch._utils", "_rebuild_tensor_v2")],
    ...[...args, REDUCE, SETITEM, STOP],
  ];
  await rejectsData(
    parsePth(await checkpointOf(missing), { name: "t.pth" }),
    /tensor "w": its storage data\/0 is not in the archive/,
    "t.pth",
  );
});
