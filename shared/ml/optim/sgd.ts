import type { Optimizer } from "./optimizer.js";

export interface SgdConfig {
  /** Momentum μ (default 0.9; 0 for plain SGD). */
  momentum?: number;
  /** L2 weight decay λ added to the gradient: g ← g + λ·p (default 0). */
  weightDecay?: number;
  /** Nesterov momentum: step along g + μ·buf instead of buf. */
  nesterov?: boolean;
}

/** SGD with momentum as torch.optim.SGD (dampening 0): buf ← μ·buf + g; p ← p − lr·(nesterov ? g + μ·buf : buf). */
export function sgd(config: SgdConfig = {}): Optimizer {
  const mu = config.momentum ?? 0.9;
  const wd = config.weightDecay ?? 0;
  return {
    slots: mu === 0 ? [] : ["momentum"],
    prepare: (_b, lr) => ({ lr }),
    update(b, p, g0, states, shared, decay) {
      const g =
        decay && wd !== 0 ? b.op("Add", [g0, b.op("Mul", [p, b.op("Mul", [decay, b.scalar(wd)])])]) : g0;
      if (mu === 0) return { param: b.op("Sub", [p, b.op("Mul", [g, shared.lr])]), states: [] };
      const buf = b.op("Add", [b.op("Mul", [states[0], b.scalar(mu)]), g]);
      const direction = config.nesterov ? b.op("Add", [g, b.op("Mul", [buf, b.scalar(mu)])]) : buf;
      return { param: b.op("Sub", [p, b.op("Mul", [direction, shared.lr])]), states: [buf] };
    },
  };
}
