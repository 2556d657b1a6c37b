import { encodePng } from "../../shared/data/index.js";
import {
  TraditionalAugmentation,
  type TrainHyperparametersSchema,
  type TrainSpecSchema,
  UtilizationMode,
} from "../../shared/gen/diffda/classifier/v1/classifier_pb.js";
import { ImageFormat } from "../../shared/gen/diffda/common/v1/image_pb.js";
import { Rng } from "../../shared/random/index.js";
import { sha256Hex } from "../../shared/service/wire/index.js";
import type { Init } from "./clients.js";

/**
 * A 16×16 gray image of class `label` among three easy classes (bright top half, bright left half, bright
 * centre) with seeded noise, as PNG ImageData: something a tiny network learns in a few epochs.
 */
export async function classImage(label: number, seed: number, size = 16) {
  const rng = new Rng(seed, label);
  const data = new Float32Array(size * size);
  for (let y = 0; y < size; y++)
    for (let x = 0; x < size; x++) {
      const c = size / 2;
      const on =
        label === 0
          ? y < c
          : label === 1
            ? x < c
            : Math.abs(x - c + 0.5) < size / 4 && Math.abs(y - c + 0.5) < size / 4;
      data[y * size + x] = Math.min(1, Math.max(0, (on ? 0.8 : 0.2) + 0.15 * rng.nextNormal()));
    }
  const png = await encodePng(data, { channels: 1, height: size, width: size });
  return {
    format: ImageFormat.PNG,
    data: png,
    width: size,
    height: size,
    channels: 1,
    sha256: sha256Hex(png),
  };
}

/** `perClass` labelled images of each of the three classes, source_index = position. */
export async function labelledSet(perClass: number, seed: number) {
  const out = [];
  for (let i = 0; i < 3 * perClass; i++) {
    const label = i % 3;
    out.push({ image: await classImage(label, seed * 1000 + i), label, sourceIndex: i });
  }
  return out;
}

/** A TrainSpec for the three classes of {@link classImage}: resnet-mini, real images only, no augmentation. */
export function classifierSpec(
  jobId: string,
  hyperparameters: Init<typeof TrainHyperparametersSchema>,
): Init<typeof TrainSpecSchema> {
  return {
    jobId,
    architecture: "resnet-mini",
    classes: [{ name: "top" }, { name: "left" }, { name: "centre" }],
    utilization: { mode: UtilizationMode.REAL_ONLY },
    traditionalAugmentation: TraditionalAugmentation.NONE,
    hyperparameters,
  };
}
