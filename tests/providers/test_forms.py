"""The shared form reader (providers/formats.py): tolerant parsing, and its caches never leak."""

from __future__ import annotations

import pytest

from smshook.providers import formats
from smshook.providers.base import RawRequest


@pytest.mark.parametrize(("body", "fields"), [
    (b"a=1&&b=%26x+y&%20c=3\r\n&d&=e&a=2", {"a": "1", "b": "&x y", "c": "3", "d": ""}),
    (b"t=%C3%A9&u=%E9&v=%zz&w=%2", {"t": "é", "u": "é", "v": "%zz", "w": "%2"}),  # UTF-8, else Latin-1
    (b"k=\xc3\xa9&l=\xe9&m+n=o", {"k": "é", "l": "é", "m n": "o"}),  # raw bytes, not only escapes
    (b"x=1\r\n&\r\ny=a b:c\r\n", {"x": "1", "y": "a b:c"}),  # CDYNE: raw spaces and colons, CRLF
    (b"Message%49dentifier=1&MessageIdentifier=2", {"MessageIdentifier": "1"}),  # escaped key, first wins
    (b"long=" + b"%41" * 40 + b"&", {"long": "A" * 40}),  # an escaped value past the cached length
    (b"", {}), (b"&", {}), (b"=", {}), (b"a=b=c", {"a": "b=c"}),
])
def test_parse_form(body: bytes, fields: dict[str, str]) -> None:
    assert formats.parse_form(body) == fields
    assert formats.parse_form(body) == fields  # the second read, from the caches, is the same


def test_form_value_is_form_fields_get() -> None:
    """An answer's echoed field (csoft) reads what the adapter read: body first, then the query."""
    cases = [
        RawRequest("POST", "/", b"MessageIdentifier=q", (), b"Report=0&MessageIdentifier=+a%2Bb+"),
        RawRequest("POST", "/", b"MessageIdentifier=q", (), b"Report=0"),
        RawRequest("POST", "/", b"", (), b" MessageIdentifier =x&MessageIdentifier=y"),
        RawRequest("POST", "/", b"", (), b""),
    ]
    for request in cases:
        assert formats.form_value(request, "MessageIdentifier") == formats.form_fields(request).get(
            "MessageIdentifier")
    assert [formats.form_value(r, "MessageIdentifier") for r in cases] == [" a+b ", "q", "x", None]


def test_form_fields_are_the_callers_own() -> None:
    request = RawRequest("POST", "/", b"q=1", (), b"a=1")
    fields = formats.form_fields(request)
    fields["a"] = "changed"
    fields["new"] = "x"
    assert formats.form_fields(request) == {"q": "1", "a": "1"}
    assert formats.form_value(request, "a") == "1"
