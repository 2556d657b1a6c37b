import { type ChwImage, diffII, drawSuffixes, invertImages, sampleRng } from "../../diffusion/index.js";
import { RpcError } from "../../rpc/index.js";
import { invalidField } from "../../service/wire/fields.js";
import { PLAN_PURPOSE } from "../plan-purpose.js";
import { defineRunner } from "../runtime.js";
import { sampleBase, sourceImage } from "../source.js";
import { ddimInversionInterpolation } from "./spec.js";

interface Resolved {
  readonly inversionSteps?: number;
  readonly splitRatio?: number;
  readonly suffixes: readonly string[];
}

const FIELD = "ddim_inversion_interpolation";

function fill(template: string, phrase: string): string {
  return template.replaceAll("{}", phrase);
}

/** DDIM inversion + circle interpolation between same-class latents + two-stage prompts (Diff-II). */
export const ddimInversionInterpolationRunner = defineRunner({
  spec: ddimInversionInterpolation,
  resolve(v): Resolved {
    if ((v.inversionGuidanceScale ?? 1) !== 1) {
      throw new RpcError(
        "unimplemented",
        `${FIELD}.inversion_guidance_scale: only 1 (no guidance) is implemented`,
        { details: { field: `${FIELD}.inversion_guidance_scale` } },
      );
    }
    if (((v.maxAngle as number | undefined) ?? 2 * Math.PI) < 2 * Math.PI - 1e-9) {
      throw new RpcError(
        "unimplemented",
        `${FIELD}.max_angle: angles are drawn over the full circle; only 2π is implemented`,
        { details: { field: `${FIELD}.max_angle` } },
      );
    }
    return {
      inversionSteps: v.inversionSteps as number | undefined,
      splitRatio: v.splitRatio as number | undefined,
      suffixes: (v.promptSuffixes as string[] | undefined) ?? [],
    };
  },
  async plan(r, p) {
    const label = p.sourceLabel;
    const others = [...p.sourceLabels()]
      .filter(([i, l]) => l === label && i !== p.sourceIndex)
      .map(([i]) => i)
      .sort((a, b) => a - b);
    // A class with one image (a 1-shot task) interpolates the anchor with itself, as the reference
    // does (DiffDA-Eval draws the partner from the whole class): the circle is undefined, the anchor's
    // inverted latent is used as is, and the samples differ by their suffix prompts.
    const partners = others.length > 0 ? others : [p.sourceIndex];
    const partnerIndex = partners[sampleRng(p.key, PLAN_PURPOSE.partner).nextInt(partners.length)];
    const anchor = await p.image(p.sourceIndex);
    const partner = await p.image(partnerIndex);
    if (partner.height !== anchor.height || partner.width !== anchor.width) {
      throw invalidField(
        "sampling.width",
        "Diff-II partners differ in size: set sampling.width and sampling.height",
      );
    }
    const prompt = p.prompt(label);
    let suffixPrompt = prompt;
    if (r.suffixes.length > 0) {
      const order = drawSuffixes({ seed: p.seed, index: p.sourceIndex }, r.suffixes, r.suffixes.length);
      suffixPrompt = `${prompt} ${order[(p.index % p.samplesPerSource) % order.length]}`;
    }
    return {
      label,
      prompt,
      suffixPrompt,
      inversionPrompt: fill(p.templates[0], p.phrase(label)),
      partner: partner.image,
      ...anchor,
    };
  },
  engine: async (r) => ({ inversionSteps: r.inversionSteps, splitRatio: r.splitRatio }),
  async run(model, samples, params, c) {
    const run = { signal: c.signal, onProgress: c.onProgress };
    const images: ChwImage[] = [];
    const prompts: string[] = [];
    const slot = new Map<ChwImage, number>();
    const add = (img: ChwImage, prompt: string) => {
      let k = slot.get(img);
      if (k === undefined) {
        k = images.length;
        slot.set(img, k);
        images.push(img);
        prompts.push(prompt);
      }
      return k;
    };
    const pairs = samples.map((s) => {
      if (!s.partner) throw new RpcError("internal", `sample ${s.index} has no partner image`);
      const prompt = s.inversionPrompt ?? s.prompt;
      return [add(sourceImage(s), prompt), add(s.partner, prompt)] as const;
    });
    const inverted = await invertImages(
      model,
      images.map((img, k) => ({ image: img, prompt: prompts[k] })),
      { steps: params.inversionSteps, cache: c.inversionCache, ...run },
    );
    return diffII(
      model,
      samples.map((s, i) => ({
        ...sampleBase(s),
        anchor: inverted[pairs[i][0]],
        partner: inverted[pairs[i][1]],
        suffixPrompt: s.suffixPrompt ?? s.prompt,
        label: s.label,
      })),
      { ...c.sampling, ...run, splitRatio: params.splitRatio },
    );
  },
});
