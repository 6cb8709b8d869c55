/**
 * A short study script: does mask supervision move the saliency branch onto
 * the object? Trains the reference network twice on the synthetic set, with
 * the mask loss off and on (same seed, data order and budget), and prints
 * test accuracy and the share of saliency mass on the object for each.
 *
 * Run: `deno task exp:mask-quick`
 *
 * @module
 */
import {
  createReferenceNet,
  createTrainStep,
  initBackend,
  ProgressBar,
  syntheticDataset,
  syntheticTensors,
  tf,
} from "../mod.ts";

/** Trains one model and returns its test accuracy and saliency mass on the object. */
export async function trainAndScore(
  maskWeight: number,
  { steps = 300, size = 32, seed = 0 } = {},
): Promise<{ accuracy: number; onObject: number }> {
  const data = syntheticDataset({ count: 320, size, numClasses: 3, seed });
  const train = syntheticTensors(data, data.officialSplit.train);
  const test = syntheticTensors(data, data.officialSplit.test);
  const model = createReferenceNet({ numClasses: 3, inputSize: size, width: 0.25, seed });
  const step = createTrainStep(model, tf.train.adam(3e-3), { maskWeight });
  const bar = new ProgressBar(steps, { label: `maskWeight ${maskWeight}` });
  for (let s = 0; s < steps; s++) {
    const start = (s * 16) % (train.labels.shape[0] - 15);
    const batch = tf.tidy(() => ({
      images: train.images.slice(start, 16),
      labels: train.labels.slice(start, 16),
      masks: train.masks.slice(start, 16),
    }));
    const { loss } = await step(batch);
    tf.dispose(Object.values(batch));
    bar.tick(1, `loss ${loss.toFixed(3)}`);
  }
  bar.done();
  const scores = tf.tidy(() => {
    const out = model.forward(test.images);
    const accuracy = tf.mean(tf.cast(tf.equal(tf.argMax(out.logits, 1), test.labels), "float32"));
    const mass = tf.div(
      tf.sum(tf.mul(out.saliency, test.masks), [1, 2]),
      tf.sum(out.saliency, [1, 2]),
    );
    return tf.stack([accuracy, tf.mean(mass)]);
  });
  const [accuracy, onObject] = await scores.data();
  tf.dispose([scores, train.images, train.labels, train.masks]);
  tf.dispose([test.images, test.labels, test.masks]);
  model.dispose();
  return { accuracy, onObject };
}

if (import.meta.main) {
  await initBackend();
  for (const maskWeight of [0, 1]) {
    const { accuracy, onObject } = await trainAndScore(maskWeight);
    console.log(
      `maskWeight ${maskWeight}: accuracy ${(100 * accuracy).toFixed(1)}%, ` +
        `saliency mass on the object ${(100 * onObject).toFixed(1)}%`,
    );
  }
}
