import assert from "node:assert/strict";
import { type MatValue, readMat5 } from "../../lib/io/mat5.ts";
import { rejectsData } from "../_helpers.ts";

// The fixtures were written by SciPy (make_fixture.py), independently of this reader.
const FIXTURES = new URL("../fixtures/stanford_cars/", import.meta.url);

function fixture(name: string): Promise<Uint8Array> {
  return Deno.readFile(new URL(name, FIXTURES));
}

function numbers(value: MatValue | undefined): number[] {
  assert.ok(value?.kind === "numeric", `expected a numeric array, got ${value?.kind}`);
  return Array.from(value.data);
}

function text(value: MatValue | undefined): string {
  assert.ok(value?.kind === "char", `expected a char array, got ${value?.kind}`);
  return value.value;
}

// The training annotations of make_fixture.py: x1, y1, x2, y2, class, fname.
const TRAIN: [number, number, number, number, number, string][] = [
  [3, 4, 20, 15, 1, "00001.jpg"],
  [1, 1, 8, 6, 3, "00002.jpg"],
  [10, 2, 31, 23, 2, "00003.jpg"],
  [250, 3, 290, 12, 3, "00004.jpg"],
];

Deno.test("readMat5() reads SciPy's compressed class_names as a 1×3 cell of strings", async () => {
  const vars = await readMat5(await fixture("cars_meta.mat"), { name: "cars_meta.mat" });
  assert.deepEqual(Object.keys(vars), ["class_names"]);
  const names = vars.class_names;
  assert.ok(names.kind === "cell");
  assert.deepEqual(names.dims, [1, 3]);
  assert.deepEqual(names.items.map(text), [
    "AM General Hummer SUV 2000",
    "Acura RL Sedan 2012",
    "Audi R8 Coupe 2012",
  ]);
  assert.ok(names.items.every((item) => item.kind === "char" && item.dims[0] === 1));
});

Deno.test("readMat5() reads a compressed 1×4 struct array with its fields, classes and values", async () => {
  const vars = await readMat5(await fixture("cars_train_annos.mat"), { name: "annos.mat" });
  const annos = vars.annotations;
  assert.ok(annos.kind === "struct");
  assert.deepEqual(annos.dims, [1, 4]);
  assert.deepEqual(annos.fields, ["bbox_x1", "bbox_y1", "bbox_x2", "bbox_y2", "class", "fname"]);
  annos.elements.forEach((element, i) => {
    const [x1, y1, x2, y2, cls, fname] = TRAIN[i];
    assert.deepEqual(
      ["bbox_x1", "bbox_y1", "bbox_x2", "bbox_y2", "class"].map((f) => numbers(element[f])[0]),
      [x1, y1, x2, y2, cls],
      `element ${i + 1}`,
    );
    assert.equal(text(element.fname), fname);
    assert.deepEqual(element.class.dims, [1, 1]);
  });
  // SciPy keeps the integer classes: 290 needs uint16, the rest fit uint8.
  const last = annos.elements[3];
  assert.ok(last.bbox_x2.kind === "numeric" && last.bbox_x1.kind === "numeric");
  assert.equal(last.bbox_x2.class, "uint16");
  assert.equal(last.bbox_x1.class, "uint8");
});

Deno.test("readMat5() reads the uncompressed file to the same values as the compressed one", async () => {
  const packed = await readMat5(await fixture("cars_train_annos.mat"));
  const plain = await readMat5(await fixture("cars_train_annos_uncompressed.mat"));
  assert.deepEqual(plain, packed);
});

Deno.test("readMat5() decodes every numeric class, logical and complex data, chars, cells, structs and column-major order", async () => {
  const v = await readMat5(await fixture("misc.mat"), { name: "misc.mat" });
  // [[1.5, -2], [3, 4e10]] is stored column by column.
  assert.deepEqual(v.m.dims, [2, 2]);
  assert.deepEqual(numbers(v.m), [1.5, 3, -2, 4e10]);
  assert.ok(v.f.kind === "numeric" && v.f.class === "single");
  assert.deepEqual(numbers(v.f), [0.25, -8.5, Math.fround(1e-3)]);
  assert.deepEqual(numbers(v.i64), [-(2 ** 40), 7]);
  assert.deepEqual(numbers(v.u32), [4000000000]);
  assert.deepEqual(numbers(v.i8), [-128, 127]);
  assert.ok(v.flags.kind === "numeric" && v.flags.logical && v.flags.class === "uint8");
  assert.deepEqual(numbers(v.flags), [1, 0, 1]);
  assert.ok(v.z.kind === "numeric" && v.z.imag);
  // Python's -3.5j is -(0 + 3.5j), whose real part is -0.
  assert.deepEqual([...v.z.data, ...v.z.imag], [1, -0, 2, -3.5]);
  assert.ok(v.m.kind === "numeric" && v.m.imag === undefined && !v.m.logical);
  // A 2×2 char array stores "ab" / "cd" as a, c, b, d.
  assert.ok(v.rows.kind === "char");
  assert.deepEqual(v.rows.rows, ["ab", "cd"]);
  assert.equal(text(v.utf), "h\u00e9llo \u00b5m");
  // cell{1,1} = 1, cell{2,1} = "two", cell{1,2} = int16 [3 4], cell{2,2} = [].
  assert.ok(v.cell.kind === "cell");
  assert.deepEqual(v.cell.dims, [2, 2]);
  assert.deepEqual(numbers(v.cell.items[0]), [1]);
  assert.equal(text(v.cell.items[1]), "two");
  assert.deepEqual(numbers(v.cell.items[2]), [3, 4]);
  assert.deepEqual(v.cell.items[3].dims, [0, 0]);
  assert.ok(v.st.kind === "struct");
  assert.deepEqual(v.st.dims, [2, 1]);
  assert.deepEqual(v.st.fields, ["a", "b"]);
  assert.deepEqual(v.st.elements.map((e) => [numbers(e.a)[0], text(e.b)]), [[1, "x"], [2, "yz"]]);
  assert.deepEqual(v.empty.dims, [0, 0]);
  assert.deepEqual(numbers(v.empty), []);
  // vol(i, j, k) = i + 2j + 6k (0-based), so column-major order counts 0..23.
  assert.deepEqual(v.vol.dims, [2, 3, 4]);
  assert.deepEqual(numbers(v.vol), Array.from({ length: 24 }, (_, i) => i));
});

Deno.test("readMat5() reads a big-endian file with small data elements and a double stored as uint8", async () => {
  const v = await readMat5(await fixture("big_endian.mat"), { name: "big_endian.mat" });
  assert.ok(v.x.kind === "numeric" && v.x.class === "double");
  assert.deepEqual(v.x.dims, [2, 3]);
  assert.deepEqual(numbers(v.x), [1, 4, 2, 5, 3, 6]);
  assert.equal(text(v.s), "Hi");
});

Deno.test("readMat5() decodes only the variables asked for", async () => {
  const v = await readMat5(await fixture("misc.mat"), { variables: ["st", "m"] });
  assert.deepEqual(Object.keys(v).sort(), ["m", "st"]);
});

Deno.test("readMat5() names the file when the header is short, not MAT v5, or v7.3", async () => {
  await rejectsData(
    readMat5(new Uint8Array(60), { name: "short.mat" }),
    /^short\.mat: not a MAT v5 file: 60 bytes is shorter than the 128-byte header$/,
    "short.mat",
  );
  const bad = (await fixture("cars_meta.mat")).slice();
  bad.set([0x58, 0x58], 126);
  await rejectsData(
    readMat5(bad, { name: "bad.mat" }),
    /^bad\.mat: not a MAT v5 file: expected endian indicator "IM" or "MI" at byte 126, got "XX"$/,
    "bad.mat",
  );
  const v73 = (await fixture("cars_meta.mat")).slice();
  new DataView(v73.buffer).setUint16(124, 0x0200, true);
  await rejectsData(readMat5(v73, { name: "v73.mat" }), /version 0x0200 .*v7\.3/, "v73.mat");
});

Deno.test("readMat5() names the file and byte offset of a truncated compressed variable", async () => {
  const whole = await fixture("cars_train_annos.mat");
  await rejectsData(
    readMat5(whole.subarray(0, whole.length - 20), { name: "cut.mat" }),
    /^cut\.mat: truncated: the data element \(type 15\) declares \d+ bytes, \d+ remain at byte 128$/,
    "cut.mat",
  );
  // A tag cut in half.
  await rejectsData(
    readMat5(whole.subarray(0, 132), { name: "cut.mat" }),
    /truncated: a data element tag needs 8 bytes, 4 remain at byte 128/,
    "cut.mat",
  );
});

Deno.test("readMat5() names the struct element and field where a variable is cut short", async () => {
  const whole = (await fixture("cars_train_annos_uncompressed.mat")).slice();
  // Cut the last 100 bytes and shrink the variable's declared size to match, so the
  // struct array's last element runs out of bytes.
  const cut = whole.slice(0, whole.length - 100);
  const view = new DataView(cut.buffer);
  view.setUint32(132, view.getUint32(132, true) - 100, true);
  const error = await rejectsData(
    readMat5(cut, { name: "cut.mat" }),
    /truncated.* at byte \d+$/,
    "cut.mat",
  );
  assert.match(error.field ?? "", /^annotations\(4\)\.(bbox_y2|class|fname)$/);
});

Deno.test("readMat5() names the variable, field and inflated offset of a fault inside a compressed variable", async () => {
  // Recompress the uncompressed variable with its first field value marked sparse.
  const plain = (await fixture("cars_train_annos_uncompressed.mat")).slice();
  const view = new DataView(plain.buffer);
  const firstField = 0x100; // the miMATRIX of annotations(1).bbox_x1 (see make_fixture.py's layout)
  assert.equal(view.getUint32(firstField, true), 14);
  assert.equal(view.getUint32(firstField + 16, true), 9, "mxUINT8_CLASS flags");
  view.setUint32(firstField + 16, 5, true); // mxSPARSE_CLASS
  const element = plain.subarray(128);
  const stream = new Blob([element.slice()]).stream().pipeThrough(
    new CompressionStream("deflate"),
  );
  const packed = new Uint8Array(await new Response(stream).arrayBuffer());
  const file = new Uint8Array(128 + 8 + packed.length);
  file.set(plain.subarray(0, 128));
  new DataView(file.buffer).setUint32(128, 15, true);
  new DataView(file.buffer).setUint32(132, packed.length, true);
  file.set(packed, 136);
  const error = await rejectsData(
    readMat5(file, { name: "sparse.mat" }),
    /sparse arrays are not supported at byte \d+ of compressed variable #1 \(inflated; it starts at byte 128\)/,
    "sparse.mat",
  );
  assert.equal(error.field, "annotations(1).bbox_x1");
});

Deno.test("readMat5() names the file when compressed data is not zlib", async () => {
  const file = new Uint8Array(128 + 8 + 16);
  file.set(new TextEncoder().encode("MATLAB 5.0 MAT-file"));
  const view = new DataView(file.buffer);
  view.setUint16(124, 0x0100, true);
  file.set([73, 77], 126);
  view.setUint32(128, 15, true);
  view.setUint32(132, 16, true);
  file.fill(0xab, 136);
  await rejectsData(
    readMat5(file, { name: "junk.mat" }),
    /^junk\.mat: cannot inflate the compressed variable at byte 128: /,
    "junk.mat",
  );
});
