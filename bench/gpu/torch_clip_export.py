"""Exports a real PyTorch CLIP text encoder (transformers' CLIPTextModel, the SD 1.x text-encoder class) at a
small width with seeded random weights, as diffda's tests' "real export" fixture, plus reference values that
PyTorch's own autograd computes on it:

- last_hidden_state and pooler_output for fixed input ids;
- the gradient of loss = sum(last_hidden_state * probe) w.r.t. the token-embedding table (the quantity
  textual inversion trains), for the rows that the ids use.

    python3 bench/gpu/torch_clip_export.py <out dir>
"""
import json
import sys
from pathlib import Path

import numpy as np
import torch
from safetensors.numpy import save_file
from transformers import CLIPTextConfig, CLIPTextModel

out = Path(sys.argv[1])
out.mkdir(parents=True, exist_ok=True)
torch.manual_seed(0)

config = CLIPTextConfig(
    vocab_size=64,
    hidden_size=32,
    intermediate_size=64,
    num_hidden_layers=2,
    num_attention_heads=4,
    max_position_embeddings=16,
    bos_token_id=62,
    eos_token_id=63,
    pad_token_id=63,
    hidden_act="quick_gelu",
)
model = CLIPTextModel(config).eval()

ids = torch.tensor([[62, 5, 9, 17, 63, 63, 63, 63], [62, 40, 41, 63, 63, 63, 63, 63]], dtype=torch.int64)
probe = torch.from_numpy(np.random.default_rng(0).standard_normal((2, 8, 32)).astype(np.float32))

table = model.get_input_embeddings().weight
result = model(input_ids=ids)
loss = (result.last_hidden_state * probe).sum()
loss.backward()

torch.onnx.export(
    model,
    (ids,),
    str(out / "model.onnx"),
    input_names=["input_ids"],
    output_names=["last_hidden_state", "pooler_output"],
    dynamic_axes={"input_ids": {0: "batch", 1: "sequence"}, "last_hidden_state": {0: "batch", 1: "sequence"}, "pooler_output": {0: "batch"}},
    opset_version=17,
    dynamo=False,
)
save_file(
    {
        "input_ids": ids.numpy(),
        "probe": probe.numpy(),
        "last_hidden_state": result.last_hidden_state.detach().numpy(),
        "pooler_output": result.pooler_output.detach().numpy(),
        "token_embedding": table.detach().numpy(),
        "token_embedding_grad": table.grad.numpy(),
    },
    str(out / "reference.safetensors"),
)
(out / "config.json").write_text(json.dumps(config.to_dict(), indent=2, default=str))
print(json.dumps({"torch": torch.__version__, "onnx_bytes": (out / "model.onnx").stat().st_size, "loss": float(loss)}))
