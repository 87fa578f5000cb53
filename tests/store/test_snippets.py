"""``parley.store.snippets``: a window around the first match, every match in it marked."""

from __future__ import annotations

from parley.store.snippets import ELLIPSIS, WINDOW_AFTER, snippet, stem

MARK = ("«", "»")


def test_inflections_case_and_accents_match() -> None:
    assert snippet("Knead the dough.", ["kneading"], MARK) == "«Knead» the dough."
    assert snippet("We baked; baking again.", ["bake"], MARK) == "We «baked»; «baking» again."
    assert snippet("Visit Belém and Alfama.", ["belem"], MARK) == "Visit «Belém» and Alfama."
    assert stem("dependencies") == "dependenc" and stem("cat") == "cat"


def test_the_window_is_around_the_first_match_and_cut_at_words() -> None:
    text = (
        " ".join(f"word{i}" for i in range(200))
        + " falcon "
        + " ".join("x" * 5 for _ in range(100))
    )
    found = snippet(text, ["falcon"], MARK)
    assert found.startswith(ELLIPSIS) and found.endswith(ELLIPSIS)
    assert "«falcon»" in found and len(found) <= WINDOW_AFTER + 80
    assert all(part == ELLIPSIS or not part.startswith("ord") for part in found.split())


def test_no_match_gives_the_beginning_and_markup_is_left_as_text() -> None:
    assert snippet("<b>plain</b> words", ["absent"], MARK) == "<b>plain</b> words"
    assert snippet("", ["x"], MARK) == ""
    assert snippet('say "alpha*" (beta)', ["alpha", "beta"], MARK) == 'say "«alpha»*" («beta»)'
