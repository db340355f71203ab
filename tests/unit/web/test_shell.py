"""A refusal's message as an HTTP reason phrase: what a status line may carry, nothing more."""

from __future__ import annotations

from dynopypi.errors import AlreadyExists, NotFound
from dynopypi.web.shell import REASON_LIMIT, reason_phrase, refusal_response


def test_one_line_of_latin1_printable_text() -> None:
    assert reason_phrase("File already exists:\n  foo-1.0.tar.gz\r\n") == (
        "File already exists: foo-1.0.tar.gz"
    )
    assert (
        reason_phrase("caf\u00e9 \u2603 \x00\x7f\x85 ok") == "caf\u00e9 ? ?? ok"
    )  # NEL (x85) is whitespace
    assert reason_phrase("   ") == ""


def test_bounded_length() -> None:
    reason = reason_phrase("x" * 10_000)
    assert len(reason) == REASON_LIMIT and reason.endswith("...")


def test_the_response_keeps_the_whole_message_in_the_body() -> None:
    message = "File already exists\nwith a second line \u2603"
    response = refusal_response(AlreadyExists(message))
    assert response.status_line == "409 File already exists with a second line ?"
    assert response.body == message + "\n"
    assert refusal_response(NotFound("")).status_line == "404 Not Found"  # nothing to say
