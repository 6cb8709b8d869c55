// AddN for webgpu. tfjs-backend-webgpu@4.22.0 binds every input of AddN as
// a storage buffer of one shader; past the adapter's
// `maxStorageBuffersPerShaderStage` (8 by default: 7 inputs and the output)
// the pipeline fails validation, nothing is written, and the output buffer
// keeps whatever a freed tensor left in it. The trainer's finiteness check
// of every gradient read zeros and stale losses that way on lavapipe. This
// sums at most `limit - 1` inputs per shader, then sums the partial sums.
// Private to lib/backend/.
import type { tf } from "../deps.ts";

interface WebGpuLike extends tf.KernelBackend {
  device?: { limits?: { maxStorageBuffersPerShaderStage?: number } };
}

/** Wraps the engine's AddN so that no shader binds more inputs than the device allows. */
export function chunkedAddN(original: tf.KernelConfig): tf.KernelConfig {
  return {
    ...original,
    kernelFunc: (args) => {
      const backend = args.backend as WebGpuLike;
      const limit = backend.device?.limits?.maxStorageBuffersPerShaderStage ?? 8;
      const most = Math.max(2, limit - 1);
      let inputs = args.inputs as unknown as tf.TensorInfo[];
      const made: tf.TensorInfo[] = [];
      while (inputs.length > most) {
        const next: tf.TensorInfo[] = [];
        for (let i = 0; i < inputs.length; i += most) {
          const group = inputs.slice(i, i + most);
          if (group.length === 1) {
            next.push(group[0]);
            continue;
          }
          const sum = original.kernelFunc({ ...args, inputs: group as never }) as tf.TensorInfo;
          made.push(sum);
          next.push(sum);
        }
        inputs = next;
      }
      const out = original.kernelFunc({ ...args, inputs: inputs as never }) as tf.TensorInfo;
      for (const t of made) backend.disposeData(t.dataId);
      return out;
    },
  };
}
