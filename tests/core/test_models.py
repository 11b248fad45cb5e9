"""Encoders, heads, the joint module and encoder export."""

from __future__ import annotations

import pytest
import torch

from vi2clr.models import Vi2CLR, build_encoder, in_channels_last, list_encoders, load_encoder, save_encoder


def n_params(m: torch.nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


def test_registry_lists_all_names_and_kinds():
    assert set(list_encoders()) == {"s3d", "r3d_18", "r2plus1d_18", "tiny3d", "resnet50", "resnet18", "tiny2d"}
    assert list_encoders("image") == ["resnet18", "resnet50", "tiny2d"]
    with pytest.raises(ValueError, match="unknown encoder 'vit'"):
        build_encoder("vit")
    with pytest.raises(ValueError, match="does not accept options"):
        build_encoder("resnet18", width=3)


def test_parameter_counts_of_paper_backbones():
    s3d = build_encoder("s3d")
    r50 = build_encoder("resnet50")
    assert n_params(s3d) == 7_910_048  # S3D trunk, 7.91 M
    assert n_params(r50) == 23_508_032  # ResNet-50 without classifier, 23.5 M
    assert (s3d.out_dim, s3d.kind, r50.out_dim, r50.kind) == (1024, "video", 2048, "image")


def test_s3d_uses_ordinary_batchnorm_momentum_and_any_resolution():
    s3d = build_encoder("s3d").eval()
    momenta = {m.momentum for m in s3d.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)}
    assert momenta == {0.1}
    with torch.no_grad():
        for px in (112, 128):
            assert s3d(torch.randn(1, 3, 8, px, px)).shape == (1, 1024)


@pytest.mark.parametrize(
    ("name", "dim", "shape"),
    [
        ("tiny3d", 128, (2, 3, 8, 32, 32)),
        ("tiny2d", 128, (2, 3, 32, 32)),
        ("resnet18", 512, (2, 3, 32, 32)),
        ("r3d_18", 512, (2, 3, 4, 32, 32)),
        ("r2plus1d_18", 512, (2, 3, 4, 32, 32)),
    ],
)
def test_encoder_output_shapes(name, dim, shape):
    enc = build_encoder(name).eval()
    with torch.no_grad():
        assert enc(torch.randn(*shape)).shape == (2, dim) == (2, enc.out_dim)


def test_encoder_rejects_wrong_input_rank():
    with pytest.raises(ValueError, match=r"video encoder expects input \(B, 3, T, H, W\)"):
        build_encoder("tiny3d")(torch.randn(2, 3, 32, 32))


def test_tiny_width_option():
    assert build_encoder("tiny3d", width=4).out_dim == 32
    assert build_encoder("tiny2d", width=8).out_dim == 64


def test_tiny2d_depth_adds_stride_one_blocks_and_keeps_the_output():
    """depth d: d conv blocks per stage, only the first strided, so the resolution path (and the
    output width) stay those of depth 1; depth 1 is the original 4-layer net, weights and all."""
    convs = lambda enc: [m for m in enc.modules() if isinstance(m, torch.nn.Conv2d)]
    one, two = build_encoder("tiny2d", width=4), build_encoder("tiny2d", width=4, depth=2)
    assert [c.stride for c in convs(one)] == [(2, 2)] * 4
    assert [c.stride for c in convs(two)] == [(2, 2), (1, 1)] * 4
    assert two(torch.randn(2, 3, 48, 48)).shape == one(torch.randn(2, 3, 48, 48)).shape == (2, 32)
    torch.manual_seed(0)
    default = build_encoder("tiny2d", width=4)
    torch.manual_seed(0)
    explicit = build_encoder("tiny2d", width=4, depth=1)
    assert all(torch.equal(a, b) for a, b in zip(default.state_dict().values(), explicit.state_dict().values()))
    with pytest.raises(ValueError, match="depth must be >= 1"):
        build_encoder("tiny2d", depth=0)


def test_joint_module_shapes_and_unit_norms():
    model = Vi2CLR(build_encoder("tiny3d", width=4), build_encoder("tiny2d", width=4), proj_dim=16)
    assert model.video_head.mlp[0].in_features == model.video_head.mlp[0].out_features == 32
    assert model.joint_head.mlp[0].in_features == 32 and model.joint_head.mlp[2].out_features == 16
    z_v, z_i, z_j = model(torch.randn(3, 3, 4, 32, 32), torch.randn(3, 3, 32, 32))
    for z in (z_v, z_i, z_j):
        assert z.shape == (3, 16)
        torch.testing.assert_close(z.norm(dim=1), torch.ones(3))
    (z_j.sum() + z_v.sum()).backward()
    assert model.video_encoder.body[0].weight.grad is not None


def test_joint_module_paper_head_widths():
    model = Vi2CLR(build_encoder("s3d"), build_encoder("resnet50"))
    shapes = lambda head: [tuple(m.weight.shape) for m in head.mlp if isinstance(m, torch.nn.Linear)]
    assert shapes(model.video_head) == [(1024, 1024), (128, 1024)]
    assert shapes(model.image_head) == [(2048, 2048), (128, 2048)]
    assert shapes(model.joint_head) == [(256, 256), (128, 256)]


def test_joint_module_checks_kinds():
    with pytest.raises(ValueError, match="needs a video encoder"):
        Vi2CLR(build_encoder("tiny2d"), build_encoder("tiny2d"))


def test_save_and_load_encoder_round_trip(tmp_path):
    enc = build_encoder("tiny2d", width=4).eval()
    meta = {"epoch": 3, "run_id": "abc"}
    path = save_encoder(tmp_path / "run" / "image_encoder.pt", enc, "tiny2d", {"width": 4}, meta)
    assert [p.name for p in path.parent.iterdir()] == ["image_encoder.pt"]  # no temporary left behind
    raw = torch.load(path, map_location="cpu", weights_only=True)
    assert raw["format"] == "vi2clr-encoder/1" and raw["kind"] == "image" and raw["name"] == "tiny2d"
    loaded, meta = load_encoder(path, expect_kind="image")
    assert meta == {"epoch": 3, "run_id": "abc"}
    x = torch.randn(2, 3, 32, 32)
    torch.testing.assert_close(loaded.eval()(x), enc(x))


def test_load_encoder_wrong_kind_and_wrong_file(tmp_path):
    path = tmp_path / "video_encoder.pt"
    save_encoder(path, build_encoder("tiny3d", width=2), "tiny3d", {"width": 2}, {})
    with pytest.raises(ValueError, match=r"holds a video encoder, but this protocol needs an image encoder"):
        load_encoder(path, expect_kind="image")
    torch.save({"model": {}}, tmp_path / "other.pt")
    with pytest.raises(ValueError, match="is not a vi2clr encoder file"):
        load_encoder(tmp_path / "other.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="is not a vi2clr encoder file"):
        load_encoder(tmp_path / "junk.pt")
    with pytest.raises(ValueError, match="does not exist"):
        load_encoder(tmp_path / "missing.pt")


def test_residual_frames_hide_what_is_static_and_travel_with_the_saved_encoder(tmp_path):
    """frames=residual: the body sees x[t+1] − x[t], so two clips that differ only by a static
    image (a background) give the same features, and a loaded encoder keeps the input it was
    trained on. With rgb frames the same two clips differ."""
    torch.manual_seed(0)
    moving = torch.randn(2, 3, 8, 32, 32)
    background = torch.randn(2, 3, 1, 32, 32)
    res = build_encoder("tiny3d", width=4, frames="residual").eval()
    rgb = build_encoder("tiny3d", width=4).eval()
    assert (res.frames, rgb.frames) == ("residual", "rgb")
    with torch.no_grad():
        torch.testing.assert_close(res(moving + background), res(moving))
        assert not torch.allclose(rgb(moving + background), rgb(moving))
        body_input = moving[:, :, 1:] - moving[:, :, :-1]
        torch.testing.assert_close(res(moving), torch.flatten(res.body(body_input), 1))
    path = save_encoder(tmp_path / "video_encoder.pt", res, "tiny3d", {"width": 4, "frames": "residual"}, {})
    loaded, _ = load_encoder(path, expect_kind="video")
    assert loaded.frames == "residual"
    with torch.no_grad():
        torch.testing.assert_close(loaded.eval()(moving + background), res(moving))
    with pytest.raises(ValueError, match="at least 2 frames"):
        res(torch.randn(1, 3, 1, 32, 32))
    with pytest.raises(ValueError, match="'residual' for video encoders only"):
        build_encoder("tiny2d", frames="residual")
    with pytest.raises(ValueError, match="frames must be one of"):
        build_encoder("s3d", frames="flow")


def test_save_encoder_refuses_unplain_meta(tmp_path):
    with pytest.raises(ValueError, match=r"meta\['when'\] holds a object"):
        save_encoder(tmp_path / "e.pt", build_encoder("tiny2d", width=2), "tiny2d", {"width": 2}, {"when": object()})


@pytest.mark.parametrize("name, shape, layout", [("tiny3d", (2, 3, 4, 16, 16), torch.channels_last_3d),
                                                  ("tiny2d", (2, 3, 16, 16), torch.channels_last)])
def test_channels_last_encoders_give_the_default_layouts_features(name, shape, layout):
    torch.manual_seed(0)
    enc = build_encoder(name, width=4).eval()
    x = torch.randn(shape)
    want = enc(x)
    assert in_channels_last(enc) is enc
    convs = [m.weight for m in enc.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.Conv3d))]
    assert convs and all(w.is_contiguous(memory_format=layout) and not w.is_contiguous() for w in convs)
    torch.testing.assert_close(enc(x), want, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("setting, channels_last", [(True, True), (False, False), ("auto", False)])  # auto: CUDA only
def test_pretraining_and_evaluation_use_the_layout_of_the_params(setting, channels_last):
    from tests._support import tiny_params
    from vi2clr.commands.evaluate.context import EvalContext
    from vi2clr.config import Params
    from vi2clr.train.distributed import DistInfo
    from vi2clr.train.pretrain import build_train_state

    p = Params.model_validate(tiny_params({"model.channels_last": setting}))
    state, _ = build_train_state(p, DistInfo(0, 1, 0, torch.device("cpu")), num_videos=4)
    video_conv = next(m for m in state.model.video_encoder.modules() if isinstance(m, torch.nn.Conv3d))
    image_conv = next(m for m in state.model.image_encoder.modules() if isinstance(m, torch.nn.Conv2d))
    assert video_conv.weight.is_contiguous(memory_format=torch.channels_last_3d) is channels_last
    assert image_conv.weight.is_contiguous(memory_format=torch.channels_last) is channels_last
    enc, _, _ = EvalContext(p, "t", None, {}).encoder("video")
    conv = next(m for m in enc.modules() if isinstance(m, torch.nn.Conv3d))
    assert conv.weight.is_contiguous(memory_format=torch.channels_last_3d) is channels_last
