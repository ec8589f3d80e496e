"""Note: the headline `serve` logs, and the why and fix `check` prints under it."""

from __future__ import annotations

from autoconfig.errors import Note


def test_a_note_without_detail_is_its_headline() -> None:
    note = Note("profiles are unsigned")
    assert note.render() == "profiles are unsigned"
    assert str(note) == "profiles are unsigned"


def test_the_detail_is_wrapped_and_indented_under_the_headline() -> None:
    note = Note("headline", "word " * 40)
    first, *body = note.render(width=40).splitlines()
    assert first == "headline"
    assert len(body) > 1
    assert all(line.startswith("  ") and len(line) <= 40 for line in body)
    assert " ".join(line.strip() for line in body) == ("word " * 40).strip()


def test_keys_values_and_paths_are_never_cut() -> None:
    # What an admin copies from the fix must stay whole on its line.
    words = ["password-cleartext", "/var/lib/autoconfig-with-a-long-name/state/log-hash-key", "K-9"]
    detail = " ".join(["x" * 30, *words, "y" * 30])
    body = Note("headline", detail).render(width=40).splitlines()[1:]
    tokens = [token for line in body for token in line.split()]
    for word in words:
        assert word in tokens, body
