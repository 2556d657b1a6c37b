/** Latent-space operations of the generation methods: guidance, interpolation, GIF's perturbation. */
export {
  classifierFreeGuidance,
  classifierFreeGuidanceFromBatch,
  instructPix2PixGuidance,
  instructPix2PixGuidanceFromBatch,
} from "./guidance.js";
export {
  angleBetween,
  circleAngle,
  circleInterpolation,
  randomCircleInterpolation,
  slerp,
} from "./interpolation.js";
export {
  applyChannelPerturbation,
  type ChannelPerturbation,
  channelPerturbationGradient,
  type LatentShape,
  projectLinfBall,
  randomChannelPerturbation,
  signGradientStep,
} from "./perturbation.js";
