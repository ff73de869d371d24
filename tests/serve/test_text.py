"""Posts → sentences → posts: entities (URLs, e-mails, mentions, hashtags, emoji) come back byte
for byte where they were, the prose around them is what the model sees, and a post whose
sentences are handed back unchanged is the post it was."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import regex
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mtforge.serve.text import ENTITY, PostPlan, plan_post, strip_entities

EN = "eng_Latn"
FAMILY = "👨\u200d👩\u200d👧\u200d👦"
THUMBS_MEDIUM = "👍🏽"
GERMANY = "🇩🇪"
KEYCAP_ONE = "1\ufe0f\u20e3"
KEYCAP_HASH = "#\ufe0f\u20e3"
ENGLAND = "🏴\U000e0067\U000e0062\U000e0065\U000e006e\U000e0067\U000e007f"
RAINBOW = "🏳\ufe0f\u200d🌈"
CODER = "👩🏽\u200d💻"
HANDSHAKE = "🧑🏻\u200d🤝\u200d🧑🏿"
SHRUG = "🤷🏽\u200d♀\ufe0f"
EMOJI = [FAMILY, THUMBS_MEDIUM, GERMANY, KEYCAP_ONE, KEYCAP_HASH, ENGLAND, RAINBOW, CODER, HANDSHAKE, SHRUG,
         "❤\ufe0f", "🎉", "🇯🇵", "*\ufe0f\u20e3"]
URLS = ["https://example.org/a?b=1&c=two", "http://example.com/path/to/page.html?q=x%20y#frag",
        "https://en.wikipedia.org/wiki/Python_(programming_language)", "www.example.co.uk/shop?item=42&ref=feed",
        "https://t.co/AbC123"]
EMAILS = ["jane.doe+news@mail.example.co.uk", "info@example.org", "a_b-c@sub-domain.example.com"]
MENTIONS = ["@anna", "@jane.doe", "@Bob_99", "@a.b.c"]
HASHTAGS = ["#pets", "#ThrowbackThursday", "#2024", "#café", "#праздник", "#love#life"]
ENTITIES = URLS + EMAILS + MENTIONS + HASHTAGS + EMOJI


def entities_of(plan: PostPlan) -> list[str]:
    """The verbatim pieces of ``plan`` that are entities."""
    return [p for p in plan.pieces if isinstance(p, str) and ENTITY.fullmatch(p)]


def check_plan(text: str, lang: str = EN, max_chars: int = 500) -> PostPlan:
    """plan_post(text) and the invariants every plan keeps, whatever the text."""
    plan = plan_post(text, lang, max_chars=max_chars)
    assert plan.render(list(plan.sentences)) == text
    assert sorted(p for p in plan.pieces if isinstance(p, int)) == list(range(len(plan.sentences)))
    for sentence in plan.sentences:
        assert sentence and sentence == sentence.strip() and len(sentence) <= max_chars
        assert ENTITY.search(sentence) is None, (sentence, text)
    for piece in plan.pieces:  # all prose is in sentences: nothing else has a letter but entities
        if isinstance(piece, str) and not ENTITY.fullmatch(piece):
            assert not regex.search(r"\p{L}", piece), (piece, text)
    return plan


def upper(plan: PostPlan) -> str:
    return plan.render([s.upper() for s in plan.sentences])


# -- entities in their places ----------------------------------------------------------------------


@pytest.mark.parametrize("text,sentences,entities,translated", [
    ("Check https://example.org/a?b=1&c=2. Great!",
     ["Check", "Great!"], ["https://example.org/a?b=1&c=2"],
     "CHECK https://example.org/a?b=1&c=2. GREAT!"),
    ("Read this: http://example.com/x?y=1, then http://example.com/z! And www.example.com/p?q=2?",
     ["Read this:", "then", "And"], ["http://example.com/x?y=1", "http://example.com/z", "www.example.com/p?q=2"],
     "READ THIS: http://example.com/x?y=1, THEN http://example.com/z! AND www.example.com/p?q=2?"),
    ("Paper (https://arxiv.org/abs/1706.03762). Read it; https://example.org/a/b; ok…",
     ["Paper", "Read it;", "ok…"], ["https://arxiv.org/abs/1706.03762", "https://example.org/a/b"],
     "PAPER (https://arxiv.org/abs/1706.03762). READ IT; https://example.org/a/b; OK…"),
    ("More at https://example.org/news… really",
     ["More at", "really"], ["https://example.org/news"], "MORE AT https://example.org/news… REALLY"),
    ("See (https://en.wikipedia.org/wiki/Python_(programming_language)) now.",
     ["See", "now."], ["https://en.wikipedia.org/wiki/Python_(programming_language)"],
     "SEE (https://en.wikipedia.org/wiki/Python_(programming_language)) NOW."),
    ('She wrote "https://example.org/q?a=1" and left.',
     ["She wrote", "and left."], ["https://example.org/q?a=1"], 'SHE WROTE "https://example.org/q?a=1" AND LEFT.'),
    ("Https://Example.org/A is where WWW.EXAMPLE.ORG points",
     ["is where", "points"], ["Https://Example.org/A", "WWW.EXAMPLE.ORG"],
     "Https://Example.org/A IS WHERE WWW.EXAMPLE.ORG POINTS"),
    ("Mail jane.doe+news@mail.example.co.uk, or info@example.org.",
     ["Mail", "or"], ["jane.doe+news@mail.example.co.uk", "info@example.org"],
     "MAIL jane.doe+news@mail.example.co.uk, OR info@example.org."),
    ("thanks @anna for the photo", ["thanks", "for the photo"], ["@anna"], "THANKS @anna FOR THE PHOTO"),
    ("hi @jane.doe. How are you, @Bob_99?",
     ["hi", "How are you,"], ["@jane.doe", "@Bob_99"], "HI @jane.doe. HOW ARE YOU, @Bob_99?"),
    ('"@anna" said yes', ["said yes"], ["@anna"], '"@anna" SAID YES'),
    ("I love #pets and #cats! #love#life",
     ["I love", "and"], ["#pets", "#cats", "#love", "#life"], "I LOVE #pets AND #cats! #love#life"),
    ("Going to C# class at 5#6 today",  # C# and 5#6 are no hashtags
     ["Going to C# class at 5#6 today"], [], "GOING TO C# CLASS AT 5#6 TODAY"),
    (f"family {FAMILY} and {THUMBS_MEDIUM} and {GERMANY} and {KEYCAP_ONE} and {KEYCAP_HASH}",
     ["family", "and", "and", "and", "and"], [FAMILY, THUMBS_MEDIUM, GERMANY, KEYCAP_ONE, KEYCAP_HASH],
     f"FAMILY {FAMILY} AND {THUMBS_MEDIUM} AND {GERMANY} AND {KEYCAP_ONE} AND {KEYCAP_HASH}"),
    (f"Go {ENGLAND}! {RAINBOW} pride, {CODER} coding, {HANDSHAKE} deal {SHRUG} whatever",
     ["Go", "pride,", "coding,", "deal", "whatever"], [ENGLAND, RAINBOW, CODER, HANDSHAKE, SHRUG],
     f"GO {ENGLAND}! {RAINBOW} PRIDE, {CODER} CODING, {HANDSHAKE} DEAL {SHRUG} WHATEVER"),
    ("Glued🎉emoji and #\u20e3keycap", ["Glued", "emoji and", "keycap"], ["🎉", "#\u20e3"],
     "GLUED🎉EMOJI AND #\u20e3KEYCAP"),
    ("Party 🎉 🎉\u2728 tonight", ["Party", "tonight"], ["🎉 🎉\u2728"], "PARTY 🎉 🎉\u2728 TONIGHT"),
    ("Awww...so cute", ["Awww...so cute"], [], "AWWW...SO CUTE"),  # no "www..." URL in a word
    ("More info...www.example.com/x today", ["More info...", "today"], ["www.example.com/x"],
     "MORE INFO...www.example.com/x TODAY"),
    ("看这个https://example.com/a。很好", ["看这个", "很好"], ["https://example.com/a"],
     "看这个https://example.com/a。很好"),
])
def test_entities_come_back_verbatim_in_their_places(text, sentences, entities, translated) -> None:
    lang = "zho_Hans" if "很好" in text else EN
    plan = check_plan(text, lang)
    assert list(plan.sentences) == sentences
    assert entities_of(plan) == entities
    if lang == EN:
        assert upper(plan) == translated
    else:
        assert plan.render(["<A>", "<B>"]) == "<A>https://example.com/a。<B>"


def test_translations_of_other_lengths_are_put_between_the_entities() -> None:
    text = "@anna Look at https://example.org/x?a=1. It is great 👍🏽\n\nSee you #soon!"
    plan = check_plan(text)
    assert plan.sentences == ("Look at", "It is great", "See you")
    out = plan.render(["Schau dir an", "Es ist wirklich sehr, sehr toll", ""])
    assert out == "@anna Schau dir an https://example.org/x?a=1. Es ist wirklich sehr, sehr toll 👍🏽\n\n #soon!"


def test_render_needs_one_translation_per_sentence() -> None:
    plan = plan_post("One. Two.", EN)
    with pytest.raises(ValueError, match="1 translations for 2 sentences"):
        plan.render(["Eins."])


# -- sentences and separators ------------------------------------------------------------------------


def test_sentences_and_paragraphs_keep_their_separators() -> None:
    text = "First one.  Second one!\nStill second? Yes.\n\n  Third paragraph.\r\n\r\nFourth.\u2029Fifth 😀\n"
    plan = check_plan(text)
    assert plan.sentences == ("First one.", "Second one!", "Still second?", "Yes.", "Third paragraph.", "Fourth.",
                              "Fifth")
    assert plan.render([f"<{i}>" for i in range(7)]) == "<0>  <1>\n<2> <3>\n\n  <4>\r\n\r\n<5>\u2029<6> 😀\n"


def test_long_sentences_are_cut_to_max_chars() -> None:
    words = "the quick brown fox jumps over the lazy dog and keeps running through the field".split()
    text = " ".join(words * 4) + " " + "x" * 95 + " @anna ok"
    plan = check_plan(text, max_chars=40)
    assert len(plan.sentences) > 8
    assert all(len(s) <= 40 for s in plan.sentences)
    assert "x" * 40 in plan.sentences  # a word longer than the limit is cut hard
    assert entities_of(plan) == ["@anna"]
    assert upper(plan) == text.replace("@anna", "\0").upper().replace("\0", "@anna")


@pytest.mark.parametrize("text", ["", "   ", "!!! 🎉", "🎉🎉 #party @bob", "123 456 — 7.", "... ???\n\n!!",
                                  f"{FAMILY}{GERMANY} https://example.org/x", "(#tag) [@anna]"])
def test_letterless_texts_have_no_sentences(text) -> None:
    plan = check_plan(text)
    assert plan.sentences == ()
    assert plan.render([]) == text


# -- strip_entities ----------------------------------------------------------------------------------


def test_strip_entities_leaves_the_prose_language_identification_sees() -> None:
    text = f"@anna Look at https://example.org/x?a=1 {FAMILY} #pets\n\nmail info@example.org   now {GERMANY}"
    assert strip_entities(text) == "Look at mail now"
    assert strip_entities("🎉🎉 #party @bob") == ""
    assert strip_entities("#love#life so much @anna@bob") == "so much"
    assert strip_entities("Ein ganz normaler Satz.") == "Ein ganz normaler Satz."


def test_a_long_text_without_spaces_is_planned_in_linear_time() -> None:
    """A 20,000-character word used to take seconds (the e-mail pattern retried at every offset)."""
    for text in ["a" * 20_000, "a-b." * 5_000, "x" + " (" * 5_000 + "@anna", "🎉" + " " * 20_000 + "x"]:
        start = time.perf_counter()
        check_plan(text)
        strip_entities(text)
        assert time.perf_counter() - start < 1.5, text[:20]


# -- random posts --------------------------------------------------------------------------------------

WORDS = ["hello", "World", "it's", "don't", "Über", "straße", "Привет", "мир", "नमस्ते", "दुनिया", "你好", "世界",
         "ok", "A", "e.g.", "Dr.", "U.S.", "3.5", "42", "km/h", "x-ray", "café", "Naïve", "rock'n'roll"]
PUNCT = [".", ",", "!", "?", "...", "…", ":", ";", " - ", "(", ")", '"', "'", "«", "»", "“", "”", "¿", "!!"]
SPACE = [" ", "  ", "\n", "\n\n", "\t", " \n \n "]
AFTER_ENTITY = ["", ".", ",", "!", "?", ")", "...", "…", ":", '"', "'", "»", "”", ").", "!!"]


@st.composite
def posts(draw) -> tuple[str, list[str]]:
    """A post of words, punctuation, whitespace and entities; each entity stands after
    whitespace (or at the start) and before whitespace (or the end), maybe with punctuation
    between, as people write them. Returns the post and the entities put in."""
    parts: list[str] = []
    entities: list[str] = []
    for _ in range(draw(st.integers(0, 25))):
        kind = draw(st.sampled_from(["word", "word", "word", "punct", "space", "entity"]))
        if kind == "entity":
            entity = draw(st.sampled_from(ENTITIES))
            if parts and not parts[-1][-1:].isspace():
                parts.append(draw(st.sampled_from(SPACE)))
            parts += [entity, draw(st.sampled_from(AFTER_ENTITY)), draw(st.sampled_from(SPACE))]
            entities.append(entity)
        elif kind == "word":
            parts.append(draw(st.sampled_from(WORDS)))
            parts.append(draw(st.sampled_from(["", " ", " ", " ", "\n"])))
        else:
            parts.append(draw(st.sampled_from(PUNCT if kind == "punct" else SPACE)))
    if draw(st.booleans()) and parts:
        parts[-1] = parts[-1].rstrip()
    return "".join(parts), entities


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(post=posts(), max_chars=st.sampled_from([12, 40, 500]))
def test_random_posts_round_trip_with_entities_intact(post, max_chars) -> None:
    text, entities = post
    plan = check_plan(text, EN, max_chars=max_chars)
    out = upper(plan)
    for entity in entities:  # byte-identical in the output, though every sentence changed
        assert entity in out, (entity, text, out)
    # exactly the entities put in are found, no more (emoji runs and #a#b aside, which join or split)
    assert "".join("".join(entities_of(plan)).split()) == "".join(entities)
    assert strip_entities(out) == strip_entities(text).upper()


@settings(max_examples=200, deadline=None)
@given(text=st.text(st.characters(codec="utf-8"), max_size=60), lang=st.sampled_from([EN, "deu_Latn", "zho_Hans"]))
def test_any_text_round_trips(text, lang) -> None:
    check_plan(text, lang, max_chars=20)


# -- other scripts ---------------------------------------------------------------------------------------

FLORES_LANGS = ["deu_Latn", "rus_Cyrl", "hin_Deva", "zho_Hans", "jpn_Jpan", "arb_Arab"]


@pytest.fixture(scope="module")
def flores(shared_data: Path) -> dict[str, list[str]]:
    return {lang: [line.strip() for line in (shared_data / "flores200" / "dev" / f"{lang}.dev")
                   .read_text(encoding="utf-8").splitlines()[:60]] for lang in FLORES_LANGS}


def letters(text: str) -> str:
    return "".join(regex.findall(r"[\p{L}\p{M}\p{N}]", text))


@pytest.mark.parametrize("lang", FLORES_LANGS)
def test_real_sentences_in_other_scripts_round_trip(flores, lang) -> None:
    lines = flores[lang]
    for i in range(0, len(lines) - 2, 3):
        a, b, c = lines[i:i + 3]
        text = f"@user.name {a} {b} {THUMBS_MEDIUM} #tag\n\n{c} https://example.org/p?id={i}."
        plan = check_plan(text, lang, max_chars=200)
        assert entities_of(plan) == ["@user.name", THUMBS_MEDIUM, "#tag", f"https://example.org/p?id={i}"]
        assert len(plan.sentences) >= 2
        assert letters("".join(plan.sentences)) == letters(a + b + c)  # all prose goes to the model
        out = plan.render([f"⟨{n}⟩" for n in range(len(plan.sentences))])
        assert out.startswith("@user.name ⟨0⟩") and out.endswith(f" https://example.org/p?id={i}.")
        assert f" {THUMBS_MEDIUM} #tag\n\n⟨" in out


def test_hashtags_and_mentions_in_other_scripts_are_entities() -> None:
    plan = check_plan("Поздравляю @Анна.Петрова с #праздник! दिवाली #दिवाली की शुभकामनाएं", "rus_Cyrl")
    assert entities_of(plan) == ["@Анна.Петрова", "#праздник", "#दिवाली"]
    assert plan.sentences == ("Поздравляю", "с", "दिवाली", "की शुभकामनाएं")
