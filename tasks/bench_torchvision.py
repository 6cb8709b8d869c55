"""The torchvision twin of `deno task bench --backbone`: the same
architecture at the same size, timed on the same threads.

Reads one JSON line of settings from argv[1] and prints one JSON line of
medians in milliseconds: a training step (Adam, cross-entropy) and a forward
pass at `batch`, Grad-CAM of one image at the last stage (forward, then the
gradient of the class score back to the last stage only), and Grad-CAM and
the vanilla gradient on a batch of `explain` images.
"""
import json
import statistics
import sys
import time

import torch
import torchvision

cfg = json.loads(sys.argv[1])
torch.set_num_threads(cfg["threads"])
torch.manual_seed(cfg["seed"])
n, size, classes = cfg["batch"], cfg["size"], cfg["classes"]
# Vision transformers torchvision has no builder for (timm's names), as its VisionTransformer:
# (layers, heads, hidden, mlp).
VITS = {
    "vit_tiny_patch16_224": (12, 3, 192, 768),
    "vit_small_patch16_224": (12, 6, 384, 1536),
    "vit_base_patch16_224": (12, 12, 768, 3072),
}
VITS.update({name.replace("vit_", "deit_"): spec for name, spec in VITS.items()})
VITS["vit_b_16"] = VITS["vit_base_patch16_224"]
vit = cfg["backbone"] in VITS
if vit:
    model = torchvision.models.VisionTransformer(size, 16, *VITS[cfg["backbone"]], num_classes=classes)
else:
    model = getattr(torchvision.models, cfg["backbone"])(num_classes=classes)
x = torch.rand(n, 3, size, size)
y = torch.randint(0, classes, (n,))
opt = torch.optim.Adam(model.parameters(), lr=1e-3)
loss_fn = torch.nn.CrossEntropyLoss()


def features(m, t):
    """Everything up to the last stage (ResNets; torchvision's layer names; a ViT's patch tokens)."""
    if vit:
        t = m._process_input(t)
        t = m.encoder(torch.cat([m.class_token.expand(t.shape[0], -1, -1), t], dim=1))
        return t[:, 1:]
    t = m.maxpool(m.relu(m.bn1(m.conv1(t))))
    return m.layer4(m.layer3(m.layer2(m.layer1(t))))


def head(m, a):
    if vit:  # the mean of the patch tokens, as our two-branch classifier reads them
        return m.heads(a.mean(1))
    return m.fc(torch.flatten(m.avgpool(a), 1))


def train_step():
    model.train()
    opt.zero_grad()
    loss_fn(model(x), y).backward()
    opt.step()


def forward():
    model.eval()
    with torch.no_grad():
        model(x)


def grad_cam(images):
    model.eval()
    with torch.no_grad():
        a = features(model, images)
    a.requires_grad_(True)
    logits = head(model, a)
    score = logits.gather(1, logits.argmax(1, keepdim=True)).sum()
    (g,) = torch.autograd.grad(score, a)
    if vit:  # tokens [n, t, c] to a grid [n, c, h, w]
        side = size // 16
        a, g = (v.transpose(1, 2).reshape(v.shape[0], -1, side, side) for v in (a, g))
    cam = torch.relu((g.mean((2, 3), keepdim=True) * a).sum(1))
    torch.nn.functional.interpolate(cam[:, None], size=(size, size), mode="bilinear")


def vanilla(images):
    model.eval()
    t = images.clone().requires_grad_(True)
    logits = model(t)
    score = logits.gather(1, logits.argmax(1, keepdim=True)).sum()
    torch.autograd.grad(score, t)


def timed(fn, warmup, repeats):
    for _ in range(warmup):
        fn()
    out = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t0) * 1000)
    return statistics.median(out)


w, r = cfg["warmup"], cfg["repeats"]
few = x[: cfg["explain"]]
one = x[:1]
print(json.dumps({
    "train_step_ms": timed(train_step, w, r),
    "forward_ms": timed(forward, w, r),
    "gradcam_one_ms": timed(lambda: grad_cam(one), w, r),
    "gradcam_batch_ms": timed(lambda: grad_cam(few), w, r),
    "vanilla_batch_ms": timed(lambda: vanilla(few), w, r),
    "torch": torch.__version__,
    "torchvision": torchvision.__version__,
    "threads": torch.get_num_threads(),
}))
