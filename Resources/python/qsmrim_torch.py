"""qsmrim_torch - the qsmrim networks written in PyTorch, as the reference for the C engine.

The modules below reproduce the published architectures (QSMRim-Net as in the authors'
released code, with the paper's variants as options; RimNet; the APRL radiomic network) with the
state-dict key layout of the released QSMRim-Net checkpoint, so a released state dict loads into
QSMRimNet(fusion="add") unchanged. They serve three purposes:
  * parity: make_parity_state.py builds a model, runs it, and stores everything the C tests check;
  * import: import_torch.py reads a released checkpoint and writes the qsmrim model file;
  * speed:  bench_cnn_torch.py times the same network as `qsmrim bench cnn`.

Symbols: N batch, C input channels, D/H/W patch depth (slice axis) / height / width, w base width
(64 in the paper: stages of w, 2w, 4w, 8w channels), F radiomic features (527 or 536).
"""
import torch
import torch.nn as nn
import torch.nn.functional as F


class Swish(nn.Module):
    """Swish(x) = x * sigmoid(x); d/dx = s * (1 + x * (1 - s)), s = sigmoid(x)."""

    def forward(self, x):
        return x * torch.sigmoid(x)


class MaskDropout(nn.Module):
    """Dropout whose mask can be fixed from outside (parity tests): with `mask` set (multipliers
    0 or 1/(1-p), the shape of the input) it multiplies by it once and forgets it; otherwise it is
    nn.Dropout(p)."""

    def __init__(self, p):
        super().__init__()
        self.p = p
        self.mask = None

    def forward(self, x):
        if not self.training or self.p == 0:
            return x
        if self.mask is not None:
            m, self.mask = self.mask, None
            return x * m
        return F.dropout(x, self.p, True)


def conv3(cin, cout, stride=1):
    return nn.Conv3d(cin, cout, kernel_size=3, stride=stride, padding=1, bias=False)


class BasicBlock(nn.Module):
    """out = relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x)); shortcut = bn(conv1x1(x)) when
    the stride or the channel count changes, else x."""

    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = conv3(cin, cout, stride)
        self.norm1 = nn.BatchNorm3d(cout)
        self.conv2 = conv3(cout, cout)
        self.norm2 = nn.BatchNorm3d(cout)
        self.downsample = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(nn.Conv3d(cin, cout, 1, stride=stride, bias=False),
                                            nn.BatchNorm3d(cout))

    def forward(self, x):
        y = F.relu(self.norm1(self.conv1(x)))
        y = self.norm2(self.conv2(y))
        s = x if self.downsample is None else self.downsample(x)
        return F.relu(y + s)


class ResNet3D18(nn.Module):
    """3D ResNet-18 (BasicBlock, [2,2,2,2]) as released: stem conv 7^3 stride 2 + BN + ReLU +
    max-pool 3^3 stride 2; stages of w, 2w, 4w, 8w channels with strides 1, 2, 2, layer4_stride.
    Returns the feature maps (N, 8w, d, h, w)."""

    def __init__(self, in_channels=2, width=64, layer4_stride=1):
        super().__init__()
        w = width
        self.conv1 = nn.Conv3d(in_channels, w, kernel_size=7, stride=2, padding=3, bias=False)
        self.norm1 = nn.BatchNorm3d(w)
        self.maxpool = nn.MaxPool3d(kernel_size=3, stride=2, padding=1)
        self.layer1 = nn.Sequential(BasicBlock(w, w, 1), BasicBlock(w, w, 1))
        self.layer2 = nn.Sequential(BasicBlock(w, 2 * w, 2), BasicBlock(2 * w, 2 * w, 1))
        self.layer3 = nn.Sequential(BasicBlock(2 * w, 4 * w, 2), BasicBlock(4 * w, 4 * w, 1))
        self.layer4 = nn.Sequential(BasicBlock(4 * w, 8 * w, layer4_stride), BasicBlock(8 * w, 8 * w, 1))
        for m in self.modules():
            if isinstance(m, nn.Conv3d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm3d):
                nn.init.constant_(m.weight, 1)
                nn.init.constant_(m.bias, 0)

    def forward(self, x):
        x = self.maxpool(F.relu(self.norm1(self.conv1(x))))
        return self.layer4(self.layer3(self.layer2(self.layer1(x))))


def deepsmote(fea, lbl, variant, weights=None, generator=None):
    """DeepSMOTE in the latent space (training only). fea (N, K), lbl (N,) in {0,1}.
    released: if n = #rim+ > 2, for each rim+ sample i take its 3 nearest rim+ samples (itself
              first) j0=i, j1, j2 by squared Euclidean distance and append lerp(x_i, x_jk, a_ik);
    paper:    if n >= 3 (two neighbours exist), the 2 nearest other rim+ samples j1, j2 of each i,
              append lerp(x_i, x_jk, a_ik).
    weights: (n, k) interpolation weights a (drawn U(0,1) when None). Synthetic rows are rim+.
    Returns (fea', lbl', pairs) with pairs a list of (i, j, a) in append order (batch indices)."""
    pos = torch.nonzero(lbl > 0).flatten()
    n = pos.numel()
    if n <= 2:
        return fea, lbl, []
    k = 3 if variant == "released" else 2
    xp = fea[pos]
    with torch.no_grad():
        d = ((xp[:, None, :] - xp[None, :, :]) ** 2).sum(-1)
        if variant != "released":
            d.fill_diagonal_(float("inf"))
        else:
            d.fill_diagonal_(-1.0)  # itself first even if another sample coincides
        order = torch.argsort(d, dim=1, stable=True)[:, :k]
    if weights is None:
        weights = torch.rand(n, k, generator=generator, dtype=fea.dtype)
    new, pairs = [], []
    for i in range(n):
        for t in range(k):
            j = int(order[i, t])
            a = weights[i, t]
            new.append(torch.lerp(xp[i], xp[j], a))
            pairs.append((int(pos[i]), int(pos[j]), float(a)))
    fea = torch.cat([fea, torch.stack(new)], dim=0)
    lbl = torch.cat([lbl, torch.ones(len(new), dtype=lbl.dtype)])
    return fea, lbl, pairs


class QSMRimNet(nn.Module):
    """QSMRim-Net. Image branch: ResNet3D18 + global average pool -> 8w. Radiomic branch:
    Linear(F,16w) BN Swish Dropout(0.3) Linear(16w,I) BN Swish. Fusion add (released: sum of the
    two I-vectors) or concat (paper: 2I). DeepSMOTE MLP (smote.fea_transform): Linear(in,8w) BN
    Swish Linear(8w,8w) BN Swish. Classifier: Linear(8w,2w) Swish Dropout(0.5) Linear(2w,1).
    image_fusion "channels" (published): QSM and FLAIR are the channels of one encoder, I = 8w.
    image_fusion "branches" (the paper's Table 3 comparator, RimNet-style): `encoder` sees the QSM
    channel and `encoder_flair` the FLAIR channel, their pooled features concatenated, I = 16w.
    With w = 64 and channels this is the released network (16w = 1024, 8w = 512, 2w = 128)."""

    def __init__(self, fusion="add", width=64, layer4_stride=1, in_channels=2, n_radiomic=527,
                 image_fusion="channels"):
        super().__init__()
        w = width
        self.fusion = fusion
        self.image_fusion = image_fusion
        if image_fusion == "branches":
            self.encoder = ResNet3D18(1, w, layer4_stride)
            self.encoder_flair = ResNet3D18(1, w, layer4_stride)
            img = 16 * w
        else:
            self.encoder = ResNet3D18(in_channels, w, layer4_stride)
            img = 8 * w
        self.encode_rad = nn.Sequential(nn.Linear(n_radiomic, 16 * w), nn.BatchNorm1d(16 * w), Swish(),
                                        MaskDropout(0.3), nn.Linear(16 * w, img), nn.BatchNorm1d(img), Swish())
        fin = img if fusion == "add" else 2 * img
        self.smote = nn.Module()
        self.smote.fea_transform = nn.Sequential(nn.Linear(fin, 8 * w), nn.BatchNorm1d(8 * w), Swish(),
                                                 nn.Linear(8 * w, 8 * w), nn.BatchNorm1d(8 * w), Swish())
        self.classifier = nn.Sequential(nn.Linear(8 * w, 2 * w), Swish(), MaskDropout(0.5), nn.Linear(2 * w, 1))

    def features(self, x, rad):
        if self.image_fusion == "branches":
            img = torch.cat([self.encoder(x[:, 0:1]).mean(dim=(2, 3, 4)),
                             self.encoder_flair(x[:, 1:2]).mean(dim=(2, 3, 4))], dim=1)
        else:
            img = self.encoder(x).mean(dim=(2, 3, 4))
        r = self.encode_rad(rad)
        z = img + r if self.fusion == "add" else torch.cat([img, r], dim=1)
        return self.smote.fea_transform(z)

    def forward(self, x, rad, lbl=None, smote=None, weights=None):
        z = self.features(x, rad)
        pairs = []
        if self.training and smote is not None and lbl is not None:
            z, lbl, pairs = deepsmote(z, lbl, smote, weights)
        return self.classifier(z).squeeze(1), lbl, pairs


class AprlNet(nn.Module):
    """APRL (NN): the QSMRim-Net radiomic branch with a classifier head."""

    def __init__(self, width=64, n_radiomic=527):
        super().__init__()
        w = width
        self.encode_rad = nn.Sequential(nn.Linear(n_radiomic, 16 * w), nn.BatchNorm1d(16 * w), Swish(),
                                        MaskDropout(0.3), nn.Linear(16 * w, 8 * w), nn.BatchNorm1d(8 * w), Swish())
        self.classifier = nn.Sequential(nn.Linear(8 * w, 2 * w), Swish(), MaskDropout(0.5), nn.Linear(2 * w, 1))

    def forward(self, x, rad, lbl=None, smote=None, weights=None):
        return self.classifier(self.encode_rad(rad)).squeeze(1), lbl, []


class RimNet(nn.Module):
    """RimNet (Barquero et al. 2020) as its released code defines it: two branches
    (QSM = channel 0, FLAIR = channel 1) of three blocks of two 3^3 convolutions (bias, tanh)
    and a max-pool 2 with stride `pool_stride` (1: TF 'same' padding, the size is kept; 2: 'valid');
    the FLAIR block-1 output is concatenated in front of the QSM block-1 output; a 1^3
    convolution per branch to one channel; flatten; FC 256, 128, 64 with ReLU; FC 2.
    Glorot-uniform weights and zero biases (Keras defaults)."""

    def __init__(self, width=32, patch=(28, 28, 28), pool_stride=1):
        super().__init__()
        w = width
        self.pool_stride = pool_stride
        for b in ("qsm", "flair"):
            br = nn.Module()
            cin = 1
            for k, cout in enumerate((w, 2 * w, 4 * w)):
                if b == "qsm" and k == 1:
                    cin = 2 * w
                blk = nn.Module()
                blk.conv1 = nn.Conv3d(cin, cout, 3, padding=1)
                blk.conv2 = nn.Conv3d(cout, cout, 3, padding=1)
                setattr(br, f"block{k + 1}", blk)
                cin = cout
            br.reduce = nn.Conv3d(4 * w, 1, 1)
            setattr(self, b, br)
        d = list(patch)
        for _ in range(3):
            d = [x if pool_stride == 1 else (x - 2) // 2 + 1 for x in d]
        flat = 2 * d[0] * d[1] * d[2]
        self.fc = nn.ModuleList([nn.Linear(flat, 256), nn.Linear(256, 128), nn.Linear(128, 64), nn.Linear(64, 2)])
        for m in self.modules():
            if isinstance(m, (nn.Conv3d, nn.Linear)):
                nn.init.xavier_uniform_(m.weight)
                nn.init.zeros_(m.bias)

    def pool(self, x):
        if self.pool_stride == 1:
            x = F.pad(x, (0, 1, 0, 1, 0, 1), value=float("-inf"))
        return F.max_pool3d(x, 2, self.pool_stride)

    def block(self, blk, x):
        return self.pool(torch.tanh(blk.conv2(torch.tanh(blk.conv1(x)))))

    def forward(self, x, rad=None, lbl=None, smote=None, weights=None):
        q, f = x[:, 0:1], x[:, 1:2]
        f1 = self.block(self.flair.block1, f)
        f3 = self.block(self.flair.block3, self.block(self.flair.block2, f1))
        q1 = self.block(self.qsm.block1, q)
        q3 = self.block(self.qsm.block3, self.block(self.qsm.block2, torch.cat([f1, q1], 1)))
        h = torch.cat([self.qsm.reduce(q3), self.flair.reduce(f3)], 1).flatten(1)
        for i, fc in enumerate(self.fc):
            h = fc(h)
            if i < 3:
                h = F.relu(h)
        return h, lbl, []


def write_model_file(f, model, cfg, preprocess=None, meta=None, member="member_000"):
    """Write `model` (a state dict or a module) into the open h5py File `f` in the qsmrim model
    file layout (see Logic/nn/nn_file.c). cfg: dict with arch, fusion, width, layer4_stride,
    in_channels, n_radiomic, patch_size, rimnet_pool_stride (and optional dropouts).
    preprocess: dict of intensity_shift/scale (C) and radiomic_mean/sd (F); identity if None."""
    import numpy as np
    sd = model.state_dict() if hasattr(model, "state_dict") else model
    meta = meta or {}
    f.attrs["format"] = "qsmrim-model"
    f.attrs["format_version"] = np.int64(1)
    f.attrs["qsmrim_version"] = meta.get("qsmrim_version", "python")
    for k in ("arch", "fusion"):
        f.attrs[k] = cfg[k]
    f.attrs["image_fusion"] = cfg.get("image_fusion", "channels")
    for k in ("width", "layer4_stride", "in_channels", "n_radiomic", "rimnet_pool_stride"):
        f.attrs[k] = np.int64(cfg[k])
    f.attrs["patch_size"] = np.array(cfg["patch_size"], dtype=np.int64)
    f.attrs["dropout_radiomic"] = float(cfg.get("dropout_radiomic", 0.3))
    f.attrs["dropout_classifier"] = float(cfg.get("dropout_classifier", 0.5))
    f.attrs["channel_names"] = meta.get("channel_names", "QSM,FLAIR")
    f.attrs["threshold_f1"] = float(meta.get("threshold_f1", float("nan")))
    f.attrs["threshold_sensitive"] = float(meta.get("threshold_sensitive", float("nan")))
    for k in ("training_data", "commit", "date", "smote", "notes"):
        f.attrs[k] = meta.get(k, "")
    f.attrs["seed"] = np.int64(meta.get("seed", -1))
    f.attrs["n_members"] = np.int64(1)
    f.attrs["ensemble"] = "mean of member probabilities"
    g = f.create_group(member)
    g.attrs["fold"] = np.int64(-1)
    g.attrs["seed"] = np.int64(meta.get("seed", -1))
    for k, v in sd.items():
        a = v.detach().cpu().numpy()
        if k.endswith("num_batches_tracked"):
            g.create_dataset(k, data=np.int64(a))
        else:
            g.create_dataset(k, data=a.astype(np.float32))
    C, Fr = int(cfg["in_channels"]), int(cfg["n_radiomic"])
    pre = preprocess or {}
    if C > 0:
        g.create_dataset("preprocess.intensity_shift", data=np.asarray(pre.get("intensity_shift", np.zeros(C)), np.float32))
        g.create_dataset("preprocess.intensity_scale", data=np.asarray(pre.get("intensity_scale", np.ones(C)), np.float32))
    if Fr > 0:
        g.create_dataset("preprocess.radiomic_mean", data=np.asarray(pre.get("radiomic_mean", np.zeros(Fr)), np.float32))
        g.create_dataset("preprocess.radiomic_sd", data=np.asarray(pre.get("radiomic_sd", np.ones(Fr)), np.float32))
