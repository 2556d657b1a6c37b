import assert from "node:assert/strict";
import type { DescMessage, DescService, MessageInitShape, MessageShape } from "@bufbuild/protobuf";
import {
  type Client,
  createChannel,
  createClient,
  type MessageLimits,
  type RpcChannel,
  RpcError,
} from "../../shared/rpc/index.js";

/** Message limits of the test clients (the services' defaults). */
export const TEST_LIMITS: MessageLimits = { maxReceiveMessageBytes: 64 << 20, maxSendMessageBytes: 64 << 20 };

/** A client of `service` at `address` and its channel. */
export function connect<S extends DescService>(
  service: S,
  address: string,
  timeoutMs = 120_000,
): { client: Client<S>; channel: RpcChannel } {
  const channel = createChannel({ address, limits: TEST_LIMITS });
  return { client: createClient(service, channel, { timeoutMs }), channel };
}

/** A message's init shape without the message-instance branch, so tests can spread and override fields. */
export type Init<D extends DescMessage> = Exclude<MessageInitShape<D>, MessageShape<D>>;

/** The RpcError a call fails with; fails the test if it succeeds or throws anything else. */
export async function rpcError(promise: Promise<unknown>): Promise<RpcError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof RpcError, String(error));
    return error;
  }
  assert.fail("the call succeeded");
}
