/**
 * The RPC clients of the three compute services, with deadlines per method from configuration.
 * Generation may have several replicas: given several addresses, shards are spread round-robin by shard
 * index (and a retried shard moves to the next replica); given one `dns:///` name, grpc-js balances
 * calls round-robin over the addresses the name resolves to (a headless Service in Kubernetes). With TLS
 * configured every channel shares one set of watched certificate files; with a token every call carries it.
 */
import type { ClientSecurity } from "../../../../shared/config/index.js";
import { ClassifierService } from "../../../../shared/gen/diffda/classifier/v1/classifier_pb.js";
import { FinetuneService } from "../../../../shared/gen/diffda/finetune/v1/finetune_pb.js";
import { GenerationService } from "../../../../shared/gen/diffda/generation/v1/generation_pb.js";
import type { MessageLimits } from "../../../../shared/rpc/index.js";
import {
  bearerMetadata,
  type ChannelTls,
  type Client,
  channelTls,
  createChannel,
  createClient,
  type RpcChannel,
} from "../../../../shared/rpc/index.js";

/** Generation replicas. */
export interface GenerationPool {
  /** How many replicas (addresses) there are. */
  readonly size: number;
  /** The client for shard `shardIndex` on attempt `attempt` (1-based): round-robin, moving on each retry. */
  pick(shardIndex: number, attempt: number): { client: Client<typeof GenerationService>; address: string };
}

/** The clients the task handlers call. */
export interface ComputeClients {
  finetune: Client<typeof FinetuneService>;
  generation: GenerationPool;
  classifier: Client<typeof ClassifierService>;
  /** Closes every channel. */
  close(): void;
}

/** Addresses, limits and deadlines of the compute services. */
export interface ComputeConfig {
  finetuneAddress: string;
  generationAddresses: readonly string[];
  classifierAddress: string;
  limits: MessageLimits;
  finetuneTimeoutMs: number;
  generateTimeoutMs: number;
  trainTimeoutMs: number;
  evaluateTimeoutMs: number;
  /** TLS files and token (from `clientSecurity`); plaintext and no token when omitted. */
  security?: ClientSecurity;
}

/** A pool over explicit clients (tests pass fakes or clients on test servers). */
export function generationPool(
  replicas: readonly { client: Client<typeof GenerationService>; address: string }[],
): GenerationPool {
  if (replicas.length === 0) throw new RangeError("at least one generation replica is needed");
  return {
    size: replicas.length,
    pick: (shardIndex, attempt) => replicas[(shardIndex + Math.max(0, attempt - 1)) % replicas.length],
  };
}

const ROUND_ROBIN = { "grpc.service_config": JSON.stringify({ loadBalancingConfig: [{ round_robin: {} }] }) };

/** Opens channels to every service (they connect lazily, on the first call). */
export function createComputeClients(config: ComputeConfig): ComputeClients {
  const channels: RpcChannel[] = [];
  const settings = config.security?.tls;
  const tls: ChannelTls | undefined = settings && channelTls(settings);
  const token = config.security?.token;
  const open = (address: string) => {
    const channel = createChannel({
      address,
      limits: config.limits,
      grpcOptions: { ...tls?.grpcOptions, ...(address.startsWith("dns:") ? ROUND_ROBIN : {}) },
      ...(tls ? { credentials: tls.credentials } : {}),
      ...(token === undefined ? {} : { metadata: bearerMetadata(token) }),
    });
    channels.push(channel);
    return channel;
  };
  const finetune = createClient(FinetuneService, open(config.finetuneAddress), {
    timeoutMs: config.finetuneTimeoutMs,
  });
  const classifier = createClient(ClassifierService, open(config.classifierAddress), {
    timeoutMs: config.trainTimeoutMs,
    methodTimeoutsMs: { evaluate: config.evaluateTimeoutMs, evaluateUpload: config.evaluateTimeoutMs },
  });
  const generation = generationPool(
    config.generationAddresses.map((address) => ({
      address,
      client: createClient(GenerationService, open(address), { timeoutMs: config.generateTimeoutMs }),
    })),
  );
  return {
    finetune,
    generation,
    classifier,
    close: () => {
      for (const channel of channels) channel.close();
      tls?.close();
    },
  };
}
