import {
  expandConceptTokens,
  type LoraComponent,
  type LoraLayer,
  moduleFromInitializerName,
  type TextualInversion,
} from "../diffusion/adapters/index.js";
import type { ClipTokenizer } from "../diffusion/tokenizer/index.js";
import { rowsParamName, type WrtSpec } from "../ml/autodiff/index.js";
import type { Tensor } from "../ml/onnx/index.js";
import { composeTrainingGraph, type TrainingGraph, type TrainingShape, UNET_PREFIX } from "./compose.js";
import type { ComponentGraph } from "./graph-io.js";
import { addLoraPaths, type LoraSettings, loraLayers } from "./lora.js";
import {
  appendTokenRows,
  conceptVectors,
  findTokenTable,
  initialVectors,
  learnedConcepts,
} from "./textual-inversion.js";

/** What a model folder gives every stage: its two trainable components, tokenizer and training shape. */
export interface StageInputs {
  readonly textEncoder: ComponentGraph;
  readonly unet: ComponentGraph;
  readonly tokenizer: ClipTokenizer;
  readonly shape: TrainingShape;
}

/** What a stage produces. */
export interface StageOutput {
  /** Learned (TI) class embeddings, one single-vector concept per class. */
  readonly concepts?: TextualInversion[];
  /** Trained LoRA layers (torch layout, PEFT module names). */
  readonly lora?: LoraLayer[];
  /** Full fine-tune: every trained UNet weight under its initializer name in `unet/model.onnx`. */
  readonly unetWeights?: Map<string, Tensor>;
}

/** One training stage: its graph, what trains, how prompts name the classes, and how to read the result. */
export interface StageGraph {
  readonly name: "textual-inversion" | "lora" | "full-unet";
  readonly training: TrainingGraph;
  readonly trainable: (string | WrtSpec)[];
  readonly tokenizer: ClipTokenizer;
  /** What stands for each class in the prompt templates. */
  readonly classWords: readonly string[];
  readonly promptTransform?: (prompt: string) => string;
  /** The stage's outputs from the trainer's trained parameters. */
  collect(trained: ReadonlyMap<string, Tensor>): StageOutput;
}

/**
 * Textual inversion: one new token per class appended to the token table, started from its initializer
 * word's embedding; only those rows train (a row-restricted parameter), every other weight is frozen.
 */
export function textualInversionStage(
  inputs: StageInputs,
  tokens: readonly string[],
  initializerWords: readonly string[],
): StageGraph {
  const training = composeTrainingGraph(inputs.textEncoder, inputs.unet, inputs.shape);
  const table = findTokenTable(training.graph, training.ids.name);
  const vectors = initialVectors(training.graph, table, inputs.tokenizer, initializerWords);
  const rows = appendTokenRows(training.graph, table, inputs.tokenizer, tokens, vectors);
  const rowsName = rowsParamName(table, rows.start, rows.end);
  return {
    name: "textual-inversion",
    training,
    trainable: [{ name: table, rows: [rows.start, rows.end] }],
    tokenizer: rows.tokenizer,
    classWords: tokens,
    collect(trained) {
      const values = trained.get(rowsName);
      if (!values) throw new Error(`trained rows ${rowsName} missing`);
      return { concepts: learnedConcepts(tokens, values) };
    },
  };
}

/**
 * LoRA on the attention projections of one component (UNet: DreamBooth-LoRA; text encoder: "TEnc"), all
 * base weights frozen. With `concepts` (TI+LoRA) their embeddings are appended to the token table, frozen,
 * and the prompts use their tokens; otherwise the prompts use `classWords`.
 */
export function loraStage(
  inputs: StageInputs,
  component: LoraComponent,
  targets: readonly string[],
  settings: LoraSettings,
  prompt: { concepts: readonly TextualInversion[] } | { classWords: readonly string[] },
): StageGraph {
  const training = composeTrainingGraph(inputs.textEncoder, inputs.unet, inputs.shape);
  let tokenizer = inputs.tokenizer;
  let classWords: readonly string[];
  let promptTransform: ((p: string) => string) | undefined;
  if ("concepts" in prompt) {
    const table = findTokenTable(training.graph, training.ids.name);
    const { tokens, vectors } = conceptVectors(prompt.concepts);
    tokenizer = appendTokenRows(training.graph, table, tokenizer, tokens, vectors).tokenizer;
    classWords = prompt.concepts.map((c) => c.token);
    promptTransform = expandConceptTokens(prompt.concepts);
  } else classWords = prompt.classWords;
  const params = addLoraPaths(
    training.graph,
    component,
    component === "unet" ? training.modules.unet : training.modules.text_encoder,
    targets,
    settings,
  );
  return {
    name: "lora",
    training,
    trainable: params.flatMap((p) => [p.down, p.up]),
    tokenizer,
    classWords,
    promptTransform,
    collect: (trained) => ({ lora: loraLayers(params, trained) }),
  };
}

/**
 * Every UNet weight trains: the parameters named as torch module weights (`….weight`, `….bias`) and the
 * anonymous Linear weights the module index resolves (`onnx::MatMul_…`); folded constants of the export
 * (scalars, frequency tables) stay fixed.
 */
export function fullUnetStage(inputs: StageInputs, classWords: readonly string[]): StageGraph {
  const training = composeTrainingGraph(inputs.textEncoder, inputs.unet, inputs.shape);
  const moduleWeights = new Set([...training.modules.unet.values()].map((r) => r.initializer));
  const trainable = [...training.graph.params].filter(
    (p) =>
      p.startsWith(UNET_PREFIX) &&
      (moduleWeights.has(p) ||
        moduleFromInitializerName(p.slice(UNET_PREFIX.length)) !== undefined ||
        p.endsWith(".bias")),
  );
  if (trainable.length === 0) throw new Error("no UNet weights found to train");
  return {
    name: "full-unet",
    training,
    trainable,
    tokenizer: inputs.tokenizer,
    classWords,
    collect(trained) {
      const unetWeights = new Map<string, Tensor>();
      for (const name of trainable) {
        const t = trained.get(name);
        if (!t) throw new Error(`trained weight ${name} missing`);
        unetWeights.set(name.slice(UNET_PREFIX.length), t);
      }
      return { unetWeights };
    },
  };
}
