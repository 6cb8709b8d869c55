"""PyTorch twin of the reference two-branch network, for speed comparison.

Mirrors lib/models/reference_net.ts layer for layer (NCHW here, NHWC there) and
is run by `deno task bench` beside the tfjs timings. It times one training step,
an inference forward pass and Grad-CAM on the middle (block1) and last (block2)
stages, and prints a table, or one line of JSON with --json.

Run it with Debian's interpreter, which sees torch:
    /usr/bin/python3 tasks/bench_torch.py --threads 1 --json
"""

import argparse
import json
import math
import resource
import statistics
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


def conv_bn(cin, cout, k, stride):
    """A k×k convolution without bias, then batch norm (eps and momentum as ours)."""
    return nn.Sequential(
        nn.Conv2d(cin, cout, k, stride, padding=k // 2, bias=False),
        nn.BatchNorm2d(cout, eps=1e-5, momentum=0.1),  # ours: momentum 0.9 on the old value
    )


class Block1(nn.Module):
    """Stride-2 residual block with an average-pool + 1×1 conv + BN shortcut."""

    def __init__(self, c1, c2):
        super().__init__()
        self.conv1 = conv_bn(c1, c2, 3, 2)
        self.conv2 = conv_bn(c2, c2, 3, 1)
        self.shortcut = nn.Sequential(nn.AvgPool2d(2, 2), conv_bn(c1, c2, 1, 1))

    def forward(self, x):
        main = self.conv2(F.relu(self.conv1(x)))
        return F.relu(main + self.shortcut(x))


class Block2(nn.Module):
    """2×2 max pool, 3×3 depthwise conv + BN + ReLU, two 1×1 conv + BN + ReLU."""

    def __init__(self, c2, c3):
        super().__init__()
        self.pool = nn.MaxPool2d(2, 2)
        self.dw = nn.Conv2d(c2, c2, 3, 1, padding=1, groups=c2, bias=False)
        self.dw_bn = nn.BatchNorm2d(c2, eps=1e-5, momentum=0.1)
        self.pw1 = conv_bn(c2, c3, 1, 1)
        self.pw2 = conv_bn(c3, c3, 1, 1)

    def forward(self, x):
        x = F.relu(self.dw_bn(self.dw(self.pool(x))))
        return F.relu(self.pw2(F.relu(self.pw1(x))))


class ReferenceNet(nn.Module):
    """Backbone (stem, block1, block2), classification head and saliency head."""

    def __init__(self, num_classes=10, input_size=64, in_channels=3, width=1.0):
        super().__init__()
        c1 = max(1, math.floor(32 * width + 0.5))  # JavaScript's Math.round, not banker's
        c2, c3, cs, cu = 2 * c1, 4 * c1, c1, max(1, c1 >> 1)
        self.input_size = input_size
        self.stem = nn.Sequential(conv_bn(in_channels, c1, 3, 1), nn.ReLU())
        self.block1 = Block1(c1, c2)
        self.block2 = Block2(c2, c3)
        self.fc = nn.Linear(c3, num_classes)
        self.sal_reduce = nn.Conv2d(c3, cs, 1)
        self.sal_up = nn.ConvTranspose2d(cs, cu, 3, 2, padding=1, output_padding=1)
        self.sal_out = nn.Conv2d(cu, 1, 1)

    def forward(self, x):
        """Returns (logits [n, classes], saliency logits [n, h, w])."""
        feats = self.block2(self.block1(self.stem(x)))
        logits = self.fc(feats.mean(dim=(2, 3)))
        s = F.relu(self.sal_up(F.relu(self.sal_reduce(feats))))
        s = F.interpolate(s, size=(self.input_size,) * 2, mode="bilinear", align_corners=False)
        return logits, self.sal_out(s).squeeze(1)


def time_ms(fn, warmup, repeats):
    """Median wall time of fn() in milliseconds, after warm-up calls."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times)


def bench_gradcam(model, target, image, warmup, repeats):
    """Times hook-based Grad-CAM on the output of `target` for one image."""
    saved = {}

    def hook(_module, _inputs, output):
        output.retain_grad()
        saved["act"] = output

    handle = target.register_forward_hook(hook)
    size = image.shape[-2:]

    def gradcam():
        model.zero_grad(set_to_none=True)
        logits, _ = model(image)
        logits[0, logits[0].argmax()].backward()
        act = saved.pop("act")
        weights = act.grad.mean(dim=(2, 3), keepdim=True)
        cam = F.relu((weights * act).sum(dim=1, keepdim=True)).detach()
        cam = F.interpolate(cam, size=size, mode="bilinear", align_corners=False)[0, 0]
        lo, hi = cam.min(), cam.max()
        return ((cam - lo) / (hi - lo).clamp_min(1e-12)).cpu().numpy()

    try:
        return time_ms(gradcam, warmup, repeats)
    finally:
        handle.remove()


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--threads", type=int, default=None, help="intra-op threads (default: torch's)")
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--size", type=int, default=64, help="image height and width, a multiple of 4")
    p.add_argument("--classes", type=int, default=10)
    p.add_argument("--width", type=float, default=1.0)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", action="store_true", help="print one line of JSON only")
    args = p.parse_args()
    if args.size < 4 or args.size % 4:
        p.error(f"--size must be a positive multiple of 4, got {args.size}")
    if args.repeats < 1 or args.warmup < 0 or args.batch < 1 or args.classes < 2:
        p.error("--repeats and --batch must be at least 1, --warmup at least 0, --classes at least 2")

    if args.threads is not None:
        torch.set_num_threads(args.threads)
        try:
            torch.set_num_interop_threads(1)
        except RuntimeError:  # only allowed before the first inter-op parallel work
            pass
    torch.manual_seed(args.seed)

    model = ReferenceNet(args.classes, args.size, 3, args.width)
    params = sum(t.numel() for t in model.parameters() if t.requires_grad)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    b, s = args.batch, args.size
    images = torch.randn(b, 3, s, s)
    labels = torch.randint(0, args.classes, (b,))
    masks = (torch.rand(b, s, s) < 0.5).float()

    def train_step():
        opt.zero_grad()
        logits, sal = model(images)
        loss = F.cross_entropy(logits, labels) + F.binary_cross_entropy_with_logits(sal, masks)
        loss.backward()
        opt.step()
        return loss.item()

    def forward():
        with torch.no_grad():
            logits, sal = model(images)
        return logits.numpy(), sal.numpy()

    model.train()
    train_ms = time_ms(train_step, args.warmup, args.repeats)
    model.eval()
    forward_ms = time_ms(forward, args.warmup, args.repeats)
    one = images[:1].clone()
    middle_ms = bench_gradcam(model, model.block1, one, args.warmup, args.repeats)
    last_ms = bench_gradcam(model, model.block2, one, args.warmup, args.repeats)

    result = {
        "torch_version": torch.__version__,
        "threads": torch.get_num_threads(),
        "params": params,
        "train_step_ms": round(train_ms, 3),
        "forward_ms": round(forward_ms, 3),
        "gradcam_middle_ms": round(middle_ms, 3),
        "gradcam_last_ms": round(last_ms, 3),
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }
    if args.json:
        print(json.dumps(result))
        return
    print(f"PyTorch reference net: batch {b}, {s}x{s}x3, width {args.width}, "
          f"{args.classes} classes, median of {args.repeats} after {args.warmup} warm-up")
    for key, value in result.items():
        print(f"  {key:<18} {value}")


if __name__ == "__main__":
    main()
