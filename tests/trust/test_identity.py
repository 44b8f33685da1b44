"""The check characters of the credit code and the resident ID number (no app)."""

from datetime import date

import pytest

from produce_match.errors import ValidationFailed
from produce_match.trust.identity import (
    check_credit_code,
    check_resident_id,
    credit_code_check,
    mask_resident_id,
    resident_id_check,
)

TODAY = date(2026, 12, 7)

#: credit codes as printed on real licences (public registers)
VALID_CODES = [
    "91350100M000100Y43",  # the standard's own example
    "91110000802100433B",  # China Mobile Communications Group
    "91310000MA1FL1MMXL",
]


@pytest.mark.parametrize("code", VALID_CODES)
def test_valid_credit_codes_pass_and_are_stored_as_typed(code):
    assert check_credit_code(code) == code
    assert credit_code_check(code[:17]) == code[17]


def test_a_credit_code_is_read_the_way_people_type_it():
    assert check_credit_code(" 9135 0100-m000 100y43 ") == "91350100M000100Y43"
    assert check_credit_code("９１３５０１００Ｍ０００１００Ｙ４３") == "91350100M000100Y43"


@pytest.mark.parametrize(
    "code, says",
    [
        ("", "Enter"),
        ("91350100M000100Y4", "18 characters; this one has 17"),
        ("91350100M000100Y433", "this one has 19"),
        ("91350100M000100I43", "no “I”"),
        ("91350100M000100Y44", "does not add up"),
        ("91350100M000100Y34", "does not add up"),  # two characters swapped
    ],
)
def test_invalid_credit_codes_are_refused_saying_why(code, says):
    with pytest.raises(ValidationFailed) as refused:
        check_credit_code(code)
    assert says in str(refused.value.fields["credit_code"][0])


def _with_check(first17: str) -> str:
    return first17 + resident_id_check(first17)


def test_valid_resident_ids_pass():
    assert check_resident_id("11010519491231002X", today=TODAY) == "11010519491231002X"
    assert check_resident_id("11010519491231002x", today=TODAY) == "11010519491231002X"
    number = _with_check("21092219800101123")
    assert check_resident_id(number, today=TODAY) == number


@pytest.mark.parametrize(
    "number, says",
    [
        ("", "Enter"),
        ("1101051949123100", "this one has 16"),
        ("11010519491231002Y", "17 digits and a last digit or X"),
        ("110105194912310021", "does not add up"),
        (_with_check("11010519491331002"), "date of birth"),  # month 13
        (_with_check("11010520271231002"), "date of birth"),  # born after today
    ],
)
def test_invalid_resident_ids_are_refused_saying_why(number, says):
    with pytest.raises(ValidationFailed) as refused:
        check_resident_id(number, today=TODAY)
    assert says in str(refused.value.fields["resident_id"][0])


def test_pages_show_a_resident_id_masked():
    assert mask_resident_id("11010519491231002X") == "110***********002X"
    assert mask_resident_id(None) == ""
