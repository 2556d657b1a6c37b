/**
 * ScoreImages: sample filtering's "clip" scorer, served where the model folders are. Each image is decoded
 * to RGB at the CLIP model's side and scored by shared/filtering's ClipImageScorer against one prompt per
 * class ("a photo of a {name}", the kit CLIP's zero-shot prompt); opened scorers are kept per (folder,
 * prompts), a job's filtering asking with the same classes for every run.
 */

import type { MessageInitShape } from "@bufbuild/protobuf";
import { ClipImageScorer } from "../../../shared/filtering/clip-scorer.js";
import type {
  ScoreImagesRequest,
  ScoreImagesResponseSchema,
} from "../../../shared/gen/diffda/generation/v1/generation_pb.js";
import { RpcError } from "../../../shared/rpc/index.js";
import type { ModelRegistry } from "../../../shared/service/index.js";
import { decodeImageData, invalidField } from "../../../shared/service/wire/index.js";

/** What scoring needs of the service. */
export interface ScoreDeps {
  readonly registry: ModelRegistry;
  /** The CLIP folder of a model folder, undefined when it has none. */
  readonly clipFolder: (dir: string) => Promise<string | undefined>;
  /** Most images (and sources) one call may carry. */
  readonly maxImages: number;
}

/** The prompt of a class: its learned token when it has one, else its name. */
function prompt(name: string, token: string): string {
  return `a photo of a ${token || name}`;
}

/** Scorers by folder and prompts, most recent last; a few stay open. */
const scorers = new Map<string, Promise<ClipImageScorer>>();
const KEEP = 4;

function scorerFor(folder: string, prompts: readonly string[]): Promise<ClipImageScorer> {
  const key = `${folder}\u0000${prompts.join("\u0000")}`;
  let scorer = scorers.get(key);
  if (scorer === undefined) {
    scorer = ClipImageScorer.open(folder, prompts);
    scorer.catch(() => scorers.delete(key));
    scorers.set(key, scorer);
    if (scorers.size > KEEP) {
      const [oldest, value] = scorers.entries().next().value as [string, Promise<ClipImageScorer>];
      scorers.delete(oldest);
      value.then((s) => s.release()).catch(() => {});
    }
  } else {
    scorers.delete(key);
    scorers.set(key, scorer);
  }
  return scorer;
}

/** Validates and answers one ScoreImages call. */
export async function scoreImages(
  request: ScoreImagesRequest,
  deps: ScoreDeps,
): Promise<MessageInitShape<typeof ScoreImagesResponseSchema>> {
  const model = deps.registry.resolve(request.model?.name ?? "", "model.name");
  if (request.classes.length < 2) throw invalidField("classes", "must name at least two classes");
  request.classes.forEach((c, i) => {
    if (c.name.trim() === "" && c.token.trim() === "")
      throw invalidField(`classes[${i}].name`, "must not be empty");
  });
  if (request.images.length === 0) throw invalidField("images", "must hold at least one image");
  for (const [field, list] of [
    ["images", request.images],
    ["sources", request.sources],
  ] as const)
    if (list.length > deps.maxImages) throw invalidField(field, `must hold at most ${deps.maxImages} images`);
  const weight = request.sourceWeight;
  if (!(weight >= 0 && weight <= 1)) throw invalidField("source_weight", "must be in [0, 1]");
  request.images.forEach((image, i) => {
    if (image.label >= request.classes.length)
      throw invalidField(`images[${i}].label`, `must be below the ${request.classes.length} classes`);
  });
  const folder = await deps.clipFolder(model.dir);
  if (folder === undefined)
    throw new RpcError("failed_precondition", `model ${model.id} has no CLIP folder to score with`);
  const scorer = await scorerFor(
    folder,
    request.classes.map((c) => prompt(c.name, c.token)),
  );
  const side = scorer.imageSize;
  const decode = async (list: typeof request.images, field: string) => {
    const plane = 3 * side * side;
    const images = new Float32Array(list.length * plane);
    for (let i = 0; i < list.length; i++) {
      const decoded = await decodeImageData(list[i].image, `${field}[${i}].image`, {
        channels: 3,
        height: side,
        width: side,
      });
      images.set(decoded.data, i * plane);
    }
    return { channels: 3, height: side, width: side, images, labels: Int32Array.from(list, (x) => x.label) };
  };
  const images = await decode(request.images, "images");
  let sources: Awaited<ReturnType<typeof decode>> | undefined;
  if (weight > 0) {
    const byIndex = new Map(request.sources.map((s, i) => [s.sourceIndex, i]));
    const order = request.images.map((image, i) => {
      const at = byIndex.get(image.sourceIndex);
      if (at === undefined)
        throw invalidField(
          `images[${i}].source_index`,
          `names source ${image.sourceIndex}, which sources lack`,
        );
      return request.sources[at];
    });
    sources = await decode(order, "sources");
  }
  const scores = await scorer.score(images, { sources, sourceWeight: weight });
  return { scores: [...scores] };
}
