import { type ResNetConfig, validateResNetConfig } from "../ml/models/resnet.js";
import {
  decodeSafetensors,
  encodeSafetensors,
  loadSafetensors,
  saveSafetensors,
} from "../ml/safetensors/index.js";
import { type Classifier, checkParameters } from "./model.js";

/** `format` metadata value of a classifier file. */
export const CLASSIFIER_FORMAT = "diffda-classifier-1";

function metadataOf(c: Classifier, extra: Record<string, string>): Record<string, string> {
  if (c.classNames.length !== c.config.numClasses) {
    throw new Error(`classifier: ${c.classNames.length} class names for ${c.config.numClasses} classes`);
  }
  checkParameters(c.config, c.parameters);
  return {
    ...extra,
    format: CLASSIFIER_FORMAT,
    model: "resnet",
    config: JSON.stringify(c.config),
    class_names: JSON.stringify(c.classNames),
  };
}

function fromFile(
  tensors: Classifier["parameters"],
  metadata: Record<string, string>,
  where: string,
): Classifier & { metadata: Record<string, string> } {
  if (metadata.format !== CLASSIFIER_FORMAT) throw new Error(`${where}: not a diffda classifier file`);
  const config = JSON.parse(metadata.config ?? "null") as ResNetConfig;
  validateResNetConfig(config);
  const classNames = JSON.parse(metadata.class_names ?? "[]") as string[];
  if (classNames.length !== config.numClasses) {
    throw new Error(`${where}: ${classNames.length} class names for ${config.numClasses} classes`);
  }
  checkParameters(config, tensors);
  return { config, parameters: tensors, classNames, metadata };
}

/**
 * The classifier as safetensors bytes: parameters under their graph names, the config (JSON) and class
 * names in the metadata, plus any `extra` metadata (e.g. the training recipe and test accuracy).
 */
export function encodeClassifier(c: Classifier, extra: Record<string, string> = {}): Uint8Array {
  return encodeSafetensors(c.parameters, metadataOf(c, extra));
}

/** Reads {@link encodeClassifier}'s bytes back, checking the weights against the config. */
export function decodeClassifier(bytes: Uint8Array): Classifier & { metadata: Record<string, string> } {
  const { tensors, metadata } = decodeSafetensors(bytes);
  return fromFile(tensors, metadata, "classifier bytes");
}

/** Writes the classifier to a .safetensors file (atomically). */
export async function exportClassifier(
  path: string,
  c: Classifier,
  extra: Record<string, string> = {},
): Promise<void> {
  await saveSafetensors(path, c.parameters, metadataOf(c, extra));
}

/** Loads a classifier written by {@link exportClassifier}. */
export async function loadClassifier(
  path: string,
): Promise<Classifier & { metadata: Record<string, string> }> {
  const { tensors, metadata } = await loadSafetensors(path);
  return fromFile(tensors, metadata, path);
}
