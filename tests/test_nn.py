"""ConvNet and the cross-architecture networks (shapes), DSA (determinism, gradients, semantics)."""
import pytest
import torch

from fairdistill.errors import ConfigError, DataError
from fairdistill.nn import augment as A
from fairdistill.nn.archs import build
from fairdistill.nn.convnet import ConvNet


@pytest.mark.parametrize("size,feat", [(28, 128 * 3 * 3), (32, 128 * 4 * 4), (64, 128 * 8 * 8)])
def test_convnet_shapes(size, feat):
    net = ConvNet(3, 10, size)
    x = torch.randn(2, 3, size, size)
    assert net.embed(x).shape == (2, feat) == (2, net.feature_dim)
    assert net(x).shape == (2, 10)
    norms = [m for m in net.modules() if isinstance(m, torch.nn.GroupNorm)]
    assert len(norms) == 3 and all(m.num_groups == m.num_channels == 128 and m.affine for m in norms)


def test_convnet_instance_norm_makes_samples_independent():
    net = ConvNet(3, 4, 16, width=8)
    x = torch.randn(5, 3, 16, 16)
    assert torch.allclose(net(x)[:2], net(x[:2]), atol=1e-5)


def test_convnet_too_small_image():
    with pytest.raises(ConfigError) as info:
        ConvNet(3, 10, 4, depth=3)
    msg = str(info.value)  # the option is net_depth / --net-depth (the message said "use depth <= 2")
    assert "4x4" in msg and "net_depth (--net-depth) <= 2" in msg and "\n" not in msg


@pytest.mark.parametrize("name", ["convnet", "mlp", "alexnet", "vgg11", "resnet18"])
@pytest.mark.parametrize("size", [28, 32])
def test_archs_forward(name, size):
    opts = {"width": 0.125} if name in ("vgg11", "resnet18") else {}
    net = build(name, 3, 7, size, **opts)
    x = torch.randn(2, 3, size, size)
    assert net(x).shape == (2, 7)
    assert net.embed(x).shape == (2, net.feature_dim)


def test_build_unknown():
    with pytest.raises(ConfigError):
        build("lenet")
    with pytest.raises(ConfigError, match=r"^unknown architecture 'resnet'; did you mean 'resnet18'\?; choose "
                                          r"from: alexnet, convnet, mlp, resnet18, vgg11$"):
        build("resnet")


# --------------------------------------------------------------------------------------------------------- DSA
def _x(n=6, seed=0):
    return torch.randn(n, 3, 16, 16, generator=torch.Generator().manual_seed(seed))


def test_dsa_same_state_same_output_and_different_state_differs():
    x = _x()
    g = torch.Generator().manual_seed(3)
    outs = [A.dsa(x, A.fork(g)) for _ in range(2)]
    assert torch.equal(outs[0], outs[1])
    diff = [not torch.equal(A.dsa(x, torch.Generator().manual_seed(s)), outs[0]) for s in range(10, 20)]
    assert any(diff)


def test_flip_semantics():
    x = _x()
    assert torch.equal(A.dsa(x, torch.Generator(), "flip", A.DSAParams(flip=1.0)), x.flip(3))
    assert torch.equal(A.dsa(x, torch.Generator(), "flip", A.DSAParams(flip=0.0)), x)


def test_scale_and_rotate_identity_at_zero_strength():
    x = _x()
    g = torch.Generator()
    assert torch.allclose(A.dsa(x, g, "scale", A.DSAParams(scale=1.0)), x, atol=1e-5)
    assert torch.allclose(A.dsa(x, g, "rotate", A.DSAParams(rotate=0.0)), x, atol=1e-5)


def test_siamese_same_family_for_batches_of_different_sizes():
    params = A.DSAParams(flip=1.0)
    for seed in range(12):
        real, syn = _x(7, 1) + 10.0, _x(3, 2) + 10.0
        a = A.dsa(real, torch.Generator().manual_seed(seed), "flip_cutout", params)
        b = A.dsa(syn, torch.Generator().manual_seed(seed), "flip_cutout", params)
        assert torch.equal(a, real.flip(3)) == torch.equal(b, syn.flip(3))


def test_dsa_errors():
    with pytest.raises(ConfigError):
        A.dsa(_x(), torch.Generator(), "color_blur")
    with pytest.raises(DataError):
        A.dsa(torch.randn(3, 16, 16), torch.Generator())
    assert torch.equal(A.dsa(_x(), torch.Generator(), "none"), _x())
