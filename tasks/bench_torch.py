"""PyTorch twin of the reference two-branch network, for speed comparison.

Mirrors lib/models/reference_net.ts layer for layer (NCHW here, NHWC there),
padding as TensorFlow's "same" as ours does, so that on the same weights it
computes our function (tests/tasks/bench_torch_test.ts checks its logits). It is
run by `deno task bench` beside the tfjs timings. It times one training step, an
inference forward pass and Grad-CAM on the middle (block1) and last (block2)
stages and, with --explainers B (default 8), the images per second of Grad-CAM,
vanilla gradients, Score-CAM and RISE on a batch of B images, each computing what
lib/explainers/ computes with its default options; it prints a table, or one line
of JSON with --json.

Run it with Debian's interpreter, which sees torch:
    /usr/bin/python3 tasks/bench_torch.py --threads 1 --json
With --device cuda it runs on the GPU; every timed call ends by copying its
result to the host (or .item()), which waits for the GPU to finish.
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


def same_pad(size, k, stride):
    """TensorFlow's "same" padding of one axis: (before, after), the odd pixel after."""
    total = max((-(-size // stride) - 1) * stride + k - size, 0)
    return total // 2, total - total // 2


class SameConv2d(nn.Conv2d):
    """nn.Conv2d padded as TensorFlow's "same" (ours): at stride 2 on even sizes, the
    extra row and column go at the bottom and right, where padding=k // 2 would put
    one on each side and shift every output by a pixel."""

    def __init__(self, cin, cout, k, stride=1, **kwargs):
        super().__init__(cin, cout, k, stride, padding=0, **kwargs)

    def forward(self, x):
        k, s = self.kernel_size[0], self.stride[0]
        top, bottom = same_pad(x.shape[-2], k, s)
        left, right = same_pad(x.shape[-1], k, s)
        return super().forward(F.pad(x, (left, right, top, bottom)))


class SameConvTranspose2d(nn.ConvTranspose2d):
    """nn.ConvTranspose2d as TensorFlow's "same" transposed convolution (ours): the
    adjoint of a "same" convolution, so the full output cropped to stride × size from
    its top-left (padding=1, output_padding=1 would crop it from one pixel in)."""

    def __init__(self, cin, cout, k, stride):
        super().__init__(cin, cout, k, stride, padding=0)

    def forward(self, x):
        s = self.stride[0]
        h, w = x.shape[-2] * s, x.shape[-1] * s
        top, _ = same_pad(h, self.kernel_size[0], s)
        left, _ = same_pad(w, self.kernel_size[1], s)
        return super().forward(x)[..., top:top + h, left:left + w]


def conv_bn(cin, cout, k, stride):
    """A k×k "same" convolution without bias, then batch norm (eps and momentum as ours)."""
    return nn.Sequential(
        SameConv2d(cin, cout, k, stride, bias=False),
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
        self.dw = SameConv2d(c2, c2, 3, 1, groups=c2, bias=False)
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
        self.sal_up = SameConvTranspose2d(cs, cu, 3, 2)
        self.sal_out = nn.Conv2d(cu, 1, 1)

    def features(self, x):
        """The last stage's activations (block2), [n, c3, h/4, w/4]."""
        return self.block2(self.block1(self.stem(x)))

    def head(self, feats):
        """Logits [n, classes] from the last stage's activations."""
        return self.fc(feats.mean(dim=(2, 3)))

    def classify(self, x):
        """Logits only, without the saliency branch: what the explainers explain."""
        return self.head(self.features(x))

    def forward(self, x):
        """Returns (logits [n, classes], saliency logits [n, h, w])."""
        feats = self.features(x)
        logits = self.head(feats)
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


def normalize_maps(maps):
    """Divides each map [n, h, w] by its maximum; an all-zero map stays zero (ours: divNoNan)."""
    peak = maps.amax(dim=(1, 2), keepdim=True)
    return torch.where(peak > 0, maps / peak, torch.zeros_like(maps))


def upsample(maps, size):
    """Bilinear, half-pixel centres ([n, k, h', w'] -> [n, k, h, w]), as tfjs's resizeBilinear."""
    return F.interpolate(maps, size=size, mode="bilinear", align_corners=False)


def picked(logits, classes):
    """The logit of each row's class: [m]."""
    return logits.gather(1, classes[:, None]).squeeze(1)


def explain_grad_cam(model, images):
    """Grad-CAM at the last stage (block2) for the batch, the predicted class's logit.

    A forward hook keeps block2's output; torch.autograd.grad takes the gradient of
    the summed picked logits with respect to it only (no parameter gradients, as
    ours). Weights: the gradient's spatial mean; map: ReLU(sum_k w_k A_k),
    upsampled to the input, divided by its maximum.
    """
    saved = {}
    handle = model.block2.register_forward_hook(lambda _m, _i, out: saved.update(act=out))
    try:
        logits = model.classify(images)
    finally:
        handle.remove()
    act = saved["act"]
    (grad,) = torch.autograd.grad(picked(logits, logits.argmax(1)).sum(), act)
    weights = grad.mean(dim=(2, 3), keepdim=True)
    cam = F.relu((weights * act).sum(dim=1, keepdim=True)).detach()
    return normalize_maps(upsample(cam, images.shape[-2:])[:, 0]).cpu().numpy()


def explain_vanilla_gradient(model, images):
    """Vanilla gradient: |d logit_predicted / d x|, max over colour channels, / max."""
    x = images.detach().requires_grad_(True)
    logits = model.classify(x)
    (grad,) = torch.autograd.grad(picked(logits, logits.argmax(1)).sum(), x)
    return normalize_maps(grad.abs().amax(dim=1)).cpu().numpy()


@torch.no_grad()
def explain_score_cam(model, images, batch_size=64):
    """Score-CAM at the last stage, as lib/explainers/score_cam.ts by default.

    One forward pass gives block2's activations and the predicted classes; each of
    the k channels of each image, upsampled to the input and min-max scaled to
    [0, 1] (a constant channel gives a zero mask), multiplies its image; the n*k
    masked images run batch_size at a time; the weights are the softmax over
    channels of the predicted class's logit; map: ReLU(sum_k w_k A_k), upsampled,
    divided by its maximum.
    """
    n, _, h, w = images.shape
    act = model.features(images)
    classes = model.head(act).argmax(1)
    k = act.shape[1]
    up = upsample(act, (h, w))
    lo = up.amin(dim=(2, 3), keepdim=True)
    span = up.amax(dim=(2, 3), keepdim=True) - lo
    masks = torch.where(span > 0, (up - lo) / span, torch.zeros_like(up)).reshape(n * k, 1, h, w)
    src = torch.arange(n, device=images.device).repeat_interleave(k)  # row r: image r // k, channel r % k
    scores = []
    for r0 in range(0, n * k, batch_size):
        rows = src[r0:r0 + batch_size]
        logits = model.classify(images[rows] * masks[r0:r0 + batch_size])
        scores.append(picked(logits, classes[rows]))
    weights = torch.cat(scores).view(n, k).softmax(dim=1)
    cam = F.relu((weights[:, :, None, None] * act).sum(dim=1, keepdim=True))
    return normalize_maps(upsample(cam, (h, w))[:, 0]).cpu().numpy()


@torch.no_grad()
def explain_rise(model, images, masks=1000, cells=8, p=0.5, batch_size=64, seed=0):
    """RISE, as lib/explainers/rise.ts by default (1000 masks, 8x8 cells, p = 0.5, batch 64).

    Inside each call, as ours: draws `masks` cells x cells grids kept with
    probability p, upsamples them bilinearly to (cells + 1) cell sizes and crops
    each at a random shift; then scores the n*masks masked images batch_size at a
    time (row t: image t % n, mask t // n, as ours), takes the predicted class's
    logit (classes from one clean forward pass), and forms
    sum_j (s_j - mean s) M_j / (masks * p), ReLU, divided by its maximum.
    """
    n, _, h, w = images.shape
    gen = torch.Generator().manual_seed(seed)
    grid = (torch.rand(masks, 1, cells, cells, generator=gen) < p).float().to(images.device)
    ch, cw = -(-h // cells), -(-w // cells)
    up = upsample(grid, ((cells + 1) * ch, (cells + 1) * cw))[:, 0]
    dy = torch.randint(ch, (masks,), generator=gen).tolist()
    dx = torch.randint(cw, (masks,), generator=gen).tolist()
    m = torch.stack([up[j, dy[j]:dy[j] + h, dx[j]:dx[j] + w] for j in range(masks)])  # [N, h, w]
    classes = model.classify(images).argmax(1)
    total = masks * n
    scores = []
    for t0 in range(0, total, batch_size):
        t = torch.arange(t0, min(total, t0 + batch_size), device=images.device)
        img, idx = t % n, t // n
        logits = model.classify(images[img] * m[idx, None])
        scores.append(picked(logits, classes[img]))
    s = torch.cat(scores).view(masks, n)
    centred = s - s.mean(dim=0, keepdim=True)
    sal = (centred.T @ m.view(masks, h * w)).view(n, h, w) / (masks * p)
    return normalize_maps(F.relu(sal)).cpu().numpy()


def conv_layers(batch, size):
    """The seven convolutions of the reference net at width 1, as tasks/bench_convs.ts names them.

    Each is (name, input [n, c, h, w], filters, kernel, stride, depthwise).
    """
    half, quarter = size // 2, size // 4
    return [
        ("stem, 3×3, 3 → 32", (batch, 3, size, size), 32, 3, 1, False),
        ("block1 conv1, 3×3 s2, 32 → 64", (batch, 32, size, size), 64, 3, 2, False),
        ("block1 conv2, 3×3, 64 → 64", (batch, 64, half, half), 64, 3, 1, False),
        ("block1 shortcut, 1×1, 32 → 64", (batch, 32, half, half), 64, 1, 1, False),
        ("block2 depthwise, 3×3, 64", (batch, 64, quarter, quarter), 64, 3, 1, True),
        ("block2 pw1, 1×1, 64 → 128", (batch, 64, quarter, quarter), 128, 1, 1, False),
        ("block2 pw2, 1×1, 128 → 128", (batch, 128, quarter, quarter), 128, 1, 1, False),
    ]


@torch.no_grad()
def bench_convs(batch, size, device, warmup=5, repeats=21):
    """Median milliseconds of F.conv2d for each layer of conv_layers, "same" padding.

    On the CPU the call finishes its work before it returns; on a GPU each run
    ends with torch.cuda.synchronize().
    """
    out = {}
    for name, shape, filters, k, stride, depthwise in conv_layers(batch, size):
        c = shape[1]
        x = torch.randn(*shape, device=device)
        w = torch.randn(c if depthwise else filters, 1 if depthwise else c, k, k, device=device)

        def run():
            F.conv2d(x, w, stride=stride, padding=k // 2, groups=c if depthwise else 1)
            if device.type == "cuda":
                torch.cuda.synchronize()

        out[name] = round(time_ms(run, warmup, repeats), 4)
    return out


EXPLAINERS = {
    "grad-cam": explain_grad_cam,
    "vanilla-gradient": explain_vanilla_gradient,
    "score-cam": explain_score_cam,
    "rise": explain_rise,
}


def bench_explainers(model, images, warmup, repeats):
    """Images per second of each explainer on `images` (model in eval mode), medians."""
    n = images.shape[0]
    return {
        name: round(1e3 * n / time_ms(lambda: fn(model, images), warmup, repeats), 3)
        for name, fn in EXPLAINERS.items()
    }


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
    p.add_argument("--explainers", type=int, default=8, metavar="B",
                   help="time the explainers on a batch of B images (0: skip them)")
    p.add_argument("--explainer-warmup", type=int, default=1,
                   help="untimed runs of each explainer first")
    p.add_argument("--device", default="cpu", help="cpu, or cuda for the GPU")
    p.add_argument("--convs", action="store_true",
                   help="also time the seven convolutions one by one (median of 21 after 5)")
    p.add_argument("--json", action="store_true", help="print one line of JSON only")
    args = p.parse_args()
    if args.size < 4 or args.size % 4:
        p.error(f"--size must be a positive multiple of 4, got {args.size}")
    if args.repeats < 1 or args.warmup < 0 or args.batch < 1 or args.classes < 2:
        p.error("--repeats and --batch must be at least 1, --warmup at least 0, --classes at least 2")
    if args.explainers < 0 or args.explainer_warmup < 0:
        p.error("--explainers and --explainer-warmup must be at least 0")

    if args.threads is not None:
        torch.set_num_threads(args.threads)
        try:
            torch.set_num_interop_threads(1)
        except RuntimeError:  # only allowed before the first inter-op parallel work
            pass
    torch.manual_seed(args.seed)

    if args.device != "cpu" and not torch.cuda.is_available():
        p.error(f"--device {args.device}: torch {torch.__version__} sees no CUDA device")
    device = torch.device(args.device)
    model = ReferenceNet(args.classes, args.size, 3, args.width).to(device)
    params = sum(t.numel() for t in model.parameters() if t.requires_grad)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    b, s = args.batch, args.size
    images = torch.randn(b, 3, s, s).to(device)
    labels = torch.randint(0, args.classes, (b,)).to(device)
    masks = (torch.rand(b, s, s) < 0.5).float().to(device)

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
        return logits.cpu().numpy(), sal.cpu().numpy()

    model.train()
    train_ms = time_ms(train_step, args.warmup, args.repeats)
    model.eval()
    forward_ms = time_ms(forward, args.warmup, args.repeats)
    one = images[:1].clone()
    middle_ms = bench_gradcam(model, model.block1, one, args.warmup, args.repeats)
    last_ms = bench_gradcam(model, model.block2, one, args.warmup, args.repeats)
    # Read before the explainers, so that it covers the same work as ours.
    peak_rss_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    explainers = None
    if args.explainers:
        # Uniform [0, 1) pixels, as our bench's images.
        batch = torch.rand(args.explainers, 3, s, s).to(device)
        explainers = bench_explainers(model, batch, args.explainer_warmup, args.repeats)

    result = {
        "torch_version": torch.__version__,
        "threads": torch.get_num_threads(),
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
        "params": params,
        "train_step_ms": round(train_ms, 3),
        "forward_ms": round(forward_ms, 3),
        "gradcam_middle_ms": round(middle_ms, 3),
        "gradcam_last_ms": round(last_ms, 3),
        "peak_rss_mib": round(peak_rss_mib, 1),
        "explainer_images": args.explainers,
        "explainers": explainers,
        "convs": bench_convs(b, s, device) if args.convs else None,
    }
    if args.json:
        print(json.dumps(result))
        return
    print(f"PyTorch reference net: batch {b}, {s}x{s}x3, width {args.width}, "
          f"{args.classes} classes, median of {args.repeats} after {args.warmup} warm-up")
    for key, value in result.items():
        if key != "explainers":
            print(f"  {key:<18} {value}")
    for name, rate in (explainers or {}).items():
        print(f"  {name:<18} {rate} images/s")


if __name__ == "__main__":
    main()
