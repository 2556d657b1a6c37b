/**
 * Request and response pieces every service shares: field validation (`invalid_field` naming the field),
 * checksums, received images and artifacts, chunked uploads.
 */
export { makeArtifact, SAFETENSORS_MEDIA_TYPE, verifyArtifact } from "./artifacts.js";
export {
  type Bounds,
  countField,
  enumField,
  intField,
  invalidField,
  numberField,
  optionalInt,
  optionalNumber,
  required,
  type StringRules,
  seedField,
  stringField,
} from "./fields.js";
export { SHA256_HEX, sha256Hex } from "./hash.js";
export {
  decodeImageData,
  type ImageDecodeOptions,
  pngBytesImageData,
  pngImageData,
  verifySha256,
  withChannels,
} from "./images.js";
export { ChunkAssembler, receiveUpload, type UploadProtocol } from "./uploads.js";
