/** Model definitions shared by the services: the latent UNet of the diffusion kit and a small ResNet classifier. */
export { type ResNetConfig, resnet, resnetGraph } from "./resnet.js";
export {
  parameterCount,
  type UNetConfig,
  type UNetGraph,
  type UNetGraphOptions,
  unet,
  unetGraph,
} from "./unet.js";
