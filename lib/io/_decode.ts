// Element types to float32, for the weights-file readers of lib/io/.
// Private to lib/io/.
import type { StoredDtype } from "./stored_tensor.ts";

/** Bytes per element of each stored dtype. */
export const ITEM_SIZE: Readonly<Record<StoredDtype, number>> = {
  float32: 4,
  float16: 2,
  bfloat16: 2,
  float64: 8,
  int64: 8,
  int32: 4,
  int16: 2,
  int8: 1,
  uint8: 1,
  bool: 1,
};

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

let halfTable: Float32Array | undefined;

/** Every float16 bit pattern's value, built on first use (256 KiB). */
function halfValues(): Float32Array {
  if (halfTable) return halfTable;
  halfTable = new Float32Array(65536);
  for (let h = 0; h < 65536; h++) {
    const sign = h & 0x8000 ? -1 : 1;
    const exponent = (h >> 10) & 0x1f;
    const fraction = h & 0x3ff;
    halfTable[h] = exponent === 0
      ? sign * fraction * 2 ** -24
      : exponent === 31
      ? (fraction ? NaN : sign * Infinity)
      : sign * (1 + fraction / 1024) * 2 ** (exponent - 15);
  }
  return halfTable;
}

/** `bytes` as little-endian unsigned 16-bit words, a view where aligned. */
function words(bytes: Uint8Array): Uint16Array {
  const n = bytes.length >> 1;
  if (LITTLE_ENDIAN && bytes.byteOffset % 2 === 0) {
    return new Uint16Array(bytes.buffer, bytes.byteOffset, n);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
  const out = new Uint16Array(n);
  for (let i = 0; i < n; i++) out[i] = view.getUint16(2 * i, true);
  return out;
}

/**
 * Decodes little-endian elements of `dtype` (`bytes.length` a multiple of
 * the element size) to float32. Float32 data that is 4-byte aligned comes
 * back as a view on `bytes`, not a copy.
 */
export function toFloat32(bytes: Uint8Array, dtype: StoredDtype): Float32Array {
  const n = bytes.length / ITEM_SIZE[dtype];
  const aligned = LITTLE_ENDIAN && bytes.byteOffset % ITEM_SIZE[dtype] === 0;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
  switch (dtype) {
    case "float32": {
      if (aligned) return new Float32Array(bytes.buffer, bytes.byteOffset, n);
      const out = new Float32Array(n);
      for (let i = 0; i < n; i++) out[i] = view.getFloat32(4 * i, true);
      return out;
    }
    case "float16": {
      const table = halfValues();
      const h = words(bytes);
      const out = new Float32Array(n);
      for (let i = 0; i < n; i++) out[i] = table[h[i]];
      return out;
    }
    case "bfloat16": {
      const h = words(bytes);
      const bits = new Uint32Array(n);
      for (let i = 0; i < n; i++) bits[i] = h[i] << 16;
      return new Float32Array(bits.buffer);
    }
    case "float64": {
      if (aligned) return Float32Array.from(new Float64Array(bytes.buffer, bytes.byteOffset, n));
      const out = new Float32Array(n);
      for (let i = 0; i < n; i++) out[i] = view.getFloat64(8 * i, true);
      return out;
    }
    case "int64": {
      const out = new Float32Array(n);
      for (let i = 0; i < n; i++) out[i] = Number(view.getBigInt64(8 * i, true));
      return out;
    }
    case "int32": {
      if (aligned) return Float32Array.from(new Int32Array(bytes.buffer, bytes.byteOffset, n));
      const out = new Float32Array(n);
      for (let i = 0; i < n; i++) out[i] = view.getInt32(4 * i, true);
      return out;
    }
    case "int16": {
      const out = new Float32Array(n);
      for (let i = 0; i < n; i++) out[i] = view.getInt16(2 * i, true);
      return out;
    }
    case "int8":
      return Float32Array.from(new Int8Array(bytes.buffer, bytes.byteOffset, n));
    case "uint8":
    case "bool":
      return Float32Array.from(bytes);
  }
}

/**
 * Rounds float32 values to float16 bit patterns (round to nearest even;
 * overflow to infinity), for the safetensors writer.
 */
export function toFloat16Bits(values: Float32Array): Uint16Array {
  const bits = new Uint32Array(values.buffer, values.byteOffset, values.length);
  const out = new Uint16Array(values.length);
  for (let i = 0; i < values.length; i++) {
    const x = bits[i];
    const sign = (x >>> 16) & 0x8000;
    const exponent = (x >>> 23) & 0xff;
    let mantissa = x & 0x7fffff;
    if (exponent === 0xff) {
      out[i] = sign | 0x7c00 | (mantissa ? 0x200 : 0);
      continue;
    }
    const e = exponent - 127 + 15;
    if (e >= 31) {
      out[i] = sign | 0x7c00;
    } else if (e <= 0) {
      // Subnormal (or zero): shift the mantissa, with its hidden bit, into place.
      if (e < -10) {
        out[i] = sign;
        continue;
      }
      mantissa |= 0x800000;
      const shift = 14 - e;
      let half = mantissa >>> shift;
      const rest = mantissa & ((1 << shift) - 1);
      const halfway = 1 << (shift - 1);
      if (rest > halfway || (rest === halfway && (half & 1))) half++;
      out[i] = sign | half;
    } else {
      let half = (e << 10) | (mantissa >>> 13);
      const rest = mantissa & 0x1fff;
      if (rest > 0x1000 || (rest === 0x1000 && (half & 1))) half++;
      out[i] = sign | half;
    }
  }
  return out;
}

/** Rounds float32 values to bfloat16 bit patterns (round to nearest even; NaN kept). */
export function toBfloat16Bits(values: Float32Array): Uint16Array {
  const bits = new Uint32Array(values.buffer, values.byteOffset, values.length);
  const out = new Uint16Array(values.length);
  for (let i = 0; i < values.length; i++) {
    const x = bits[i];
    if ((x & 0x7fffffff) > 0x7f800000) {
      out[i] = (x >>> 16) | 0x40;
      continue;
    }
    out[i] = (x + 0x7fff + ((x >>> 16) & 1)) >>> 16;
  }
  return out;
}
