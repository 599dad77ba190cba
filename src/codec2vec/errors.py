"""Errors the CLI reports as one clear line with a documented exit code (docs/cli.md)."""


class Codec2VecError(Exception):
    """Base class: a problem with the user's input or environment, never a bug."""

    exit_code = 1


class ConfigError(Codec2VecError):
    exit_code = 2


class AudioError(Codec2VecError):
    exit_code = 3


class ManifestError(Codec2VecError):
    exit_code = 4


class DependencyError(Codec2VecError):
    """An optional tool or package the requested feature needs is missing."""

    exit_code = 5
