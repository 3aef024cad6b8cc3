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
        with pytest.raises(LumastyleError, match=r"--model\.backbone_weights null"):
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
