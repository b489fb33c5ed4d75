"""The fast ID-number check agrees with python-stdnum's own on every kind of number."""

import random

from stdnum.cn import ric

from services.assessment.id_numbers import is_valid_id_number


def _with_check(body17: str) -> str:
    return body17 + ric.calc_check_digit(body17 + "0")


def test_agrees_with_stdnum_on_valid_and_invalid_numbers():
    rnd = random.Random(11643)
    areas = ["110105", "310104", "310115", "440300", "999999", "000000", "320102", "510107"]
    samples = []
    for _ in range(3000):
        area = rnd.choice(areas)
        born = f"{rnd.randint(1890, 2030)}{rnd.randint(0, 13):02d}{rnd.randint(0, 32):02d}"
        number = _with_check(f"{area}{born}{rnd.randint(0, 999):03d}")
        if rnd.random() < 0.2:  # a wrong check digit
            number = number[:-1] + ("0" if number[-1] != "0" else "1")
        samples.append(number)
    samples += ["11010519491231002X", "1101051949123100", "11010519491231002Y", "A1010519491231002X"]
    disagreements = [n for n in samples if is_valid_id_number(n) != ric.is_valid(n)]
    assert disagreements == []
    assert sum(is_valid_id_number(n) for n in samples) > 500  # the sample really holds valid numbers
