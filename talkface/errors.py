"""Errors meant for people: each carries one line naming the input and the problem."""


class TalkfaceError(Exception):
    """Base class for every error the CLI reports as a single line (exit code 1)."""


class MediaError(TalkfaceError):
    """A video, image or audio file is missing, unreadable or empty."""


class NoFaceError(TalkfaceError):
    """No face could be found where one is required."""


class CheckpointError(TalkfaceError):
    """A checkpoint is missing, unsafe or does not match the model."""


class OutputError(MediaError):
    """An output cannot (or must not) be written where asked."""
