import type { Optimizer } from "./optimizer.js";

export interface AdamWConfig {
  beta1?: number;
  beta2?: number;
  epsilon?: number;
  /** Decoupled weight decay λ: p ← p·(1 − lr·λ) before the Adam step (default 0.01). */
  weightDecay?: number;
}

/**
 * AdamW (Loshchilov & Hutter) with bias correction, as torch.optim.AdamW:
 * m ← β1·m + (1−β1)·g; v ← β2·v + (1−β2)·g²; p ← p·(1 − lr·λ) − lr/(1−β1ᵗ) · m / (√v/√(1−β2ᵗ) + ε).
 */
export function adamw(config: AdamWConfig = {}): Optimizer {
  const beta1 = config.beta1 ?? 0.9;
  const beta2 = config.beta2 ?? 0.999;
  const eps = config.epsilon ?? 1e-8;
  const wd = config.weightDecay ?? 0.01;
  return {
    slots: ["m", "v"],
    prepare(b, lr, step) {
      const one = b.scalar(1);
      const bc1 = b.op("Sub", [one, b.op("Pow", [b.scalar(beta1), step])]);
      const sqrtBc2 = b.op("Sqrt", [b.op("Sub", [one, b.op("Pow", [b.scalar(beta2), step])])]);
      // m̂/(√v̂ + ε) = (√bc2/bc1) · m/(√v + ε√bc2): the bias corrections become two per-step scalars.
      return {
        stepSize: b.op("Div", [b.op("Mul", [lr, sqrtBc2]), bc1]),
        epsilon: b.op("Mul", [b.scalar(eps), sqrtBc2]),
        lrDecay: b.op("Mul", [lr, b.scalar(wd)]),
      };
    },
    update(b, p, g, [m, v], shared, decay) {
      const m1 = b.op("Add", [b.op("Mul", [m, b.scalar(beta1)]), b.op("Mul", [g, b.scalar(1 - beta1)])]);
      const v1 = b.op("Add", [
        b.op("Mul", [v, b.scalar(beta2)]),
        b.op("Mul", [b.op("Mul", [g, g]), b.scalar(1 - beta2)]),
      ]);
      const denom = b.op("Add", [b.op("Sqrt", [v1]), shared.epsilon]);
      const step = b.op("Mul", [b.op("Div", [m1, denom]), shared.stepSize]);
      // p·(1 − lr·λ·mask) = p − p·(lr·λ·mask)
      const base =
        decay && wd !== 0 ? b.op("Sub", [p, b.op("Mul", [p, b.op("Mul", [decay, shared.lrDecay])])]) : p;
      return { param: b.op("Sub", [base, step]), states: [m1, v1] };
    },
  };
}
