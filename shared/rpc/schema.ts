import {
  type DescMessage,
  type DescMethod,
  type DescService,
  fromBinary,
  toBinary,
} from "@bufbuild/protobuf";
import type { MethodDefinition, ServiceDefinition } from "@grpc/grpc-js";

/** The HTTP/2 path of a method: "/diffda.generation.v1.GenerationService/GenerateShard". */
export function methodPath(method: DescMethod): string {
  return `/${method.parent.typeName}/${method.name}`;
}

/** A request that did not decode; handed to the adapter instead of throwing inside grpc-js. */
export class DecodeFailure {
  constructor(readonly error: unknown) {}
}

function toBuffer(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** protobuf-es serializer of a message type, in the Buffer shape grpc-js wants. */
export function serializer(schema: DescMessage) {
  // biome-ignore lint/suspicious/noExplicitAny: grpc-js passes our own decoded messages back untyped.
  return (message: any): Buffer => toBuffer(toBinary(schema, message));
}

/** protobuf-es deserializer that throws on malformed input (grpc-js turns that into INTERNAL). */
export function deserializer(schema: DescMessage) {
  return (bytes: Buffer) => fromBinary(schema, bytes);
}

/**
 * Like {@link deserializer} but returns a {@link DecodeFailure} instead of throwing, so the server adapter
 * can answer a malformed request with INVALID_ARGUMENT (grpc-js would answer INTERNAL, blaming itself).
 */
function lenientDeserializer(schema: DescMessage) {
  return (bytes: Buffer) => {
    try {
      return fromBinary(schema, bytes);
    } catch (error) {
      return new DecodeFailure(error);
    }
  };
}

/**
 * The grpc-js ServiceDefinition of a protobuf-es service descriptor: one entry per method, keyed by the
 * method's local name, with protobuf-es binary serializers. Requests decode leniently (see
 * {@link lenientDeserializer}); this definition is for serving.
 */
export function serviceDefinition(service: DescService): ServiceDefinition {
  const definition: Record<string, MethodDefinition<unknown, unknown>> = {};
  for (const method of service.methods) {
    definition[method.localName] = {
      path: methodPath(method),
      requestStream: method.methodKind === "client_streaming" || method.methodKind === "bidi_streaming",
      responseStream: method.methodKind === "server_streaming" || method.methodKind === "bidi_streaming",
      requestSerialize: serializer(method.input),
      requestDeserialize: lenientDeserializer(method.input),
      responseSerialize: serializer(method.output),
      responseDeserialize: deserializer(method.output),
      originalName: method.name,
    };
  }
  return definition;
}
