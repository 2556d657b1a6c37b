"""A Server-Sent Events parser (the WHATWG event-stream format): text arrives in arbitrary pieces, lines
end in CRLF, LF or CR, ``data:`` lines join with LF, lines starting with ``:`` are comments, ``id:``
persists across events (it is what a reconnect sends as ``Last-Event-ID``), ``retry:`` sets the
reconnect delay."""

from __future__ import annotations

from dataclasses import dataclass
from typing import List, Optional


@dataclass(frozen=True)
class Frame:
    """One dispatched event: its type (``message`` when unnamed), data and the last id seen."""

    event: str
    data: str
    id: Optional[str]


class SseParser:
    """Feed it decoded text with :meth:`push`; it returns the events each piece completed."""

    def __init__(self, last_event_id: Optional[str] = None) -> None:
        self.last_event_id = last_event_id
        #: The reconnect delay the server last asked for, in milliseconds.
        self.retry_ms: Optional[int] = None
        #: Comment lines seen (keep-alives).
        self.comments = 0
        self._buffer = ""
        self._data: List[str] = []
        self._event = ""
        # A CR that ended the previous piece may be half of a CRLF: a leading LF then ends nothing.
        self._pending_cr = False

    def push(self, text: str) -> List[Frame]:
        out: List[Frame] = []
        if self._pending_cr and text.startswith("\n"):
            text = text[1:]
        self._pending_cr = False
        buffer = self._buffer + text
        start = 0
        i = 0
        while i < len(buffer):
            c = buffer[i]
            if c == "\n" or c == "\r":
                self._line(buffer[start:i], out)
                if c == "\r":
                    if i + 1 < len(buffer):
                        if buffer[i + 1] == "\n":
                            i += 1
                    else:
                        self._pending_cr = True
                start = i + 1
            i += 1
        self._buffer = buffer[start:]
        return out

    def _line(self, line: str, out: List[Frame]) -> None:
        if line == "":
            if self._data:
                out.append(Frame(self._event or "message", "\n".join(self._data), self.last_event_id))
            self._data = []
            self._event = ""
            return
        if line.startswith(":"):
            self.comments += 1
            return
        name, colon, value = line.partition(":")
        if colon and value.startswith(" "):
            value = value[1:]
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._event = value
        elif name == "id":
            if "\0" not in value:
                self.last_event_id = value
        elif name == "retry" and value.isdigit():
            self.retry_ms = int(value)
