"""Pre-training: encoder and input layers, masking, the three objectives, the trainer (resume, DDP),
k-means label stores, and refusals of mismatched inputs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from unittest import mock

import numpy as np
import pytest
import torch

from codec2vec.clustering import KMeansConfig, run_kmeans
from codec2vec.codecs import load_codec
from codec2vec.config import save_config
from codec2vec.errors import Codec2VecError, ConfigError
from codec2vec.verify import verify_artifact
from codec2vec.models import ModelConfig, build_model, load_pretrained
from codec2vec.objectives import MaskConfig, span_mask
from codec2vec.train import PretrainData, epoch_batches, pretrain
from codec2vec.train.data import BatchPlan, BatchReader, DataConfig
from codec2vec.train.trainer import OptimConfig, lr_at
from codec2vec.units import UnitStore
from codec2vec.units.store import StoreError
from codec2vec.units.verify import verify_store
from killing import cli, kill_at_random_point
from pretrain_fixtures import make_setup, tiny_config


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    return make_setup(tmp_path_factory.mktemp("pretrain"))


@pytest.fixture(scope="module")
def labels(setup):
    cfg = KMeansConfig(out=str(setup["root"] / "km1"), units=[setup["units"]], model="codec", n_clusters=8,
                       fit_frames=2000, n_init=1)
    return str(run_kmeans(cfg, progress=False)[0])


def _losses(run: Path) -> list[float]:
    return [json.loads(line)["loss"] for line in (run / "metrics.jsonl").read_text().splitlines()]


def _steps_logged(run: Path) -> int:
    """Complete lines in metrics.jsonl (a run being written may end in a partial one)."""
    return (run / "metrics.jsonl").read_text().count("\n") if (run / "metrics.jsonl").is_file() else 0


def _tiny_model(kind: str = "units", **encoder) -> torch.nn.Module:
    cfg = ModelConfig()
    cfg.input.kind = kind
    cfg.encoder.preset = "tiny"
    cfg.encoder.dropout = 0.0
    for k, v in encoder.items():
        setattr(cfg.encoder, k, v)
    torch.manual_seed(0)
    return build_model(cfg, 3, 16).eval()


# --- masking and batching -------------------------------------------------------------------------

def test_span_mask_is_seeded_spans_within_lengths():
    cfg = MaskConfig(prob=0.8, span=10, min_masks=2)
    frames = [500, 120, 15]
    a = span_mask(frames, 500, cfg, np.random.default_rng(3))
    b = span_mask(frames, 500, cfg, np.random.default_rng(3))
    assert a.shape == (3, 500) and a.dtype == bool
    assert (a == b).all()
    assert not a[1, 120:].any() and not a[2, 15:].any()  # never past an utterance
    assert 0.35 < a[0].mean() < 0.65  # HuBERT's defaults mask about half the frames
    assert a[2].sum() >= 2  # min_masks spans, even on a short utterance
    edges = np.flatnonzero(np.diff(np.r_[0, a[0].astype(int), 0]))  # starts and ends of masked runs
    runs = edges[1::2] - edges[0::2]
    assert len(runs) >= 2 and (runs >= 10).all()  # spans of 10 frames, merged where they overlap


def test_epoch_batches_cover_every_utterance_within_budget():
    frames = np.array([30, 80, 55, 100, 12, 64, 99, 40, 70, 25])
    batches = epoch_batches(frames, 200, seed=1, epoch=0)
    assert sorted(np.concatenate(batches).tolist()) == list(range(10))
    assert all(frames[b].max() * len(b) <= 200 for b in batches)
    again = epoch_batches(frames, 200, seed=1, epoch=0)
    assert [b.tolist() for b in batches] == [b.tolist() for b in again]
    other = epoch_batches(frames, 200, seed=1, epoch=1)
    assert [b.tolist() for b in batches] != [b.tolist() for b in other]


def test_two_ranks_read_what_one_process_accumulates():
    frames = np.random.default_rng(0).integers(20, 100, 50)
    cfg = DataConfig(max_frames=300, crop_frames=100)
    one = list(BatchPlan(frames, cfg, 1, per_step=2).keys(0, 7, rank=0, world=1))
    r0 = list(BatchPlan(frames, cfg, 1, per_step=2).keys(0, 7, rank=0, world=2))
    r1 = list(BatchPlan(frames, cfg, 1, per_step=2).keys(0, 7, rank=1, world=2))
    assert one[0::2] == r0 and one[1::2] == r1
    resumed = list(BatchPlan(frames, cfg, 1, per_step=2).keys(3, 7, rank=0, world=1))
    assert resumed == one[6:]  # resuming at step 3 reads exactly the remaining batches


def test_pad_multiple_rounds_the_time_axis_up_and_changes_nothing_else(setup):
    batches = {}
    for multiple in (1, 16):
        cfg = DataConfig(units=setup["units"], max_frames=400, crop_frames=70, pad_multiple=multiple)
        data = PretrainData(cfg, "units", "reconstruction")
        plan = BatchPlan(data.frames, cfg, 1, per_step=1)
        batches[multiple] = [BatchReader(data, plan, MaskConfig())[key] for key in plan.keys(0, 3, 0, 1)]
    for plain, padded in zip(batches[1], batches[16]):
        t = plain["units"].shape[-1]
        assert padded["units"].shape[-1] == -(-t // 16) * 16 and t == int(plain["frames"].max())
        assert torch.equal(padded["frames"], plain["frames"]) and torch.equal(padded["units"][..., :t], plain["units"])
        assert torch.equal(padded["mask"][:, :t], plain["mask"]) and not padded["mask"][:, t:].any()
        assert not padded["units"][..., t:].any()
    info = UnitStore(setup["units"]).info  # and the model reads the padded width, same states on real frames
    cfg = ModelConfig()
    cfg.encoder.preset, cfg.encoder.dropout = "tiny", 0.0
    torch.manual_seed(0)
    model = build_model(cfg, info.n_codebooks, info.codebook_size).eval()
    with torch.no_grad():
        plain, padded = batches[1][0], batches[16][0]
        t = plain["units"].shape[-1]
        hidden_plain, _ = model(plain)
        hidden_padded, padding = model(padded)
        assert padding.shape[1] == padded["units"].shape[-1] > t
        for a, b in zip(hidden_plain, hidden_padded):
            valid = ~padding[:, :t, None]
            torch.testing.assert_close(b[:, :t] * valid, a * valid, atol=1e-5, rtol=1e-5)


def test_lr_schedule_warms_up_then_decays():
    cfg = OptimConfig(steps=10, lr=1.0, warmup_steps=4, final_lr_scale=0.1)
    values = [lr_at(s, cfg) for s in range(10)]
    assert values[:4] == pytest.approx([0.25, 0.5, 0.75, 1.0])
    assert values[4] == pytest.approx(1.0) and values[9] == pytest.approx(1.0 - 0.9 * 5 / 6)


def test_tri_stage_schedule_is_fairseqs():
    """DinoSR's schedule: warm-up from lr x 0.01, hold at the peak, exponential decay to lr x final."""
    cfg = OptimConfig(schedule="tri_stage", steps=100, lr=1.0, warmup_steps=3, hold_steps=47, final_lr_scale=0.01)
    values = [lr_at(s, cfg) for s in range(101)]
    assert values[:4] == pytest.approx([0.01, 0.34, 0.67, 1.0])
    assert values[3:50] == pytest.approx([1.0] * 47)
    assert values[75] == pytest.approx(0.1)  # halfway through the decay: 0.01 ** 0.5
    assert values[100] == pytest.approx(0.01) and values[99] == pytest.approx(0.01 ** (49 / 50))
    with pytest.raises(ConfigError, match="final_lr_scale"):
        pretrain(load_config_overrides(["optim.schedule=tri_stage", "optim.final_lr_scale=0"]), progress=False)


def load_config_overrides(overrides: list[str]):
    from codec2vec.config import load_config
    from codec2vec.train import PretrainConfig

    return load_config(PretrainConfig, overrides=["out=unused", *overrides])


# --- models -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["units", "waveform", "logmel"])
def test_model_hidden_states_and_batch_equals_single(kind):
    model = _tiny_model(kind)
    torch.manual_seed(1)
    units = torch.randint(0, 16, (2, 3, 40))
    audio = torch.randn(2, 40 * 320)
    audio[1, 23 * 320 - 100:] = 0.0  # batches are zero past each utterance's end
    frames = torch.tensor([40, 23])
    hidden, padding = model({"units": units, "audio": audio, "frames": frames})
    assert len(hidden) == 3 and all(h.shape == (2, 40, 64) for h in hidden)
    assert padding[1, 23:].all() and not padding[1, :23].any()
    alone, _ = model({"units": units[1:, :, :23], "audio": audio[1:, : 23 * 320], "frames": frames[1:]})
    for h_batch, h_alone in zip(hidden, alone):
        torch.testing.assert_close(h_batch[1, :23], h_alone[0], atol=2e-5, rtol=1e-4)


def test_waveform_cnn_is_hubert_feature_extractor():
    """Without padding the CNN is fairseq's: conv, GroupNorm(one group per channel), GELU, then
    conv + GELU six times; the masked normalisation of padded batches gives the same numbers."""
    from codec2vec.models.inputs import InputConfig, WaveformInput

    torch.manual_seed(0)
    cnn = WaveformInput(InputConfig(kind="waveform", conv_channels=32)).eval()
    torch.nn.init.normal_(cnn.first_norm.weight), torch.nn.init.normal_(cnn.first_norm.bias)  # not the identity
    audio = torch.randn(2, 29 * 320 + 80)
    x = torch.nn.functional.gelu(cnn.first_norm(cnn.convs[0](audio.unsqueeze(1))))
    for conv in cnn.convs[1:]:
        x = torch.nn.functional.gelu(conv(x))
    torch.testing.assert_close(cnn(audio, torch.tensor([29, 29]), 29), x.transpose(1, 2), atol=1e-5, rtol=1e-4)


def test_unit_input_starts_from_the_codec_latent(setup):
    codec = load_codec(setup["codec"])
    vectors = codec.codebook_vectors()
    cfg = ModelConfig()
    cfg.encoder.preset = "tiny"
    model = build_model(cfg, 12, 1024, vectors).eval()
    assert cfg.input.embed_dim == vectors.shape[-1]  # recorded for reloading
    codes = torch.randint(0, 1024, (2, 12, 7))
    latent = sum(vectors[q, codes[:, q]] for q in range(12))  # [B, T, D]
    torch.testing.assert_close(model.frontend(codes), latent, atol=1e-5, rtol=1e-5)


def test_quantizer_dropout_keeps_leading_codebooks_in_training_only():
    model = _tiny_model("units")
    frontend = model.frontend
    frontend.quantizer_dropout, frontend.min_codebooks = 1.0, 1
    codes = torch.randint(0, 16, (64, 3, 5))
    per_codebook = frontend.table(codes + frontend.offsets.view(1, 3, 1))  # [B, Q, T, D]
    frontend.train()
    torch.manual_seed(0)
    out = frontend(codes)
    kept = [next(n for n in (1, 2, 3) if torch.allclose(out[b], per_codebook[b, :n].sum(0), atol=1e-6))
            for b in range(64)]
    assert set(kept) == {1, 2, 3}  # n uniform in [1, 3], always a prefix of the codebooks
    frontend.eval()
    torch.testing.assert_close(frontend(codes), per_codebook.sum(1))


def test_base_preset_is_hubert_base_post_ln_without_final_norm():
    import torch.nn.functional as F

    from codec2vec.models import EncoderConfig
    from codec2vec.models.encoder import Encoder

    assert EncoderConfig(preset="base").resolved_norm() == (False, 0.0)  # HuBERT Base
    assert EncoderConfig(preset="small").resolved_norm() == (True, 0.1)
    assert EncoderConfig(preset="base", norm_first=True, ffn_dropout=0.2).resolved_norm() == (True, 0.2)
    cfg = ModelConfig()
    cfg.encoder.preset = "tiny"
    cfg.encoder.norm_first = False
    model = build_model(cfg, 3, 16).eval()
    assert cfg.encoder.ffn_dropout == 0.1  # resolved values are recorded in the config
    assert isinstance(model.encoder.final_norm, torch.nn.Identity)
    block = model.encoder.layers[0]
    x = torch.randn(2, 5, 64)
    q, k, v = block.qkv(x).view(2, 5, 3, 4, 16).permute(2, 0, 3, 1, 4)
    attended = F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(2, 5, 64)
    attended = block.attn_norm(x + block.out(attended))
    expected = block.ffn_norm(attended + block.ffn(attended))  # norm(x + f(x)), twice
    torch.testing.assert_close(block(x, None), expected)
    cfg.encoder.preset, cfg.encoder.norm_first = "tiny", None
    assert isinstance(build_model(cfg, 3, 16).encoder.final_norm, torch.nn.LayerNorm)


def test_attention_backend_choice_is_validated_and_only_binds_on_cuda():
    from codec2vec.models.encoder import Encoder, EncoderConfig

    x, padding = torch.randn(2, 30, 64), torch.arange(30)[None] >= torch.tensor([[30], [21]])
    torch.manual_seed(0)
    auto = Encoder(EncoderConfig(preset="tiny")).eval()
    efficient = Encoder(EncoderConfig(preset="tiny", attention="efficient")).eval()
    efficient.load_state_dict(auto.state_dict())
    for a, b in zip(auto(x, padding), efficient(x, padding)):  # CPU: the choice changes nothing
        torch.testing.assert_close(a, b)
    with pytest.raises(ValueError, match="encoder.attention must be one of auto, efficient, cudnn, math"):
        Encoder(EncoderConfig(preset="tiny", attention="flashy"))


@pytest.mark.parametrize("kernel,groups,frames", [(128, 16, 50), (16, 4, 37), (15, 4, 8), (3, 1, 200)])
def test_fft_position_convolution_equals_the_direct_one(kernel, groups, frames):
    """Same weights, same outputs and gradients: kernels even and odd, sequences shorter and longer
    than the kernel, one group and several."""
    from codec2vec.models.encoder import PositionalConv, fft_size

    torch.manual_seed(0)
    direct = PositionalConv(64, kernel, groups, "direct")
    fft = PositionalConv(64, kernel, groups, "fft")
    fft.load_state_dict(direct.state_dict())
    x = torch.randn(3, frames, 64, dtype=torch.float64, requires_grad=True)
    direct.double(), fft.double()
    y_direct, y_fft = direct(x), fft(x)
    assert y_direct.shape == y_fft.shape == (3, frames, 64)
    torch.testing.assert_close(y_fft, y_direct.float(), atol=1e-5, rtol=1e-5)  # the FFT path runs in float32
    grads = [torch.autograd.grad((y * torch.linspace(-1, 1, frames)[:, None]).sum(), [x, *m.parameters()])
             for y, m in ((y_direct, direct), (y_fft, fft))]
    for a, b in zip(*grads):
        torch.testing.assert_close(b.double(), a, atol=1e-4, rtol=1e-4)
    assert [fft_size(n) for n in (1, 7, 11, 177, 1024, 1025)] == [1, 8, 12, 180, 1024, 1080]


def test_encoder_position_convolution_choice():
    from codec2vec.models.encoder import Encoder, EncoderConfig, PositionalConv

    x, padding = torch.randn(2, 30, 64), torch.arange(30)[None] >= torch.tensor([[30], [21]])
    torch.manual_seed(0)
    direct = Encoder(EncoderConfig(preset="tiny", pos_conv="direct")).eval()
    for method, fft_calls in (("fft", 1), ("auto", 1), ("direct", 0)):  # auto: the FFT on a CPU
        other = Encoder(EncoderConfig(preset="tiny", pos_conv=method)).eval()
        other.load_state_dict(direct.state_dict())  # the choice is not part of the weights
        with mock.patch.object(PositionalConv, "_fft_conv", autospec=True, side_effect=PositionalConv._fft_conv) as spy:
            for a, b in zip(direct(x, padding), other(x, padding)):
                torch.testing.assert_close(b, a, atol=1e-5, rtol=1e-4)
        assert spy.call_count == fft_calls
    with pytest.raises(ValueError, match="encoder.pos_conv must be auto, direct or fft, got 'fast'"):
        Encoder(EncoderConfig(preset="tiny", pos_conv="fast"))


def test_fairseq_initialisation_of_the_encoder():
    from codec2vec.models import EncoderConfig
    from codec2vec.models.encoder import Encoder

    torch.manual_seed(0)
    encoder = Encoder(EncoderConfig(preset="small", init="fairseq"))
    linears = [m for m in encoder.modules() if isinstance(m, torch.nn.Linear)]
    weights = torch.cat([m.weight.flatten() for m in linears])
    assert len(linears) == 4 * 6 and weights.std().item() == pytest.approx(0.02, rel=0.02)
    assert all(torch.count_nonzero(m.bias) == 0 for m in linears)
    with pytest.raises(ValueError, match="encoder.init"):
        Encoder(EncoderConfig(preset="tiny", init="xavier"))


def test_waveform_cnn_gets_hubert_gradient_scale_and_feature_penalty():
    torch.manual_seed(0)
    batch = {"audio": torch.randn(2, 40 * 320), "frames": torch.tensor([40, 25])}
    batch["audio"][1, 25 * 320:] = 0.0
    grads = {}
    for mult in (1.0, 0.1):
        cfg = ModelConfig()
        cfg.input.kind, cfg.input.feature_grad_mult = "waveform", mult
        cfg.encoder.preset = "tiny"
        torch.manual_seed(1)
        model = build_model(cfg, 0, 0).train()
        x, padding = model.features(batch)
        x.sum().backward()
        grads[mult] = model.frontend.convs[0].weight.grad.clone()
        cnn = model.frontend(batch["audio"], batch["frames"], padding.shape[1]).detach()
        by_hand = torch.cat([cnn[0, :40], cnn[1, :25]]).pow(2).mean()
        torch.testing.assert_close(model.feature_penalty.detach(), by_hand)
    torch.testing.assert_close(grads[0.1], 0.1 * grads[1.0])
    model.eval()
    model.feature_penalty = None
    model.features(batch)
    assert model.feature_penalty is None  # training only


def test_layerdrop_only_in_training():
    model = _tiny_model("units", layerdrop=0.5)
    batch = {"units": torch.randint(0, 16, (1, 3, 20)), "frames": torch.tensor([20])}
    x, padding = model.features(batch)
    full = model.encoder(x, padding)
    skipped = model.encoder.train()(x, padding, kept_layers=[False, True])
    model.encoder.eval()
    assert torch.allclose(model.encoder(x, padding, kept_layers=[False, True])[-1], full[-1])  # eval: ignored
    assert not torch.allclose(skipped[-1], full[-1])


def _online(model, **options):
    from codec2vec.objectives import ObjectiveConfig, build_objective

    return build_objective(ObjectiveConfig(name="online", top_k=2, codebook_size=8, **options), model, 3, 16)


def test_online_targets_are_the_teachers_ffn_outputs_and_only_masked_frames_move_codewords():
    from codec2vec.objectives.online import instance_norm

    model = _tiny_model("units")
    online = _online(model)
    outputs = []
    hooks = [layer.ffn.register_forward_hook(lambda m, i, o: outputs.append(o)) for layer in online.teacher.layers]
    torch.manual_seed(1)
    batch = {"units": torch.randint(0, 16, (2, 3, 30)), "frames": torch.tensor([30, 21])}
    x, padding = model.features(batch)
    mask = torch.zeros(2, 30, dtype=torch.bool)
    mask[:, 5:15] = True
    ids = online._targets(x, padding, mask)
    for hook in hooks:
        hook.remove()
    assert len(outputs) == 2 and ids.shape == (2, 30, 2)
    for k, ffn in enumerate(outputs):  # the FFN output, before dropout and the residual add
        z = instance_norm(ffn.float(), ~padding)
        expected = torch.cdist(z.reshape(-1, z.shape[-1]), online.codewords[k]).argmin(-1).view(2, 30)
        assert torch.equal(ids[..., k][~padding], expected[~padding])
    assert online._hits.sum(1).tolist() == [20.0, 20.0]  # the masked frames only
    sums = torch.zeros(8, z.shape[-1])
    z = instance_norm(outputs[1].float(), ~padding)
    sums.index_add_(0, ids[..., 1][mask], z[mask])
    torch.testing.assert_close(online._sums[1], sums)


def test_idle_codewords_keep_their_count_and_centroid():
    model = _tiny_model("units")
    online = _online(model)
    before_words, before_counts = online.codewords.clone(), online.counts.clone()
    online._hits = torch.zeros_like(online.counts)
    online._sums = torch.zeros_like(online.codewords)
    online._hits[0, 3], online._sums[0, 3] = 4.0, 4.0 * torch.ones(online.codewords.shape[-1])
    online.update(model.encoder, 1)
    idle = torch.ones_like(online.counts, dtype=torch.bool)
    idle[0, 3] = False
    assert torch.equal(online.counts[idle], before_counts[idle])
    assert torch.equal(online.codewords[idle], before_words[idle])
    assert online.counts[0, 3] == pytest.approx(0.9 * 1 + 0.1 * 4)  # decay 0.9 toward the 4 hits
    expected = (0.9 * before_words[0, 3] + 0.1 * 4.0) / (0.9 + 0.4)
    torch.testing.assert_close(online.codewords[0, 3], expected)


def test_teacher_input_full_reads_every_codebook_under_quantizer_dropout():
    model = _tiny_model("units")
    model.frontend.quantizer_dropout, model.frontend.min_codebooks = 1.0, 1
    model.train()
    batch = {"units": torch.randint(0, 16, (4, 3, 12)), "frames": torch.tensor([12] * 4)}
    full = _online(model, teacher_input="full")
    seen = []
    full._targets = lambda x, padding, mask: seen.append(x) or torch.zeros(*padding.shape, 2, dtype=torch.long)
    full(model, batch, torch.ones(4, 12, dtype=torch.bool))
    torch.testing.assert_close(seen[0], model.features(batch, quantizer_dropout=False)[0])
    with pytest.raises(ValueError, match="teacher_input"):
        _online(model, teacher_input="other")


def test_frozen_teacher_stops_the_waveform_feature_penalty_too():
    model = _tiny_model("waveform").train()
    online = _online(model, freeze_teacher_step=1)
    batch = {"audio": torch.randn(2, 30 * 320), "frames": torch.tensor([30, 30])}
    mask = torch.zeros(2, 30, dtype=torch.bool)
    mask[:, 5:15] = True
    online.at_step(0)
    online(model, batch, mask)
    assert model.feature_penalty is not None
    online.at_step(1)
    online(model, batch, mask)
    assert model.feature_penalty is None  # no gradient may reach the frozen CNN


def test_teacher_and_input_layers_freeze_at_freeze_teacher_step(setup, tmp_path):
    from codec2vec.integrity import load_checkpoint

    run = tmp_path / "run"
    settings = ("objective.name=online", "objective.freeze_teacher_step=2", "optim.steps=4")
    pretrain(tiny_config(setup, run, *settings, "stop_after=2"), progress=False)
    at2 = load_checkpoint(run / "checkpoint.pt")["model"]
    pretrain(tiny_config(setup, run, *settings), progress=False)
    at4 = load_checkpoint(run / "checkpoint.pt")["model"]
    frozen = [k for k in at2 if k.startswith(("objective.teacher.", "model.frontend.", "model.feature_norm.",
                                               "model.project."))]
    trained = [k for k in at2 if k.startswith("model.encoder.layers.")]
    assert frozen and all(torch.equal(at2[k], at4[k]) for k in frozen)
    assert any(not torch.equal(at2[k], at4[k]) for k in trained)


# --- objectives and the trainer --------------------------------------------------------------------

# First-step loss of each tiny run (seed 1): catches unintended changes to models, targets or data order.
# (since 2026-11-26: online FFN-output targets, fairseq's k-means settings, the waveform feature penalty.)
REGRESSION = {("units", "reconstruction"): 7.087649, ("units", "kmeans"): 2.25817, ("units", "online"): 3.532787,
              ("waveform", "reconstruction"): 7.811024, ("logmel", "online"): 3.630528}


@pytest.mark.parametrize("kind,objective", list(REGRESSION))
def test_each_objective_learns(setup, labels, tmp_path, kind, objective):
    cfg = tiny_config(setup, tmp_path / "run", f"model.input.kind={kind}", f"objective.name={objective}",
                      f"objective.labels={labels if objective == 'kmeans' else ''}")
    model_dir = pretrain(cfg, progress=False)
    records = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    losses = [r["loss"] for r in records]
    assert [r["step"] for r in records] == list(range(1, 13))
    assert np.mean(losses[-3:]) < 0.95 * np.mean(losses[:3]), losses
    assert all(0.0 <= r["acc"] <= 1.0 and r["audio_s_per_s"] > 0 for r in records)
    if objective == "online":
        assert 0 < records[-1]["codebook_usage"] <= 1 and records[-1]["codebook_perplexity"] >= 1
    assert losses[0] == pytest.approx(REGRESSION[(kind, objective)], rel=1e-4)
    model, meta = load_pretrained(model_dir)
    assert meta["objective"] == objective and meta["step"] == 12
    batch = {"units": torch.from_numpy(UnitStore(setup["units"])["u00"].astype(np.int64))[None],
             "frames": torch.tensor([UnitStore(setup["units"]).frames("u00")])}
    if kind != "units":
        from codec2vec.data.audio import load_audio
        batch["audio"] = torch.from_numpy(load_audio(Path(setup["root"]) / "corpus/audio/u00.wav", 16000))[None]
    hidden, _ = model(batch)
    assert len(hidden) == 3 and hidden[-1].shape == (1, int(batch["frames"][0]), 64)


def test_resume_after_stop_or_sigkill_equals_uninterrupted_run(setup, tmp_path):
    settings = ("objective.name=online", "model.encoder.dropout=0.1")
    pretrain(tiny_config(setup, tmp_path / "full", *settings), progress=False)
    full = _losses(tmp_path / "full")
    weights = load_pretrained(tmp_path / "full" / "model")[0].state_dict()

    def same_weights(run: Path, expected: dict) -> bool:
        other = load_pretrained(run / "model")[0].state_dict()
        return all(torch.allclose(expected[k], other[k], atol=1e-6) for k in expected)

    # Stopped on purpose at step 5, then continued.
    part = tiny_config(setup, tmp_path / "part", *settings, "stop_after=5")
    pretrain(part, progress=False)
    assert len(_losses(tmp_path / "part")) == 5
    part.stop_after = 0
    pretrain(part, progress=False)
    assert _losses(tmp_path / "part") == pytest.approx(full, rel=1e-6, abs=1e-7)
    assert same_weights(tmp_path / "part", weights)

    # Killed (SIGKILL) mid-run, checkpoints every 2 steps, then resumed. Every run of this part is a
    # CLI process, so all share one thread setup (float sums depend on it).
    def cli_run(out: Path, *extra: str) -> tuple[list[str], Path]:
        save_config(tiny_config(setup, out, *settings, *extra), tmp_path / f"{out.name}.yaml")
        return cli("pretrain", "--config", str(tmp_path / f"{out.name}.yaml"), "--quiet"), out

    reference, reference_out = cli_run(tmp_path / "reference")
    assert subprocess.run(reference, capture_output=True).returncode == 0
    reference_weights = load_pretrained(reference_out / "model")[0].state_dict()
    killed_mid_run = 0
    for seed in (1, 2, 3):  # killed at seeded points after 3, 6 and 9 of the 12 steps, then the same command
        command, killed = cli_run(tmp_path / f"killed-{seed}", "save_every=2")
        killed_mid_run += kill_at_random_point(command, lambda: _steps_logged(killed) >= 3 * seed, seed, 0.5)
        assert subprocess.run(command, capture_output=True).returncode == 0
        assert _losses(killed) == pytest.approx(_losses(reference_out), rel=1e-6, abs=1e-7)
        assert same_weights(killed, reference_weights)
        assert verify_artifact(killed)[1] == [] and not list(killed.glob(".*.tmp*"))
    assert killed_mid_run >= 1, "every run finished before it was killed"


def test_snapshots_keep_the_model_at_step_0_and_every_keep_every_steps(setup, tmp_path):
    run = tmp_path / "kept"
    pretrain(tiny_config(setup, run, "objective.name=reconstruction", "optim.steps=5", "keep_every=2"), progress=False)
    kept = sorted(p.name for p in (run / "snapshots").iterdir())
    assert kept == ["step-000000", "step-000002", "step-000004"]
    final = load_pretrained(run / "model")[0].state_dict()
    at4, config4 = load_pretrained(run / "snapshots" / "step-000004")
    at0, config0 = load_pretrained(run / "snapshots" / "step-000000")
    assert config4["step"] == 4 and config0["step"] == 0
    changed = [k for k in final if not torch.equal(final[k], at4.state_dict()[k])]
    assert changed and any(not torch.equal(at0.state_dict()[k], at4.state_dict()[k]) for k in final)


def test_loader_workers_and_collapse_warning(setup, tmp_path, capsys):
    inline = tiny_config(setup, tmp_path / "inline", "objective.name=online", "optim.steps=3")
    pretrain(inline, progress=False)
    # Batches prepared in a worker process are the same batches; a usage floor above 100% must warn.
    workers = tiny_config(setup, tmp_path / "workers", "objective.name=online", "optim.steps=3", "data.workers=1",
                          "objective.collapse_threshold=1.01")
    pretrain(workers, progress=False)
    assert _losses(tmp_path / "workers") == pytest.approx(_losses(tmp_path / "inline"), rel=1e-6)
    records = [json.loads(line) for line in (tmp_path / "workers" / "metrics.jsonl").read_text().splitlines()]
    assert all(r["collapse_warning"] for r in records)
    assert "online codewords are in use" in capsys.readouterr().err


def test_resume_refuses_other_settings_and_damaged_checkpoints(setup, tmp_path):
    cfg = tiny_config(setup, tmp_path / "run", "stop_after=2")
    pretrain(cfg, progress=False)
    with pytest.raises(ConfigError, match="optim.lr"):
        pretrain(tiny_config(setup, tmp_path / "run", "optim.lr=0.1"), progress=False)
    (tmp_path / "run" / "checkpoint.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(Codec2VecError, match="checkpoint.pt: cannot be loaded"):
        pretrain(tiny_config(setup, tmp_path / "run"), progress=False)


def test_torchrun_two_ranks_equal_one_process_accumulating(setup, tmp_path):
    common = ["model.encoder.preset=tiny", "model.encoder.pos_conv_kernel=16", "model.encoder.pos_conv_groups=4",
              "data.max_frames=600", "data.crop_frames=100", "data.min_frames=10", "optim.steps=4",
              "optim.warmup_steps=2", "optim.lr=2e-3", "log_every=1", "objective.top_k=2",
              "objective.codebook_size=32", "device=cpu", "threads=1"]
    args = ["--units", setup["units"], "--objective", "online", "--quiet"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    single = subprocess.run([sys.executable, "-m", "codec2vec.cli", "pretrain", "--out", str(tmp_path / "one"),
                             *args, *common, "optim.accumulate=2"], capture_output=True, text=True, env=env,
                            timeout=300)
    assert single.returncode == 0, single.stderr[-2000:]
    ddp = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port",
                          "29531", "-m", "codec2vec.cli", "pretrain", "--out", str(tmp_path / "two"), *args, *common],
                         capture_output=True, text=True, env=env, timeout=300)
    assert ddp.returncode == 0, ddp.stderr[-5000:]  # a rank's message precedes torchrun's report
    assert _losses(tmp_path / "two") == pytest.approx(_losses(tmp_path / "one"), rel=1e-4)
    a = load_pretrained(tmp_path / "one" / "model")[0].state_dict()
    b = load_pretrained(tmp_path / "two" / "model")[0].state_dict()
    assert all(torch.allclose(a[k], b[k], atol=1e-4) for k in a)


_THREAD_COUNT_SCRIPT = """
import os, sys
from codec2vec.cli import main
before = len(os.listdir("/proc/self/task"))
code = main(sys.argv[1:])
print(code, before, len(os.listdir("/proc/self/task")))
"""


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="counts threads in /proc")
def test_a_torchrun_run_ends_its_process_group_threads_and_all(setup, tmp_path):
    """DDP's first use imports torch.distributed.nn.functional, whose default arguments used to keep the
    destroyed gloo group's worker threads alive into interpreter shutdown, where they could abort the
    rank (SIGABRT). Launched as one torchrun rank, a run now ends with the threads it started with."""
    import socket

    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "RANK": "0", "LOCAL_RANK": "0", "WORLD_SIZE": "1",
           "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port)}
    run = subprocess.run([sys.executable, "-c", _THREAD_COUNT_SCRIPT, "pretrain", "--out", str(tmp_path / "run"),
                          "--units", setup["units"], "--objective", "online", "--quiet", "model.encoder.preset=tiny",
                          "data.max_frames=600", "data.crop_frames=100", "data.min_frames=10", "optim.steps=2",
                          "optim.warmup_steps=1", "objective.top_k=2", "objective.codebook_size=32", "device=cpu",
                          "threads=1"], capture_output=True, text=True, env=env, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    code, before, after = map(int, run.stdout.split()[-3:])
    assert code == 0 and after == before, f"{before} threads before the run, {after} after"


def test_resume_under_another_ranks_times_accumulate_is_refused(setup, tmp_path, monkeypatch):
    pretrain(tiny_config(setup, tmp_path / "run", "stop_after=2", "optim.accumulate=2"), progress=False)
    with pytest.raises(ConfigError, match=r"1 rank\(s\) x optim.accumulate=2 = 2 micro-batches.*1 x 1 = 1.*"
                                          r"optim.accumulate=2"):
        pretrain(tiny_config(setup, tmp_path / "run", "optim.accumulate=1"), progress=False)
    # The same product on another number of ranks is the same batches: it passes this check (and only
    # fails later here because no process group exists for 2 ranks in this test).
    from codec2vec.train import trainer

    monkeypatch.setattr(trainer, "torchrun_ranks", lambda: (0, 2, 0))
    with pytest.raises(ConfigError, match=r"2 x 2 = 4"):
        pretrain(tiny_config(setup, tmp_path / "run", "optim.accumulate=2"), progress=False)
    trainer._check_same_batches({"world_size": 1, "config": {"optim": {"accumulate": 2}}},
                                tiny_config(setup, tmp_path / "x", "optim.accumulate=1"), 2, tmp_path)


# compiling is most of the suite's time on 2 cores: the waveform CNN's case runs with `make test-slow`
@pytest.mark.parametrize("kind", ["units", pytest.param("waveform", marks=pytest.mark.slow)])
def test_compiled_training_equals_eager(setup, tmp_path, kind):
    """compile=true (torch.compile of the blocks and the waveform CNN) trains to the same losses."""
    runs = {}
    for compiled in (False, True):
        out = tmp_path / f"{kind}-{compiled}"
        cfg = tiny_config(setup, out, f"model.input.kind={kind}", "optim.steps=3", "model.encoder.dropout=0",
                          f"compile={str(compiled).lower()}")
        pretrain(cfg, progress=False)
        runs[compiled] = _losses(out)
    assert runs[True] == pytest.approx(runs[False], rel=1e-4, abs=1e-5)


def test_cudnn_benchmark_is_set_for_the_run_and_may_change_on_resume(setup, tmp_path, monkeypatch):
    monkeypatch.setattr(torch.backends.cudnn, "benchmark", False)  # restored after the test
    out = tmp_path / "run"
    pretrain(tiny_config(setup, out, "optim.steps=2", "stop_after=1", "cudnn_benchmark=true"), progress=False)
    assert torch.backends.cudnn.benchmark is True
    pretrain(tiny_config(setup, out, "optim.steps=2", "cudnn_benchmark=false"), progress=False)
    assert torch.backends.cudnn.benchmark is False
    assert [r["step"] for r in map(json.loads, (out / "metrics.jsonl").read_text().splitlines())] == [1, 2]


def test_encoder_kernels_may_change_on_resume_and_train_the_same(setup, tmp_path):
    """A run started with the direct positional convolution resumes with the FFT one (and another
    attention setting): the same weights, so the same losses as the uninterrupted direct run."""
    settings = ("objective.name=online", "optim.steps=4")
    pretrain(tiny_config(setup, tmp_path / "direct", *settings), progress=False)
    out = tmp_path / "switched"
    pretrain(tiny_config(setup, out, *settings, "stop_after=2"), progress=False)
    pretrain(tiny_config(setup, out, *settings, "model.encoder.pos_conv=fft", "model.encoder.attention=math"),
             progress=False)
    assert len(_losses(out)) == 4
    assert _losses(out) == pytest.approx(_losses(tmp_path / "direct"), rel=1e-4, abs=1e-5)
    assert load_pretrained(out / "model")[1]["model"]["encoder"]["pos_conv"] == "fft"


def test_metrics_report_data_wait_and_padding(setup, tmp_path):
    cfg = tiny_config(setup, tmp_path / "run", "optim.steps=3")
    pretrain(cfg, progress=False)
    records = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    data = PretrainData(cfg.data, "units", "reconstruction")
    plan = BatchPlan(data.frames, cfg.data, cfg.seed, 1)
    for step, record in enumerate(records):
        epoch, number = plan.locate(step)
        lengths = plan.lengths[plan.epoch(epoch)[number]]
        assert record["padding_fraction"] == pytest.approx(1 - lengths.sum() / (len(lengths) * lengths.max()))
        assert 0.0 <= record["data_wait_fraction"] < 1.0
    assert max(r["padding_fraction"] for r in records) > 0  # the fixture's lengths differ


def test_a_store_moved_with_its_codec_folder_pretrains_with_data_codec(tmp_path, monkeypatch):
    """Stores record their codec folder as an absolute path; moved, `data.codec=` points at it."""
    import shutil

    from pretrain_fixtures import write_tone_corpus
    from codec_fixtures import save_tiny_dac
    from codec2vec.units.extract import ExtractConfig, extract

    monkeypatch.chdir(tmp_path)
    save_tiny_dac(Path("codec"))
    manifest = write_tone_corpus(Path("corpus"), n=6)
    store = extract(ExtractConfig(corpus=str(manifest), out="units", codec="codec"), progress=False)
    assert UnitStore(store).info.codec_id == str(tmp_path / "codec")  # not "codec", which works only here
    shutil.move("codec", "moved-codec")
    setup = {"units": str(tmp_path / "units"), "manifest": str(tmp_path / manifest)}
    with pytest.raises(StoreError, match=r"cannot be loaded to initialise the input layer.*data.codec=DIR"):
        pretrain(tiny_config(setup, tmp_path / "run", "optim.steps=2"), progress=False)
    model = pretrain(tiny_config(setup, tmp_path / "run", "optim.steps=2", f"data.codec={tmp_path / 'moved-codec'}"),
                     progress=False)
    assert (model / "model.safetensors").is_file()
    other = save_tiny_dac(tmp_path / "other-codec")
    from transformers import DacModel
    import torch as _torch

    weights = DacModel.from_pretrained(other)
    with _torch.no_grad():
        weights.quantizer.quantizers[0].codebook.weight.add_(1.0)  # other weights: refused by hash
    weights.save_pretrained(other)
    with pytest.raises(StoreError, match="weights"):
        pretrain(tiny_config(setup, tmp_path / "run2", "optim.steps=2", f"data.codec={other}"), progress=False)


# --- k-means iterations ---------------------------------------------------------------------------

def test_kmeans_labels_are_nearest_centroids_and_chain(setup, labels, tmp_path):
    from safetensors.torch import load_file

    store = UnitStore(labels)
    assert store.kind == "labels" and store.n_streams == 1 and store.vocab_size == 8
    assert verify_store(labels) == []
    units = UnitStore(setup["units"])
    assert store.ids == units.ids and all(store.frames(i) == units.frames(i) for i in units.ids)
    # Labels are the nearest centroid of each frame's codec latent.
    vectors = load_codec(setup["codec"]).codebook_vectors()
    centroids = load_file(str(Path(labels).parents[1] / "centroids.safetensors"))["centroids"]
    codes = torch.from_numpy(units["u03"].astype(np.int64))
    latent = sum(vectors[q, codes[q]] for q in range(12))
    expected = torch.cdist(latent, centroids).argmin(-1).numpy()
    assert (store["u03"][0] == expected).all()
    assert sum(store.header["labels"]["histogram"]) == sum(units.frames(i) for i in units.ids)

    # Iteration 2: features of a model trained on iteration 1's labels, then train again from it.
    run1 = tiny_config(setup, tmp_path / "it1", "objective.name=kmeans", f"objective.labels={labels}", "optim.steps=3")
    model1 = pretrain(run1, progress=False)
    second = run_kmeans(KMeansConfig(out=str(tmp_path / "km2"), units=[setup["units"]], model=str(model1), layer=1,
                                     n_clusters=6, fit_frames=2000, n_init=1), progress=False)[0]
    header = UnitStore(second).header["labels"]
    # layer_norm's default: on for a model's hidden states, off for the codec latent (iteration 1)
    assert header["features"] == "layer 1, layer-normalised" and header["n_clusters"] == 6
    assert UnitStore(labels).header["labels"]["features"] == "codec latent" and verify_store(second) == []
    run2 = tiny_config(setup, tmp_path / "it2", "objective.name=kmeans", f"objective.labels={second}",
                       "optim.steps=3", f"init_from={model1}")
    pretrain(run2, progress=False)
    assert (tmp_path / "it1" / "model" / "model.safetensors").is_file()  # every iteration's model is kept
    wider = tiny_config(setup, tmp_path / "wider", "objective.name=kmeans", f"objective.labels={second}",
                        "optim.steps=3", f"init_from={model1}", "model.encoder.width=96")
    with pytest.raises(ConfigError, match=r"init_from .*: another model shape"):
        pretrain(wider, progress=False)  # a checkpoint of another model size is refused by name
    assert (tmp_path / "km2" / "centroids.safetensors").is_file() and (Path(labels).parents[1] / "kmeans.json").is_file()


def test_torchrun_two_ranks_write_the_labels_of_one_process(setup, labels, tmp_path):
    """k-means under torchrun: rank 0 fits, both ranks label shards; same centroids and labels."""
    args = ["--units", setup["units"], "--model", "codec", "--clusters", "8", "--quiet", "fit_frames=2000",
            "n_init=1", "shard_size=2", "device=cpu"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    ddp = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port",
                          "29533", "-m", "codec2vec.cli", "kmeans", "--out", str(tmp_path / "km"), *args],
                         capture_output=True, text=True, env=env, timeout=300)
    assert ddp.returncode == 0, ddp.stderr[-5000:]  # a rank's message precedes torchrun's report
    two = UnitStore(tmp_path / "km" / "labels" / Path(setup["units"]).name)
    one = UnitStore(labels)
    assert len(two.header["shards"]) > 2 and verify_store(str(two.path)) == []
    assert (tmp_path / "km" / "centroids.safetensors").read_bytes() == \
        (Path(labels).parents[1] / "centroids.safetensors").read_bytes()
    assert two.ids == one.ids and all((two[i] == one[i]).all() for i in one.ids)
    assert two.header["labels"]["histogram"] == one.header["labels"]["histogram"]


def test_kmeans_fits_with_fairseqs_settings_on_a_capped_sample(setup, tmp_path, monkeypatch):
    import sklearn.cluster

    seen = {}
    real = sklearn.cluster.MiniBatchKMeans

    def spy(**kwargs):
        seen.update(kwargs)
        return real(**kwargs)

    monkeypatch.setattr(sklearn.cluster, "MiniBatchKMeans", spy)
    cfg = KMeansConfig(out=str(tmp_path / "km"), units=[setup["units"]], model="codec", n_clusters=8,
                       fit_frames=400, fit_frames_per_utterance=30, layer_norm=True)
    label_store = run_kmeans(cfg, progress=False)[0]
    assert {k: seen[k] for k in ("init", "batch_size", "max_iter", "tol", "max_no_improvement", "n_init",
                                 "reassignment_ratio", "compute_labels")} == {
        "init": "k-means++", "batch_size": 10000, "max_iter": 100, "tol": 0.0, "max_no_improvement": 100,
        "n_init": 20, "reassignment_ratio": 0.0, "compute_labels": False}
    fit = json.loads((tmp_path / "km" / "kmeans.json").read_text())["fit"]
    assert fit["fit_frames"] <= 400 and fit["fit_utterances"] >= 400 // 30  # 30 frames at most from each
    assert UnitStore(label_store).header["labels"]["features"] == "codec latent, layer-normalised"
    from safetensors.torch import load_file

    centroids = load_file(str(tmp_path / "km" / "centroids.safetensors"))["centroids"]
    assert torch.allclose(centroids.mean(-1), torch.zeros(8), atol=1e-4)  # centres of layer-normalised frames


def test_kmeans_rerun_reuses_the_fit_and_refuses_other_settings(setup, labels):
    folder = Path(labels).parents[1]
    before = (folder / "centroids.safetensors").read_bytes()
    cfg = KMeansConfig(out=str(folder), units=[setup["units"]], model="codec", n_clusters=8, fit_frames=2000,
                       n_init=1)
    run_kmeans(cfg, progress=False)
    assert (folder / "centroids.safetensors").read_bytes() == before
    cfg.n_clusters = 9
    with pytest.raises(ConfigError, match="other settings"):
        run_kmeans(cfg, progress=False)


def test_same_seed_and_config_give_identical_checkpoints(setup, tmp_path):
    """Determinism on CPU: two runs of one config (other folders) write the same bytes of weights and
    the same checkpoint content (model, objective, optimizer, RNG)."""
    from codec2vec.integrity import load_checkpoint, state_digest

    for name in ("a", "b"):
        pretrain(tiny_config(setup, tmp_path / name, "objective.name=online", "optim.steps=4"), progress=False)
    a, b = (load_checkpoint(tmp_path / n / "checkpoint.pt") for n in ("a", "b"))
    for part in ("model", "optimizer", "rng", "step"):
        assert state_digest(a[part]) == state_digest(b[part]), part
    assert (tmp_path / "a" / "model" / "model.safetensors").read_bytes() == \
        (tmp_path / "b" / "model" / "model.safetensors").read_bytes()


def test_kmeans_killed_at_random_points_resumes_to_the_same_labels(setup, labels, tmp_path):
    """SIGKILL at seeded random times during the fit and the labelling, then the same command: the
    centroids and every utterance's labels equal an uninterrupted run's, and the store verifies."""
    reference = UnitStore(labels)
    centroids = (Path(labels).parents[1] / "centroids.safetensors").read_bytes()
    cmd = cli("kmeans", "--units", setup["units"], "--model", "codec", "--clusters", "8", "--quiet",
              "fit_frames=2000", "n_init=1", "shard_size=2", "device=cpu")
    # killed once the fit has begun, once the centroids are saved, once a label shard is written
    stages = {1: lambda out: (out / "kmeans-run.json").is_file(),
              2: lambda out: (out / "centroids.safetensors").is_file(),
              3: lambda out: any((out / "labels").glob("*/shard-*.json"))}
    killed_mid_run = 0
    for seed, started in stages.items():
        out = tmp_path / f"km-{seed}"
        killed_mid_run += kill_at_random_point(cmd + ["--out", str(out)], lambda: started(out), seed, 0.5)
        assert subprocess.run(cmd + ["--out", str(out)], capture_output=True).returncode == 0
        store = UnitStore(out / "labels" / Path(labels).name)
        assert (out / "centroids.safetensors").read_bytes() == centroids
        assert list(store.ids) == list(reference.ids)
        for uid in store.ids:
            np.testing.assert_array_equal(store[uid], reference[uid])
        assert verify_store(store.path) == [] and not list(out.rglob(".*.tmp*"))
    assert killed_mid_run >= 1, "every run finished before it was killed"


# --- refusals ---------------------------------------------------------------------------------------

def test_mismatched_labels_and_inputs_are_refused(setup, labels, tmp_path):
    with pytest.raises(ConfigError, match="needs objective.labels"):
        PretrainData(DataConfig(units=setup["units"]), "units", "kmeans")
    with pytest.raises(StoreError, match="unit store, not a label store"):
        PretrainData(DataConfig(units=setup["units"]), "units", "kmeans", labels=setup["units"])
    with pytest.raises(ConfigError, match="needs data.audio"):
        PretrainData(DataConfig(units=setup["units"]), "waveform", "online")

    # Labels of other units: a store holding the same ids with one utterance cut short.
    import shutil
    other = tmp_path / "labels"
    shutil.copytree(labels, other)
    index = (other / "index.jsonl").read_text().splitlines()
    first = json.loads(index[0])
    first["frames"] -= 1
    (other / "index.jsonl").write_text("\n".join([json.dumps(first)] + index[1:]) + "\n")
    with pytest.raises(StoreError, match=f"utterance '{first['id']}'.*label frames"):
        PretrainData(DataConfig(units=setup["units"]), "units", "kmeans", labels=str(other))

    # Labels made from another codec's units.
    header = json.loads((other / "header.json").read_text())
    header["codec"]["weights_hash"] = "0" * 64
    (other / "header.json").write_text(json.dumps(header))
    with pytest.raises(StoreError, match="weights_hash"):
        PretrainData(DataConfig(units=setup["units"]), "units", "kmeans", labels=str(other))


def test_cli_pretrain_reports_a_missing_store(tmp_path):
    run = subprocess.run([sys.executable, "-m", "codec2vec.cli", "pretrain", "--out", str(tmp_path / "r"),
                          "--units", str(tmp_path / "nowhere"), "--quiet"], capture_output=True, text=True)
    assert run.returncode == 6
    assert "nowhere: not a unit store" in run.stderr and "Traceback" not in run.stderr
