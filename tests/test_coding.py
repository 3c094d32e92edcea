"""Payload coding: CRC-24, convolutional code, soft Viterbi."""
import numpy as np
import pytest

from synthlabel.core import coding


def test_crc24_check_value():
    # CRC-24/OpenPGP check value for "123456789"
    assert coding.crc24(b"123456789") == 0x21CF02


def test_sizes():
    assert coding.N_INFO == 88
    assert coding.N_CODED == (88 + 6) * 3
    assert coding.encode_payload(0).shape == (coding.N_CODED,)


@pytest.mark.parametrize("payload", [0, 1, 0x0123456789ABCDEF, 2**64 - 1])
def test_clean_round_trip(payload):
    bits = coding.encode_payload(payload)
    res = coding.decode_payload(2.0 * bits - 1.0)
    assert res.crc_ok and res.payload == payload and res.agreement == 1.0


def _shift_register_encode(bits):
    """The code's definition, one step at a time: register = (input << 6) | state, where the
    state holds the previous six inputs (most recent in its MSB); each output is the parity of
    the register masked by a generator (LTE's 133, 171, 165 octal); zero tail of six."""
    out, state = [], 0
    for b in list(bits) + [0] * 6:
        reg = (int(b) << 6) | state
        out += [bin(reg & g).count("1") & 1 for g in (0o133, 0o171, 0o165)]
        state = reg >> 1
    return np.array(out, dtype=np.uint8)


def test_conv_encode_matches_shift_register_definition():
    rng = np.random.default_rng(7)
    for n in (1, 7, 88):
        bits = rng.integers(0, 2, n)
        assert np.array_equal(coding.conv_encode(bits), _shift_register_encode(bits))


def test_bytes_and_int_payloads_agree():
    v = 0xDEADBEEF01234567
    assert np.array_equal(coding.encode_payload(v), coding.encode_payload(v.to_bytes(8, "big")))


def test_soft_decoding_corrects_noise():
    rng = np.random.default_rng(7)
    ok = 0
    for _ in range(40):
        p = int(rng.integers(0, 2**63)) * 2 + 1
        x = 2.0 * coding.encode_payload(p) - 1.0
        y = x + rng.normal(0, 1.0, x.size)           # Es/N0 = 0 dB: ~16 % raw bit errors
        assert np.mean((y > 0) != (x > 0)) > 0.05
        ok += coding.decode_payload(y).payload == p
    assert ok >= 38


def test_soft_beats_hard_erasures():
    # Erasures (soft value 0) are free for a soft decoder: erase 40 % of the coded bits.
    rng = np.random.default_rng(3)
    p = 0x0F1E2D3C4B5A6978
    x = 2.0 * coding.encode_payload(p) - 1.0
    x[rng.permutation(x.size)[: int(0.4 * x.size)]] = 0.0
    assert coding.decode_payload(x).payload == p


def test_crc_rejects_corrupted_codewords():
    rng = np.random.default_rng(11)
    p = 0x0123456789ABCDEF
    x = 2.0 * coding.encode_payload(p) - 1.0
    rejected = 0
    for _ in range(30):
        y = x.copy()
        flip = rng.permutation(y.size)[:110]            # ~40 % of the coded bits flipped
        y[flip] *= -1
        res = coding.decode_payload(y)
        assert res.payload in (None, p)                 # never a *wrong* payload
        rejected += res.payload is None
    assert rejected >= 25
    # pure noise: CRC never holds
    for _ in range(30):
        assert coding.decode_payload(rng.normal(size=coding.N_CODED)).payload is None


def test_wrong_crc_payload_rejected():
    p = 0x1111222233334444
    x = 2.0 * coding.encode_payload(p) - 1.0
    # a codeword for different info bits whose CRC does not match: flip one info bit only,
    # re-encode without fixing the CRC
    info = np.concatenate([coding._int_bits(p ^ 1, 64), coding._int_bits(coding.crc24(p.to_bytes(8, "big")), 24)])
    bad = 2.0 * coding.conv_encode(info) - 1.0
    assert coding.decode_payload(x).payload == p
    res = coding.decode_payload(bad)
    assert res.payload is None and not res.crc_ok


@pytest.mark.parametrize("bad", [-1, 2**64, 1.5, "12", b"1234567", True])
def test_payload_validation(bad):
    with pytest.raises(ValueError):
        coding.encode_payload(bad)


def test_decode_length_validation():
    with pytest.raises(ValueError):
        coding.decode_payload(np.zeros(10))


def _path_metric(soft, info_bits):
    return float(np.dot(soft, 2.0 * coding.conv_encode(info_bits) - 1.0))


def test_list_viterbi_matches_exhaustive_search():
    # 8 information bits: all 256 codewords can be ranked directly by their correlation metric
    rng = np.random.default_rng(11)
    all_info = [np.array([(v >> (7 - i)) & 1 for i in range(8)], dtype=np.uint8) for v in range(256)]
    for _ in range(5):
        truth = all_info[int(rng.integers(0, 256))]
        soft = 2.0 * coding.conv_encode(truth) - 1.0 + rng.normal(0, 1.5, (8 + 6) * 3)
        ranked = sorted(all_info, key=lambda b: -_path_metric(soft, b))
        got = coding.viterbi_list(soft, 8, 6)
        assert len(got) == 6
        assert [_path_metric(soft, b) for b in got] == pytest.approx([_path_metric(soft, b) for b in ranked[:6]])
        assert np.array_equal(got[0], coding.viterbi_decode(soft, 8))
        assert len({b.tobytes() for b in got}) == 6


def test_list_decoding_recovers_more_payloads():
    # at coded-bit accuracy ~0.80 plain Viterbi fails about half the frames; checking the CRC
    # of the 16 best paths recovers many of them and never returns a wrong payload here
    rng = np.random.default_rng(3)
    plain = listed = 0
    for _ in range(60):
        payload = int(rng.integers(0, 2 ** 63))
        soft = 2.0 * coding.encode_payload(payload) - 1.0 + rng.normal(0, 1.2, coding.N_CODED)
        r1, r16 = coding.decode_payload(soft), coding.decode_payload(soft, list_size=16)
        assert r1.payload in (None, payload) and r16.payload in (None, payload)
        if r1.payload is not None:
            assert r16.payload == payload          # the list starts with the Viterbi path
        plain += r1.payload == payload
        listed += r16.payload == payload
    assert listed >= plain + 8, (plain, listed)


def test_list_size_validation():
    with pytest.raises(ValueError, match="list_size"):
        coding.viterbi_list(np.zeros(coding.N_CODED), coding.N_INFO, 0)
