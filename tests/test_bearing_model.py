"""Shapes, parameter budgets and the losses of the multimodal bearing classifier."""

from __future__ import annotations

import numpy as np
import pytest
import pywt
import torch
import torch.nn.functional as F

from data.signal import CWT, fft_spectrum, stft_image
from trainables.bearing.augment import LEVELS, augment, mixup, progressive_level, snr_noise
from trainables.bearing.losses import arcface_logits, focal_loss, nt_xent
from trainables.bearing.model import (SIZES, BearingNet, ContrastiveNet, FrequencyBranch, TimeBranch,
                                      TimeFrequencyBranch, shape_for)
from trainables.common import n_parameters

torch.manual_seed(0)
X = torch.randn(4, 512)


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """One torch thread: on shared cores OpenMP spin-waits make 2 threads ~10x slower."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_each_branch_gives_a_256d_feature():
    s = shape_for("small")
    with torch.no_grad():
        assert TimeBranch(s).eval()(X).shape == (4, 256)
        assert FrequencyBranch(s).eval()(fft_spectrum(X)).shape == (4, 256)
        assert TimeFrequencyBranch(s).eval()(stft_image(X, 62, 8, (32, 32))).shape == (4, 256)


@pytest.mark.parametrize("branches,levels", [
    (("time", "freq", "tf"), (1, 2, 3)), (("time", "freq", "tf"), (2, 3)), (("time", "freq", "tf"), (1, 3)),
    (("time", "freq", "tf"), (1, 2)), (("freq",), (1, 2, 3)), (("time", "tf"), ()),
])
def test_fused_model_shapes(branches, levels):
    net = BearingNet(shape_for("small", n_classes=6, branches=branches, fusion_levels=levels)).eval()
    with torch.no_grad():
        logits, cosine, fused, weights = net(X)
    assert logits.shape == (4, 6) and cosine.shape == (4, 6) and fused.shape == (4, 128)
    assert weights.shape == (4, len(branches))
    assert torch.allclose(weights.sum(-1), torch.ones(4), atol=1e-5)
    assert cosine.abs().max() <= 1 + 1e-5


def test_cwt_images_and_every_parameter_gets_a_gradient():
    net = BearingNet(shape_for("small", tf_method="cwt"))
    logits, cosine, _, _ = net(X)
    (logits.sum() + cosine.sum()).backward()
    assert all(p.grad is not None for p in net.parameters())  # DDP needs no unused parameters
    contrastive = ContrastiveNet(BearingNet(shape_for("small")).backbone)
    contrastive(X).sum().backward()
    assert all(p.grad is not None for p in contrastive.parameters())


def test_model_sizes_near_the_seed_budgets():
    counts = {name: n_parameters(BearingNet(shape)) for name, shape in SIZES.items()}
    for name, target in {"small": 0.8e6, "medium": 2.5e6, "large": 8e6}.items():
        assert 0.85 * target <= counts[name] <= 1.15 * target, counts


def test_cwt_equals_pywavelets():
    x = np.random.default_rng(0).standard_normal((2, 512))
    cwt = CWT(n_scales=6)
    ours = cwt.coefficients(torch.from_numpy(x).float()).numpy()
    ref, _ = pywt.cwt(x, cwt.scales, "morl", axis=-1)
    np.testing.assert_allclose(ours, ref.transpose(1, 0, 2), atol=2e-4)


def test_arcface_logit_is_s_cos_theta_plus_m_on_the_target():
    cosine = torch.tensor([[0.9, 0.1, -0.3], [0.2, 0.7, 0.05]])
    target = torch.tensor([0, 1])
    out = arcface_logits(cosine, target, scale=30.0, margin=0.5)
    theta = torch.acos(cosine[torch.arange(2), target])
    assert torch.allclose(out[torch.arange(2), target], 30 * torch.cos(theta + 0.5), atol=1e-4)
    other = ~F.one_hot(target, 3).bool()
    assert torch.allclose(out[other], 30 * cosine[other])
    # past pi - m the fallback keeps the logit below the margin-free one
    far = arcface_logits(torch.tensor([[-0.95, 0.0]]), torch.tensor([0]), 30.0, 0.5)
    assert far[0, 0] < 30 * -0.95


def test_focal_loss_is_cross_entropy_at_gamma_zero():
    logits = torch.randn(16, 5)
    target = torch.randint(0, 5, (16,))
    weight = torch.rand(5) + 0.5
    assert torch.allclose(focal_loss(logits, target, gamma=0.0), F.cross_entropy(logits, target), atol=1e-6)
    assert torch.allclose(focal_loss(logits, target, 0.0, 0.1, weight),
                          F.cross_entropy(logits, target, weight=weight, label_smoothing=0.1), atol=1e-6)
    assert focal_loss(logits, target, gamma=2.0) < F.cross_entropy(logits, target)


def test_nt_xent_prefers_matching_views():
    z = torch.randn(8, 16)
    assert nt_xent(z, z + 0.01 * torch.randn(8, 16)) < nt_xent(z, torch.randn(8, 16))


def test_augmentations_keep_shapes_and_schedule():
    for level in LEVELS.values():
        assert augment(X, level).shape == X.shape
    assert torch.equal(augment(X, LEVELS["none"]), X)
    noisy = snr_noise(X, -4.0, -4.0, 1.0)
    assert noisy.shape == X.shape and not torch.allclose(noisy, X)
    mixed, order, lam = mixup(X, 0.2)
    assert mixed.shape == X.shape and 0.5 <= lam <= 1.0 and sorted(order.tolist()) == [0, 1, 2, 3]
    assert [progressive_level(e, 10) for e in (0, 3, 7, 9)] == ["weak", "medium", "strong", "strong"]
