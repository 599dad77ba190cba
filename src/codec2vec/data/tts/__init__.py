"""Offline text-to-speech engines that give audio plus phone timings in the ARPAbet set.

espeak-ng runs in process from the pip package espeakng-loader (no Debian package needed);
flite runs as a subprocess when the Debian package is installed; festival as one long-lived
subprocess per process when its Debian packages are.
"""

from codec2vec.data.tts.base import Speech, Voice, available_voices, synthesize

__all__ = ["Speech", "Voice", "available_voices", "synthesize"]
