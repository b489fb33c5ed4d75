import pytest
from cryptography.exceptions import InvalidTag

from services.kit.pii import Sealer, learner_id, mask_id_number, mask_name


def test_learner_id_is_keyed_and_normalised():
    a = learner_id("11010519491231002x", "k" * 32)
    assert a == learner_id(" 11010519491231002X ", "k" * 32)
    assert a != learner_id("11010519491231002X", "j" * 32)
    assert a.startswith("lrn_") and len(a) == 36


def test_sealer_round_trip_and_tamper():
    s = Sealer("k" * 32)
    sealed = s.seal("11010519491231002X")
    assert "11010519491231002X" not in sealed and s.seal("11010519491231002X") != sealed  # random nonce
    assert s.open(sealed) == "11010519491231002X"
    with pytest.raises(InvalidTag):
        Sealer("j" * 32).open(sealed)


def test_masks():
    assert mask_id_number("11010519491231002X") == "110***********002X"
    assert mask_name("张三") == "张*"
    assert mask_name("欧阳娜娜") == "欧***"
