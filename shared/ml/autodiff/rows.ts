import { GraphBuilder } from "../graph/builder.js";
import { inferTypes } from "../graph/infer.js";
import { attrInt, type Graph, type Node } from "../graph/ir.js";
import { allocate, numel } from "../onnx/tensor.js";
import { DataType } from "../onnx/types.js";

/** The name of the parameter holding rows [start, end) of `name`. */
export function rowsParamName(name: string, start: number, end: number): string {
  return `${name}.rows_${start}_${end}`;
}

/**
 * Splits rows [start, end) of parameter `name` into a parameter of their own, so only they can train.
 * Embedding lookups (Gather on axis 0) read those rows from the new parameter through a Where on the
 * token ids, so their gradient is a scatter into the small row block only — never the whole table. Any other
 * use reads Concat(rows before, trainable rows, rows after). Returns the new parameter's name.
 */
export function restrictRows(graph: Graph, name: string, start: number, end: number): string {
  const table = graph.initializers.get(name);
  if (!table || !graph.params.has(name)) throw new Error(`restrictRows: ${name} is not a parameter`);
  const rows = table.dims[0];
  if (!(Number.isInteger(start) && Number.isInteger(end) && 0 <= start && start < end && end <= rows)) {
    throw new Error(`restrictRows: rows [${start}, ${end}) out of range for ${name} with ${rows} rows`);
  }
  const rowSize = numel(table.dims.slice(1));
  const sliceOf = (from: number, to: number) => {
    const data = allocate(table.dtype, (to - from) * rowSize);
    (data as Float32Array).set(table.data.subarray(from * rowSize, to * rowSize) as Float32Array);
    return { dtype: table.dtype, dims: [to - from, ...table.dims.slice(1)], data };
  };
  const trainable = rowsParamName(name, start, end);
  graph.addInitializer(trainable, sliceOf(start, end), true);

  const types = inferTypes(graph);
  const b = new GraphBuilder({ graph, dtype: table.dtype });
  const rewritten: Node[] = [];
  let concat: string | undefined;
  for (const node of [...graph.nodes]) {
    if (!node.inputs.includes(name)) {
      rewritten.push(node);
      continue;
    }
    const emitted: Node[] = [];
    const mark = graph.nodes.length;
    if (node.op === "Gather" && node.inputs[0] === name && attrInt(node, "axis", 0) === 0) {
      const ids = node.inputs[1];
      const idType = types.get(ids)?.dtype ?? DataType.INT64;
      const idRank = types.get(ids)?.shape?.length;
      if (idRank === undefined) throw new Error(`restrictRows: rank of ${ids} is unknown`);
      const intConst = (v: number) =>
        b.constant({
          dtype: idType,
          dims: [],
          data: idType === DataType.INT64 ? BigInt64Array.of(BigInt(v)) : Int32Array.of(v),
        });
      const out = node.outputs[0];
      const base = b.op("Gather", [name, ids], { axis: 0 });
      const inRange = b.op("And", [
        b.op("GreaterOrEqual", [ids, intConst(start)]),
        b.op("Less", [ids, intConst(end)]),
      ]);
      const local = b.op("Where", [inRange, b.op("Sub", [ids, intConst(start)]), intConst(0)]);
      const picked = b.op("Gather", [trainable, local], { axis: 0 });
      const trailing = table.dims.length - 1;
      const mask = trailing
        ? b.op("Unsqueeze", [inRange, b.ints(Array.from({ length: trailing }, (_, i) => idRank + i))])
        : inRange;
      b.op("Where", [mask, picked, base], {}, { outputs: [out] });
    } else {
      if (!concat) {
        const pieces: string[] = [];
        if (start > 0) pieces.push(b.constant(sliceOf(0, start)));
        pieces.push(trainable);
        if (end < rows) pieces.push(b.constant(sliceOf(end, rows)));
        concat = pieces.length === 1 ? trainable : b.op("Concat", pieces, { axis: 0 });
      }
      const whole = concat;
      node.inputs = node.inputs.map((i) => (i === name ? whole : i));
      emitted.push(node);
    }
    // Nodes the builder appended belong here, in order, before the rewritten consumer (if kept).
    const added = graph.nodes.splice(mark);
    rewritten.push(...added, ...emitted);
  }
  graph.nodes = rewritten;
  return trainable;
}
