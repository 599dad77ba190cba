"""The SUPERB-exact downstream profile: s3prl's head shapes and settings, the x-vector head's maths,
SpecAugment, AM-softmax (`evaluate` with head.profile=superb end to end: tests/test_eval.py)."""

from __future__ import annotations


import pytest
import torch
import torch.nn.functional as F

from codec2vec.errors import ConfigError
from codec2vec.eval.downstream import HeadConfig, build_downstream, reads_frames
from codec2vec.eval.superb import SUPERB, ProjectedUtteranceHead, SpecAugment, XVectorHead
from codec2vec.eval.tasks import ASR_VOCAB, PR_VOCAB, TASKS

SUPERB_HEADS = HeadConfig(profile="superb")


def _shapes(module: torch.nn.Module) -> dict[str, tuple]:
    return {name: tuple(p.shape) for name, p in module.named_parameters()}


def test_head_shapes_follow_s3prl_configs():
    d, layers = 768, 13  # a Base upstream
    # ctc/libriphone.yaml: projector Linear(D, project_dim 256), FrameLevel without hiddens: one Linear
    pr = build_downstream(TASKS["pr"], layers, d, len(PR_VOCAB), SUPERB_HEADS)
    assert _shapes(pr.head) == {"projector.weight": (256, d), "projector.bias": (256,),
                                "linear.weight": (len(PR_VOCAB) + 1, 256), "linear.bias": (len(PR_VOCAB) + 1,)}
    # asr/config.yaml: project_dim 1024; RNNs dim [1024, 1024], bidirectional, one LSTM layer each; Linear
    asr = build_downstream(TASKS["asr"], layers, d, len(ASR_VOCAB), SUPERB_HEADS)
    shapes = _shapes(asr.head)
    assert shapes["projector.weight"] == (1024, d)
    assert shapes["rnns.0.lstm.weight_ih_l0"] == (4 * 1024, 1024) and "rnns.0.lstm.weight_ih_l1" not in shapes
    assert shapes["rnns.1.lstm.weight_ih_l0"] == (4 * 1024, 2048) and shapes["rnns.1.lstm.weight_hh_l0_reverse"] == (
        4 * 1024, 1024)
    assert shapes["linear.weight"] == (len(ASR_VOCAB) + 1, 2048) and len(asr.head.rnns) == 2
    assert asr.head.rnns[0].dropout.p == 0.2 and asr.head.spec_augment is not None
    # speech_commands, voxceleb1, fluent_commands, emotion: projector_dim 256, MeanPooling, one Linear
    for name in ("ks", "sid", "ic", "er"):
        head = build_downstream(TASKS[name], layers, d, 12, SUPERB_HEADS).head
        assert _shapes(head) == {"projector.weight": (256, d), "projector.bias": (256,),
                                 "linear.weight": (12, 256), "linear.bias": (12,)}
        assert not reads_frames(TASKS[name], SUPERB_HEADS)
    # sv_voxceleb1 amsoftmax.yaml: connector Linear(D, 512); XVector (agg_dim 1500); SP; UtteranceExtractor
    asv = build_downstream(TASKS["asv"], layers, d, 1211, SUPERB_HEADS)
    shapes = _shapes(asv.head)
    assert shapes["connector.weight"] == (512, d) and reads_frames(TASKS["asv"], SUPERB_HEADS) and asv.frames
    assert [shapes[f"tdnn.{i}.weight"] for i in range(5)] == [(512, 512, 5), (512, 512, 3), (512, 512, 3),
                                                              (512, 512, 1), (1500, 512, 1)]
    assert [c.dilation[0] for c in asv.head.tdnn] == [1, 2, 3, 1, 1]
    assert shapes["extractor1.weight"] == (512, 3000) and shapes["extractor2.weight"] == (512, 512)
    assert shapes["speakers"] == (512, 1211) and (asv.head.scale, asv.head.margin) == (30.0, 0.4)
    # runner and optimizer blocks of the same configs
    assert {t: (s.optimizer, s.lr, s.steps, s.batch_size, s.accumulate) for t, s in SUPERB.items()} == {
        "pr": ("Adam", 1e-2, 100_000, 16, 2), "asr": ("Adam", 1e-4, 200_000, 32, 1),
        "ks": ("Adam", 1e-4, 200_000, 32, 1), "sid": ("Adam", 1e-4, 200_000, 8, 4),
        "ic": ("Adam", 1e-4, 200_000, 32, 1), "er": ("Adam", 1e-4, 30_000, 4, 8),
        "asv": ("AdamW", 5e-5, 200_000, 256, 2)}


def test_quick_profile_keeps_its_light_heads():
    quick = build_downstream(TASKS["ks"], 3, 8, 4, HeadConfig())
    assert set(_shapes(quick.head)) == {"embedding.0.weight", "embedding.0.bias", "out.weight", "out.bias"}
    assert not reads_frames(TASKS["asv"], HeadConfig())
    with pytest.raises(ConfigError, match="head.profile 'superbb'"):
        build_downstream(TASKS["ks"], 3, 8, 4, HeadConfig(profile="superbb"))


def _s3prl_tdnn(x: torch.Tensor, conv: torch.nn.Conv1d) -> torch.Tensor:
    """s3prl's TDNN: unfold (context x input) windows at the dilation, then one Linear."""
    context, dilation, d = conv.kernel_size[0], conv.dilation[0], x.shape[-1]
    windows = F.unfold(x.unsqueeze(1), (context, d), stride=(1, d), dilation=(dilation, 1)).transpose(1, 2)
    weight = conv.weight.permute(0, 2, 1).reshape(conv.out_channels, context * d)  # [out, context * in]
    return windows @ weight.T + conv.bias


def test_xvector_head_matches_s3prl_tdnn_and_ignores_padding():
    torch.manual_seed(0)
    head = XVectorHead(6, 3, dim=8, agg_dim=10).eval()
    x = torch.randn(1, 30, 6)
    h = head.connector(x)
    for conv in head.tdnn:
        want = _s3prl_tdnn(h, conv)
        got = conv(h.transpose(1, 2)).transpose(1, 2)
        torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)
        h = torch.relu(got)
    assert h.shape[1] == 30 - XVectorHead.SHRINK
    stats = head._pooled(x, torch.tensor([30]))
    torch.testing.assert_close(stats, torch.cat([h.mean(1), h.std(1)], -1), atol=1e-5, rtol=1e-5)
    # batch == single: padding frames change nothing
    short = torch.randn(1, 20, 6)
    batch = torch.cat([x, F.pad(short, (0, 0, 0, 10), value=7.0)])
    together = head.embed(batch, torch.tensor([30, 20]))
    torch.testing.assert_close(together[1], head.embed(short, torch.tensor([20]))[0], atol=1e-5, rtol=1e-5)
    with pytest.raises(ValueError, match="more than 14 frames"):
        head.embed(torch.randn(1, 14, 6), torch.tensor([14]))


def test_slot_classifiers_sum_their_losses_and_need_every_slot_right():
    head = ProjectedUtteranceHead(4, [3, 2])
    logits = torch.tensor([[2.0, 0.0, 0.0, 0.0, 1.0], [0.0, 3.0, 0.0, 1.0, 0.0]])
    targets = torch.tensor([[0, 1], [1, 1]])
    want = F.cross_entropy(logits[:, :3], targets[:, 0]) + F.cross_entropy(logits[:, 3:], targets[:, 1])
    torch.testing.assert_close(head.loss(logits, targets), want)
    assert head.predict(logits).tolist() == [[0, 1], [1, 0]]  # the second utterance gets its second slot wrong
    assert head.linear.out_features == 5


def test_am_softmax_equals_s3prl_formula():
    torch.manual_seed(1)
    head = XVectorHead(6, 5, dim=8, agg_dim=10)
    logits = head(torch.randn(4, 25, 6), torch.tensor([25, 20, 18, 25]))
    labels = torch.tensor([0, 3, 1, 3])
    cosine = logits / head.scale
    # s3prl AMSoftmaxLoss: numerator s(cos_y - m); denominator exp(numerator) + sum_{j != y} exp(s cos_j)
    numerator = head.scale * (cosine[torch.arange(4), labels] - head.margin)
    others = torch.stack([torch.cat([cosine[i, :y], cosine[i, y + 1:]]) for i, y in enumerate(labels.tolist())])
    want = -(numerator - torch.log(torch.exp(numerator) + torch.exp(head.scale * others).sum(1))).mean()
    torch.testing.assert_close(head.loss(logits, labels), want)


def test_spec_augment_masks_valid_frames_in_training_only():
    x = torch.randn(2, 60, 768)
    lengths = torch.tensor([60, 45])
    augment = SpecAugment()
    assert torch.equal(augment.eval()(x, lengths), x)
    torch.manual_seed(0)
    out = augment.train()(x, lengths)
    assert out.shape == x.shape and torch.equal(out[1, 45:], x[1, 45:])  # padding untouched
    zero_columns = (out[0] == 0).all(0)  # 4 feature masks of width < 50: whole columns of zeros
    assert 0 < int(zero_columns.sum()) <= 4 * 49
    torch.manual_seed(0)
    assert torch.equal(augment(x, lengths), out)  # seeded by torch's generator
    no_warp = SpecAugment(warp_window=100, freq_masks=0, time_masks=1, time_width=(5, 6))  # too short to warp
    masked = no_warp.train()(x, lengths)
    zero_rows = (masked[0] == 0).all(1)
    assert int(zero_rows.sum()) == 5 and torch.equal(masked[0][~zero_rows], x[0][~zero_rows])
