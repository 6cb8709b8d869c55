"""Transformer attribution (Chefer et al. 2021) by PyTorch autograd, for attention_test.ts.

Builds a torchvision VisionTransformer as narrow as our vit_tiny_patch16_224
at width 1/16 (12 blocks, 3 heads of 4 channels, MLP 48) for 64-px images and
3 classes, with seeded weights (class token, position embeddings, norms and
head perturbed so that nothing is 0 or 1). It runs the network op by op, the
attention of every block a tensor whose gradient autograd keeps, and scores
the classifier of a two-branch model: the head on the mean of the patch
tokens after the final norm (no input normalisation). With the gradient of
the target's score with respect to each attention matrix:

    Ā_b = mean over heads of relu(∂s/∂A_b ⊙ A_b),  R = I,  R ← R + Ā_b · R

and writes under --out:

- vit_attr.safetensors: the state dict, as torchvision names it;
- vit_attr.json: the input (NHWC, in [0, 1]), the target, and the patches'
  relevance (R − I): the mean of the patch rows ("patches") and the class
  token's row ("class"), each [n, 4, 4]; and the largest |∂s/∂A|, so the
  test can see that the gradients are not zero.

Run with the Python that has torch: /usr/bin/python3 attention_reference.py --out DIR.
"""
import argparse
import json
import os
import sys

import torch
from torchvision.models.vision_transformer import VisionTransformer

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "backbones"))
from torchvision_reference import write_safetensors  # noqa: E402

SIZE, LAYERS, HEADS, HIDDEN, MLP, CLASSES, BATCH, TARGET = 64, 12, 3, 12, 48, 3, 2, 2


def attention_block(layer, x, kept):
    """torchvision's EncoderBlock, its self-attention written out; appends the attention to kept."""
    attn = layer.self_attention
    n, t, c = x.shape
    d = c // HEADS
    y = layer.ln_1(x)
    qkv = y @ attn.in_proj_weight.T + attn.in_proj_bias
    q, k, v = (u.reshape(n, t, HEADS, d).transpose(1, 2) for u in qkv.chunk(3, dim=-1))
    a = torch.softmax(q @ k.transpose(-1, -2) / d**0.5, dim=-1)
    a.retain_grad()
    kept.append(a)
    y = (a @ v).transpose(1, 2).reshape(n, t, c)
    x = x + attn.out_proj(y)
    return x + layer.mlp(layer.ln_2(x))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    torch.manual_seed(0)
    model = VisionTransformer(SIZE, 16, LAYERS, HEADS, HIDDEN, MLP, num_classes=CLASSES)
    with torch.no_grad():
        for key, value in model.state_dict().items():
            if "ln" in key or "heads" in key or key in ("class_token", "encoder.pos_embedding"):
                value.add_(0.1 * torch.randn_like(value))
    model.eval()
    x = torch.rand(BATCH, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(1))

    kept = []
    t = model._process_input(x)
    t = torch.cat([model.class_token.expand(BATCH, -1, -1), t], dim=1) + model.encoder.pos_embedding
    for layer in model.encoder.layers:
        t = attention_block(layer, t, kept)
    tokens = model.encoder.ln(t)
    with torch.no_grad():
        # The written-out pass is torchvision's: same class-token logits.
        assert torch.allclose(model.heads(tokens[:, 0]), model(x), atol=1e-5)
    score = model.heads(tokens[:, 1:].mean(dim=1))[:, TARGET].sum()
    score.backward()

    with torch.no_grad():
        eye = torch.eye(t.shape[1]).expand(BATCH, -1, -1)
        r = eye.clone()
        for a in kept:
            r = r + (a.grad * a).clamp(min=0).mean(dim=1) @ r
        r = r - eye
        side = SIZE // 16
        relevance = {
            "patches": r[:, 1:, 1:].mean(dim=1).reshape(BATCH, side, side),
            "class": r[:, 0, 1:].reshape(BATCH, side, side),
        }
    write_safetensors(os.path.join(args.out, "vit_attr.safetensors"), model.state_dict())
    with open(os.path.join(args.out, "vit_attr.json"), "w") as f:
        json.dump(
            {
                "size": SIZE,
                "target": TARGET,
                "input": x.permute(0, 2, 3, 1).flatten().tolist(),
                "relevance": {k: v.flatten().tolist() for k, v in relevance.items()},
                "maxGradient": max(a.grad.abs().max().item() for a in kept),
            },
            f,
        )


if __name__ == "__main__":
    main()
