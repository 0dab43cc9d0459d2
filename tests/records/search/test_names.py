"""Name keys: spellings and scripts of one name meet, different names stay apart (names.py, no database)."""

from __future__ import annotations

import pytest

from safecity.records.search import names

# Each group: ways the same name is written, in Latin letters and in Urdu script; all share their keys.
SAME = [
    ("Muhammad", "Mohammad", "Muhammed", "Mohammed", "Muhamad", "Mohd", "Muḥammad", "محمد", "مُحَمَّد"),
    ("Khan", "KHAN", "خان"),
    ("Hussain", "Husain", "Hussein", "Hussian", "حسین"),
    ("Ali", "Aly", "علی", "علي"),
    ("Aliya", "Aliyah", "Alia", "عالیہ"),
    ("Ayesha", "Aisha", "Aysha", "عائشہ"),
    ("Mahmood", "Mehmood", "Mahmud", "محمود"),
    ("Hassan", "Hasan", "حسن"),
    ("Chaudhry", "Chaudhary", "Choudhury", "چوہدری", "چودھری"),
    ("Abdul Rehman", "Abdur Rahman", "Abdurrehman", "Abdulrehman", "عبدالرحمن", "عبد الرحمان"),
    ("Abdullah", "Abdullah", "عبداللہ"),
    ("Yousaf", "Yusuf", "Yousuf", "یوسف"),
    ("Rizwan", "Rizvan", "رضوان"),
    ("Pervaiz", "Parvez", "Pervez", "پرویز"),
    ("Naveed", "Navid", "Naweed", "نوید"),
    ("Ghulam", "Gulam", "غلام"),
    ("Farooq", "Faruq", "Farook", "فاروق"),
    ("Qureshi", "Kureshi", "قریشی"),
    ("Mustafa", "Mustafaa", "مصطفیٰ"),
    ("Shah", "شاہ", "شاه"),
    ("Zahoor", "Zahur", "ظہور"),
    ("Siraj ud Din", "Siraj-ud-Din", "Siraj Uddin", "سراج الدین"),
    ("Riaz", "Riyaz", "ریاض"),
    ("Umar", "Omar", "Umer", "عمر"),
    ("Javed", "Jawed", "Javaid", "جاوید"),
]

# Different names that folding must not bring together.
DIFFERENT = [
    ("Ali", "Aliya"),
    ("Ali", "Alia"),
    ("Muhammad", "Mahmood"),
    ("Hussain", "Hassan"),
    ("Khan", "Kan"),
    ("Shah", "Saah"),
    ("Ahmed", "Hamid"),
    ("Imran", "Irfan"),
    ("Fatima", "Fatim"),
]


@pytest.mark.parametrize("group", SAME, ids=lambda g: g[0])
def test_spellings_and_scripts_of_a_name_share_its_keys(group: tuple[str, ...]) -> None:
    first = names.keys(group[0])
    assert first
    for other in group[1:]:
        assert names.keys(other) == first, f"{other!r} -> {names.keys(other)} but {group[0]!r} -> {first}"


@pytest.mark.parametrize(("one", "other"), DIFFERENT)
def test_different_names_keep_different_keys(one: str, other: str) -> None:
    assert names.keys(one) != names.keys(other)


def test_invisible_characters_change_nothing_and_a_zwnj_between_names_separates_them() -> None:
    # Bidi overrides and zero-width joiners (used to hide or reorder text) are not letters.
    assert names.keys("Mu\u200dham\u202emad") == names.keys("Muhammad")
    assert names.keys("محمد\u200cعلی") == names.keys("محمد علی") == names.keys("Muhammad Ali")


def test_particles_single_letters_and_digits_give_no_keys() -> None:
    assert names.keys("ul ud bin M.") == []
    assert names.keys("12345") == []
    assert names.keys("Zia-ul-Haq") == names.keys("Zia Haq")


def test_injection_shaped_names_are_just_words() -> None:
    assert names.keys("Robert'); DROP TABLE record_persons;--") == names.keys(
        "Robert DROP TABLE record persons"
    )
    assert names.keys("علی'; DELETE FROM x --") == [*names.keys("علی"), *names.keys("DELETE FROM x")]


def test_similarity_prefers_the_spelling_typed() -> None:
    exact = names.similarity("Mohammad Ali", "Mohammad Ali")
    variant = names.similarity("Mohammad Ali", "Muhammad Aly")
    urdu = names.similarity("Mohammad Ali", "محمد علی")
    other = names.similarity("Mohammad Ali", "Imran Khan")
    assert exact == 1.0
    assert exact > variant > other
    assert urdu > other
