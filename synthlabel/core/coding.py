"""Payload coding for the watermarks: 64-bit payload + CRC-24, convolutional code (K=7, rate
1/3, zero-tailed), a soft-decision Viterbi decoder and a list Viterbi decoder, all in numpy.

Conventions: coded bits are 0/1 ``uint8``; soft values are real numbers where a positive value
means "bit 1" (BPSK symbol ``2*bit - 1``) and the magnitude is the confidence. Any positive
scaling of the soft values gives the same decision (the metric is a correlation).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from . import wm_params as P
from .errors import ArgumentTypeError

N_PAYLOAD = P.PAYLOAD_BITS
CRC_BITS = P.CRC_BITS
N_INFO = P.PAYLOAD_BITS + P.CRC_BITS            # payload + CRC
_MEM = P.CONV_K - 1                             # encoder memory (tail length)
_RATE = len(P.CONV_GENERATORS)
N_CODED = (N_INFO + _MEM) * _RATE               # 282 with the defaults
_NSTATES = 1 << _MEM


def crc24(data: bytes) -> int:
    """CRC-24/OpenPGP of ``data`` (RFC 4880 §6.1)."""
    crc = P.CRC_INIT
    for byte in data:
        crc ^= byte << 16
        for _ in range(8):
            crc <<= 1
            if crc & 0x1000000:
                crc ^= P.CRC_POLY
    return crc & 0xFFFFFF


def _int_bits(value: int, n: int) -> np.ndarray:
    return np.array([(value >> (n - 1 - i)) & 1 for i in range(n)], dtype=np.uint8)


def _bits_int(bits: np.ndarray) -> int:
    out = 0
    for b in bits:
        out = (out << 1) | int(b)
    return out


def payload_to_int(payload: int | bytes) -> int:
    """Normalize a payload given as an int in [0, 2**64) or exactly 8 bytes (big-endian)."""
    if isinstance(payload, (bytes, bytearray, memoryview)):
        payload = bytes(payload)
        if len(payload) != N_PAYLOAD // 8:
            raise ValueError(f"payload bytes must be exactly {N_PAYLOAD // 8} long, got {len(payload)}")
        return int.from_bytes(payload, "big")
    if isinstance(payload, (bool, np.bool_)) or not isinstance(payload, (int, np.integer)):
        raise ArgumentTypeError(f"payload must be an int or {N_PAYLOAD // 8} bytes, got {type(payload).__name__}")
    payload = int(payload)
    if not 0 <= payload < (1 << N_PAYLOAD):
        raise ValueError(f"payload must be in [0, 2**{N_PAYLOAD}), got {payload}")
    return payload


# --------------------------------------------------------------------------- trellis tables

def _parity(x: np.ndarray) -> np.ndarray:
    x = x.copy()
    out = np.zeros_like(x)
    while np.any(x):
        out ^= x & 1
        x >>= 1
    return out


# For each next state ns and predecessor choice x in {0,1}: predecessor state and the +-1
# output symbols of that branch. Register layout: reg = (input << MEM) | state, where the state
# holds the previous MEM inputs (most recent in its MSB); next state = reg >> 1.
_ns = np.arange(_NSTATES)
_in_bit = _ns >> (_MEM - 1)                                          # input bit that led to ns
_pred = ((_ns & ((1 << (_MEM - 1)) - 1)) << 1)[:, None] | np.array([0, 1])[None, :]   # (S, 2)
_reg = (_in_bit[:, None] << _MEM) | _pred                            # (S, 2)
#: taps[i] of generator j multiplies the input i steps back (register bit MEM - i)
_TAPS = [np.array([(g >> (_MEM - i)) & 1 for i in range(_MEM + 1)], dtype=np.int64)
         for g in P.CONV_GENERATORS]
_SYM = np.stack([2 * _parity(_reg & g) - 1 for g in P.CONV_GENERATORS], axis=-1).astype(np.float64)  # (S,2,R)


def conv_encode(bits: np.ndarray) -> np.ndarray:
    """Zero-tailed convolutional encoding of 0/1 ``bits`` → 0/1 coded bits (rate 1/R).

    Output j at step t is the parity of the register (b_t << MEM | previous MEM inputs, the
    most recent in the MSB) masked by generator j, i.e. the mod-2 convolution of the input
    with the generator's taps, MSB first (one ``np.convolve`` per generator)."""
    bits = np.concatenate([np.asarray(bits, dtype=np.int64), np.zeros(_MEM, dtype=np.int64)])
    out = np.empty((bits.size, _RATE), dtype=np.uint8)
    for j, taps in enumerate(_TAPS):
        out[:, j] = np.convolve(bits, taps)[:bits.size] & 1
    return out.reshape(-1)


def viterbi_decode(soft: np.ndarray, n_info: int) -> np.ndarray:
    """Soft-decision Viterbi for :func:`conv_encode` (zero-tailed). Returns ``n_info`` 0/1 bits."""
    soft = np.asarray(soft, dtype=np.float64).reshape(-1, _RATE)
    steps = soft.shape[0]
    if steps != n_info + _MEM:
        raise ValueError(f"expected {(n_info + _MEM) * _RATE} soft values, got {soft.size}")
    metric = np.full(_NSTATES, -np.inf)
    metric[0] = 0.0
    decisions = np.empty((steps, _NSTATES), dtype=np.uint8)
    # branch metrics for all steps at once: (steps, S, 2)
    bm = np.einsum("tr,sxr->tsx", soft, _SYM)
    for t in range(steps):
        cand = metric[_pred] + bm[t]                 # (S, 2)
        choice = np.argmax(cand, axis=1)
        decisions[t] = choice
        metric = cand[_ns, choice]
        metric -= metric.max()                       # keep numbers small
    state = 0                                        # zero tail ends in state 0
    bits = np.empty(steps, dtype=np.uint8)
    for t in range(steps - 1, -1, -1):
        bits[t] = _in_bit[state]
        state = _pred[state, decisions[t, state]]
    return bits[:n_info]


def viterbi_list(soft: np.ndarray, n_info: int, list_size: int) -> list[np.ndarray]:
    """Parallel list Viterbi (Seshadri & Sundberg 1994) for :func:`conv_encode` (zero-tailed).

    Keeps the ``list_size`` best paths into every state and returns the ``list_size`` best
    complete paths (``n_info`` 0/1 bits each), best first. The first is the Viterbi path."""
    L = int(list_size)
    if L < 1:
        raise ValueError(f"list_size must be >= 1, got {list_size}")
    soft = np.asarray(soft, dtype=np.float64).reshape(-1, _RATE)
    steps = soft.shape[0]
    if steps != n_info + _MEM:
        raise ValueError(f"expected {(n_info + _MEM) * _RATE} soft values, got {soft.size}")
    metric = np.full((_NSTATES, L), -np.inf)
    metric[0, 0] = 0.0
    decisions = np.empty((steps, _NSTATES, L), dtype=np.int16)   # pred choice * L + rank
    bm = np.einsum("tr,sxr->tsx", soft, _SYM)
    for t in range(steps):
        cand = (metric[_pred] + bm[t][:, :, None]).reshape(_NSTATES, 2 * L)
        # the L survivors of a state need no order among themselves (only the end is sorted)
        top = np.argpartition(-cand, L - 1, axis=1)[:, :L] if L > 1 else np.argmax(cand, axis=1)[:, None]
        decisions[t] = top
        metric = np.take_along_axis(cand, top, axis=1)
        metric -= metric.max()                       # state 0 always has a finite path
    out = []
    for rank in np.argsort(-metric[0], kind="stable"):
        if not np.isfinite(metric[0, rank]):
            break
        state, r = 0, rank
        bits = np.empty(steps, dtype=np.uint8)
        for t in range(steps - 1, -1, -1):
            bits[t] = _in_bit[state]
            idx = int(decisions[t, state, r])
            state, r = int(_pred[state, idx // L]), idx % L
        out.append(bits[:n_info])
    return out


# --------------------------------------------------------------------------- presence test

def presence_log_p(log_p_pilot: float, crc_ok: bool, n_checks: int, eps: float) -> float:
    """Natural log of the presence p-value that combines a pilot test with the payload's CRC.

    Under H0 each CRC check holds with probability 2^-24 (the payload's cells or bins are
    disjoint from the pilot's and carry keyed signs or phases), so any of ``n_checks`` holds
    with probability <= n 2^-24. Giving that event a share ``eps`` of the budget:

    * p = p_pilot / (1 - eps)                 when no CRC holds,
    * p = min(p_pilot, 1) * n 2^-24 / eps     when one does,

    and P(p <= a) <= a (1 - eps) + a eps = a under H0: a valid p-value, so the threshold keeps
    its false-positive rate, while a mark whose pilot an attack weakened but whose payload still
    decodes is detected. ``n_checks`` must count every decode (and every list path) that may be
    CRC-checked, whether or not it was."""
    if crc_ok:
        return min(0.0, min(log_p_pilot, 0.0) + math.log(n_checks * 2.0 ** -CRC_BITS / eps))
    return min(0.0, log_p_pilot - math.log1p(-eps))


# --------------------------------------------------------------------------- payload level

def encode_payload(payload: int | bytes) -> np.ndarray:
    """64-bit payload → ``N_CODED`` coded 0/1 bits (payload ‖ CRC-24, conv-coded)."""
    value = payload_to_int(payload)
    crc = crc24(value.to_bytes(N_PAYLOAD // 8, "big"))
    info = np.concatenate([_int_bits(value, N_PAYLOAD), _int_bits(crc, P.CRC_BITS)])
    return conv_encode(info)


@dataclass(frozen=True)
class DecodeResult:
    payload: int | None      # only when the CRC holds
    crc_ok: bool
    agreement: float         # fraction of hard coded decisions matching the re-encoded codeword


def decode_payload(soft: np.ndarray, list_size: int = 1) -> DecodeResult:
    """Soft values (length ``N_CODED``, positive = 1) → payload if the CRC holds.

    ``list_size`` > 1: list Viterbi, the best path whose CRC holds wins (each extra path is
    one more 2^-24 chance of a false CRC, which the caller's false-positive budget must count)."""
    soft = np.asarray(soft, dtype=np.float64).reshape(-1)
    if soft.size != N_CODED:
        raise ValueError(f"expected {N_CODED} soft values, got {soft.size}")
    if not np.all(np.isfinite(soft)):
        soft = np.nan_to_num(soft, nan=0.0, posinf=0.0, neginf=0.0)
    cands = [viterbi_decode(soft, N_INFO)] if list_size == 1 else viterbi_list(soft, N_INFO, list_size)
    for info in cands:
        value = _bits_int(info[:N_PAYLOAD])
        crc = _bits_int(info[N_PAYLOAD:])
        ok = crc == crc24(value.to_bytes(N_PAYLOAD // 8, "big"))
        if ok:
            break
    if not ok:
        info = cands[0]
        value = _bits_int(info[:N_PAYLOAD])
    recoded = conv_encode(info)
    agreement = float(np.mean((soft > 0) == (recoded == 1)))
    return DecodeResult(payload=value if ok else None, crc_ok=bool(ok), agreement=agreement)
