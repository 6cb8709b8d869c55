"""Reference outputs of torchvision's architectures for torchvision_match_test.ts.

Builds each architecture with seeded weights, gives every batch norm
non-trivial running statistics and affine parameters, runs a seeded batch of
images in [0, 1] (normalised with ImageNet's mean and std, as the models'
inputNorm: "imagenet" does) in eval mode, and writes under --out:

- data.bin: float32 arrays, little-endian, one after another;
- index.json: per model, the input size and batch, each state-dict array's
  key, shape, dtype and byte offset (int64 counters are listed without
  data), the same arrays as timm names them (keys renamed, VGG's classifier
  reshaped as timm's checkpoint filter does; same bytes), and the offsets
  of the input (NCHW, in [0, 1]), the logits and the stage outputs (NCHW).

Run with the Python that has torch: /usr/bin/python3 torchvision_reference.py
--out DIR [--models resnet18:224:2,...]. With --keys FILE it writes instead the
state-dict keys and shapes of the six architectures as torchvision builds them
(1000 classes), the fixture of tests/models/pretrained_keys_test.ts.
"""
import argparse
import json
import struct
import os

import torch
import torch.nn as nn
import torchvision

MEAN = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
STD = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)

# The features indices after which each of our VGG and MobileNetV2 stages ends.
STAGE_ENDS = {"mobilenet_v2": [1, 3, 6, 13, 18], "vgg11_bn": [2, 6, 13, 20, 28]}
# timm's MobileNetV2 blocks: repeats of each inverted-residual setting.
MOBILENET_V2_REPEATS = [1, 2, 3, 4, 3, 3, 1]
# A narrower VGG classifier than torchvision's 4096 (same layers, same indices), to keep the
# test's files small.
VGG_HIDDEN = 64


def build(name):
    if name == "vgg11_bn":
        model = torchvision.models.vgg11_bn()
        model.classifier = nn.Sequential(
            nn.Linear(512 * 7 * 7, VGG_HIDDEN), nn.ReLU(True), nn.Dropout(),
            nn.Linear(VGG_HIDDEN, VGG_HIDDEN), nn.ReLU(True), nn.Dropout(),
            nn.Linear(VGG_HIDDEN, 1000),
        )
        return model
    return getattr(torchvision.models, name)()


@torch.no_grad()
def randomise_batch_norms(model, size, generator):
    """Running statistics from a few training-mode batches, then perturbed, and random affine."""
    bns = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    for bn in bns:
        bn.reset_running_stats()
        bn.momentum = None  # a cumulative average
    model.train()
    for _ in range(2):
        x = torch.rand(4, 3, size, size, generator=generator)
        model((x - MEAN) / STD)
    model.eval()
    for bn in bns:
        c = bn.num_features
        bn.weight.copy_(0.5 + torch.rand(c, generator=generator))
        bn.bias.copy_(0.2 * torch.randn(c, generator=generator))
        bn.running_mean.add_(0.1 * torch.randn(c, generator=generator) * bn.running_var.sqrt())
        bn.running_var.mul_(0.8 + 0.45 * torch.rand(c, generator=generator))


@torch.no_grad()
def stages_and_logits(name, model, z):
    """Our stages' outputs (NCHW) and the logits, by running torchvision's modules in order."""
    if name.startswith("resnet"):
        stem = model.relu(model.bn1(model.conv1(z)))
        outs = [stem]
        h = model.maxpool(stem)
        for layer in [model.layer1, model.layer2, model.layer3, model.layer4]:
            h = layer(h)
            outs.append(h)
        logits = model.fc(torch.flatten(model.avgpool(h), 1))
    else:
        outs, h = [], z
        for i, module in enumerate(model.features):
            h = module(h)
            if i in STAGE_ENDS[name]:
                outs.append(h)
        if name == "mobilenet_v2":
            pooled = nn.functional.adaptive_avg_pool2d(h, 1)
        else:
            pooled = model.avgpool(h)
        logits = model.classifier(torch.flatten(pooled, 1))
    full = model(z)
    assert torch.allclose(full, logits, rtol=1e-4, atol=1e-4), name
    return outs, logits


def timm_names(name, model, state):
    """The state dict as timm names it: (timm key, torchvision key, shape) in order.

    A reshape keeps the row-major values, so each array's data is torchvision's.
    """
    if name.startswith("resnet"):
        return [(key, key, list(value.shape)) for key, value in state.items()]
    if name == "vgg11_bn":
        renamed = []
        for key, value in state.items():
            new, shape = key, list(value.shape)
            if key.startswith("classifier.0."):
                new = key.replace("classifier.0.", "pre_logits.fc1.")
                if key.endswith("weight"):
                    shape = list(value.reshape(-1, 512, 7, 7).shape)
            elif key.startswith("classifier.3."):
                new = key.replace("classifier.3.", "pre_logits.fc2.")
                if key.endswith("weight"):
                    shape = list(value.reshape(-1, VGG_HIDDEN, 1, 1).shape)
            elif key.startswith("classifier.6."):
                new = key.replace("classifier.6.", "head.fc.")
            renamed.append((new, key, shape))
        return renamed
    # MobileNetV2: rename module by module, from torchvision's own structure.
    prefixes = {"features.0.0": "conv_stem", "features.0.1": "bn1",
                "features.18.0": "conv_head", "features.18.1": "bn2", "classifier.1": "classifier"}
    positions = [(i, j) for i, n in enumerate(MOBILENET_V2_REPEATS) for j in range(n)]
    for k, (i, j) in enumerate(positions):
        block = model.features[k + 1]
        layers = list(block.conv)
        base = f"blocks.{i}.{j}"
        ours = f"features.{k + 1}.conv"
        if len(layers) == 4:  # expand (conv-BN-ReLU6), depthwise (conv-BN-ReLU6), conv, BN
            prefixes.update({
                f"{ours}.0.0": f"{base}.conv_pw", f"{ours}.0.1": f"{base}.bn1",
                f"{ours}.1.0": f"{base}.conv_dw", f"{ours}.1.1": f"{base}.bn2",
                f"{ours}.2": f"{base}.conv_pwl", f"{ours}.3": f"{base}.bn3",
            })
        else:  # depthwise (conv-BN-ReLU6), conv, BN
            assert len(layers) == 3
            prefixes.update({
                f"{ours}.0.0": f"{base}.conv_dw", f"{ours}.0.1": f"{base}.bn1",
                f"{ours}.1": f"{base}.conv_pw", f"{ours}.2": f"{base}.bn2",
            })
    renamed = []
    for key, value in state.items():
        prefix, leaf = key.rsplit(".", 1)
        renamed.append((f"{prefixes[prefix]}.{leaf}", key, list(value.shape)))
    return renamed


def write_keys(path):
    names = ["resnet18", "resnet34", "resnet50", "resnet101", "mobilenet_v2", "vgg11_bn"]
    lines = ["{", f'  "torchvision": "{torchvision.__version__}",', '  "models": {']
    for n, name in enumerate(names):
        state = getattr(torchvision.models, name)().state_dict()
        lines.append(f'    "{name}": {{')
        items = list(state.items())
        for i, (key, value) in enumerate(items):
            comma = "," if i < len(items) - 1 else ""
            lines.append(f'      "{key}": {json.dumps(list(value.shape))}{comma}')
        lines.append("    }" + ("," if n < len(names) - 1 else ""))
    lines += ["  }", "}"]
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")


class Writer:
    def __init__(self, path):
        self.file = open(path, "wb")
        self.offset = 0

    def array(self, tensor):
        data = tensor.detach().to(torch.float32).contiguous().numpy().astype("<f4").tobytes()
        offset = self.offset
        self.file.write(data)
        self.offset += len(data)
        return {"shape": list(tensor.shape), "offset": offset}


def write_safetensors(path, state):
    header, blobs, offset = {}, [], 0
    for key, value in state.items():
        dtype, array = (
            ("I64", value.numpy().astype("<i8"))
            if value.dtype == torch.int64
            else ("F32", value.detach().to(torch.float32).contiguous().numpy().astype("<f4"))
        )
        data = array.tobytes()
        header[key] = {
            "dtype": dtype,
            "shape": list(value.shape),
            "data_offsets": [offset, offset + len(data)],
        }
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for data in blobs:
            f.write(data)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--out")
    parser.add_argument(
        "--models",
        default="resnet18:224:2,resnet34:128:1,resnet50:96:1,resnet101:64:1,"
        "mobilenet_v2:224:2,vgg11_bn:64:2",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--keys", help="write the keys fixture to this file and stop")
    args = parser.parse_args()
    if args.keys:
        write_keys(args.keys)
        return
    if not args.out:
        parser.error("--out is required (or --keys)")
    os.makedirs(args.out, exist_ok=True)
    writer = Writer(os.path.join(args.out, "data.bin"))
    index = {"torch": torch.__version__, "torchvision": torchvision.__version__, "models": {}}
    for spec in args.models.split(","):
        name, size, batch = spec.split(":")
        size, batch = int(size), int(batch)
        torch.manual_seed(args.seed)
        generator = torch.Generator().manual_seed(args.seed + 1)
        model = build(name)
        randomise_batch_norms(model, min(size, 96), generator)
        x = torch.rand(batch, 3, size, size, generator=generator)
        stages, logits = stages_and_logits(name, model, (x - MEAN) / STD)
        state = model.state_dict()
        # The same weights as PyTorch writes them (torch.save) and as safetensors (the format
        # written by hand: a u64 header length, a JSON header, then the raw little-endian data).
        torch.save(state, os.path.join(args.out, f"{name}.pth"))
        write_safetensors(os.path.join(args.out, f"{name}.safetensors"), state)

        tensors = {}
        for key, value in state.items():
            if value.dtype == torch.int64:
                tensors[key] = {"key": key, "shape": list(value.shape), "dtype": "int64"}
            else:
                tensors[key] = {"key": key, "dtype": "float32", **writer.array(value)}
        timm = [
            {**tensors[old], "key": new, "shape": shape}
            for new, old, shape in timm_names(name, model, state)
        ]
        index["models"][name] = {
            "size": size,
            "batch": batch,
            "tensors": list(tensors.values()),
            "timm": timm,
            "input": writer.array(x),
            "logits": writer.array(logits),
            "stages": [writer.array(s) for s in stages],
        }
    writer.file.close()
    with open(os.path.join(args.out, "index.json"), "w") as f:
        json.dump(index, f)


if __name__ == "__main__":
    main()
