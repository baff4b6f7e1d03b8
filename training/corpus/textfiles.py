"""Reading users' input files as UTF-8 text: a directory, a missing file or a byte that is not UTF-8
is reported with the file and, for a bad byte, its line and byte offset."""

from __future__ import annotations

from pathlib import Path


class InputFileError(ValueError):
    def __init__(self, path: str | Path, message: str, line: int = 0) -> None:
        self.path, self.message, self.line = str(path), message, line
        super().__init__(f"{self.where}: {message}")

    @property
    def where(self) -> str:
        return f"{self.path}:{self.line}" if self.line else self.path


def check_file(path: str | Path) -> None:
    path = Path(path)
    if path.is_dir():
        raise InputFileError(path, "is a directory, not a file")
    if not path.is_file():
        raise InputFileError(path, "does not exist")


def read_utf8(path: str | Path, universal_newlines: bool = True) -> str:
    """The file's text, with universal newlines (as ``Path.read_text`` gives it) unless told not to."""
    check_file(path)
    try:
        data = Path(path).read_bytes()
    except OSError as error:
        raise InputFileError(path, f"cannot be read ({error.strerror})") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise utf8_error(path, data, error) from None
    return _universal_newlines(text) if universal_newlines else text


def utf8_error(path: str | Path, data: bytes, error: UnicodeDecodeError) -> InputFileError:
    """The place of the first byte that is not UTF-8: line (1-based) and byte offset in the file."""
    before = _universal_newlines(data[: error.start].decode("utf-8"))
    message = (
        f"not valid UTF-8: byte 0x{data[error.start]:02x} at byte offset {error.start} "
        "(save the file as UTF-8)"
    )
    return InputFileError(path, message, before.count("\n") + 1)


def _universal_newlines(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")
