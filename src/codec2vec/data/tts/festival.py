"""festival (Debian packages `festival festvox-kallpc16k festvox-kdlpc16k festvox-us-slt-hts
festlex-cmu`) as one long-lived subprocess per Python process; utt.save.segs gives phone end times.

Starting festival costs about 0.3 s and a voice about as much again, more than most utterances
take to speak, so each process keeps one festival session (`festival --pipe`, line-buffered
through coreutils' stdbuf) and sends it one utterance at a time. festival is deterministic.
"""

from __future__ import annotations

import atexit
import os
import shutil
import subprocess
import tempfile
import threading
from functools import lru_cache

import soundfile as sf

from codec2vec.data.phones import festvox_to_arpabet
from codec2vec.data.tts.base import Speech, Voice, segments_from_ends
from codec2vec.errors import Codec2VecError

# festival's English voices in Debian and the person behind each: kal and slt also speak through
# flite (kal16, slt), and one person through two engines is one speaker (RESOURCES.md).
_PERSONS = {"kal_diphone": "kal", "ked_diphone": "ked", "cmu_us_slt_arctic_hts": "slt"}
_DONE = "codec2vec-festival-done"
# An utterance takes festival well under a second; a command still running after this is stuck (a
# text festival's front end loops on, a blocked pipe), and the item is named in an error instead.
_TIMEOUT_S = 120.0
_COMMAND = ("stdbuf", "-oL", "festival", "--pipe")


class _Session:
    """One `festival --pipe` process; commands in on stdin, a marker line back when they are done."""

    def __init__(self, command: tuple[str, ...] = _COMMAND) -> None:
        self.pid = os.getpid()
        self.process = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, bufsize=1,
        )
        atexit.register(self.close)

    def run(self, commands: str, what: str) -> str:
        """Run scheme `commands`; return what they printed. Raises, naming `what`, if festival dies or
        takes over _TIMEOUT_S (a watchdog kills it, which ends the blocked read)."""
        timed_out = threading.Event()

        def kill() -> None:
            timed_out.set()
            self.process.kill()

        watchdog = threading.Timer(_TIMEOUT_S, kill)
        watchdog.start()
        try:
            self.process.stdin.write(f'{commands}\n(format t "\\n{_DONE}\\n")\n')
            self.process.stdin.flush()
            lines = []
            while (line := self.process.stdout.readline()) and line.strip() != _DONE:
                lines.append(line)
        except (BrokenPipeError, OSError) as e:
            line = ""
            lines = [str(e)]
        finally:
            watchdog.cancel()
        if not line:  # end of output: festival exited; the next call starts a new session
            if _sessions.get(os.getpid()) is self:
                del _sessions[os.getpid()]
            if timed_out.is_set():
                raise Codec2VecError(f"festival took over {_TIMEOUT_S:g} s while {what}; stopped it")
            raise Codec2VecError(f"festival stopped while {what}: {''.join(lines).strip() or 'no output'}")
        return "".join(lines)

    def close(self) -> None:
        if os.getpid() != self.pid:  # an inherited copy: the parent owns the process
            return
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


_sessions: dict[int, _Session] = {}


def _session() -> _Session:
    """This process's festival session: a forked child must not share its parent's pipes."""
    pid = os.getpid()
    if pid not in _sessions:
        _sessions[pid] = _Session()
    return _sessions[pid]


@lru_cache(maxsize=1)
def _installed() -> tuple[str, ...]:
    if shutil.which("festival") is None or shutil.which("stdbuf") is None:
        return ()
    listing = _session().run("(print (voice.list))", "listing its voices")
    return tuple(v for v in listing.replace("(", " ").replace(")", " ").split() if v in _PERSONS)


def voices() -> list[Voice]:
    return [Voice(speaker=_PERSONS[v], engine="festival", name=v) for v in sorted(_installed())]


def _scheme_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def synthesize(voice_name: str, text: str, rate: float, pitch: float, pitch_range: float, seed: int) -> Speech:
    """festival's pitch controls differ per voice type (diphone vs HTS): pitch offsets are ignored,
    as for flite. It is deterministic, so the seed is not needed."""
    if voice_name not in _PERSONS:
        raise Codec2VecError(f"unknown festival voice '{voice_name}'; known: {sorted(_PERSONS)}")
    # A folder per utterance, removed here: pool workers end without running atexit handlers, so a
    # folder per session outlived every worker (one per corpus task).
    with tempfile.TemporaryDirectory(prefix="codec2vec-festival-") as folder:
        wav, segs = (os.path.join(folder, name) for name in ("out.wav", "out.segs"))
        _session().run(
            f"(voice_{voice_name})\n(Parameter.set 'Duration_Stretch {1.0 / rate:.4f})\n"
            f"(set! utt (utt.synth (Utterance Text {_scheme_string(text)})))\n"
            f'(utt.save.wave utt "{wav}" \'riff)\n(utt.save.segs utt "{segs}")',
            f"speaking {text!r} with voice {voice_name}",
        )
        if not (os.path.exists(wav) and os.path.exists(segs)):
            raise Codec2VecError(f"festival wrote no audio for voice {voice_name} text {text!r}")
        audio, sample_rate = sf.read(wav, dtype="float32")
        with open(segs, encoding="utf-8") as f:
            lines = f.read().split("#", 1)[-1].split("\n")  # after the header: "END_TIME 100 PHONE" lines
    triples = (line.split() for line in lines if line.strip())
    ends = [(festvox_to_arpabet(phone), float(end)) for end, _, phone in triples]
    return Speech(audio, sample_rate, segments_from_ends(ends, len(audio) / sample_rate))
