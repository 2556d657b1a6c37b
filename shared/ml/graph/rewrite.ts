import type { Graph, Node } from "./ir.js";

/**
 * Runs `emit` (which appends nodes to the graph, e.g. through a GraphBuilder) and moves the appended
 * nodes to just after `anchor`, keeping the node list topologically ordered. Returns the moved nodes.
 */
export function insertAfter(graph: Graph, anchor: Node, emit: () => void): Node[] {
  const mark = graph.nodes.length;
  emit();
  const added = graph.nodes.splice(mark);
  const at = graph.nodes.indexOf(anchor);
  if (at < 0) throw new Error("insertAfter: anchor node is not in the graph");
  graph.nodes.splice(at + 1, 0, ...added);
  return added;
}
