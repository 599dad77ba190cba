"""`codec2vec corpus synth`: a seeded, resumable, parallel generator of a labelled multi-speaker
English corpus from offline TTS engines.

The whole corpus is first planned in this process as a list of jobs (who says what, how fast,
how loud), every random draw coming from one generator seeded by `seed`. Workers only render
jobs, so the output does not depend on the number of workers. Jobs run in shards; a shard's
rows are saved after its audio, so an interrupted run resumes at the first unfinished shard.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sys
from dataclasses import asdict, dataclass, field
from multiprocessing import get_all_start_methods, get_context
from pathlib import Path
from typing import List, Optional

import numpy as np
from tqdm import tqdm

from codec2vec.atomic import atomic_open, remove_stale_temporaries
from codec2vec.config import config_to_dict, save_config
from codec2vec.data import text as texts
from codec2vec.data.audio import resample, save_flac
from codec2vec.data.corpus import CORPUS_FILE, read_corpus_header, write_corpus_header
from codec2vec.data.manifest import ManifestHeader, Utterance, read_manifest, write_manifest
from codec2vec.data.trials import draw_trials, write_trials
from codec2vec.data.phones import SILENCE
from codec2vec.data.tts import Voice, available_voices, synthesize
from codec2vec.data.tts.base import segments_from_boundaries
from codec2vec.errors import ConfigError

ER_PROXY_NOTE = (
    "SYNTHETIC PROXY: the 'emotions' are prosody presets (rate, pitch, pitch range, loudness) of TTS voices, "
    "not emotional speech; accuracy on them says little about real emotion recognition."
)


# Whisper tiny.en gets more than 35 % of their words wrong in the corpus's own conditions (jitter, noise, the
# shipped sentences): benchmarks/results/corpus_intelligibility_voice_screen_common_sentences.json, about 45
# words a voice; espeak-anikaRobot, which the screen did not reach, scored over 50 % on clean sentences.
UNINTELLIGIBLE_VOICES = (
    "espeak-Alicia", "espeak-Andrea", "espeak-Andy", "espeak-Annie", "espeak-AnxiousAndy", "espeak-Demonic",
    "espeak-Denis", "espeak-Gene2", "espeak-Jacky", "espeak-Lee", "espeak-Marco", "espeak-Michael",
    "espeak-Mike", "espeak-Mr_serious", "espeak-Nguyen", "espeak-Reed", "espeak-RicishayMax",
    "espeak-RicishayMax2", "espeak-RicishayMax3", "espeak-Storm", "espeak-Tweaky", "espeak-UniRobot",
    "espeak-adam", "espeak-anika", "espeak-anikaRobot", "espeak-announcer", "espeak-antonio", "espeak-aunty",
    "espeak-belinda", "espeak-boris", "espeak-croak", "espeak-david", "espeak-f1", "espeak-f2", "espeak-f3",
    "espeak-f4", "espeak-f5", "espeak-grandma", "espeak-grandpa", "espeak-gustave", "espeak-ian", "espeak-iven",
    "espeak-iven2", "espeak-iven3", "espeak-kaukovalta", "espeak-klatt2", "espeak-klatt4", "espeak-klatt5",
    "espeak-linda", "espeak-m1", "espeak-m4", "espeak-m5", "espeak-m6", "espeak-m8", "espeak-marcelo",
    "espeak-max", "espeak-michel", "espeak-miguel", "espeak-mike2", "espeak-norbert", "espeak-paul",
    "espeak-rob", "espeak-robosoft", "espeak-robosoft2", "espeak-robosoft5", "espeak-robosoft7",
    "espeak-robosoft8", "espeak-sandro", "espeak-shelby", "espeak-steph2", "espeak-steph3", "espeak-travis",
    "espeak-victor", "espeak-whisper", "espeak-whisperf", "espeak-zac",
)


@dataclass
class SubsetShares:
    """Share of the requested hours spent on each subset (normalised to sum to 1)."""

    pretrain: float = 0.35
    read: float = 0.25
    ks: float = 0.10
    ic: float = 0.10
    sid: float = 0.10
    er: float = 0.10


@dataclass
class SynthConfig:
    out: str = "corpus"
    hours: float = 1.0  # target; tiny corpora grow to the minimum that gives every split every label
    seed: int = 1
    workers: int = 2
    voices: int = 24  # number of speakers to use; 0 = every installed voice
    # missing ones are skipped (corpus.json's engines_missing): flite and festival come from Debian
    # (scripts/install-system-deps.sh), piper from `pip install 'codec2vec[piper]'`
    engines: List[str] = field(default_factory=lambda: ["espeak", "flite", "festival", "piper"])
    formant_shifts: List[float] = field(default_factory=list)  # e.g. [0.88, 1.12]: pseudo-speakers per voice
    # Voices Whisper tiny.en could not follow in the corpus's own conditions (UNINTELLIGIBLE_VOICES).
    exclude_voices: List[str] = field(default_factory=lambda: list(UNINTELLIGIBLE_VOICES))
    only_voices: List[str] = field(default_factory=list)  # if given: just these speakers, excluded or not
    sample_rate: int = 16000
    shares: SubsetShares = field(default_factory=SubsetShares)
    held_out_speakers: float = 0.1  # share of speakers kept for dev, and again for test
    rate_jitter: float = 0.12  # speaking rate drawn from 1 +- this
    pitch_jitter: float = 10.0  # espeak pitch offset drawn from +- this (0-100 scale)
    level_db: List[float] = field(default_factory=lambda: [-29.0, -23.0])  # speech RMS in dBFS
    snr_db: List[float] = field(default_factory=lambda: [25.0, 45.0])  # white background noise
    shard_size: int = 32


# Mean durations (s) that turn hours into utterance counts, measured with the shipped sentences
# (data/synth-eval: read, sid and er 1.92-1.93 s, ic 1.23 s; pretrain 4.0 s).
_MEAN_SECONDS = {"pretrain": 4.0, "read": 1.95, "ks": 1.0, "ic": 1.25, "sid": 1.95, "er": 1.95}
_TASKS = {"pretrain": ["pretrain"], "read": ["pr", "asr"], "ks": ["ks"], "ic": ["ic"], "sid": ["sid"], "er": ["er"]}
ASV_TRIALS_PER_UTTERANCE = 2  # same-speaker and as many other-speaker trials drawn for each dev/test utterance
_SPLITS = ("train", "dev", "test")
_KS_SECONDS = 1.0
_NOISE_SPEAKER = "_noise_"


@dataclass(frozen=True)
class Job:
    id: str
    subset: str
    split: str
    voice: Optional[Voice]  # None: a noise-only clip (keyword spotting's _silence_)
    text: str
    rate: float
    pitch: float
    pitch_range: float
    level_db: float
    snr_db: float
    seed: int
    keyword: Optional[str] = None
    intent: Optional[str] = None
    emotion: Optional[str] = None
    clip_seconds: Optional[float] = None
    clip_offset: float = 0.0  # where in the clip the speech starts, as a share of the free room


# ---------------------------------------------------------------------------------------------
# Planning


def select_voices(cfg: SynthConfig, rng: np.random.Generator) -> tuple[list[Voice], list[str]]:
    """The speakers of this corpus, and the requested engines that are not installed."""
    wanted = (lambda s: s in cfg.only_voices) if cfg.only_voices else (lambda s: s not in cfg.exclude_voices)
    installed = [v for v in available_voices(cfg.engines) if wanted(v.speaker)]
    missing = [e for e in cfg.engines if not any(v.engine == e for v in installed)]
    if not installed:
        raise ConfigError(f"no TTS voice is installed for engines {cfg.engines}: pip install espeakng-loader")
    base = installed + [
        Voice(speaker=f"{v.speaker}-fs{round(f * 100):03d}", engine=v.engine, name=v.name, formant_shift=f)
        for f in cfg.formant_shifts for v in installed
    ]
    # Round-robin over engines so a few natural voices are never crowded out by espeak's many.
    by_engine = {e: [base[i] for i in rng.permutation(len(base)) if base[i].engine == e] for e in cfg.engines}
    order = _round_robin(list(by_engine.values()))
    count = len(order) if cfg.voices == 0 else cfg.voices
    if count < 3:
        raise ConfigError(f"voices={cfg.voices}: need at least 3 speakers (train, dev and test)")
    if count > len(order):
        raise ConfigError(f"voices={cfg.voices} but only {len(order)} are installed here (engines {cfg.engines})")
    return sorted(order[:count], key=lambda v: v.speaker), missing


def _round_robin(groups: list[list]) -> list:
    """g0[0], g1[0], ..., g0[1], g1[1], ...: one from each group in turn, skipping exhausted groups."""
    longest = max((len(g) for g in groups), default=0)
    return [g[i] for i in range(longest) for g in groups if i < len(g)]


def _split_speakers(voices: list[Voice], held_out: float, rng: np.random.Generator) -> dict[str, list[Voice]]:
    """Speaker-disjoint splits: one person's voices (kal through flite and festival) stay together."""
    speakers = sorted({v.speaker for v in voices})
    shuffled = [speakers[i] for i in rng.permutation(len(speakers))]
    n_held = max(1, round(held_out * len(speakers)))
    if 2 * n_held >= len(shuffled):
        raise ConfigError(f"held_out_speakers={held_out} leaves no training speakers among {len(speakers)}")
    parts = {"dev": shuffled[:n_held], "test": shuffled[n_held:2 * n_held], "train": shuffled[2 * n_held:]}
    return {split: [v for v in voices if v.speaker in names] for split, names in parts.items()}


def _split_counts(total: int, held_out: float, minimum: int) -> dict[str, int]:
    held = max(minimum, round(total * held_out))
    return {"train": max(minimum, total - 2 * held), "dev": held, "test": held}


def _text_pools(rng: np.random.Generator) -> dict[str, list[str]]:
    """Disjoint sentence pools so dev/test sentences are never read in training."""
    pool = texts.sentences()
    order = rng.permutation(len(pool))
    tenth = len(pool) // 10
    return {
        "dev": [pool[i] for i in order[:tenth]],
        "test": [pool[i] for i in order[tenth:2 * tenth]],
        "train": [pool[i] for i in order[2 * tenth:]],
    }


class _Planner:
    def __init__(self, cfg: SynthConfig, voices: list[Voice]) -> None:
        self.cfg = cfg
        self.rng = np.random.default_rng(cfg.seed)
        self.voices = voices
        self.speakers = _split_speakers(voices, cfg.held_out_speakers, self.rng)
        self.pools = _text_pools(self.rng)
        shares = asdict(cfg.shares)
        total_share = sum(shares.values())
        if total_share <= 0 or any(s < 0 for s in shares.values()):
            raise ConfigError(f"shares must be >= 0 and not all 0, got {shares}")
        self.seconds = {k: cfg.hours * 3600 * s / total_share for k, s in shares.items()}

    def count(self, subset: str) -> int:
        return int(round(self.seconds[subset] / _MEAN_SECONDS[subset]))

    def job(self, subset: str, index: int, split: str, voice: Optional[Voice], text: str, *,
            rate: float = 1.0, pitch: float = 0.0, pitch_range: float = 0.0, gain_db: float = 0.0, **labels) -> Job:
        cfg, rng = self.cfg, self.rng
        return Job(
            id=f"{subset}-{index:06d}", subset=subset, split=split, voice=voice, text=text,
            rate=float(rate * rng.uniform(1 - cfg.rate_jitter, 1 + cfg.rate_jitter)),
            pitch=float(pitch + rng.uniform(-cfg.pitch_jitter, cfg.pitch_jitter)),
            pitch_range=float(pitch_range + rng.uniform(-cfg.pitch_jitter, cfg.pitch_jitter)),
            level_db=float(rng.uniform(*cfg.level_db) + gain_db),
            snr_db=float(rng.uniform(*cfg.snr_db)),
            seed=int(rng.integers(2**31)),
            **labels,
        )

    def pick(self, items):
        return items[int(self.rng.integers(len(items)))]

    def plan(self) -> dict[str, list[Job]]:
        if not self.cfg.hours > 0:
            raise ConfigError(f"hours must be > 0, got {self.cfg.hours}")
        for name in ("level_db", "snr_db"):
            low_high = getattr(self.cfg, name)
            if len(low_high) != 2 or low_high[0] > low_high[1]:
                raise ConfigError(f"{name} must be [low, high], got {low_high}")
        return {
            subset: jobs for subset, jobs in (
                ("pretrain", self.plan_pretrain()), ("read", self.plan_read()), ("ks", self.plan_ks()),
                ("ic", self.plan_ic()), ("sid", self.plan_sid()), ("er", self.plan_er()),
            ) if jobs
        }

    def plan_pretrain(self) -> list[Job]:
        if self.cfg.shares.pretrain <= 0:
            return []
        pool = self.pools["train"]
        return [
            self.job("pretrain", i, "train", self.pick(self.voices), f"{self.pick(pool)}. {self.pick(pool)}.")
            for i in range(max(1, self.count("pretrain")))
        ]

    def _labelled(self, subset: str, labels: list, minimum_per_split: int, make) -> list[Job]:
        """Speaker-disjoint splits, labels cycled in a shuffled order so every split sees them all."""
        if getattr(self.cfg.shares, subset) <= 0:
            return []
        jobs: list[Job] = []
        counts = _split_counts(self.count(subset), self.cfg.held_out_speakers, minimum_per_split)
        for split in _SPLITS:
            order = self.rng.permutation(len(labels))
            for k in range(counts[split]):
                jobs.append(make(len(jobs), split, labels[order[k % len(labels)]]))
        return jobs

    def plan_read(self) -> list[Job]:
        return self._labelled(
            "read", [None], 2,
            lambda i, split, _: self.job("read", i, split, self.pick(self.speakers[split]), self.pick(self.pools[split])),
        )

    def plan_ks(self) -> list[Job]:
        labels = list(texts.KEYWORDS) + [texts.UNKNOWN_LABEL, texts.SILENCE_LABEL]

        def make(i: int, split: str, label: str) -> Job:
            if label == texts.SILENCE_LABEL:
                return self.job("ks", i, split, None, "", keyword=label, clip_seconds=_KS_SECONDS)
            word = self.pick(texts.UNKNOWN_WORDS) if label == texts.UNKNOWN_LABEL else label
            return self.job("ks", i, split, self.pick(self.speakers[split]), word, keyword=label,
                            clip_seconds=_KS_SECONDS, clip_offset=float(self.rng.uniform()))

        return self._labelled("ks", labels, len(labels), make)

    def plan_ic(self) -> list[Job]:
        table = texts.intents()
        labels = sorted(table)
        return self._labelled(
            "ic", labels, len(labels),
            lambda i, split, intent: self.job("ic", i, split, self.pick(self.speakers[split]),
                                              self.pick(table[intent]), intent=intent),
        )

    def plan_er(self) -> list[Job]:
        labels = sorted(texts.EMOTIONS)

        def make(i: int, split: str, emotion: str) -> Job:
            p = texts.EMOTIONS[emotion]
            return self.job("er", i, split, self.pick(self.speakers[split]), self.pick(self.pools[split]),
                            rate=p.rate, pitch=p.pitch, pitch_range=p.pitch_range, gain_db=p.gain_db, emotion=emotion)

        return self._labelled("er", labels, len(labels), make)

    def plan_sid(self) -> list[Job]:
        """Closed-set speaker identification: every speaker in every split, utterances disjoint."""
        if self.cfg.shares.sid <= 0:
            return []
        per_speaker = max(4, round(self.count("sid") / len(self.voices)))
        counts = _split_counts(per_speaker, self.cfg.held_out_speakers, 1)
        pool = self.pools["train"]
        jobs: list[Job] = []
        for voice in self.voices:
            for split in _SPLITS:
                for _ in range(counts[split]):
                    jobs.append(self.job("sid", len(jobs), split, voice, self.pick(pool)))
        return jobs


# ---------------------------------------------------------------------------------------------
# Rendering (runs in worker processes)


def _rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64)))) if x.size else 0.0


def _speak(job: Job, sample_rate: int) -> tuple[np.ndarray, list[list]]:
    voice = job.voice
    f = voice.formant_shift
    # A formant shift plays the speech f times faster (formants and pitch up by f); asking the
    # engine for rate/f first keeps the speaking rate as planned.
    speech = synthesize(voice, job.text, rate=job.rate / f, pitch=job.pitch, pitch_range=job.pitch_range,
                        seed=job.seed)
    audio = resample(speech.audio, speech.sample_rate * f, sample_rate)
    phones = [[p, s / f, e / f] for p, s, e in speech.phones]
    return audio, phones


def _fit_clip(audio: np.ndarray, phones: list[list], seconds: float, offset: float, sample_rate: int):
    """Trim the silence around a word and place it in a clip of exactly `seconds`."""
    spoken = [p for p in phones if p[0] != SILENCE]
    margin = 0.03
    start = max(0.0, spoken[0][1] - margin) if spoken else 0.0
    end = min(len(audio) / sample_rate, spoken[-1][2] + margin) if spoken else len(audio) / sample_rate
    end = min(end, start + seconds)
    word = audio[int(round(start * sample_rate)):int(round(end * sample_rate))]
    clip_len = int(round(seconds * sample_rate))
    shift = int((clip_len - len(word)) * offset)
    clip = np.zeros(clip_len, dtype=np.float32)
    clip[shift:shift + len(word)] = word
    delta = shift / sample_rate - start
    events = [(max(0.0, s + delta), p) for p, s, e in phones if e + delta > 0 and s + delta < seconds and p != SILENCE]
    # A word has no inner pauses worth keeping; silence starts where the word stops.
    word_end = min(seconds, end + delta)
    return clip, segments_from_boundaries(events + [(word_end, SILENCE)], seconds)


def _noise(rng: np.random.Generator, n: int, sample_rate: int) -> np.ndarray:
    """One of white, pink, brown noise or mains hum, for keyword spotting's _silence_ class."""
    kind = int(rng.integers(4))
    if kind == 3:
        t = np.arange(n) / sample_rate
        base = rng.choice([50.0, 60.0])
        x = sum(np.sin(2 * np.pi * base * h * t + rng.uniform(0, 2 * np.pi)) / h for h in (1, 2, 3, 5))
        return (x + 0.1 * rng.standard_normal(n)).astype(np.float32)
    white = rng.standard_normal(n)
    if kind == 0:
        return white.astype(np.float32)
    spectrum = np.fft.rfft(white)
    freqs = np.maximum(np.fft.rfftfreq(n), 1.0 / n)
    spectrum /= np.sqrt(freqs) if kind == 1 else freqs
    return np.fft.irfft(spectrum, n).astype(np.float32)


def render(job: Job, sample_rate: int) -> tuple[np.ndarray, list[list]]:
    """The job's audio at `sample_rate` and its phone segments."""
    rng = np.random.default_rng(job.seed)
    if job.voice is None:
        n = int(round(job.clip_seconds * sample_rate))
        noise = _noise(rng, n, sample_rate)
        audio = noise * (10 ** (job.level_db / 20) / max(_rms(noise), 1e-9))
        return np.clip(audio, -0.99, 0.99).astype(np.float32), [[SILENCE, 0.0, n / sample_rate]]
    audio, phones = _speak(job, sample_rate)
    if job.clip_seconds is not None:
        audio, phones = _fit_clip(audio, phones, job.clip_seconds, job.clip_offset, sample_rate)
    audio = audio * (10 ** (job.level_db / 20) / max(_rms(audio), 1e-9))
    audio = audio + rng.standard_normal(len(audio)).astype(np.float32) * (_rms(audio) / 10 ** (job.snr_db / 20))
    peak = float(np.max(np.abs(audio)))
    if peak > 0.99:  # keep loud presets unclipped
        audio *= 0.99 / peak
    total = len(audio) / sample_rate
    phones = [[p, round(s, 4), round(min(e, total), 4)] for p, s, e in phones]
    return audio.astype(np.float32), [p for p in phones if p[2] > p[1]]


def _audio_relpath(job: Job) -> str:
    speaker = job.voice.speaker if job.voice else _NOISE_SPEAKER
    return f"audio/{job.subset}/{speaker}/{job.id}.flac"


def render_shard(out: str, jobs: list[Job], sample_rate: int, shard_path: str) -> int:
    """Render and save every job of a shard, then its rows (the shard's completion mark)."""
    rows = []
    for job in jobs:
        audio, phones = render(job, sample_rate)
        rel = _audio_relpath(job)
        save_flac(Path(out) / rel, audio, sample_rate)
        rows.append(Utterance(
            id=job.id, audio=rel, duration=round(len(audio) / sample_rate, 4), sample_rate=sample_rate,
            speaker=job.voice.speaker if job.voice else _NOISE_SPEAKER, split=job.split, text=job.text,
            phonemes=phones, keyword=job.keyword, intent=job.intent, emotion=job.emotion,
        ))
    with atomic_open(shard_path) as f:
        for row in rows:
            f.write(row.to_json() + "\n")
    return len(rows)


def _render_shard_task(args: tuple) -> int:
    return render_shard(*args)


def _shard_pool(workers: int):
    """A pool that renders each shard in a fresh process.

    espeak-ng carries state from one utterance into the next (its output for the same text
    drifts by a few samples), so a shard is byte-reproducible only when it starts in a process
    that has never spoken: one task per child, children forked from a server that has not.
    """
    if "forkserver" not in get_all_start_methods():
        return get_context("spawn").Pool(processes=workers, maxtasksperchild=1)
    context = get_context("forkserver")
    context.set_forkserver_preload([__name__])  # children start with numpy & co. imported, espeak-ng untouched
    return context.Pool(processes=workers, maxtasksperchild=1)


# ---------------------------------------------------------------------------------------------
# Driver


def _plan_config(cfg: SynthConfig) -> dict:
    """The settings that decide the corpus content (not where it goes or how many workers), and the
    shipped sentences it reads: a corpus made from other sentences is another corpus."""
    data = config_to_dict(cfg)
    data.pop("out")
    data.pop("workers")
    data["sentences_sha256"] = hashlib.sha256("\n".join(texts.sentences()).encode()).hexdigest()
    return data


def _verification_trials(out: Path, rows: list[Utterance], seed: int) -> bool:
    """ASV with SUPERB's shape on the read subset, whose dev and test speakers are unseen in training:
    drawn trials for both splits, if each has two speakers or more (else ASV keeps sid's closed-set proxy)."""
    splits = {s: [r for r in rows if r.split == s] for s in ("dev", "test")}
    if any(len({r.speaker for r in split}) < 2 for split in splits.values()):
        return False
    rng = np.random.default_rng([seed, 7])
    for name, split in splits.items():
        write_trials(out, "read", name, draw_trials(split, rng, ASV_TRIALS_PER_UTTERANCE))
    return True


def synth_corpus(cfg: SynthConfig, progress: bool = True) -> Path:
    """Generate (or finish generating) the corpus described by `cfg` in `cfg.out`."""
    out = Path(cfg.out)
    if cfg.workers < 1:
        raise ConfigError(f"workers must be >= 1, got {cfg.workers}")
    if (out / CORPUS_FILE).exists():
        done = read_corpus_header(out)
        if done.get("config") != _plan_config(cfg):
            raise ConfigError(f"{out} already holds a corpus made with other settings; choose another --out")
        print(f"{out}: corpus already complete; nothing to do", file=sys.stderr)
        return out
    work = out / ".work"
    plan_file = work / "plan.json"
    if plan_file.exists() and json.loads(plan_file.read_text()) != _plan_config(cfg):
        raise ConfigError(f"{out} holds an unfinished corpus with other settings; rerun with those or another --out")
    work.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(out)  # left by a killed run
    with atomic_open(plan_file) as f:
        json.dump(_plan_config(cfg), f, indent=2)
    save_config(cfg, out / "config.yaml")

    voices, missing = select_voices(cfg, np.random.default_rng([cfg.seed, 0]))
    jobs = _Planner(cfg, voices).plan()
    shards = [
        (subset, k, subset_jobs[start:start + cfg.shard_size])
        for subset, subset_jobs in jobs.items()
        for k, start in enumerate(range(0, len(subset_jobs), cfg.shard_size))
    ]
    shard_path = {(s, k): work / f"{s}-{k:05d}.jsonl" for s, k, _ in shards}
    todo = [(s, k, j) for s, k, j in shards if not shard_path[(s, k)].exists()]
    total = sum(len(j) for _, _, j in shards)
    with tqdm(total=total, initial=total - sum(len(j) for _, _, j in todo), unit="utt",
              desc="synth", disable=not progress) as bar, _shard_pool(cfg.workers) as pool:
        tasks = [(str(out), j, cfg.sample_rate, str(shard_path[(s, k)])) for s, k, j in todo]
        for count in pool.imap_unordered(_render_shard_task, tasks):
            bar.update(count)

    manifests = []
    for subset in jobs:
        rows = [
            Utterance(**json.loads(line))
            for s, k, _ in shards if s == subset
            for line in shard_path[(s, k)].read_text(encoding="utf-8").splitlines()
        ]
        notes = ER_PROXY_NOTE if subset == "er" else ""
        tasks = _TASKS[subset]
        if subset == "read" and _verification_trials(out, rows, cfg.seed):
            tasks = tasks + ["asv"]
        path = write_manifest(out / f"{subset}.jsonl", ManifestHeader("synth", subset, tasks, notes), rows)
        manifests.append(read_manifest(path))
    write_corpus_header(
        out, "synth", manifests, cfg.sample_rate, _plan_config(cfg),
        voices=[asdict(v) for v in voices],
        engines_used=sorted({v.engine for v in voices}),
        engines_missing=missing,
        notes=ER_PROXY_NOTE,
    )
    shutil.rmtree(work)
    return out
