"""Reference outputs of torchvision's VisionTransformer for vit_torchvision_test.ts.

For each case of CASES (torchvision's vit_b_16 at image_size 32, and a
VisionTransformer as wide as our vit_tiny_patch16_224 at width 0.25, at 224),
builds the network with seeded weights, runs a
seeded batch of images in [0, 1] (normalised with ImageNet's mean and std) in
eval mode, and writes under --out:

- NAME.safetensors: the state dict as torchvision names it;
- NAME.timm.safetensors (all but vit_b_16): the same arrays under timm's
  names;
- NAME.json: the input (NHWC, in [0, 1]), the logits, and the encoder's
  output tokens after its final layer norm (class token first);
- vit_tiny_w025_64.json: vit_tiny_w025's weights in a VisionTransformer for
  64 px, its position embeddings resampled as timm's resample_abs_pos_embed
  does (class token kept, the 14×14 grid to 4×4 by F.interpolate(
  mode="bicubic", antialias=True, align_corners=False)), on a 64-px batch;
- resample.json: a grid resampled by F.interpolate(mode="bicubic",
  antialias=True), to check our position-embedding resampling.

Run with the Python that has torch: /usr/bin/python3 vit_reference.py --out DIR.
"""
import argparse
import json
import os
import re
import sys

import torch
import torch.nn.functional as F
import torchvision
from torchvision.models.vision_transformer import VisionTransformer

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torchvision_reference import MEAN, STD, write_safetensors  # noqa: E402

# name: (image size, layers, heads, hidden, mlp, batch)
CASES = {
    "vit_b_16": (32, 12, 12, 768, 3072, 2),
    "vit_tiny_w025": (224, 12, 3, 48, 192, 1),
}


def timm_key(key):
    """torchvision's ViT state-dict key as timm names it."""
    rules = [
        (r"^class_token$", "cls_token"),
        (r"^conv_proj\.", "patch_embed.proj."),
        (r"^encoder\.pos_embedding$", "pos_embed"),
        (r"^encoder\.ln\.", "norm."),
        (r"^heads\.head\.", "head."),
        (r"^encoder\.layers\.encoder_layer_(\d+)\.", r"blocks.\1."),
    ]
    for pattern, repl in rules:
        key = re.sub(pattern, repl, key)
    for old, new in [
        ("ln_1.", "norm1."),
        ("ln_2.", "norm2."),
        ("self_attention.in_proj_weight", "attn.qkv.weight"),
        ("self_attention.in_proj_bias", "attn.qkv.bias"),
        ("self_attention.out_proj.", "attn.proj."),
        ("mlp.0.", "mlp.fc1."),
        ("mlp.3.", "mlp.fc2."),
    ]:
        key = key.replace(old, new)
    return key


def resample_abs_pos_embed(posemb, side):
    """timm's resample_abs_pos_embed for one prefix token: [1, 1 + g·g, c] to [1, 1 + side², c]."""
    prefix, grid = posemb[:, :1], posemb[:, 1:]
    g, c = int(round(grid.shape[1] ** 0.5)), grid.shape[2]
    grid = grid.reshape(1, g, g, c).permute(0, 3, 1, 2).float()
    grid = F.interpolate(grid, size=(side, side), mode="bicubic", antialias=True, align_corners=False)
    return torch.cat([prefix, grid.permute(0, 2, 3, 1).reshape(1, side * side, c)], dim=1)


def run_case(model, x, batch):
    """The input, logits and tokens after the encoder's final norm, as NAME.json holds them."""
    z = (x - MEAN) / STD
    with torch.no_grad():
        # torchvision's forward, its tokens kept: patches, class token, encoder (with ln), head.
        t = model._process_input(z)
        t = torch.cat([model.class_token.expand(batch, -1, -1), t], dim=1)
        tokens = model.encoder(t)
        logits = model.heads(tokens[:, 0])
        assert torch.allclose(logits, model(z), atol=1e-5)
    return {
        "size": x.shape[2],
        "input": x.permute(0, 2, 3, 1).flatten().tolist(),
        "batch": batch,
        "logits": logits.flatten().tolist(),
        "tokens": list(tokens.shape),
        "tokenValues": tokens.flatten().tolist(),
    }


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    for name, (size, layers, heads, hidden, mlp, batch) in CASES.items():
        torch.manual_seed(0)
        if name == "vit_b_16":
            model = torchvision.models.vit_b_16(image_size=size)
        else:
            model = VisionTransformer(size, 16, layers, heads, hidden, mlp)
        # Non-trivial class token, position embeddings, norms and head (torchvision starts some
        # at 0 or 1, the head at 0).
        with torch.no_grad():
            for key, value in model.state_dict().items():
                if "ln" in key or "heads" in key or key in ("class_token", "encoder.pos_embedding"):
                    value.add_(0.1 * torch.randn_like(value))
        model.eval()
        generator = torch.Generator().manual_seed(1)
        x = torch.rand(batch, 3, size, size, generator=generator)
        case = run_case(model, x, batch)
        state = model.state_dict()
        write_safetensors(os.path.join(args.out, f"{name}.safetensors"), state)
        if name != "vit_b_16":
            write_safetensors(
                os.path.join(args.out, f"{name}.timm.safetensors"),
                {timm_key(k): v for k, v in state.items()},
            )
        with open(os.path.join(args.out, f"{name}.json"), "w") as f:
            json.dump(case, f)
        if name == "vit_tiny_w025":
            small = VisionTransformer(64, 16, layers, heads, hidden, mlp)
            moved = dict(state)
            moved["encoder.pos_embedding"] = resample_abs_pos_embed(state["encoder.pos_embedding"], 4)
            small.load_state_dict(moved)
            small.eval()
            x = torch.rand(2, 3, 64, 64, generator=generator)
            case = run_case(small, x, 2)
            case["posEmbed"] = moved["encoder.pos_embedding"].flatten().tolist()
            with open(os.path.join(args.out, f"{name}_64.json"), "w") as f:
                json.dump(case, f)
    grid = torch.randn(1, 4, 14, 14, generator=torch.Generator().manual_seed(2))
    out = {"grid": grid[0].permute(1, 2, 0).flatten().tolist(), "sizes": {}}
    for h, w in [(2, 2), (4, 3), (14, 14), (20, 17)]:
        r = F.interpolate(grid, size=(h, w), mode="bicubic", antialias=True, align_corners=False)
        out["sizes"][f"{h}x{w}"] = r[0].permute(1, 2, 0).flatten().tolist()
    with open(os.path.join(args.out, "resample.json"), "w") as f:
        json.dump(out, f)


if __name__ == "__main__":
    main()
