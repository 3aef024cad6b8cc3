"""Backbone tests: shape and stride, weight loading from files the tests make, freezing, download failure."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from lumastyle.backbone import STRIDE, DilatedVGG16
from lumastyle.errors import LumastyleError

WIDTH = 1 / 16


def torchvision_layout_state(width: float) -> dict[str, torch.Tensor]:
    """A state dict shaped like torchvision's vgg16 (features.N.*, classifier.0/3.*) at a small width."""
    reference = DilatedVGG16(width=width)
    state = {f"features.{k}": v.clone().normal_() for k, v in reference.features.state_dict().items()}
    fc6 = reference.conv6.weight
    state["classifier.0.weight"] = torch.randn(fc6.shape[0], fc6[0].numel())
    state["classifier.0.bias"] = torch.randn(fc6.shape[0])
    state["classifier.3.weight"] = torch.randn(fc6.shape[0], fc6.shape[0])
    state["classifier.3.bias"] = torch.randn(fc6.shape[0])
    state["classifier.6.weight"] = torch.randn(1000, fc6.shape[0])  # fc8: not part of the FCN
    return state


class TestDilatedVGG16:
    @pytest.mark.parametrize("hw", [(64, 64), (48, 80)])
    def test_output_stride_8(self, hw):
        net = DilatedVGG16(width=WIDTH)
        out = net(torch.rand(1, 3, *hw))
        assert out.shape == (1, net.out_channels, hw[0] // STRIDE, hw[1] // STRIDE)

    def test_width_scales_channels(self):
        assert DilatedVGG16(width=0.125).out_channels == 512
        assert DilatedVGG16(width=0.125).features[28].out_channels == 64

    def test_dilation_matches_paper(self):
        net = DilatedVGG16(width=WIDTH)
        assert [net.features[i].dilation for i in (24, 26, 28)] == [(2, 2)] * 3
        assert net.conv6.dilation == (4, 4) and net.conv6.kernel_size == (7, 7)
        strides = [m.stride for m in net.features if isinstance(m, torch.nn.MaxPool2d)]
        assert strides == [2, 2, 2, 1, 1]

    def test_load_torchvision_layout(self, tmp_path: Path):
        state = torchvision_layout_state(WIDTH)
        torch.save(state, tmp_path / "vgg.pth")
        net = DilatedVGG16(width=WIDTH, weights=str(tmp_path / "vgg.pth"))
        assert torch.equal(net.features[0].weight, state["features.0.weight"])
        assert torch.equal(net.conv6.weight.flatten(1), state["classifier.0.weight"])
        assert torch.equal(net.conv7.weight[:, :, 0, 0], state["classifier.3.weight"])
        assert net.pretrained_missing == []

    def test_load_features_only(self, tmp_path: Path):
        state = {
            k.split(".", 1)[1]: v
            for k, v in torchvision_layout_state(WIDTH).items()
            if k.startswith("features.")
        }
        torch.save(state, tmp_path / "features.pth")
        net = DilatedVGG16(width=WIDTH, weights=str(tmp_path / "features.pth"))
        assert torch.equal(net.features[28].weight, state["28.weight"])
        assert set(net.pretrained_missing) == {"conv6.weight", "conv6.bias", "conv7.weight", "conv7.bias"}

    def test_wrong_width_is_one_line(self, tmp_path: Path):
        torch.save(torchvision_layout_state(WIDTH), tmp_path / "vgg.pth")
        with pytest.raises(LumastyleError, match=r"width 1\.0") as info:
            DilatedVGG16(width=WIDTH * 2, weights=str(tmp_path / "vgg.pth"))
        assert "\n" not in str(info.value)

    @pytest.mark.parametrize("content", [b"not a checkpoint", None])
    def test_bad_file(self, tmp_path: Path, content):
        path = tmp_path / "bad.pth"
        if content is not None:
            path.write_bytes(content)
        with pytest.raises(LumastyleError, match=r"bad\.pth"):
            DilatedVGG16(width=WIDTH, weights=str(path))

    def test_file_without_vgg_keys(self, tmp_path: Path):
        torch.save({"linear.weight": torch.zeros(2, 2)}, tmp_path / "other.pth")
        with pytest.raises(LumastyleError, match=r"no VGG-16 convolution weights"):
            DilatedVGG16(width=WIDTH, weights=str(tmp_path / "other.pth"))

    def test_imagenet_download_failure_names_flag(self, monkeypatch):
        from torchvision.models import VGG16_Weights

        def offline(*args, **kwargs):
            raise OSError("<urlopen error [Errno -3] Temporary failure in name resolution>")

        monkeypatch.setattr(type(VGG16_Weights.IMAGENET1K_V1), "get_state_dict", offline)
        with pytest.raises(LumastyleError, match=r"configs/cpu-small\.yaml.*--model\.backbone\.weights FILE .* or null"):
            DilatedVGG16(width=WIDTH, weights="imagenet")

    def test_imagenet_download_path_reshapes_fc(self, monkeypatch):
        from torchvision.models import VGG16_Weights

        state = torchvision_layout_state(WIDTH)
        monkeypatch.setattr(type(VGG16_Weights.IMAGENET1K_V1), "get_state_dict", lambda *a, **k: state)
        net = DilatedVGG16(width=WIDTH, weights="imagenet")
        assert torch.equal(net.conv6.weight.flatten(1), state["classifier.0.weight"])

    @pytest.mark.parametrize(
        ("freeze", "frozen"),
        [("none", []), ("features", ["features"]), ("all", ["features", "conv6", "conv7"])],
    )
    def test_freeze(self, freeze, frozen):
        net = DilatedVGG16(width=WIDTH, freeze=freeze)
        for name, p in net.named_parameters():
            assert p.requires_grad == (name.split(".")[0] not in frozen)

    def test_caffe_normalisation(self):
        net = DilatedVGG16(width=WIDTH, input_norm="caffe")
        rgb = torch.rand(1, 3, 1, 1)
        expected = rgb * 255 - torch.tensor([123.680, 116.779, 103.939]).view(1, 3, 1, 1)
        assert torch.allclose((rgb - net.mean) / net.std, expected, atol=1e-3)

    def test_gradients_flow(self):
        net = DilatedVGG16(width=WIDTH)
        net(torch.rand(1, 3, 32, 32)).sum().backward()
        assert net.features[0].weight.grad is not None and net.features[0].weight.grad.abs().sum() > 0


SHARED_WEIGHTS = (
    Path(__file__).resolve().parents[2] / "shared" / "weights" / "vgg16_features_imagenet_caffe.pth"
)


@pytest.mark.skipif(not SHARED_WEIGHTS.is_file(), reason="../shared/weights is not present")
def test_shared_caffe_weights_match_torchvision_vgg16():
    """conv1-conv4 of the dilated network equal torchvision's VGG-16 with the same real weights."""
    from torchvision.models import vgg16

    net = DilatedVGG16(width=1.0, weights=str(SHARED_WEIGHTS), input_norm="caffe").eval()
    reference = vgg16().features[:23].eval()
    reference.load_state_dict(
        {k: v for k, v in torch.load(SHARED_WEIGHTS).items() if int(k.split(".")[0]) < 23}
    )
    rgb = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        ours = net.features[:23]((rgb - net.mean) / net.std)
        theirs = reference(rgb * 255 - torch.tensor([123.680, 116.779, 103.939]).view(1, 3, 1, 1))
    assert torch.allclose(ours, theirs, rtol=1e-4, atol=1e-3)


def test_bundled_weights_load_offline(no_download):
    """``bundled``: VGG-16's conv1-conv5 from the package, no download, with the caffe normalisation."""
    net = DilatedVGG16(width=1.0, weights="bundled", top_channels=8)
    assert net.input_norm == "caffe"
    assert sorted(net.pretrained_missing) == ["conv6.bias", "conv6.weight", "conv7.bias", "conv7.weight"]
    assert net.features[0].weight.dtype == torch.float32 and net.features[0].weight.abs().sum() > 0
    assert net.out_channels == 8 and net.conv7.out_channels == 8


def test_bundled_weights_need_full_width():
    with pytest.raises(LumastyleError, match=r"backbone width 1\.0"):
        DilatedVGG16(width=0.5, weights="bundled")


@pytest.mark.skipif(not SHARED_WEIGHTS.is_file(), reason="../shared/weights is not present")
def test_bundled_weights_are_the_shared_ones_in_float16():
    """The shipped float16 copy gives the float32 original's conv5 maps to within float16 rounding."""
    bundled = DilatedVGG16(width=1.0, weights="bundled").eval()
    original = DilatedVGG16(width=1.0, weights=str(SHARED_WEIGHTS), input_norm="caffe").eval()
    rgb = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        a, b = bundled.lower(rgb), original.lower(rgb)
    assert (a - b).norm() / b.norm() < 2e-3


def test_upper_on_a_window_with_margin_equals_the_whole_map():
    """conv6/conv7 on a window carrying UPPER_MARGIN cells (zeros outside the map) give exactly those
    cells of the whole map's output: what training on cached windows relies on."""
    from lumastyle.backbone import UPPER_MARGIN
    from lumastyle.context import take_window

    torch.manual_seed(0)
    net = DilatedVGG16(width=WIDTH, top_channels=5).eval()
    conv5 = torch.rand(1, net.conv6.in_channels, 30, 22)
    with torch.no_grad():
        whole = net.upper(conv5)
        for top, left, n in [(0, 0, 6), (24, 16, 6), (7, 3, 9), (-2, 20, 5)]:
            m = UPPER_MARGIN
            window = take_window(conv5[0], top - m, left - m, n + 2 * m, n + 2 * m)[None]
            got = net.upper(window, with_margin=True)
            y0, x0 = max(top, 0), max(left, 0)
            y1, x1 = min(top + n, 30), min(left + n, 22)
            inside = got[..., y0 - top : y1 - top, x0 - left : x1 - left]
            assert torch.allclose(inside, whole[..., y0:y1, x0:x1], atol=1e-5)
