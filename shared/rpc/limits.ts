/** Message size limits of a server or a channel, in bytes (from configuration, never implicit). */
export interface MessageLimits {
  /** Largest message accepted; a bigger one fails the call with RESOURCE_EXHAUSTED. */
  readonly maxReceiveMessageBytes: number;
  /** Largest message sent; a bigger one fails the call with RESOURCE_EXHAUSTED. */
  readonly maxSendMessageBytes: number;
}

/** The grpc-js channel/server options that enforce `limits`. */
export function limitOptions(limits: MessageLimits): Record<string, number> {
  for (const [name, value] of Object.entries(limits)) {
    if (!Number.isSafeInteger(value) || value <= 0) {
      throw new RangeError(`${name} must be a positive integer, got ${value}`);
    }
  }
  return {
    "grpc.max_receive_message_length": limits.maxReceiveMessageBytes,
    "grpc.max_send_message_length": limits.maxSendMessageBytes,
  };
}
