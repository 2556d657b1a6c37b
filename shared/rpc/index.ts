/**
 * protobuf-es v2 services served and called through @grpc/grpc-js: handlers are plain async functions
 * and async generators, clients are typed and always carry a deadline, errors are one RpcError type with
 * one catalog, and every server answers grpc.health.v1 and drains gracefully. See docs/rpc.md.
 */
export { type CatalogEntry, type ErrorCode, errorCatalog, genericErrorCode, isErrorCode } from "./catalog.js";
export {
  type ChannelOptions,
  type ClientOptions,
  createChannel,
  createClient,
  type RpcChannel,
} from "./client.js";
export { GrpcCode, grpcCodeName, isGrpcCode } from "./codes.js";
export {
  type ChannelTls,
  type ChannelTlsFiles,
  channelTls,
  type ReloadingCredentials,
  type ServerTls,
  type ServerTlsFiles,
  serverTls,
} from "./credentials.js";
export { RpcError, type RpcErrorOptions } from "./error.js";
export { createHealthState, Health, type HealthState, ServingStatus } from "./health.js";
export type { MessageLimits } from "./limits.js";
export { methodPath, serviceDefinition } from "./schema.js";
export { createRpcServer, type ListenOptions, type RpcServer, type RpcServerOptions } from "./server.js";
export { ERROR_DOMAIN, STATUS_DETAILS_KEY } from "./status-details.js";
export { AUTHORIZATION_KEY, bearerMetadata, tokenCheck } from "./token.js";
export type {
  BiDiStreamingImpl,
  CallOptions,
  Client,
  ClientMethod,
  ClientStreamingImpl,
  HandlerContext,
  MethodImpl,
  ServerStreamingImpl,
  ServiceImpl,
  UnaryImpl,
} from "./types.js";
